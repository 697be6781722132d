//! Building the report from the store: measured fields per route, loss per
//! direction and jitter, detours, and suggestions over measured delays.

use super::{round3, Dist, InterCarrierRoute, MeasuredFields, Report, ReportRoute, DETOUR_STRETCH};
use crate::server::config::Config;
use crate::server::store::{StoreError, StoreRead};
use std::collections::HashMap;
use std::time::Duration;
use topology::analysis::{RouteReport, Verdict};
use topology::routing::Routes;
use topology::Endpoint;

use crate::history::PairStats;
use crate::server::measured::{route_table, Measured, RouteQuery};
use crate::server::store;
use protocol::window::SparseHistogram;
use topology::analysis::{Basis, Estimate, LatencySource};
use topology::intercarrier;
use topology::suggest::{self, SuggestOptions};

fn measured_fields(
    measured: &Measured,
    from: Endpoint,
    to: Endpoint,
    percentile: f64,
) -> Option<MeasuredFields> {
    if !measured.is_measured(from, to) {
        return None;
    }
    let there = measured.pairs.get(&(from, to))?;
    let back = measured.pairs.get(&(to, from));
    let dist = |h: &SparseHistogram| Dist {
        p50: h.percentile_ms(50.0).map(round3),
        p99: h.percentile_ms(99.0).map(round3),
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
    Some(MeasuredFields {
        basis,
        forward,
        reverse,
        error_ms,
        rtt,
        loss_forward_pct: there.loss_pct().map(round3),
        loss_reverse_pct: back.and_then(PairStats::loss_pct).map(round3),
        loss_round_trip_pct: there.round_trip_pct().map(round3),
        jitter: dist(&there.ipdv),
        windows: there.windows,
        family: Vec::new(),
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
pub fn build(conn: &dyn StoreRead, config: &Config, since: Duration) -> Result<Report, StoreError> {
    build_with(conn, config, since, &SuggestOptions::default())
}

/// [`build`] with the suggestion search's knobs (`suggest --db`, `?k=`).
pub fn build_with(
    conn: &dyn StoreRead,
    config: &Config,
    since: Duration,
    suggest_options: &SuggestOptions,
) -> Result<Report, StoreError> {
    let since_ms = store::now_ms().saturating_sub(u64::try_from(since.as_millis()).unwrap_or(0));
    let measured = Measured::load(conn, config, since_ms)?;
    let table = route_table(config, &measured, RouteQuery::default());
    let topo = &config.topology;
    let names: HashMap<String, Endpoint> = topology::analysis::endpoints(topo)
        .into_iter()
        .map(|e| (e.name(topo), e))
        .collect();
    let families = crate::server::family::planned(config);
    let routes: Vec<ReportRoute> = table
        .routes
        .iter()
        .map(|r| {
            let mut m = match (names.get(&r.from), names.get(&r.to)) {
                (Some(&a), Some(&b)) => {
                    measured_fields(&measured, a, b, r.percentile.unwrap_or(50.0))
                }
                _ => None,
            };
            if let (Some(m), Some(f)) = (&mut m, families.get(&(r.from.clone(), r.to.clone()))) {
                m.family = f.iter().map(|s| s.to_string()).collect();
            }
            ReportRoute {
                route: r.clone(),
                measured: m,
            }
        })
        .collect();
    let detours: Vec<RouteReport> = table
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
    let s = suggest::suggest(topo, &config.budgets, &blend, suggest_options);
    let inter_carrier = inter_carrier(config, &routes, &modelled);
    let interesting: std::collections::HashSet<(String, String)> = routes
        .iter()
        .map(|r| &r.route)
        .filter(|r| r.verdict == Verdict::Violation)
        .chain(detours.iter())
        .map(|r| (r.from.clone(), r.to.clone()))
        .collect();
    let results = super::results::sections(conn, config, since_ms, &interesting)?;
    let alerts = crate::server::monitor::alert_list::list(
        conn,
        crate::server::monitor::alert_list::Which::Firing,
        since_ms,
    )?
    .alerts;
    let events = crate::server::monitor::event_list::list(conn, since_ms, None)?.events;
    let probed: std::collections::HashSet<String> = config
        .probes
        .iter()
        .map(|p| config.endpoint_name(p))
        .collect();
    let mut not_instrumented = super::NotInstrumented::default();
    let mut bare = std::collections::BTreeSet::new();
    for r in routes.iter().filter(|r| r.route.budget_ms.is_some()) {
        let ends = [&r.route.from, &r.route.to];
        if ends.iter().any(|e| !probed.contains(*e)) {
            not_instrumented.routes += 1;
            bare.extend(ends.into_iter().filter(|e| !probed.contains(*e)).cloned());
        }
    }
    not_instrumented.endpoints = bare.into_iter().collect();
    let violations = routes
        .iter()
        .filter(|r| r.route.budget_ms.is_some() && r.route.verdict == Verdict::Violation)
        .cloned()
        .collect();
    Ok(Report {
        not_instrumented,
        violations,
        alerts,
        events,
        throughput: results.throughput,
        icmp: results.icmp,
        paths: results.paths,
        routes,
        summary: table.summary,
        detours,
        suggestions: s.suggestions,
        suggest_summary: s.summary,
        inter_carrier,
        since_s: since.as_secs(),
        newest_window_end_ms: newest_window_end(conn, config)?,
        probe_clocks: super::probe_clocks::probe_clocks(config, &conn.probe_rows()?),
    })
}

/// Every ordered pair of endpoints on two carriers in one city: the measured
/// route where there is one, the modelled one otherwise.
fn inter_carrier(
    config: &Config,
    routes: &[ReportRoute],
    modelled: &Routes,
) -> Vec<InterCarrierRoute> {
    let topo = &config.topology;
    let eps = topology::analysis::endpoints(topo);
    let measured: HashMap<(&str, &str), &ReportRoute> = routes
        .iter()
        .filter(|r| r.measured.is_some())
        .map(|r| ((r.route.from.as_str(), r.route.to.as_str()), r))
        .collect();
    let opts = topology::analysis::Options::default();
    intercarrier::city_pairs(topo, &eps)
        .into_iter()
        .map(|p| {
            let (from, to) = (p.from.name(topo), p.to.name(topo));
            let route = match measured.get(&(from.as_str(), to.as_str())) {
                Some(r) => (*r).clone(),
                None => {
                    let rule = topology::budgets::rule_for(topo, &config.budgets, p.from, p.to);
                    ReportRoute {
                        route: topology::analysis::analyse_route(
                            topo, modelled, &eps, rule, p.from, p.to, &opts,
                        ),
                        measured: None,
                    }
                }
            };
            let exchange = match (p.from.network, p.to.network) {
                (Some(a), Some(b)) => intercarrier::local_exchange(topo, p.city, a, b),
                _ => None,
            };
            let site = |i: usize| topo.sites[i].id.clone();
            InterCarrierRoute {
                city: site(p.city),
                from,
                to,
                one_way_ms: route.route.one_way_ms,
                basis: route.route.basis,
                budget_ms: route.route.budget_ms,
                verdict: route.route.verdict,
                local_exchange: exchange.map(site),
                model_crosses_at: intercarrier::crossings(&modelled.path(p.from, p.to))
                    .into_iter()
                    .map(site)
                    .collect(),
                measured: route.measured,
            }
        })
        .collect()
}

/// End of the newest window of any session direction (the rollups keep the
/// latest window start per direction).
fn newest_window_end(conn: &dyn StoreRead, config: &Config) -> Result<Option<u64>, StoreError> {
    let window_ms = config.settings.window_s.saturating_mul(1000);
    Ok(conn
        .directions_seen()?
        .iter()
        .map(|d| d.last_ms.saturating_add(window_ms))
        .max())
}
