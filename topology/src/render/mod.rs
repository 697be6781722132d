//! Renderers for the analysed route table and the topology map: aligned terminal
//! table, JSON, Markdown and Graphviz DOT. Pure string building.

mod dot;
mod table;

pub use dot::map_dot;
pub use table::Table;

use crate::analysis::{RouteReport, RouteTable};

/// Output formats for route tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Markdown,
    Dot,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            "md" | "markdown" => Ok(Format::Markdown),
            "dot" => Ok(Format::Dot),
            other => Err(format!(
                "unknown format {other:?} (expected table, json, md or dot)"
            )),
        }
    }
}

fn ms(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"))
}

fn route_cells(r: &RouteReport) -> Vec<String> {
    let one_way = match (r.one_way_ms, r.error_ms) {
        (Some(v), Some(e)) => format!("{v:.2}±{e:.2}"),
        (v, _) => ms(v),
    };
    vec![
        r.from.clone(),
        r.to.clone(),
        one_way,
        ms(r.budget_ms),
        r.verdict.as_str().to_string(),
        r.stretch
            .map_or_else(|| "-".to_string(), |s| format!("{s:.2}")),
        r.relay.as_ref().map_or_else(String::new, |x| {
            format!("{} ({:.2})", x.via.join("~"), x.one_way_ms)
        }),
        r.rule.clone().unwrap_or_else(|| "-".to_string()),
        r.path.join(" > "),
    ]
}

const HEADERS: [&str; 9] = [
    "FROM",
    "TO",
    "ONE-WAY ms",
    "BUDGET ms",
    "VERDICT",
    "STRETCH",
    "RELAY",
    "RULE",
    "PATH",
];

fn summary_line(t: &RouteTable) -> String {
    let s = &t.summary;
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let uncovered = if s.uncovered > 0 {
        format!(" ({} without a budget)", s.uncovered)
    } else {
        String::new()
    };
    format!(
        "{}{uncovered}: {} ok, {}, {} uncertain, {} no data; {} with a faster relay",
        plural(s.routes, "route"),
        s.ok,
        plural(s.violations, "violation"),
        s.uncertain,
        s.no_data,
        plural(s.detours, "route"),
    )
}

/// How many covered routes each budget rule judges, and their verdicts:
/// `by rule: edge-to-its-city 186 (182 ok, 4 violations); ...`; empty when no
/// route is covered.
pub fn rule_line(t: &RouteTable) -> String {
    use crate::analysis::Verdict;
    let mut by: std::collections::BTreeMap<&str, [usize; 4]> = std::collections::BTreeMap::new();
    for r in &t.routes {
        let Some(rule) = r.rule.as_deref() else {
            continue;
        };
        let c = by.entry(rule).or_default();
        c[match r.verdict {
            Verdict::Ok => 0,
            Verdict::Violation => 1,
            Verdict::Uncertain => 2,
            Verdict::NoData => 3,
        }] += 1;
    }
    if by.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = by
        .iter()
        .map(|(rule, c)| {
            let mut what = vec![format!("{} ok", c[0])];
            for (n, word) in [(c[1], "violation"), (c[2], "uncertain"), (c[3], "no data")] {
                if n > 0 {
                    let s = if n > 1 && word == "violation" {
                        "s"
                    } else {
                        ""
                    };
                    what.push(format!("{n} {word}{s}"));
                }
            }
            format!("{rule} {} ({})", c.iter().sum::<usize>(), what.join(", "))
        })
        .collect();
    format!("by rule: {}", parts.join("; "))
}

/// An aligned terminal table of the routes, violations first, then a summary
/// line and the count per budget rule.
pub fn routes_table(t: &RouteTable) -> String {
    let mut table = Table::new(HEADERS.iter().map(|h| h.to_string()).collect());
    table.right_align(&[2, 3, 5]);
    for r in sorted(t) {
        table.row(route_cells(r));
    }
    let mut out = table.render();
    out.push_str(&summary_line(t));
    out.push('\n');
    let rules = rule_line(t);
    if !rules.is_empty() {
        out.push_str(&rules);
        out.push('\n');
    }
    out
}

/// Routes in reading order: violations, then uncertain, no data, ok; slowest first.
fn sorted(t: &RouteTable) -> Vec<&RouteReport> {
    use crate::analysis::Verdict::*;
    let rank = |r: &RouteReport| match r.verdict {
        Violation => 0,
        Uncertain => 1,
        NoData => 2,
        Ok => 3,
    };
    let mut v: Vec<&RouteReport> = t.routes.iter().collect();
    v.sort_by(|a, b| {
        rank(a).cmp(&rank(b)).then(
            b.one_way_ms
                .unwrap_or(f64::INFINITY)
                .total_cmp(&a.one_way_ms.unwrap_or(f64::INFINITY)),
        )
    });
    v
}

/// The route table as JSON (pretty-printed, stable field order).
pub fn routes_json(t: &RouteTable) -> String {
    // Serializing plain structs of strings and numbers cannot fail.
    serde_json::to_string_pretty(t).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// A Markdown summary and table, suitable for a pull-request comment.
pub fn routes_markdown(t: &RouteTable) -> String {
    let mut out = format!("**{}**\n\n", summary_line(t));
    let rules = rule_line(t);
    if !rules.is_empty() {
        out.push_str(&format!("{rules}\n\n"));
    }
    out.push('|');
    for h in HEADERS {
        out.push_str(&format!(" {h} |"));
    }
    out.push_str("\n|");
    for (i, _) in HEADERS.iter().enumerate() {
        out.push_str(if [2, 3, 5].contains(&i) {
            " ---: |"
        } else {
            " --- |"
        });
    }
    out.push('\n');
    for r in sorted(t) {
        out.push('|');
        for (i, c) in route_cells(r).iter().enumerate() {
            let c = md_escape(c);
            if i == 4 && r.verdict == crate::analysis::Verdict::Violation {
                out.push_str(&format!(" **{c}** |"));
            } else {
                out.push_str(&format!(" {c} |"));
            }
        }
        out.push('\n');
    }
    out
}
