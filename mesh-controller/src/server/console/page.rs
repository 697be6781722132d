//! The HTML shell the console runs in: live (`GET /`, the script and style at
//! `/console/console.js` and `/console/console.css`, the data from the API),
//! or a snapshot (script, style and data inlined: one file that opens from
//! disk without a server).

use super::assets::{CSS, JS};
use super::snapshot::{script_json, Snapshot};
use crate::escape::markup;

const HEAD: &str = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";

const NOSCRIPT: &str = "<noscript>The console needs JavaScript. \
<code>mesh-controller report</code> prints the same report as text.</noscript>";

/// The live console's page: assets by URL (relative, so a path prefix in
/// front of the controller works).
pub fn live_page() -> String {
    format!(
        "{HEAD}<title>hubmesh console</title>\n\
         <link rel=\"stylesheet\" href=\"console/console.css\">\n</head>\n\
         <body>\n<div id=\"app\">{NOSCRIPT}</div>\n\
         <script src=\"console/console.js\"></script>\n</body>\n</html>\n"
    )
}

/// A report as one self-contained file: the console with its script, style
/// and geography inlined, and the data in `<script type="application/json"
/// id="hubmesh-snapshot">` (escaped so no text in it can end the element).
pub fn snapshot_page(s: &Snapshot<'_>) -> String {
    let title = format!(
        "hubmesh report: {} routes, {} over budget",
        s.report.summary.routes, s.report.summary.violations
    );
    format!(
        "{HEAD}<title>{}</title>\n<style>\n{CSS}\n</style>\n</head>\n<body>\n\
         <div id=\"app\">{NOSCRIPT}</div>\n\
         <script type=\"application/json\" id=\"hubmesh-snapshot\">{}</script>\n\
         <script>\n{JS}\n</script>\n</body>\n</html>\n",
        markup(&title),
        script_json(s)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_page_points_at_the_assets() {
        let p = live_page();
        assert!(p.starts_with("<!DOCTYPE html>"));
        assert!(p.contains("<script src=\"console/console.js\"></script>"));
        assert!(p.contains("href=\"console/console.css\""));
        assert!(!p.contains("hubmesh-snapshot"));
    }
}
