//! Rendering a report: text tables, Markdown, JSON, DOT, and the console
//! page with the report as its snapshot.

use super::clocks::{clock_rows, contradiction_lines, CLOCK_HEADERS};
use super::probe_clocks::{probe_clock_rows, PROBE_CLOCK_HEADERS};
use super::{Dist, Report, ReportFormat};
use std::collections::HashMap;
use topology::analysis::Verdict;
use topology::Topology;

use crate::server::console::{snapshot_page, Snapshot};
use topology::analysis::Basis;
use topology::render::{self, Table};
use topology::suggest::{self, Suggestions};

fn fmt_dist(d: &Dist) -> String {
    let f = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"));
    if d.is_empty() {
        "-".to_string()
    } else {
        format!("{}/{}", f(d.p50), f(d.p99))
    }
}

fn fmt_pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"))
}

const MATRIX_HEADERS: [&str; 9] = [
    "FROM",
    "TO",
    "FORWARD p50/p99 ms",
    "REVERSE p50/p99 ms",
    "± ms",
    "RTT p50/p99 ms",
    "LOSS fwd/rev %",
    "JITTER p50/p99 ms",
    "BASIS",
];

fn basis_str(b: Basis) -> &'static str {
    match b {
        Basis::RttHalf => "rtt-half",
        Basis::OneWay => "one-way",
        Basis::Model => "model",
    }
}

/// The measured matrix, without the pairs inside one city across carriers
/// (they have a table of their own).
fn matrix_rows(r: &Report) -> Vec<Vec<String>> {
    let in_city: std::collections::HashSet<(&str, &str)> = r
        .inter_carrier
        .iter()
        .map(|x| (x.from.as_str(), x.to.as_str()))
        .collect();
    r.routes
        .iter()
        .filter(|rr| !in_city.contains(&(rr.route.from.as_str(), rr.route.to.as_str())))
        .filter_map(|rr| {
            let m = rr.measured.as_ref()?;
            Some(vec![
                rr.route.from.clone(),
                rr.route.to.clone(),
                fmt_dist(&m.forward),
                fmt_dist(&m.reverse),
                m.error_ms
                    .map_or_else(|| "-".to_string(), |e| format!("{e:.3}")),
                fmt_dist(&m.rtt),
                format!(
                    "{}/{}",
                    fmt_pct(m.loss_forward_pct),
                    fmt_pct(m.loss_reverse_pct)
                ),
                fmt_dist(&m.jitter),
                basis_str(m.basis).to_string(),
            ])
        })
        .collect()
}

const CITY_HEADERS: [&str; 10] = [
    "CITY",
    "FROM",
    "TO",
    "ONE-WAY ms",
    "BASIS",
    "BUDGET ms",
    "VERDICT",
    "FWD/REV p50 ms",
    "LOCAL EXCHANGE",
    "MODEL CROSSES AT",
];

fn city_rows(r: &Report) -> Vec<Vec<String>> {
    let ms = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"));
    r.inter_carrier
        .iter()
        .map(|x| {
            vec![
                x.city.clone(),
                x.from.clone(),
                x.to.clone(),
                ms(x.one_way_ms),
                x.basis.map_or("-", basis_str).to_string(),
                ms(x.budget_ms),
                x.verdict.as_str().to_string(),
                x.measured.as_ref().map_or_else(
                    || "-".to_string(),
                    |m| format!("{}/{}", ms(m.forward.p50), ms(m.reverse.p50)),
                ),
                x.local_exchange
                    .clone()
                    .unwrap_or_else(|| "none".to_string()),
                if x.model_crosses_at.is_empty() {
                    "-".to_string()
                } else {
                    x.model_crosses_at.join(", ")
                },
            ]
        })
        .collect()
}

/// Inter-carrier pairs worth a line: measured, over budget, or without a
/// local exchange (so they cross in another city). All are in the JSON.
fn city_rows_shown(r: &Report) -> Vec<Vec<String>> {
    let rows = city_rows(r);
    r.inter_carrier
        .iter()
        .zip(rows)
        .filter(|(x, _)| {
            x.measured.is_some() || x.verdict == Verdict::Violation || x.local_exchange.is_none()
        })
        .map(|(_, row)| row)
        .collect()
}

const THROUGHPUT_HEADERS: [&str; 8] = [
    "FROM",
    "TO",
    "PROTO",
    "LATEST Mbit/s",
    "MEDIAN Mbit/s",
    "MIN/MAX Mbit/s",
    "TESTS",
    "RETRANS / LOSS %",
];

fn throughput_rows(r: &Report) -> Vec<Vec<String>> {
    r.throughput
        .iter()
        .map(|t| {
            vec![
                t.from.clone(),
                t.to.clone(),
                t.protocol.clone(),
                format!("{:.1}", t.latest_mbit),
                format!("{:.1}", t.median_mbit),
                format!("{:.1}/{:.1}", t.min_mbit, t.max_mbit),
                t.tests.to_string(),
                match (t.retransmits, t.loss_pct) {
                    (_, Some(l)) => format!("{l:.2} %"),
                    (Some(n), None) => n.to_string(),
                    (None, None) => "-".to_string(),
                },
            ]
        })
        .collect()
}

const ICMP_HEADERS: [&str; 6] = [
    "FROM",
    "TO (no probe)",
    "RTT p50/p99 ms",
    "LOSS %",
    "SENT",
    "WINDOWS",
];

fn icmp_rows(r: &Report) -> Vec<Vec<String>> {
    let ms = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"));
    r.icmp
        .iter()
        .map(|x| {
            vec![
                x.from.clone(),
                x.to.clone(),
                format!("{}/{}", ms(x.rtt_p50_ms), ms(x.rtt_p99_ms)),
                format!("{:.1}", x.loss_pct),
                x.sent.to_string(),
                x.windows.to_string(),
            ]
        })
        .collect()
}

const PATH_HEADERS: [&str; 4] = ["FROM", "TO", "MEASURED PATH (sites)", "HOPS"];

fn path_rows(r: &Report) -> Vec<Vec<String>> {
    r.paths
        .iter()
        .map(|p| {
            let hops: Vec<String> = p
                .hops
                .iter()
                .map(|h| h.address.clone().unwrap_or_else(|| "*".to_string()))
                .collect();
            vec![
                p.from.clone(),
                p.to.clone(),
                format!(
                    "{}{}",
                    p.sites.join(" > "),
                    if p.reached { "" } else { " (not reached)" }
                ),
                hops.join(" "),
            ]
        })
        .collect()
}

/// The extra sections of the text formats: (title, headers, rows, right-aligned columns).
type Extra = (
    &'static str,
    Vec<&'static str>,
    Vec<Vec<String>>,
    Vec<usize>,
);

fn extra_sections(r: &Report) -> Vec<Extra> {
    vec![
        (
            "THROUGHPUT (bandwidth tests, per direction)",
            THROUGHPUT_HEADERS.to_vec(),
            throughput_rows(r),
            vec![3, 4, 5, 6, 7],
        ),
        (
            "ICMP TARGETS",
            ICMP_HEADERS.to_vec(),
            icmp_rows(r),
            vec![2, 3, 4, 5],
        ),
        (
            "MEASURED PATHS (detours and routes over budget)",
            PATH_HEADERS.to_vec(),
            path_rows(r),
            vec![],
        ),
        (
            "CLOCKS (offset interval per measured pair)",
            CLOCK_HEADERS.to_vec(),
            clock_rows(r),
            vec![],
        ),
        (
            "PROBE CLOCKS (as each probe last said)",
            PROBE_CLOCK_HEADERS.to_vec(),
            probe_clock_rows(&r.probe_clocks),
            vec![4],
        ),
    ]
}

/// `THROUGHPUT (x)` -> `Throughput (x)`.
fn sentence_case(s: &str) -> String {
    let lower = s.to_lowercase();
    let mut c = lower.chars();
    match c.next() {
        Some(f) => f
            .to_uppercase()
            .chain(c)
            .collect::<String>()
            .replace("icmp", "ICMP"),
        None => String::new(),
    }
}

fn detour_rows(r: &Report) -> Vec<Vec<String>> {
    r.detours
        .iter()
        .map(|d| {
            vec![
                d.from.clone(),
                d.to.clone(),
                d.one_way_ms
                    .map_or_else(|| "-".to_string(), |v| format!("{v:.2}")),
                d.stretch
                    .map_or_else(|| "-".to_string(), |s| format!("{s:.2}")),
                d.relay.as_ref().map_or_else(
                    || "-".to_string(),
                    |x| {
                        format!(
                            "{} ({:.2}, saves {:.2})",
                            x.via.join("~"),
                            x.one_way_ms,
                            x.saved_ms
                        )
                    },
                ),
            ]
        })
        .collect()
}

const DETOUR_HEADERS: [&str; 5] = ["FROM", "TO", "ONE-WAY ms", "STRETCH", "RELAY"];

fn text_table(headers: &[&str], rows: Vec<Vec<String>>, right: &[usize]) -> String {
    let mut t = Table::new(headers.iter().map(|h| h.to_string()).collect());
    t.right_align(right);
    for r in rows {
        t.row(r);
    }
    t.render()
}

fn md_table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let esc = |s: &str| s.replace('|', "\\|");
    let mut out = String::from("|");
    for h in headers {
        out.push_str(&format!(" {} |", esc(h)));
    }
    out.push_str("\n|");
    for _ in headers {
        out.push_str(" --- |");
    }
    out.push('\n');
    for r in rows {
        out.push('|');
        for c in r {
            out.push_str(&format!(" {} |", esc(&c)));
        }
        out.push('\n');
    }
    out
}

fn suggestions_of(r: &Report) -> Suggestions {
    Suggestions {
        suggestions: r.suggestions.clone(),
        summary: r.suggest_summary.clone(),
    }
}

pub fn since_text(s: u64) -> String {
    if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

const ALERT_HEADERS: [&str; 6] = [
    "ALERT",
    "ROUTE",
    "DIRECTION",
    "RULE",
    "FIRING SINCE",
    "SUMMARY",
];
const EVENT_HEADERS: [&str; 5] = ["TIME", "KIND", "ROUTE", "DIRECTION", "WHAT"];

fn alert_rows(r: &Report) -> Vec<Vec<String>> {
    r.alerts
        .iter()
        .map(|a| {
            vec![
                a.alertname.clone(),
                format!("{} -> {}", a.from, a.to),
                a.direction.clone(),
                a.rule.clone(),
                a.starts_at.clone().unwrap_or_default(),
                a.annotations.get("summary").cloned().unwrap_or_default(),
            ]
        })
        .collect()
}

fn event_rows(r: &Report) -> Vec<Vec<String>> {
    r.events
        .iter()
        .map(|e| {
            vec![
                e.at_time.clone(),
                e.kind.clone(),
                format!("{} -> {}", e.from, e.to),
                e.direction.clone(),
                e.summary.clone(),
            ]
        })
        .collect()
}

/// The report's first lines: what was judged, what could not be, what fires.
fn summary_text(r: &Report) -> String {
    let s = &r.summary;
    let covered = s.ok + s.violations + s.uncertain + s.no_data;
    let bare = r.not_instrumented.routes;
    let measured = covered.saturating_sub(bare);
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    let mut out = format!(
        "{} a budget covers, last {}: {} measured ({} ok, {}, {} uncertain, {} no data), {} not instrumented (no probe at an end)\n",
        plural(covered, "route"),
        since_text(r.since_s),
        measured,
        s.ok,
        plural(s.violations, "violation"),
        s.uncertain,
        s.no_data.saturating_sub(bare),
        bare,
    );
    let rules = render::rule_line(&r.table());
    if !rules.is_empty() {
        out.push_str(&rules);
        out.push('\n');
    }
    out.push_str(&format!(
        "{} firing, {} in the look-back, {} measured over budget\n",
        plural(r.alerts.len(), "alert"),
        plural(r.events.len(), "event"),
        plural(r.violations.len(), "route"),
    ));
    out
}

const VIOLATION_HEADERS: [&str; 9] = [
    "FROM",
    "TO",
    "ONE-WAY ms",
    "BUDGET ms",
    "RULE",
    "BASIS",
    "FWD/REV p50 ms",
    "LOSS fwd/rev %",
    "PATH",
];

fn violation_rows(r: &Report) -> Vec<Vec<String>> {
    let ms = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"));
    let traced: HashMap<(&str, &str), &super::MeasuredPath> = r
        .paths
        .iter()
        .map(|p| ((p.from.as_str(), p.to.as_str()), p))
        .collect();
    r.violations
        .iter()
        .map(|v| {
            let rt = &v.route;
            let path = match traced.get(&(rt.from.as_str(), rt.to.as_str())) {
                Some(p) => format!("{} (traced)", p.sites.join(" > ")),
                None if !rt.path.is_empty() => rt.path.join(" > "),
                None => "-".to_string(),
            };
            // The band the verdict read, and why that basis when the
            // other one straddled the budget.
            let one_way = match (rt.one_way_ms, rt.error_ms) {
                (Some(v), Some(e)) if e >= 0.005 => format!("{v:.2} ± {e:.2}"),
                (v, _) => ms(v),
            };
            let basis = rt.basis.map_or("-", basis_str);
            let basis = match &rt.note {
                Some(n) => format!("{basis} ({n})"),
                None => basis.to_string(),
            };
            vec![
                rt.from.clone(),
                rt.to.clone(),
                one_way,
                ms(rt.budget_ms),
                rt.rule.clone().unwrap_or_default(),
                basis,
                v.measured.as_ref().map_or_else(
                    || "-".to_string(),
                    |m| format!("{}/{}", ms(m.forward.p50), ms(m.reverse.p50)),
                ),
                v.measured.as_ref().map_or_else(
                    || "-".to_string(),
                    |m| {
                        format!(
                            "{}/{}",
                            fmt_pct(m.loss_forward_pct),
                            fmt_pct(m.loss_reverse_pct)
                        )
                    },
                ),
                path,
            ]
        })
        .collect()
}

/// The endpoints no probe stands on, in one wrapped paragraph.
fn not_instrumented_text(r: &Report) -> String {
    let n = &r.not_instrumented;
    let mut out = format!(
        "{} covered routes have an end where no probe stands ({} endpoints): ",
        n.routes,
        n.endpoints.len()
    );
    out.push_str(&n.endpoints.join(", "));
    out
}

/// The lead of the text formats, in order: summary, firing alerts, routes
/// over budget, what changed, the fix, and what is not instrumented.
fn lead_text(r: &Report, md: bool) -> String {
    let mut out = String::new();
    if md {
        out.push_str(&format!(
            "**{}**\n\n",
            summary_text(r).trim_end().replace('\n', "  \n")
        ));
    } else {
        out.push_str(&summary_text(r));
        out.push('\n');
    }
    let mut part =
        |title: String, headers: &[&str], rows: Vec<Vec<String>>, none: &str, right: &[usize]| {
            if md {
                out.push_str(&format!("### {title}\n\n"));
                if rows.is_empty() {
                    out.push_str(&format!("{none}\n\n"));
                } else {
                    out.push_str(&md_table(headers, rows));
                    out.push('\n');
                }
            } else {
                out.push_str(&format!("{}\n", title.to_uppercase()));
                if rows.is_empty() {
                    out.push_str(&format!("{none}\n\n"));
                } else {
                    out.push_str(&text_table(headers, rows, right));
                    out.push('\n');
                }
            }
        };
    part(
        format!("Firing alerts ({})", r.alerts.len()),
        &ALERT_HEADERS,
        alert_rows(r),
        "None.",
        &[],
    );
    part(
        format!("Over budget ({})", r.violations.len()),
        &VIOLATION_HEADERS,
        violation_rows(r),
        "No covered route is over its budget.",
        &[2, 3],
    );
    part(
        format!(
            "Events, last {} ({})",
            since_text(r.since_s),
            r.events.len()
        ),
        &EVENT_HEADERS,
        event_rows(r),
        "No level shift or path change.",
        &[],
    );
    let contradictions = contradiction_lines(r);
    if !contradictions.is_empty() {
        let title = format!("Clock contradictions ({})", contradictions.len());
        if md {
            out.push_str(&format!("### {title}\n\n"));
            for l in &contradictions {
                out.push_str(&format!("- {l}\n"));
            }
        } else {
            out.push_str(&format!("{}\n", title.to_uppercase()));
            for l in &contradictions {
                out.push_str(&format!("{l}\n"));
            }
        }
        out.push('\n');
    }
    if !r.suggestions.is_empty() {
        if md {
            out.push_str("### Suggestions\n\n```\n");
            out.push_str(&suggest::suggestions_table(&suggestions_of(r)));
            out.push_str("```\n\n");
        } else {
            out.push_str("SUGGESTIONS\n");
            out.push_str(&suggest::suggestions_table(&suggestions_of(r)));
            out.push('\n');
        }
    }
    if r.not_instrumented.routes > 0 {
        if md {
            out.push_str(&format!(
                "### Not instrumented\n\n{}\n\n",
                not_instrumented_text(r)
            ));
        } else {
            out.push_str(&format!(
                "NOT INSTRUMENTED\n{}\n\n",
                not_instrumented_text(r)
            ));
        }
    }
    out
}

/// Renders a report in the requested format: the lead only, or (`all`) the
/// lead followed by every table.
pub fn render(r: &Report, topo: &Topology, format: ReportFormat) -> String {
    render_with(r, topo, format, false)
}

/// [`render`], with every table (`report --all`) or the lead only.
pub fn render_with(r: &Report, topo: &Topology, format: ReportFormat, all: bool) -> String {
    match format {
        ReportFormat::Json => {
            let mut s = serde_json::to_string_pretty(r)
                .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
            s.push('\n');
            s
        }
        ReportFormat::Table => {
            let mut out = lead_text(r, false);
            if !all {
                out.push_str("(every route, the measured matrix, inter-carrier pairs, throughput, ICMP targets and traced paths: --all)\n");
                return out;
            }
            out.push_str("ROUTES\n");
            out.push_str(&render::routes_table(&r.table()));
            out.push_str("\nMEASURED (last ");
            out.push_str(&since_text(r.since_s));
            out.push_str(")\n");
            out.push_str(&text_table(
                &MATRIX_HEADERS,
                matrix_rows(r),
                &[2, 3, 4, 5, 6, 7],
            ));
            let city = city_rows_shown(r);
            if !city.is_empty() {
                out.push_str("\nINTER-CARRIER IN A CITY\n");
                out.push_str(&text_table(&CITY_HEADERS, city, &[3, 5]));
            }
            for (title, headers, rows, right) in extra_sections(r) {
                if !rows.is_empty() {
                    out.push_str(&format!("\n{title}\n"));
                    out.push_str(&text_table(&headers, rows, &right));
                }
            }
            if !r.detours.is_empty() {
                out.push_str("\nDETOURS\n");
                out.push_str(&text_table(&DETOUR_HEADERS, detour_rows(r), &[2, 3]));
            }
            out
        }
        ReportFormat::Md => {
            let mut out = lead_text(r, true);
            if !all {
                return out;
            }
            out.push_str("### Routes\n\n");
            out.push_str(&render::routes_markdown(&r.table()));
            out.push_str(&format!(
                "\n### Measured (last {})\n\n",
                since_text(r.since_s)
            ));
            out.push_str(&md_table(&MATRIX_HEADERS, matrix_rows(r)));
            let city = city_rows_shown(r);
            if !city.is_empty() {
                out.push_str("\n### Inter-carrier in a city\n\n");
                out.push_str(&md_table(&CITY_HEADERS, city));
            }
            for (title, headers, rows, _) in extra_sections(r) {
                if !rows.is_empty() {
                    out.push_str(&format!("\n### {}\n\n", sentence_case(title)));
                    out.push_str(&md_table(&headers, rows));
                }
            }
            if !r.detours.is_empty() {
                out.push_str("\n### Detours\n\n");
                out.push_str(&md_table(&DETOUR_HEADERS, detour_rows(r)));
            }
            out
        }
        ReportFormat::Dot => render::map_dot(topo, Some(&r.table())),
        // Callers with the store at hand write a full snapshot (alerts and
        // history: `console::snapshot`); this one has the report only.
        ReportFormat::Html => snapshot_page(&Snapshot::without_history(
            r,
            topo,
            crate::server::store::now_ms(),
        )),
    }
}
