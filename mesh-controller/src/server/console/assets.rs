//! The built front-end, embedded at compile time so the binary serves the
//! console without node or any file beside it (`console/dist/` is committed;
//! `scripts/console-build.sh --check` keeps it in step with the sources).

/// The bundle: the console's modules, uPlot, d3-geo, topojson-client and the
/// geography of China.
pub const JS: &str = include_str!("../../../console/dist/console.js");

/// The stylesheet (the console's and uPlot's).
pub const CSS: &str = include_str!("../../../console/dist/console.css");

/// A short tag of an asset's content (FNV-1a, 64 bits, hex), for its ETag.
pub fn etag(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{h:016x}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_built_and_can_be_inlined() {
        assert!(JS.len() > 10_000, "console/dist/console.js looks empty");
        assert!(CSS.contains(".u-legend"), "uPlot's CSS is bundled");
        // Inlined into <script> and <style>: nothing may end them early.
        assert!(!JS.to_ascii_lowercase().contains("</script"));
        assert!(!JS.contains("<!--"));
        assert!(!CSS.to_ascii_lowercase().contains("</style"));
    }

    #[test]
    fn etag_follows_content() {
        assert_eq!(etag("a"), etag("a"));
        assert_ne!(etag("a"), etag("b"));
    }
}
