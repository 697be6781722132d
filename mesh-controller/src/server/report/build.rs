//! Building the report from the store: measured fields per route, loss per
//! direction and jitter, detours, and suggestions over measured delays.

use super::{round3, Dist, InterCarrierRoute, MeasuredFields, Report, ReportRoute, DETOUR_STRETCH};
use crate::server::config::Config;
use crate::server::store::StoreError;
use rusqlite::Connection;
use std::collections::HashMap;
use std::time::Duration;
use topology::analysis::{RouteReport, Verdict};
use topology::routing::Routes;
use topology::Endpoint;

use crate::server::measured::{route_table, Measured, RouteQuery};
use crate::server::store;
use protocol::window::{add_counters, loss_of, percentile_ms, Counters, DelayHistogram};
use std::collections::BTreeMap;
use topology::analysis::{Basis, Estimate, LatencySource};
use topology::intercarrier;
use topology::suggest::{self, SuggestOptions};

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
    let dist = |q: &crate::server::measured::Quantiles| Dist {
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
    build_with(conn, config, since, &SuggestOptions::default())
}

/// [`build`] with the suggestion search's knobs (`suggest --db`, `?k=`).
pub fn build_with(
    conn: &Connection,
    config: &Config,
    since: Duration,
    suggest_options: &SuggestOptions,
) -> Result<Report, StoreError> {
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
    Ok(Report {
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
