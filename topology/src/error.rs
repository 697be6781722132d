//! The one error a topology or budgets file can produce: where (file, line,
//! column) and what was expected, shown to the user as a single line.

use std::fmt;

/// A file that could not be read or is not a valid topology / budgets file.
///
/// Displays as `origin:line:column: message` (or `origin: message` when there is
/// no position, e.g. for I/O errors), always on one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadError {
    /// File name used in messages.
    pub origin: String,
    /// 1-based line, when the error has a position in the file.
    pub line: Option<usize>,
    /// 1-based column (in characters), when the error has a position in the file.
    pub column: Option<usize>,
    /// What is wrong: the YAML path of the offending value and what was expected.
    pub message: String,
}

impl LoadError {
    /// An error without a position in the file.
    pub fn new(origin: impl Into<String>, message: impl Into<String>) -> Self {
        LoadError {
            origin: origin.into(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// An error at a 1-based line and column.
    pub fn at(
        origin: impl Into<String>,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        LoadError {
            origin: origin.into(),
            line: Some(line),
            column: Some(column),
            message: message.into(),
        }
    }
}

/// Writes `s` with line breaks escaped, so that an error stays on one line
/// whatever the file or its name contains.
fn one_line(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    for c in s.chars() {
        match c {
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            c if c.is_control() && c != '\t' => write!(f, "{}", c.escape_default())?,
            c => write!(f, "{c}")?,
        }
    }
    Ok(())
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        one_line(f, &self.origin)?;
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, ":{line}:{column}")?,
            (Some(line), None) => write!(f, ":{line}")?,
            _ => {}
        }
        f.write_str(": ")?;
        one_line(f, &self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_with_and_without_position() {
        let e = LoadError::at("t.yaml", 3, 7, "sites[0].hub: unknown hub \"x\"");
        assert_eq!(e.to_string(), "t.yaml:3:7: sites[0].hub: unknown hub \"x\"");
        let e = LoadError::new("t.yaml", "cannot read: gone");
        assert_eq!(e.to_string(), "t.yaml: cannot read: gone");
        let e = LoadError {
            line: Some(2),
            ..LoadError::new("t.yaml", "m")
        };
        assert_eq!(e.to_string(), "t.yaml:2: m");
    }

    #[test]
    fn display_is_one_line() {
        let e = LoadError::at("a\nb.yaml", 1, 1, "first\nsecond\r\u{1b}");
        let s = e.to_string();
        assert!(
            !s.contains('\n') && !s.contains('\r') && !s.contains('\u{1b}'),
            "{s}"
        );
        assert_eq!(s, "a\\nb.yaml:1:1: first\\nsecond\\r\\u{1b}");
    }
}
