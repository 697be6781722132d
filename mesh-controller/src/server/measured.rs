//! Measured latency: stored windows merged per ordered endpoint pair (several
//! probes of one `site@network` merge into one endpoint), as the
//! [`LatencySource`] the route analysis runs on, so `/v1/routes` is the same
//! table as `plan` with measured values.
//!
//! A session from A to B measures A -> B forward, B -> A reverse, and the round
//! trip. A route's one-way delay is read from the merged one-way histogram at
//! the rule's percentile, with the clock error bound as its error (zero when
//! both probes share a boot id, so one kernel clock). Where the clocks are not
//! good enough (unsynchronized with different boot ids, a bound of at least
//! [`MAX_ERROR_FRACTION`] of the delay, or one-way delays more negative than the
//! stated error) it falls back to half the round trip, marked `rtt-half`.
//!
//! One delay histogram is about 140 KiB in memory (1 us .. 60 s at three
//! digits, dense counts), so the windows are merged one endpoint pair at a
//! time and only the percentiles needed are kept: memory grows with the pairs,
//! not with the windows or the sessions.

use crate::server::config::Config;
use crate::server::store::{self, ProbeRow, StoreError};
use protocol::window::{add_counters, percentile_ms, Counters, DelayHistogram};
use rusqlite::Connection;
use std::collections::{BTreeMap, HashMap};
use topology::analysis::{self, Basis, Estimate, LatencySource, Options, RouteTable};
use topology::{budgets, Endpoint};

/// A one-way figure whose clock error bound reaches this fraction of the delay
/// says too little: the route uses RTT/2 instead.
pub const MAX_ERROR_FRACTION: f64 = 0.25;

/// Percentiles always kept: the metrics' quantiles and the relay search's median.
const ALWAYS: [f64; 3] = [50.0, 90.0, 99.0];

/// A distribution reduced to the percentiles wanted, in ms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Quantiles(Vec<(f64, f64)>);

impl Quantiles {
    fn of(h: &DelayHistogram, wanted: &[f64]) -> Quantiles {
        Quantiles(
            wanted
                .iter()
                .filter_map(|&p| percentile_ms(h, p).map(|v| (p, v)))
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value at `p`, or at the nearest kept percentile above it (the
    /// conservative side), or the highest kept.
    pub fn at(&self, p: f64) -> Option<f64> {
        self.0
            .iter()
            .find(|(q, _)| *q >= p)
            .or(self.0.last())
            .map(|&(_, v)| v)
    }
}

/// Everything measured from one endpoint to another.
#[derive(Debug, Clone, Default)]
pub struct PairStats {
    /// One-way delays from -> to: forward of from -> to sessions and reverse of
    /// to -> from sessions.
    pub one_way: Quantiles,
    /// Round trips of sessions in either direction.
    pub rtt: Quantiles,
    /// Largest clock error bound of the sessions behind the figures (ns).
    pub error_ns: u64,
    /// Some session had an unsynchronized clock and no shared boot id.
    pub unsynchronized: bool,
    /// Some one-way delay was negative across two clocks: do not trust them.
    pub clock_suspect: bool,
    /// Counters of the sessions sent from -> to (loss, duplicates, reordering).
    pub sessions: Option<Counters>,
    /// Uploaded windows behind the figures.
    pub windows: u64,
}

/// Measured values per ordered endpoint pair.
#[derive(Debug, Default)]
pub struct Measured {
    pub pairs: HashMap<(Endpoint, Endpoint), PairStats>,
}

/// Accumulates one direction of an endpoint pair.
#[derive(Default)]
struct Side {
    one_way: DelayHistogram,
    counters: Option<Counters>,
}

impl Measured {
    /// Merges the windows that started at or after `since_ms`, one endpoint
    /// pair at a time. Sessions of probes that are not (or no longer)
    /// configured are left out.
    pub fn load(
        conn: &Connection,
        config: &Config,
        probes: &HashMap<String, ProbeRow>,
        since_ms: u64,
    ) -> Result<Measured, StoreError> {
        let mut wanted: Vec<f64> = ALWAYS.to_vec();
        wanted.extend(config.budgets.rules.iter().map(|r| r.percentile));
        wanted.sort_by(f64::total_cmp);
        wanted.dedup();
        let boot = |id: &str| probes.get(id).and_then(|r| r.boot_id.clone());

        // Sessions grouped by unordered endpoint pair (low, high).
        let mut groups: BTreeMap<(Endpoint, Endpoint), Vec<(String, String)>> = BTreeMap::new();
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
                .push((from, to));
        }

        let mut pairs = HashMap::new();
        for ((lo, hi), sessions) in groups {
            let (mut up, mut down) = (Side::default(), Side::default());
            let mut rtt = DelayHistogram::new();
            let (mut error_ns, mut unsync, mut suspect, mut windows) = (0u64, false, false, 0u64);
            for (from, to) in &sessions {
                let forward_is_up = config.probe(from).map(|p| p.endpoint) == Some(lo);
                let same_boot = matches!((boot(from), boot(to)), (Some(x), Some(y)) if x == y);
                // Clock facts of this session over the whole range.
                let (mut samples, mut l_unsync, mut r_unsync) = (0u64, 0u64, 0u64);
                let (mut l_err, mut r_err, mut ow_err) = (0u64, 0u64, 0u64);
                let (mut negative, mut beyond) = (0u64, 0u64);
                store::for_each_window(conn, from, to, since_ms, |w, n| {
                    let (fwd, rev) = if forward_is_up {
                        (&mut up, &mut down)
                    } else {
                        (&mut down, &mut up)
                    };
                    fwd.one_way.merge(&w.forward);
                    rev.one_way.merge(&w.reverse);
                    rtt.merge(&w.rtt);
                    add_counters(
                        fwd.counters.get_or_insert_with(Counters::default),
                        &w.counters,
                    );
                    let c = &w.clock;
                    samples += c.samples;
                    l_unsync += c.local_unsynchronized;
                    r_unsync += c.remote_unsynchronized;
                    l_err = l_err.max(c.local_error_max_ns);
                    r_err = r_err.max(c.remote_error_max_ns);
                    ow_err = ow_err.max(c.one_way_error_max_ns);
                    negative += w.negative_one_way();
                    beyond += w.counters.one_way_beyond_error;
                    windows += n;
                })?;
                if samples == 0 {
                    continue;
                }
                if !same_boot {
                    error_ns = error_ns.max(ow_err.max(l_err.saturating_add(r_err)));
                    unsync |= l_unsync > 0 || r_unsync > 0;
                    suspect |= negative > 0 || beyond > 0;
                }
            }
            let rtt_q = Quantiles::of(&rtt, &wanted);
            for ((from, to), side) in [((lo, hi), up), ((hi, lo), down)] {
                pairs.insert(
                    (from, to),
                    PairStats {
                        one_way: Quantiles::of(&side.one_way, &wanted),
                        rtt: rtt_q.clone(),
                        error_ns,
                        unsynchronized: unsync,
                        clock_suspect: suspect,
                        sessions: side.counters,
                        windows,
                    },
                );
            }
        }
        Ok(Measured { pairs })
    }

    pub fn is_measured(&self, from: Endpoint, to: Endpoint) -> bool {
        self.pairs
            .get(&(from, to))
            .is_some_and(|s| !s.one_way.is_empty() || !s.rtt.is_empty())
    }
}

impl LatencySource for Measured {
    fn estimate(&self, from: Endpoint, to: Endpoint, percentile: f64) -> Option<Estimate> {
        let s = self.pairs.get(&(from, to))?;
        let error_ms = s.error_ns as f64 / 1e6;
        if let Some(v) = s.one_way.at(percentile) {
            let trusted = !s.unsynchronized
                && !s.clock_suspect
                && (s.error_ns == 0 || error_ms < MAX_ERROR_FRACTION * v);
            if trusted {
                return Some(Estimate {
                    one_way_ms: v,
                    error_ms,
                    basis: Basis::OneWay,
                    path: Vec::new(),
                });
            }
        }
        // Half the round trip: its error is the path's asymmetry, which nothing
        // here bounds; the basis says so.
        s.rtt.at(percentile).map(|rtt| Estimate {
            one_way_ms: rtt / 2.0,
            error_ms: 0.0,
            basis: Basis::RttHalf,
            path: Vec::new(),
        })
    }

    fn one_way_ms(&self, from: Endpoint, to: Endpoint) -> Option<f64> {
        self.estimate(from, to, 50.0).map(|e| e.one_way_ms)
    }
}

/// Which routes `/v1/routes` lists.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RouteQuery {
    /// Every ordered pair of endpoints (like `plan --all`).
    pub all: bool,
    /// Only pairs with measurements.
    pub measured_only: bool,
}

/// The route table over measured values: every pair a budget covers, plus
/// every measured pair (with `budget_ms: null` where no rule covers it).
pub fn route_table(config: &Config, measured: &Measured, q: RouteQuery) -> RouteTable {
    let topo = &config.topology;
    let eps = analysis::endpoints(topo);
    let opts = Options::default();
    let mut routes = Vec::new();
    for &from in &eps {
        for &to in &eps {
            if from == to {
                continue;
            }
            let is_measured = measured.is_measured(from, to);
            if q.measured_only && !is_measured {
                continue;
            }
            let rule = budgets::rule_for(topo, &config.budgets, from, to);
            if rule.is_none() && !q.all && !is_measured {
                continue;
            }
            routes.push(analysis::analyse_route(
                topo, measured, &eps, rule, from, to, &opts,
            ));
        }
    }
    let summary = analysis::summarize(&routes);
    RouteTable { routes, summary }
}

#[cfg(test)]
mod tests {
    use super::Quantiles;

    #[test]
    fn quantiles_round_up_to_a_kept_percentile() {
        let q = Quantiles(vec![(50.0, 1.0), (90.0, 2.0), (99.0, 3.0)]);
        assert_eq!(q.at(50.0), Some(1.0));
        assert_eq!(q.at(95.0), Some(3.0));
        assert_eq!(q.at(99.9), Some(3.0));
        assert_eq!(Quantiles::default().at(50.0), None);
    }
}
