//! `GET /metrics` in the Prometheus text format (0.0.4), labelled by site pair
//! (`from_site`, `to_site`, plus `from_network`/`to_network` where the topology
//! has carriers), never by probe pair, so cardinality grows with the sites, not
//! with the square of the probes.

use crate::server::config::Config;
use crate::server::measured::Measured;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use topology::analysis::{Basis, LatencySource, RouteTable, Verdict};
use topology::Endpoint;

/// Why an upload (or probe call) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorReason {
    Unauthorized,
    Forbidden,
    BadRequest,
    Storage,
    /// Turned away under load (503 at once, the agent sends it again).
    Busy,
}

impl ErrorReason {
    const ALL: [ErrorReason; 5] = [
        ErrorReason::Unauthorized,
        ErrorReason::Forbidden,
        ErrorReason::BadRequest,
        ErrorReason::Storage,
        ErrorReason::Busy,
    ];

    fn as_str(self) -> &'static str {
        match self {
            ErrorReason::Unauthorized => "unauthorized",
            ErrorReason::Forbidden => "forbidden",
            ErrorReason::BadRequest => "bad-request",
            ErrorReason::Storage => "storage",
            ErrorReason::Busy => "busy",
        }
    }
}

/// The server's own counters since it started (uploads, refusals), apart
/// from the windows' counters (`protocol::window::Counters`).
#[derive(Debug, Default)]
pub struct ServerCounters {
    pub windows_ingested: AtomicU64,
    pub windows_duplicate: AtomicU64,
    pub batches: AtomicU64,
    errors: [AtomicU64; 5],
}

impl ServerCounters {
    pub fn error(&self, reason: ErrorReason) {
        self.errors[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn errors(&self, reason: ErrorReason) -> u64 {
        self.errors[reason as usize].load(Ordering::Relaxed)
    }
}

/// Escapes a label value.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn pair_labels(config: &Config, from: Endpoint, to: Endpoint) -> String {
    let topo = &config.topology;
    let mut s = format!(
        "from_site=\"{}\",to_site=\"{}\"",
        esc(&topo.sites[from.site].id),
        esc(&topo.sites[to.site].id)
    );
    if let Some(n) = from.network {
        let _ = write!(s, ",from_network=\"{}\"", esc(&topo.networks[n].id));
    }
    if let Some(n) = to.network {
        let _ = write!(s, ",to_network=\"{}\"", esc(&topo.networks[n].id));
    }
    s
}

/// `site@network` (or `site`) as the same labels.
fn route_labels(from: &str, to: &str) -> String {
    let split = |e: &str| -> (String, Option<String>) {
        match e.split_once('@') {
            Some((s, n)) => (s.to_string(), Some(n.to_string())),
            None => (e.to_string(), None),
        }
    };
    let ((fs, fnw), (ts, tnw)) = (split(from), split(to));
    let mut s = format!("from_site=\"{}\",to_site=\"{}\"", esc(&fs), esc(&ts));
    if let Some(n) = fnw {
        let _ = write!(s, ",from_network=\"{}\"", esc(&n));
    }
    if let Some(n) = tnw {
        let _ = write!(s, ",to_network=\"{}\"", esc(&n));
    }
    s
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

const QUANTILES: [(f64, &str); 3] = [(50.0, "0.5"), (90.0, "0.9"), (99.0, "0.99")];

/// What `/metrics` shows besides the STAMP figures: the latest bandwidth
/// test per direction and ICMP echo to hosts without a probe.
#[derive(Debug, Default)]
pub struct ResultFigures {
    pub throughput: Vec<crate::server::report::Throughput>,
    /// Look-back of `throughput` (seconds).
    pub throughput_since_s: u64,
    pub icmp: Vec<crate::server::report::IcmpRoute>,
    /// Alerts firing now.
    pub firing: Vec<crate::server::store::alerts::Episode>,
    /// Webhook deliveries per receiver: (waiting, delivered, given up).
    pub deliveries: std::collections::HashMap<String, (u64, u64, u64)>,
    /// When each direction of travel was last measured (Unix ms).
    pub last_measured: std::collections::HashMap<(Endpoint, Endpoint), u64>,
    /// Each probe's last hello (its clock).
    pub probes: std::collections::HashMap<String, crate::server::store::ProbeRow>,
}

/// `site` (and `network`) labels of one endpoint.
fn site_labels(config: &Config, e: Endpoint) -> String {
    let topo = &config.topology;
    let mut s = format!("site=\"{}\"", esc(&topo.sites[e.site].id));
    if let Some(n) = e.network {
        let _ = write!(s, ",network=\"{}\"", esc(&topo.networks[n].id));
    }
    s
}

/// The clocks of each endpoint's probes as their last hellos described them,
/// per endpoint (never per probe: cardinality grows with the sites): the
/// worst of its probes.
fn site_clocks(out: &mut String, config: &Config, results: &ResultFigures) {
    #[derive(Default)]
    struct Worst {
        all_synchronized: bool,
        error_us: u64,
        test_offset_ns: Option<i64>,
    }
    let mut by_site: std::collections::BTreeMap<Endpoint, Worst> = Default::default();
    for p in &config.probes {
        let Some(c) = results.probes.get(&p.id).and_then(|r| r.clock) else {
            continue;
        };
        let w = by_site.entry(p.endpoint).or_insert(Worst {
            all_synchronized: true,
            ..Worst::default()
        });
        w.all_synchronized &= c.synchronized;
        w.error_us = w.error_us.max(c.error_us);
        if let Some(t) = c.test_clock {
            let worst = w.test_offset_ns.unwrap_or(0);
            if t.offset_ns.unsigned_abs() >= worst.unsigned_abs() {
                w.test_offset_ns = Some(t.offset_ns);
            }
        }
    }
    family(
        out,
        "hubmesh_site_clock_synchronized",
        "gauge",
        "1 when every probe of the site says its clock is synchronized (chrony, ptp4l, the kernel, or a stated error).",
    );
    for (e, w) in &by_site {
        let _ = writeln!(
            out,
            "hubmesh_site_clock_synchronized{{{}}} {}",
            site_labels(config, *e),
            u8::from(w.all_synchronized)
        );
    }
    family(
        out,
        "hubmesh_site_clock_error_seconds",
        "gauge",
        "The largest clock error bound the site's probes announced in their last hellos.",
    );
    for (e, w) in &by_site {
        let _ = writeln!(
            out,
            "hubmesh_site_clock_error_seconds{{{}}} {}",
            site_labels(config, *e),
            w.error_us as f64 / 1e6
        );
    }
    family(
        out,
        "hubmesh_site_test_clock_offset_seconds",
        "gauge",
        "TEST KNOB: the largest offset a test clock adds at the site (present only where a probe runs one).",
    );
    for (e, w) in &by_site {
        if let Some(ns) = w.test_offset_ns {
            let _ = writeln!(
                out,
                "hubmesh_site_test_clock_offset_seconds{{{}}} {}",
                site_labels(config, *e),
                ns as f64 / 1e9
            );
        }
    }
}

/// Alerts firing, routes over budget, when routes were last measured, and
/// the webhook queue.
fn monitoring(out: &mut String, config: &Config, routes: &RouteTable, results: &ResultFigures) {
    family(
        out,
        "hubmesh_alert_firing",
        "gauge",
        "1 for every alert firing now (labels as in its notifications; from/to are the route's endpoints in topology order, direction says which way; a probe's clock alert gives the probe's endpoint as from, never the probe).",
    );
    let mut firing = std::collections::BTreeSet::new();
    for e in &results.firing {
        let l = |k: &str| esc(e.labels.get(k).map_or("", String::as_str));
        let from = match e.labels.get("probe") {
            Some(id) => config
                .probes
                .iter()
                .find(|p| &p.id == id)
                .map_or_else(String::new, |p| esc(&config.endpoint_name(p))),
            None => l("from"),
        };
        firing.insert(format!(
            "hubmesh_alert_firing{{alertname=\"{}\",from=\"{from}\",to=\"{}\",direction=\"{}\",rule=\"{}\",severity=\"{}\"}} 1",
            l("alertname"),
            l("to"),
            l("direction"),
            l("rule"),
            l("severity")
        ));
    }
    for line in firing {
        let _ = writeln!(out, "{line}");
    }
    family(
        out,
        "hubmesh_route_over_budget",
        "gauge",
        "1 for every measured route over its budget now (verdict violation), by its rule.",
    );
    for r in routes
        .routes
        .iter()
        .filter(|r| r.verdict == Verdict::Violation)
    {
        let _ = writeln!(
            out,
            "hubmesh_route_over_budget{{{},rule=\"{}\"}} 1",
            route_labels(&r.from, &r.to),
            esc(r.rule.as_deref().unwrap_or(""))
        );
    }
    family(
        out,
        "hubmesh_route_last_measured_timestamp_seconds",
        "gauge",
        "When each route a budget covers was last measured (end of its latest window, Unix seconds); absent for routes never measured.",
    );
    let topo = &config.topology;
    let eps = topology::analysis::endpoints(topo);
    for &from in &eps {
        for &to in &eps {
            if from == to || topology::budgets::rule_for(topo, &config.budgets, from, to).is_none()
            {
                continue;
            }
            if let Some(ms) = results.last_measured.get(&(from, to)) {
                let _ = writeln!(
                    out,
                    "hubmesh_route_last_measured_timestamp_seconds{{{}}} {}",
                    pair_labels(config, from, to),
                    *ms as f64 / 1000.0
                );
            }
        }
    }
    let mut receivers: Vec<&str> = config
        .alerts
        .receivers
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    receivers.extend(results.deliveries.keys().map(String::as_str));
    receivers.sort_unstable();
    receivers.dedup();
    family(
        out,
        "hubmesh_webhook_queue",
        "gauge",
        "Webhook notifications waiting to be delivered, per receiver.",
    );
    for r in &receivers {
        let (waiting, _, _) = results.deliveries.get(*r).copied().unwrap_or_default();
        let _ = writeln!(
            out,
            "hubmesh_webhook_queue{{receiver=\"{}\"}} {waiting}",
            esc(r)
        );
    }
    family(
        out,
        "hubmesh_webhook_deliveries_total",
        "counter",
        "Webhook notifications by outcome: delivered, or given up after retrying for a day.",
    );
    for r in &receivers {
        let (_, delivered, given_up) = results.deliveries.get(*r).copied().unwrap_or_default();
        for (outcome, n) in [("delivered", delivered), ("given-up", given_up)] {
            let _ = writeln!(
                out,
                "hubmesh_webhook_deliveries_total{{receiver=\"{}\",outcome=\"{outcome}\"}} {n}",
                esc(r)
            );
        }
    }
}

/// The clock offset interval of every measured pair with one-way figures
/// (the receiving end's clock minus the sending end's) and whether the
/// clocks' claims contradict physics.
fn clocks(out: &mut String, config: &Config, measured: &Measured) {
    let mut clocks: Vec<_> = measured.clocks.iter().collect();
    clocks.sort_by_key(|(k, _)| **k);
    for (name, help, value) in [
        (
            "hubmesh_clock_offset_lower_seconds",
            "Lower end of the interval the clock offset of each measured pair lies in (receiving end's clock minus sending end's): from the clocks' claims, tightened by light in fibre where each end has one probe; 0 on one kernel clock.",
            (|o: &topology::clock_bounds::PairOffset| o.lo_us / 1e6) as fn(&_) -> f64,
        ),
        (
            "hubmesh_clock_offset_upper_seconds",
            "Upper end of that interval.",
            |o| o.hi_us / 1e6,
        ),
        (
            "hubmesh_clock_contradiction",
            "1 where the clocks of a measured pair claim more than physics allows (their one-way figures are not used), else 0.",
            |o| f64::from(u8::from(o.contradiction)),
        ),
    ] {
        family(out, name, "gauge", help);
        for ((from, to), o) in &clocks {
            let _ = writeln!(
                out,
                "{name}{{{}}} {}",
                pair_labels(config, *from, *to),
                value(o)
            );
        }
    }
}

/// The whole exposition.
pub fn render(
    config: &Config,
    measured: &Measured,
    routes: &RouteTable,
    counters: &ServerCounters,
    window_s: u64,
    results: &ResultFigures,
) -> String {
    let mut out = String::new();
    let mut pairs: Vec<_> = measured.pairs.iter().collect();
    pairs.sort_by_key(|(k, _)| **k);

    family(
        &mut out,
        "hubmesh_one_way_delay_seconds",
        "gauge",
        &format!("Measured one-way delay per site pair over the last {window_s} s, by quantile (only where the clocks allow one-way figures)."),
    );
    for ((from, to), _) in &pairs {
        let labels = pair_labels(config, *from, *to);
        for (p, q) in QUANTILES {
            if let Some(e) = measured.estimate(*from, *to, p) {
                if e.basis == Basis::OneWay {
                    let _ = writeln!(
                        out,
                        "hubmesh_one_way_delay_seconds{{{labels},quantile=\"{q}\"}} {}",
                        e.one_way_ms / 1000.0
                    );
                }
            }
        }
    }

    family(
        &mut out,
        "hubmesh_rtt_seconds",
        "gauge",
        &format!("Measured round-trip time per site pair over the last {window_s} s, by quantile."),
    );
    for ((from, to), s) in &pairs {
        let labels = pair_labels(config, *from, *to);
        for (p, q) in QUANTILES {
            if let Some(v) = s.rtt.percentile_ms(p) {
                let _ = writeln!(
                    out,
                    "hubmesh_rtt_seconds{{{labels},quantile=\"{q}\"}} {}",
                    v / 1000.0
                );
            }
        }
    }

    family(
        &mut out,
        "hubmesh_loss_ratio",
        "gauge",
        &format!("Packet loss of sessions from one site to another over the last {window_s} s: round trip, forward (to the reflector) and reverse."),
    );
    for ((from, to), s) in &pairs {
        let Some(c) = &s.sessions else { continue };
        let loss = protocol::window::loss_of(c);
        if loss.finalized == 0 {
            continue;
        }
        let labels = pair_labels(config, *from, *to);
        let _ = writeln!(
            out,
            "hubmesh_loss_ratio{{{labels},direction=\"round-trip\"}} {}",
            loss.round_trip_pct / 100.0
        );
        for (dir, pct) in [("forward", loss.forward_pct), ("reverse", loss.reverse_pct)] {
            if let Some(pct) = pct {
                let _ = writeln!(
                    out,
                    "hubmesh_loss_ratio{{{labels},direction=\"{dir}\"}} {}",
                    pct / 100.0
                );
            }
        }
    }

    clocks(&mut out, config, measured);

    family(
        &mut out,
        "hubmesh_route_verdict",
        "gauge",
        "Budget verdict of each measured route: 1 for the current verdict, 0 for the others.",
    );
    for r in routes.routes.iter().filter(|r| r.one_way_ms.is_some()) {
        let labels = route_labels(&r.from, &r.to);
        for v in [
            Verdict::Ok,
            Verdict::Violation,
            Verdict::Uncertain,
            Verdict::NoData,
        ] {
            let _ = writeln!(
                out,
                "hubmesh_route_verdict{{{labels},verdict=\"{}\"}} {}",
                v.as_str(),
                u8::from(r.verdict == v)
            );
        }
    }
    family(
        &mut out,
        "hubmesh_route_one_way_seconds",
        "gauge",
        "One-way delay of each measured route at its rule's percentile (one-way or RTT/2).",
    );
    for r in &routes.routes {
        if let Some(v) = r.one_way_ms {
            let _ = writeln!(
                out,
                "hubmesh_route_one_way_seconds{{{}}} {}",
                route_labels(&r.from, &r.to),
                v / 1000.0
            );
        }
    }
    family(
        &mut out,
        "hubmesh_route_budget_seconds",
        "gauge",
        "One-way budget of each measured route.",
    );
    for r in routes.routes.iter().filter(|r| r.one_way_ms.is_some()) {
        if let Some(b) = r.budget_ms {
            let _ = writeln!(
                out,
                "hubmesh_route_budget_seconds{{{}}} {}",
                route_labels(&r.from, &r.to),
                b / 1000.0
            );
        }
    }

    if !results.throughput.is_empty() {
        family(
            &mut out,
            "hubmesh_throughput_bits_per_second",
            "gauge",
            &format!("Latest bandwidth test from one site to another (received rate) within the last {} s.", results.throughput_since_s),
        );
        for t in &results.throughput {
            let _ = writeln!(
                out,
                "hubmesh_throughput_bits_per_second{{{},protocol=\"{}\"}} {}",
                route_labels(&t.from, &t.to),
                esc(&t.protocol),
                t.latest_mbit * 1e6
            );
        }
        family(
            &mut out,
            "hubmesh_throughput_test_timestamp_seconds",
            "gauge",
            "When that latest bandwidth test started (Unix seconds).",
        );
        for t in &results.throughput {
            let _ = writeln!(
                out,
                "hubmesh_throughput_test_timestamp_seconds{{{},protocol=\"{}\"}} {}",
                route_labels(&t.from, &t.to),
                esc(&t.protocol),
                t.latest_unix_ms as f64 / 1000.0
            );
        }
    }
    if !results.icmp.is_empty() {
        family(
            &mut out,
            "hubmesh_icmp_rtt_seconds",
            "gauge",
            &format!("ICMP echo round trip to a host without a probe over the last {window_s} s (quantile 0.5: median of the windows' medians; 0.99: the worst window's)."),
        );
        for x in &results.icmp {
            let labels = route_labels(&x.from, &x.to);
            for (q, v) in [("0.5", x.rtt_p50_ms), ("0.99", x.rtt_p99_ms)] {
                if let Some(v) = v {
                    let _ = writeln!(
                        out,
                        "hubmesh_icmp_rtt_seconds{{{labels},quantile=\"{q}\"}} {}",
                        v / 1000.0
                    );
                }
            }
        }
        family(
            &mut out,
            "hubmesh_icmp_loss_ratio",
            "gauge",
            &format!("ICMP echo loss to a host without a probe over the last {window_s} s."),
        );
        for x in &results.icmp {
            let _ = writeln!(
                out,
                "hubmesh_icmp_loss_ratio{{{}}} {}",
                route_labels(&x.from, &x.to),
                x.loss_pct / 100.0
            );
        }
    }

    monitoring(&mut out, config, routes, results);

    family(
        &mut out,
        "hubmesh_windows_ingested_total",
        "counter",
        "Windows stored since the controller started.",
    );
    let _ = writeln!(
        out,
        "hubmesh_windows_ingested_total {}",
        counters.windows_ingested.load(Ordering::Relaxed)
    );
    family(
        &mut out,
        "hubmesh_windows_duplicate_total",
        "counter",
        "Replayed windows acknowledged as duplicates (not stored again).",
    );
    let _ = writeln!(
        out,
        "hubmesh_windows_duplicate_total {}",
        counters.windows_duplicate.load(Ordering::Relaxed)
    );
    family(
        &mut out,
        "hubmesh_ingest_errors_total",
        "counter",
        "Refused probe calls, by reason.",
    );
    for r in ErrorReason::ALL {
        let _ = writeln!(
            out,
            "hubmesh_ingest_errors_total{{reason=\"{}\"}} {}",
            r.as_str(),
            counters.errors(r)
        );
    }
    family(
        &mut out,
        "hubmesh_probes",
        "gauge",
        "Probes in the configuration.",
    );
    let _ = writeln!(out, "hubmesh_probes {}", config.probes.len());
    site_clocks(&mut out, config, results);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::server::store::ProbeRow;
    use protocol::api::{ClockInfo, TestClock};

    #[test]
    fn site_clocks_take_the_worst_probe_and_never_name_one() {
        let src = "topology:\n  version: 1\n  sites:\n    - {id: a, kind: city, location: [30, 104]}\n    - {id: b, kind: city, location: [31, 105]}\nprobes:\n  - {id: a-1, site: a, stamp: 127.0.0.1:20000}\n  - {id: a-2, site: a, stamp: 127.0.0.1:20001}\n  - {id: b-1, site: b, stamp: 127.0.0.1:20002}\n";
        let config =
            crate::server::config::from_str(src, "t.yaml", std::path::Path::new("t.yaml")).unwrap();
        let row = |synchronized, error_us, test_clock| ProbeRow {
            clock: Some(ClockInfo {
                synchronized,
                error_us,
                source: None,
                test_clock,
            }),
            ..ProbeRow::default()
        };
        let skew = TestClock {
            offset_ns: -2_500_000,
            drift_ppb: 0,
        };
        let results = ResultFigures {
            probes: [
                ("a-1".to_owned(), row(true, 50, None)),
                ("a-2".to_owned(), row(false, 16_000_000, Some(skew))),
                ("b-1".to_owned(), row(true, 20, None)),
            ]
            .into_iter()
            .collect(),
            ..ResultFigures::default()
        };
        let mut out = String::new();
        site_clocks(&mut out, &config, &results);
        assert!(
            out.contains("hubmesh_site_clock_synchronized{site=\"a\"} 0\n"),
            "{out}"
        );
        assert!(
            out.contains("hubmesh_site_clock_synchronized{site=\"b\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("hubmesh_site_clock_error_seconds{site=\"a\"} 16\n"),
            "{out}"
        );
        assert!(
            out.contains("hubmesh_site_test_clock_offset_seconds{site=\"a\"} -0.0025\n"),
            "{out}"
        );
        assert!(
            !out.contains("site_test_clock_offset_seconds{site=\"b\"}"),
            "{out}"
        );
        assert!(!out.contains("probe="), "{out}");
    }
}
