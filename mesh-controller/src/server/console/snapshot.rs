//! The data a report.html carries, so the console opened from a file shows
//! what the live one would: the report, the topology, the alerts of the
//! look-back and the history of the routes that matter (firing alerts,
//! routes over budget, routes with events; at most [`MAX_SNAPSHOT_ROUTES`]).

use super::topology_view::TopologyView;
use crate::history::series::Series;
use crate::server::config::Config;
use crate::server::monitor::alert_list::{self, AlertView, Which};
use crate::server::report::Report;
use crate::server::series::{series, SeriesError, SeriesQuery, Step};
use crate::server::store::{StoreError, StoreRead};
use serde::Serialize;
use std::collections::HashSet;
use topology::Topology;

/// Most routes whose history a snapshot carries.
pub const MAX_SNAPSHOT_ROUTES: usize = 60;

/// What `<script id="hubmesh-snapshot">` holds.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot<'a> {
    /// When it was taken (Unix ms): the console's "data as of".
    pub generated_unix_ms: u64,
    pub report: &'a Report,
    pub topology: TopologyView,
    /// Every alert of the look-back (firing, pending, resolved).
    pub alerts: Vec<AlertView>,
    /// The history of [`routes_that_matter`], as `GET /v1/series` answers
    /// (look-back of the report, step auto).
    pub series: Vec<Series>,
}

impl<'a> Snapshot<'a> {
    /// A snapshot without a store behind it: the report's firing alerts, no
    /// history.
    pub fn without_history(report: &'a Report, topo: &Topology, now: u64) -> Snapshot<'a> {
        Snapshot {
            generated_unix_ms: now,
            report,
            topology: TopologyView::of(topo),
            alerts: report.alerts.clone(),
            series: Vec::new(),
        }
    }
}

/// The routes whose history a snapshot keeps, most pressing first: firing
/// alerts, then routes over budget, then routes with events; each pair of
/// endpoints once (either way round), at most `cap`.
pub fn routes_that_matter(report: &Report, cap: usize) -> Vec<(String, String)> {
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut out = Vec::new();
    let candidates = report
        .alerts
        .iter()
        .map(|a| (&a.from, &a.to))
        .chain(
            report
                .violations
                .iter()
                .map(|v| (&v.route.from, &v.route.to)),
        )
        .chain(report.events.iter().map(|e| (&e.from, &e.to)));
    for (from, to) in candidates {
        if out.len() >= cap {
            break;
        }
        let key = if from <= to {
            (from.clone(), to.clone())
        } else {
            (to.clone(), from.clone())
        };
        if seen.insert(key) {
            out.push((from.clone(), to.clone()));
        }
    }
    out
}

/// Takes the snapshot of `report` from the store it was built from.
pub fn snapshot<'a>(
    conn: &dyn StoreRead,
    config: &Config,
    report: &'a Report,
    now: u64,
) -> Result<Snapshot<'a>, StoreError> {
    let since_ms = report.since_s.saturating_mul(1000);
    let alerts = alert_list::list(conn, Which::All, now.saturating_sub(since_ms))?.alerts;
    let mut all = Vec::new();
    for (from, to) in routes_that_matter(report, MAX_SNAPSHOT_ROUTES) {
        let q = SeriesQuery {
            from,
            to,
            since: now.saturating_sub(since_ms),
            until: now,
            step: Step::Auto,
            probe: None,
            peer: None,
        };
        match series(conn, config, &q, now) {
            Ok(s) => all.push(s),
            // An endpoint the configuration no longer knows: no history.
            Err(SeriesError::Bad(_)) => {}
            Err(SeriesError::Store(e)) => return Err(e),
        }
    }
    Ok(Snapshot {
        generated_unix_ms: now,
        report,
        topology: TopologyView::of(&config.topology),
        alerts,
        series: all,
    })
}

/// The snapshot as JSON safe inside a `<script>` element: `<`, `>` and `&`
/// (and the two line separators JavaScript once refused) as `\uXXXX`, which
/// only occur inside JSON strings, where the escape means the same.
pub fn script_json(s: &Snapshot<'_>) -> String {
    let json = serde_json::to_string(s)
        .unwrap_or_else(|e| serde_json::json!({ "error": format!("snapshot: {e}") }).to_string());
    escape_for_script(&json)
}

fn escape_for_script(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + json.len() / 50);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn route(from: &str, to: &str) -> serde_json::Value {
        json!({"from": from, "to": to, "one_way_ms": 25.0, "basis": "one-way", "budget_ms": 20.0,
               "rule": "r", "percentile": 99.0, "verdict": "violation", "distance_km": 1.0,
               "lower_bound_ms": 0.1, "stretch": null, "path": [], "relay": null, "measured": null})
    }

    fn event(from: &str, to: &str) -> serde_json::Value {
        json!({"id": 1, "kind": "level-shift", "from": from, "to": to, "direction": "forward",
               "at": 1, "at_time": "", "detected_at": 1, "linked": null, "summary": ""})
    }

    fn report(violations: Vec<serde_json::Value>, events: Vec<serde_json::Value>) -> Report {
        serde_json::from_value(json!({
            "since_s": 3600,
            "summary": {"routes": 0, "ok": 0, "violations": 0, "uncertain": 0, "no_data": 0, "detours": 0},
            "violations": violations, "events": events, "suggestions": [],
            "suggest_summary": {"routes": 0, "violations_before": 0, "violations_after": 0,
                                "saved_ms_total": 0.0, "candidates": 0},
            "detours": [], "routes": []
        }))
        .unwrap()
    }

    #[test]
    fn routes_that_matter_come_in_order_once_each_and_capped() {
        let r = report(
            vec![route("a", "b"), route("b", "a"), route("c", "d")],
            vec![event("d", "c"), event("e", "f"), event("g", "h")],
        );
        let got = routes_that_matter(&r, 60);
        let pairs: Vec<(&str, &str)> = got.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(pairs, [("a", "b"), ("c", "d"), ("e", "f"), ("g", "h")]);
        assert_eq!(routes_that_matter(&r, 2).len(), 2);
    }

    #[test]
    fn script_json_cannot_end_the_element_and_reads_back_the_same() {
        let text = "</script><!-- & \u{2028} x>y";
        let json = serde_json::json!({ "s": text }).to_string();
        let esc = escape_for_script(&json);
        assert!(!esc.contains('<') && !esc.contains('>') && !esc.contains('&'));
        assert!(!esc.contains('\u{2028}'));
        let back: serde_json::Value = serde_json::from_str(&esc).unwrap();
        assert_eq!(back["s"], text);
    }
}
