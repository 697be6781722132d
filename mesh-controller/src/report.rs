//! `mesh-controller report` and the controller's web page: the measured route
//! table (`plan`'s JSON, each route with a `measured` object: forward and
//! reverse one-way delay, RTT, loss per direction, jitter), the detours, and
//! suggestions computed over the measured delays.
//!
//! The report is built in one place, [`build`], from a read-only connection to
//! the store and the controller's configuration; `report --db` calls it
//! directly, the controller calls it for `GET /` (the HTML page) and
//! `GET /v1/report` (any format), and `report --server` fetches the latter.

use crate::config::{parse_duration, Config};
use crate::measured::{route_table, Measured, RouteQuery};
use crate::store::{self, StoreError};
use crate::window::{add_counters, loss_of, percentile_ms, Counters, DelayHistogram};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use topology::analysis::{
    Basis, Estimate, LatencySource, RouteReport, RouteTable, Summary, Verdict,
};
use topology::render::{self, Table};
use topology::routing::Routes;
use topology::suggest::{self, SuggestOptions, SuggestSummary, Suggestion, Suggestions};
use topology::{Endpoint, Topology};

/// Default look-back.
pub const DEFAULT_SINCE: Duration = Duration::from_secs(3600);

/// A route whose one-way delay is at least this many times the fibre lower
/// bound counts as a detour (as does one with a faster relay).
pub const DETOUR_STRETCH: f64 = 3.0;

/// The web page at `/` reloads itself this often (seconds).
pub const PAGE_REFRESH_S: u32 = 30;

/// Response header of `/v1/report` with the number of violations (so
/// `report --server` can exit 1 without parsing every format).
pub const VIOLATIONS_HEADER: &str = "x-hubmesh-violations";

/// Output formats of `report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    Md,
    Html,
    Dot,
}

impl ReportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportFormat::Table => "table",
            ReportFormat::Json => "json",
            ReportFormat::Md => "md",
            ReportFormat::Html => "html",
            ReportFormat::Dot => "dot",
        }
    }

    pub fn parse(s: &str) -> Option<ReportFormat> {
        Some(match s {
            "table" => ReportFormat::Table,
            "json" => ReportFormat::Json,
            "md" | "markdown" => ReportFormat::Md,
            "html" => ReportFormat::Html,
            "dot" => ReportFormat::Dot,
            _ => return None,
        })
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ReportFormat::Json => "application/json",
            ReportFormat::Html => "text/html; charset=utf-8",
            ReportFormat::Md => "text/markdown; charset=utf-8",
            ReportFormat::Table | ReportFormat::Dot => "text/plain; charset=utf-8",
        }
    }
}

/// A distribution's median and 99th percentile (ms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Dist {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
}

impl Dist {
    fn half(self) -> Dist {
        Dist {
            p50: self.p50.map(|v| round3(v / 2.0)),
            p99: self.p99.map(|v| round3(v / 2.0)),
        }
    }
    fn is_empty(&self) -> bool {
        self.p50.is_none() && self.p99.is_none()
    }
}

/// What was measured between the two ends of a route. `forward` is from ->
/// to, `reverse` to -> from. Where the clocks do not allow one-way figures
/// (`basis: rtt-half`), both are half the round trip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasuredFields {
    pub basis: Basis,
    pub forward: Dist,
    pub reverse: Dist,
    /// Clock error bound of the one-way figures (0: one kernel clock);
    /// null with `rtt-half`.
    pub error_ms: Option<f64>,
    pub rtt: Dist,
    /// Loss from -> to and to -> from (%); null where the reflector's sequence
    /// numbers could not tell the directions apart.
    pub loss_forward_pct: Option<f64>,
    pub loss_reverse_pct: Option<f64>,
    pub loss_round_trip_pct: Option<f64>,
    /// |IPDV| of consecutive round trips.
    pub jitter: Dist,
    /// Uploaded windows behind the figures.
    pub windows: u64,
    /// Why the basis is what it is, when it is not `one-way`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
}

/// A route of the report: `plan`'s fields plus what was measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportRoute {
    #[serde(flatten)]
    pub route: RouteReport,
    pub measured: Option<MeasuredFields>,
}

/// The report: what `report --format json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub routes: Vec<ReportRoute>,
    pub summary: Summary,
    /// Routes with a faster relay or a stretch of at least [`DETOUR_STRETCH`].
    pub detours: Vec<RouteReport>,
    /// Direct links and exchange points that would help (best first), over
    /// the measured delays, and the modelled ones for pairs not measured.
    pub suggestions: Vec<Suggestion>,
    pub suggest_summary: SuggestSummary,
    /// Look-back of the measurements (seconds).
    pub since_s: u64,
}

impl Report {
    pub fn table(&self) -> RouteTable {
        RouteTable {
            routes: self.routes.iter().map(|r| r.route.clone()).collect(),
            summary: self.summary.clone(),
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Loss and jitter per ordered endpoint pair (what [`Measured`] does not keep).
#[derive(Debug, Default, Clone, Copy)]
struct Extra {
    /// (lost, out of) in the from -> to direction.
    fwd: Option<(u64, u64)>,
    round_trip: (u64, u64),
    jitter: Dist,
}

fn add(acc: &mut Option<(u64, u64)>, lost: u64, of: u64) {
    let e = acc.get_or_insert((0, 0));
    e.0 += lost;
    e.1 += of;
}

/// A session (probe, target) and the endpoint of its sender.
type Session = (String, String, Endpoint);

/// A second pass over the windows: per session counters (loss per direction)
/// and per endpoint pair the IPDV histogram, one pair at a time.
fn extras(
    conn: &Connection,
    config: &Config,
    since_ms: u64,
) -> Result<HashMap<(Endpoint, Endpoint), Extra>, StoreError> {
    let mut groups: BTreeMap<(Endpoint, Endpoint), Vec<Session>> = BTreeMap::new();
    for (from, to) in store::sessions_since(conn, since_ms)? {
        let (Some(pf), Some(pt)) = (config.probe(&from), config.probe(&to)) else {
            continue;
        };
        let (a, b) = (pf.endpoint, pt.endpoint);
        if a == b {
            continue;
        }
        groups
            .entry((a.min(b), a.max(b)))
            .or_default()
            .push((from, to, a));
    }
    let mut out: HashMap<(Endpoint, Endpoint), Extra> = HashMap::new();
    for ((lo, hi), sessions) in groups {
        let mut ipdv = DelayHistogram::new();
        let (mut up, mut down) = (Extra::default(), Extra::default());
        for (from, to, a) in &sessions {
            let mut c = Counters::default();
            store::for_each_window(conn, from, to, since_ms, |w, _| {
                add_counters(&mut c, &w.counters);
                ipdv.merge(&w.ipdv);
            })?;
            let l = loss_of(&c);
            let (fwd, rev) = if *a == lo {
                (&mut up, &mut down)
            } else {
                (&mut down, &mut up)
            };
            if let (Some(fl), Some(rl)) = (l.forward_lost, l.reverse_lost) {
                add(&mut fwd.fwd, fl, l.finalized);
                let reflector_sent = c
                    .received
                    .saturating_add(c.forward_duplicates)
                    .saturating_add(c.reverse_lost);
                add(&mut rev.fwd, rl, reflector_sent);
            }
            for e in [&mut up, &mut down] {
                e.round_trip.0 += l.round_trip_lost;
                e.round_trip.1 += l.finalized;
            }
        }
        let jitter = Dist {
            p50: percentile_ms(&ipdv, 50.0),
            p99: percentile_ms(&ipdv, 99.0),
        };
        up.jitter = jitter;
        down.jitter = jitter;
        out.insert((lo, hi), up);
        out.insert((hi, lo), down);
    }
    Ok(out)
}

fn pct((lost, of): (u64, u64)) -> Option<f64> {
    (of > 0).then(|| round3(lost.min(of) as f64 * 100.0 / of as f64))
}

fn measured_fields(
    measured: &Measured,
    extra: Option<&Extra>,
    from: Endpoint,
    to: Endpoint,
    percentile: f64,
) -> Option<MeasuredFields> {
    if !measured.is_measured(from, to) {
        return None;
    }
    let there = measured.pairs.get(&(from, to))?;
    let back = measured.pairs.get(&(to, from));
    let dist = |q: &crate::measured::Quantiles| Dist {
        p50: q.at(50.0).map(round3),
        p99: q.at(99.0).map(round3),
    };
    let rtt = dist(&there.rtt);
    let basis_of = |a: Endpoint, b: Endpoint| measured.estimate(a, b, percentile).map(|e| e.basis);
    let one_way = basis_of(from, to) == Some(Basis::OneWay)
        && (back.is_none() || basis_of(to, from) == Some(Basis::OneWay));
    let (basis, forward, reverse, error_ms, note) = if one_way {
        (
            Basis::OneWay,
            dist(&there.one_way),
            back.map(|b| dist(&b.one_way)).unwrap_or_default(),
            Some(round3(there.error_ns as f64 / 1e6)),
            None,
        )
    } else {
        let why = if there.unsynchronized {
            "clocks not synchronized across different boots"
        } else if there.clock_suspect {
            "one-way delays came out negative or beyond the stated clock error"
        } else if there.one_way.is_empty() {
            "no one-way figures"
        } else {
            "clock error bound too large against the delay"
        };
        (
            Basis::RttHalf,
            rtt.half(),
            rtt.half(),
            None,
            Some(format!("{why}: one-way delay is RTT/2")),
        )
    };
    let e = extra.copied().unwrap_or_default();
    Some(MeasuredFields {
        basis,
        forward,
        reverse,
        error_ms,
        rtt,
        loss_forward_pct: e.fwd.and_then(pct),
        // Filled in by the caller from the other direction's entry.
        loss_reverse_pct: None,
        loss_round_trip_pct: pct(e.round_trip),
        jitter: Dist {
            p50: e.jitter.p50.map(round3),
            p99: e.jitter.p99.map(round3),
        },
        windows: there.windows,
        note,
    })
}

/// Measured delays where there are any, the topology's modelled ones
/// elsewhere: what suggestions are searched over, so a pair without probes
/// counts as the links say rather than as unreachable.
struct Blend<'a> {
    measured: &'a Measured,
    modelled: &'a Routes,
}

impl LatencySource for Blend<'_> {
    fn estimate(&self, from: Endpoint, to: Endpoint, percentile: f64) -> Option<Estimate> {
        if self.measured.is_measured(from, to) {
            self.measured.estimate(from, to, percentile)
        } else {
            self.modelled.estimate(from, to, percentile)
        }
    }
    fn one_way_ms(&self, from: Endpoint, to: Endpoint) -> Option<f64> {
        if self.measured.is_measured(from, to) {
            LatencySource::one_way_ms(self.measured, from, to)
        } else {
            LatencySource::one_way_ms(self.modelled, from, to)
        }
    }
}

/// Builds the report from the store: measured routes (every covered pair and
/// every measured one), detours, and suggestions over the measured delays.
/// `config.budgets` are the budgets applied.
pub fn build(conn: &Connection, config: &Config, since: Duration) -> Result<Report, StoreError> {
    let since_ms = store::now_ms().saturating_sub(u64::try_from(since.as_millis()).unwrap_or(0));
    let probes = store::probe_rows(conn)?;
    let measured = Measured::load(conn, config, &probes, since_ms)?;
    let extra = extras(conn, config, since_ms)?;
    let table = route_table(config, &measured, RouteQuery::default());
    let topo = &config.topology;
    let names: HashMap<String, Endpoint> = topology::analysis::endpoints(topo)
        .into_iter()
        .map(|e| (e.name(topo), e))
        .collect();
    let routes: Vec<ReportRoute> = table
        .routes
        .iter()
        .map(|r| {
            let m = match (names.get(&r.from), names.get(&r.to)) {
                (Some(&a), Some(&b)) => {
                    let mut m = measured_fields(
                        &measured,
                        extra.get(&(a, b)),
                        a,
                        b,
                        r.percentile.unwrap_or(50.0),
                    );
                    if let Some(m) = m.as_mut() {
                        m.loss_reverse_pct = extra.get(&(b, a)).and_then(|e| e.fwd).and_then(pct);
                    }
                    m
                }
                _ => None,
            };
            ReportRoute {
                route: r.clone(),
                measured: m,
            }
        })
        .collect();
    let detours = table
        .routes
        .iter()
        .filter(|r| r.relay.is_some() || r.stretch.is_some_and(|s| s >= DETOUR_STRETCH))
        .cloned()
        .collect();
    let modelled = Routes::compute(topo);
    let blend = Blend {
        measured: &measured,
        modelled: &modelled,
    };
    let s = suggest::suggest(topo, &config.budgets, &blend, &SuggestOptions::default());
    Ok(Report {
        routes,
        summary: table.summary,
        detours,
        suggestions: s.suggestions,
        suggest_summary: s.summary,
        since_s: since.as_secs(),
    })
}

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

fn matrix_rows(r: &Report) -> Vec<Vec<String>> {
    r.routes
        .iter()
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
                match m.basis {
                    Basis::RttHalf => "rtt-half".to_string(),
                    Basis::OneWay => "one-way".to_string(),
                    Basis::Model => "model".to_string(),
                },
            ])
        })
        .collect()
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

/// Per-route notes for the web page: the measured figures in one line.
fn notes(r: &Report) -> HashMap<(String, String), String> {
    r.routes
        .iter()
        .filter_map(|rr| {
            let m = rr.measured.as_ref()?;
            let mut s = format!(
                "fwd {} rev {} rtt {} ms (p50/p99), loss {}/{} %, jitter {} ms",
                fmt_dist(&m.forward),
                fmt_dist(&m.reverse),
                fmt_dist(&m.rtt),
                fmt_pct(m.loss_forward_pct),
                fmt_pct(m.loss_reverse_pct),
                fmt_dist(&m.jitter)
            );
            if let Some(n) = &m.note {
                s.push_str("; ");
                s.push_str(n);
            }
            Some(((rr.route.from.clone(), rr.route.to.clone()), s))
        })
        .collect()
}

/// The web page of a report.
///
/// Measurements do not see paths: for the map, a measured route is taken to
/// follow its modelled path, so links are coloured by the worst verdict of the
/// measured routes that would cross them.
pub fn html(r: &Report, topo: &Topology, subtitle: &str, refresh_s: Option<u32>) -> String {
    let mut table = r.table();
    let modelled = Routes::compute(topo);
    let names: HashMap<String, Endpoint> = topology::analysis::endpoints(topo)
        .into_iter()
        .map(|e| (e.name(topo), e))
        .collect();
    for route in table.routes.iter_mut().filter(|x| x.path.is_empty()) {
        if let (Some(&a), Some(&b)) = (names.get(&route.from), names.get(&route.to)) {
            route.path = modelled.path(a, b).iter().map(|e| e.name(topo)).collect();
        }
    }
    let notes = notes(r);
    render::report_html(&render::Page {
        title: "hubmesh: measured routes",
        subtitle,
        topology: topo,
        routes: &table.routes,
        detours: &r.detours,
        suggestions: &r.suggestions,
        notes: &notes,
        refresh_s,
    })
}

fn since_text(s: u64) -> String {
    if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// Renders a report in the requested format.
pub fn render(r: &Report, topo: &Topology, format: ReportFormat) -> String {
    match format {
        ReportFormat::Json => {
            let mut s = serde_json::to_string_pretty(r)
                .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
            s.push('\n');
            s
        }
        ReportFormat::Table => {
            let mut out = render::routes_table(&r.table());
            out.push_str("\nMEASURED (last ");
            out.push_str(&since_text(r.since_s));
            out.push_str(")\n");
            out.push_str(&text_table(
                &MATRIX_HEADERS,
                matrix_rows(r),
                &[2, 3, 4, 5, 6, 7],
            ));
            if !r.detours.is_empty() {
                out.push_str("\nDETOURS\n");
                out.push_str(&text_table(&DETOUR_HEADERS, detour_rows(r), &[2, 3]));
            }
            if !r.suggestions.is_empty() {
                out.push_str("\nSUGGESTIONS\n");
                out.push_str(&suggest::suggestions_table(&suggestions_of(r)));
            }
            out
        }
        ReportFormat::Md => {
            let mut out = render::routes_markdown(&r.table());
            out.push_str(&format!(
                "\n### Measured (last {})\n\n",
                since_text(r.since_s)
            ));
            out.push_str(&md_table(&MATRIX_HEADERS, matrix_rows(r)));
            if !r.detours.is_empty() {
                out.push_str("\n### Detours\n\n");
                out.push_str(&md_table(&DETOUR_HEADERS, detour_rows(r)));
            }
            if !r.suggestions.is_empty() {
                out.push_str("\n### Suggestions\n\n```\n");
                out.push_str(&suggest::suggestions_table(&suggestions_of(r)));
                out.push_str("```\n");
            }
            out
        }
        ReportFormat::Dot => render::map_dot(topo, Some(&r.table())),
        ReportFormat::Html => html(
            r,
            topo,
            &format!("measurements of the last {}", since_text(r.since_s)),
            None,
        ),
    }
}

/// Applies `--budgets` (a preset or a file) to a configuration.
pub fn with_budgets(mut config: Config, budgets: Option<&str>) -> Result<Config, String> {
    if let Some(b) = budgets {
        config.budgets =
            topology::load::budgets_arg(b, &config.topology).map_err(|e| e.to_string())?;
    }
    Ok(config)
}

/// Whether any covered route violates its budget.
pub fn violates(r: &Report) -> bool {
    r.routes
        .iter()
        .any(|x| x.route.budget_ms.is_some() && x.route.verdict == Verdict::Violation)
}

/// Parses `--since` / `?since=`.
pub fn parse_since(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| format!("--since: {e}"))
}

// ---------------------------------------------------------------------------
// The controller's side: `GET /` and `GET /v1/report`.

mod http {
    use super::*;
    use crate::api::{query_pairs, Refusal, Shared};
    use axum::extract::{RawQuery, State};
    use axum::http::{header, HeaderName, HeaderValue, StatusCode};
    use axum::response::{IntoResponse, Response};

    struct Query {
        since: Duration,
        format: ReportFormat,
        budgets: Option<String>,
    }

    fn parse(q: Option<&str>, format: ReportFormat) -> Result<Query, Refusal> {
        let mut out = Query {
            since: DEFAULT_SINCE,
            format,
            budgets: None,
        };
        for (k, v) in query_pairs(q) {
            match k {
                "since" => out.since = parse_since(v).map_err(Refusal::bad_request)?,
                "format" => {
                    out.format = ReportFormat::parse(v).ok_or_else(|| {
                        Refusal::bad_request(format!(
                            "format: expected table, json, md, html or dot, found {v:?}"
                        ))
                    })?
                }
                // Presets only: the server reads no files named by a request.
                "budgets" => {
                    if topology::budgets::preset(v).is_none() {
                        return Err(Refusal::bad_request(format!(
                            "budgets: unknown preset {v:?} (plan-2021, plan-2023)"
                        )));
                    }
                    out.budgets = Some(v.to_string());
                }
                other => return Err(Refusal::bad_request(format!("unknown parameter {other:?}"))),
            }
        }
        Ok(out)
    }

    async fn answer(state: Shared, q: Query, page: bool) -> Result<Response, Refusal> {
        let config = with_budgets((*state.live().config).clone(), q.budgets.as_deref())
            .map_err(Refusal::bad_request)?;
        let since = q.since;
        let (report, config) = state
            .store
            .read(move |c| Ok((build(c, &config, since)?, config)))
            .await
            .map_err(|e| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let body = if page {
            html(
                &report,
                &config.topology,
                &format!(
                    "live from the controller: measurements of the last {}, refreshed every {PAGE_REFRESH_S} s (generated at unix ms {})",
                    since_text(report.since_s),
                    store::now_ms()
                ),
                Some(PAGE_REFRESH_S),
            )
        } else {
            render(&report, &config.topology, q.format)
        };
        let violations = report.summary.violations;
        let mut resp = ([(header::CONTENT_TYPE, q.format.content_type())], body).into_response();
        resp.headers_mut().insert(
            HeaderName::from_static(VIOLATIONS_HEADER),
            HeaderValue::from(violations),
        );
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(resp)
    }

    /// `GET /[?since=1h][&budgets=PRESET]`: the web page, from live data.
    pub async fn page(State(state): State<Shared>, RawQuery(q): RawQuery) -> Response {
        let q = match parse(q.as_deref(), ReportFormat::Html) {
            Ok(q) => q,
            Err(e) => return e.into_response(),
        };
        answer(state, q, true)
            .await
            .unwrap_or_else(IntoResponse::into_response)
    }

    /// `GET /v1/report[?since=1h][&format=json][&budgets=PRESET]`.
    pub async fn report(State(state): State<Shared>, RawQuery(q): RawQuery) -> Response {
        let q = match parse(q.as_deref(), ReportFormat::Json) {
            Ok(q) => q,
            Err(e) => return e.into_response(),
        };
        answer(state, q, false)
            .await
            .unwrap_or_else(IntoResponse::into_response)
    }
}

pub use http::{page, report as report_handler};

// ---------------------------------------------------------------------------
// `report --server`: a plain HTTP/1.1 GET of `/v1/report`.

/// What the controller answered: the body and its violation count.
#[derive(Debug)]
pub struct Fetched {
    pub body: String,
    pub violations: u64,
}

/// GETs `{url}/v1/report?since=..&format=..[&budgets=..]`.
pub fn fetch(
    url: &str,
    since: Duration,
    format: ReportFormat,
    budgets: Option<&str>,
) -> Result<Fetched, String> {
    use std::io::{Read, Write};
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("--server {url:?}: expected http://HOST:PORT"))?;
    let (host, prefix) = match rest.split_once('/') {
        Some((h, p)) => (h, format!("/{}", p.trim_end_matches('/'))),
        None => (rest, String::new()),
    };
    let prefix = if prefix == "/" { String::new() } else { prefix };
    let addr = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    let mut path = format!(
        "{prefix}/v1/report?since={}s&format={}",
        since.as_secs().max(1),
        format.as_str()
    );
    if let Some(b) = budgets {
        path.push_str("&budgets=");
        path.push_str(b);
    }
    let timeout = Duration::from_secs(120);
    let addrs: Vec<std::net::SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(&addr)
        .map_err(|e| format!("--server {url}: {e}"))?
        .collect();
    let first = addrs
        .first()
        .ok_or_else(|| format!("--server {url}: no address"))?;
    let mut s = std::net::TcpStream::connect_timeout(first, Duration::from_secs(10))
        .map_err(|e| format!("--server {url}: cannot connect: {e}"))?;
    s.set_read_timeout(Some(timeout)).ok();
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAccept: */*\r\n\r\n");
    s.write_all(req.as_bytes())
        .map_err(|e| format!("--server {url}: {e}"))?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)
        .map_err(|e| format!("--server {url}: {e}"))?;
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("--server {url}: malformed answer"))?;
    let head = String::from_utf8_lossy(&resp[..split]).into_owned();
    let mut body = resp[split + 4..].to_vec();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("--server {url}: no status line"))?;
    let (mut violations, mut chunked) = (0u64, false);
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == VIOLATIONS_HEADER {
                violations = v.parse().unwrap_or(0);
            } else if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    if chunked {
        body = dechunk(&body).ok_or_else(|| format!("--server {url}: bad chunked body"))?;
    }
    let body = String::from_utf8(body).map_err(|_| format!("--server {url}: body is not UTF-8"))?;
    if status != 200 {
        return Err(format!(
            "--server {url}: {path} answered {status}: {}",
            body.trim()
        ));
    }
    Ok(Fetched { body, violations })
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

/// Writes `text` to `path` atomically: a temporary file beside it, then rename.
pub fn write_atomic(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".to_string());
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_reassembled() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").as_deref(),
            Some(&b"abcde"[..])
        );
        assert_eq!(dechunk(b"5\r\nab"), None);
    }

    #[test]
    fn formats_round_trip() {
        for f in [
            ReportFormat::Table,
            ReportFormat::Json,
            ReportFormat::Md,
            ReportFormat::Html,
            ReportFormat::Dot,
        ] {
            assert_eq!(ReportFormat::parse(f.as_str()), Some(f));
        }
    }
}
