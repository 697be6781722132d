//! The check's outcome written for people and CI: the stdout table and
//! summary line, JUnit XML (one test case per route) and a Markdown summary
//! for a pull-request comment.

use super::{ms, CheckOutcome, Problem, RouteCheck};
use crate::escape::markup;
use topology::render::Table;

/// Failing routes listed on stdout.
pub const TEXT_MAX_ROWS: usize = 20;

/// Failing routes listed in the Markdown summary (a PR comment must stay short).
pub const MARKDOWN_MAX_ROWS: usize = 50;

/// Routes gone from the baseline listed in the Markdown summary.
pub const MARKDOWN_MAX_GONE: usize = 20;

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// The one-line summary: verdict counts, then the baseline comparison.
pub fn summary_line(o: &CheckOutcome) -> String {
    let s = &o.summary;
    let mut line = format!(
        "check {}: {} ({} ok, {}, {} uncertain, {} no data)",
        if o.passed() { "passed" } else { "failed" },
        plural(s.routes, "route"),
        s.ok,
        plural(s.violations, "violation"),
        s.uncertain,
        s.no_data,
    );
    if let Some(b) = &o.baseline {
        line.push_str(&format!(
            "; {} beyond {} ms against {b} ({} new, {} gone)",
            plural(o.regressions, "regression"),
            o.tolerance_ms,
            o.new_routes,
            o.gone.len(),
        ));
    }
    line
}

/// Table cells of a failing route; the baseline column only with a baseline.
fn cells(r: &RouteCheck, with_baseline: bool) -> Vec<String> {
    let opt = |x: Option<f64>| x.map_or_else(|| "-".to_string(), ms);
    let mut c = vec![
        r.problems
            .iter()
            .map(Problem::kind)
            .collect::<Vec<_>>()
            .join("+"),
        r.route.from.clone(),
        r.route.to.clone(),
        opt(r.route.one_way_ms),
        opt(r.route.budget_ms),
    ];
    if with_baseline {
        c.push(opt(r.baseline_ms));
    }
    c.push(r.route.rule.clone().unwrap_or_else(|| "-".to_string()));
    c
}

fn headers(with_baseline: bool) -> Vec<&'static str> {
    let mut h = vec!["PROBLEM", "FROM", "TO", "ONE-WAY ms", "BUDGET ms"];
    if with_baseline {
        h.push("BASELINE ms");
    }
    h.push("RULE");
    h
}

/// Columns holding numbers (right-aligned).
fn numeric(with_baseline: bool) -> Vec<usize> {
    if with_baseline {
        vec![3, 4, 5]
    } else {
        vec![3, 4]
    }
}

/// Stdout: a short table of failures, then the summary line.
pub fn text(o: &CheckOutcome) -> String {
    let mut out = String::new();
    let failures = o.failures();
    if !failures.is_empty() {
        let b = o.baseline.is_some();
        let mut t = Table::new(headers(b).iter().map(|h| h.to_string()).collect());
        t.right_align(&numeric(b));
        for r in failures.iter().take(TEXT_MAX_ROWS) {
            t.row(cells(r, b));
        }
        out.push_str(&t.render());
        if failures.len() > TEXT_MAX_ROWS {
            out.push_str(&format!(
                "... and {} more\n",
                failures.len() - TEXT_MAX_ROWS
            ));
        }
    }
    if let Some(first) = o.gone.first() {
        out.push_str(&format!(
            "{} in the baseline, not in this table (first: {} -> {})\n",
            plural(o.gone.len(), "route"),
            first.from,
            first.to
        ));
    }
    out.push_str(&summary_line(o));
    out.push('\n');
    out
}

/// JUnit XML: one test case per route (class name: its budget rule), a
/// failure for every violation or regression; routes gone from the baseline
/// as skipped cases.
pub fn junit(o: &CheckOutcome) -> String {
    let failed = o.failed();
    let tests = o.routes.len() + o.gone.len();
    let skipped = o.gone.len();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuites name=\"hubmesh check\" tests=\"{tests}\" failures=\"{failed}\" errors=\"0\" skipped=\"{skipped}\">\n"
    ));
    x.push_str(&format!(
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failed}\" errors=\"0\" skipped=\"{skipped}\" time=\"0\">\n",
        markup(&format!("hubmesh check {}", o.source))
    ));
    x.push_str("    <properties>\n");
    x.push_str(&format!(
        "      <property name=\"source\" value=\"{}\"/>\n",
        markup(&o.source)
    ));
    if let Some(b) = &o.baseline {
        x.push_str(&format!(
            "      <property name=\"baseline\" value=\"{}\"/>\n      <property name=\"tolerance_ms\" value=\"{}\"/>\n",
            markup(b),
            o.tolerance_ms
        ));
    }
    x.push_str("    </properties>\n");
    for r in &o.routes {
        let class = r.route.rule.as_deref().unwrap_or("uncovered");
        let name = format!("{} -> {}", r.route.from, r.route.to);
        let open = format!(
            "    <testcase classname=\"{}\" name=\"{}\" time=\"0\"",
            markup(class),
            markup(&name)
        );
        if r.problems.is_empty() {
            x.push_str(&open);
            x.push_str("/>\n");
            continue;
        }
        let kinds: Vec<&str> = r.problems.iter().map(Problem::kind).collect();
        let lines: Vec<String> = r
            .problems
            .iter()
            .map(|p| p.describe(&r.route, o.tolerance_ms))
            .collect();
        let mut body = lines.join("\n");
        if !r.route.path.is_empty() {
            body.push_str(&format!("\npath: {}", r.route.path.join(" > ")));
        }
        x.push_str(&open);
        x.push_str(">\n");
        x.push_str(&format!(
            "      <failure type=\"{}\" message=\"{}\">{}</failure>\n",
            markup(&kinds.join("+")),
            markup(&format!("{name}: {}", lines.join("; "))),
            markup(&body)
        ));
        x.push_str("    </testcase>\n");
    }
    for g in &o.gone {
        let was = g
            .one_way_ms
            .map_or_else(|| "unreachable".to_string(), |v| format!("{} ms", ms(v)));
        x.push_str(&format!(
            "    <testcase classname=\"baseline\" name=\"{}\" time=\"0\">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
            markup(&format!("{} -> {}", g.from, g.to)),
            markup(&format!("in the baseline ({was}), not in this table"))
        ));
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

fn md_cell(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// A Markdown summary for a pull-request comment: the outcome, a table of
/// failures (worst first, capped), and the routes gone from the baseline.
pub fn markdown(o: &CheckOutcome) -> String {
    let mut out = format!(
        "### hubmesh check: {}\n\n**{}**\n",
        if o.passed() { "passed" } else { "failed" },
        md_cell(&summary_line(o))
    );
    let failures = o.failures();
    if !failures.is_empty() {
        let b = o.baseline.is_some();
        out.push_str("\n|");
        for h in headers(b) {
            out.push_str(&format!(" {} |", h.to_lowercase()));
        }
        out.push_str("\n|");
        let right = numeric(b);
        for i in 0..headers(b).len() {
            out.push_str(if right.contains(&i) {
                " ---: |"
            } else {
                " --- |"
            });
        }
        out.push('\n');
        for r in failures.iter().take(MARKDOWN_MAX_ROWS) {
            out.push('|');
            for c in cells(r, b) {
                out.push_str(&format!(" {} |", md_cell(&c)));
            }
            out.push('\n');
        }
        if failures.len() > MARKDOWN_MAX_ROWS {
            out.push_str(&format!(
                "\n... and {} more\n",
                failures.len() - MARKDOWN_MAX_ROWS
            ));
        }
    }
    if !o.gone.is_empty() {
        out.push_str(&format!(
            "\n<details><summary>{} in the baseline, not in this table</summary>\n\n",
            plural(o.gone.len(), "route")
        ));
        for g in o.gone.iter().take(MARKDOWN_MAX_GONE) {
            let was = g.one_way_ms.map_or_else(|| "unreachable".to_string(), ms);
            out.push_str(&format!(
                "- {} -> {} ({was})\n",
                md_cell(&g.from),
                md_cell(&g.to)
            ));
        }
        if o.gone.len() > MARKDOWN_MAX_GONE {
            out.push_str(&format!(
                "- ... and {} more\n",
                o.gone.len() - MARKDOWN_MAX_GONE
            ));
        }
        out.push_str("\n</details>\n");
    }
    out
}
