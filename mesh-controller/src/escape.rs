//! The one text escape for markup the controller writes: the console page's
//! shell (its title) and JUnit reports (XML).

/// Escapes text for element content and quoted attribute values, in HTML and
/// XML alike: `& < > " '` become references (`&#39;`, which both know, for the
/// apostrophe), and characters XML 1.0 cannot carry (controls other than tab,
/// newline and carriage return; U+FFFE, U+FFFF) become U+FFFD.
pub fn markup(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::markup;

    #[test]
    fn escapes_markup_and_replaces_what_xml_cannot_carry() {
        assert_eq!(
            markup("a<b>&\"c'\u{1}\td"),
            "a&lt;b&gt;&amp;&quot;c&#39;\u{fffd}\td"
        );
        assert_eq!(markup("上海 ok"), "上海 ok");
    }
}
