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

use crate::config::Config;
use crate::store::{Merged, ProbeRow};
use crate::window::{percentile_ms, DelayHistogram, Window};
use std::collections::HashMap;
use topology::analysis::{self, Basis, Estimate, LatencySource, Options, RouteTable};
use topology::{budgets, Endpoint};

/// A one-way figure whose clock error bound reaches this fraction of the delay
/// says too little: the route uses RTT/2 instead.
pub const MAX_ERROR_FRACTION: f64 = 0.25;

/// Everything measured from one endpoint to another.
#[derive(Debug, Clone, Default)]
pub struct PairStats {
    /// One-way delays from -> to: forward of from -> to sessions and reverse of
    /// to -> from sessions.
    pub one_way: DelayHistogram,
    /// Round trips of sessions in either direction.
    pub rtt: DelayHistogram,
    /// Largest clock error bound of the sessions behind `one_way` (ns).
    pub error_ns: u64,
    /// Some session behind it had an unsynchronized clock and no shared boot id.
    pub unsynchronized: bool,
    /// Some one-way delay was negative across two clocks: do not trust them.
    pub clock_suspect: bool,
    /// Sessions sent from -> to, merged (loss, duplicates, reordering).
    pub sessions: Option<Window>,
    /// Windows behind the figures.
    pub windows: u64,
}

/// Measured values per ordered endpoint pair.
#[derive(Debug, Default)]
pub struct Measured {
    pub pairs: HashMap<(Endpoint, Endpoint), PairStats>,
}

impl Measured {
    /// Merges sessions (probe -> target windows) by endpoint pair. Sessions of
    /// probes that are not (or no longer) configured are left out.
    pub fn build(
        config: &Config,
        probes: &HashMap<String, ProbeRow>,
        sessions: &HashMap<(String, String), Merged>,
    ) -> Measured {
        let mut pairs: HashMap<(Endpoint, Endpoint), PairStats> = HashMap::new();
        let boot = |id: &str| probes.get(id).and_then(|r| r.boot_id.clone());
        // Sorted, so merges happen in the same order on every call.
        let mut keys: Vec<&(String, String)> = sessions.keys().collect();
        keys.sort();
        for key in keys {
            let (from, to) = key;
            let m = &sessions[key];
            let (Some(pf), Some(pt)) = (config.probe(from), config.probe(to)) else {
                continue;
            };
            let (a, b) = (pf.endpoint, pt.endpoint);
            if a == b {
                continue;
            }
            let w = &m.window;
            let c = &w.clock;
            let same_boot = matches!((boot(from), boot(to)), (Some(x), Some(y)) if x == y);
            let synchronized = same_boot
                || (c.samples > 0 && c.local_unsynchronized == 0 && c.remote_unsynchronized == 0);
            let error_ns = if same_boot {
                0
            } else {
                c.one_way_error_max_ns
                    .max(c.local_error_max_ns.saturating_add(c.remote_error_max_ns))
            };
            let suspect =
                !same_boot && (w.negative_one_way() > 0 || w.counters.one_way_beyond_error > 0);
            for (pair, hist) in [((a, b), &w.forward), ((b, a), &w.reverse)] {
                let s = pairs.entry(pair).or_default();
                s.one_way.merge(hist);
                s.rtt.merge(&w.rtt);
                s.windows += m.windows;
                if !w.rtt.is_empty() || !hist.is_empty() {
                    s.error_ns = s.error_ns.max(error_ns);
                    s.unsynchronized |= !synchronized;
                    s.clock_suspect |= suspect;
                }
            }
            let s = pairs.entry((a, b)).or_default();
            match &mut s.sessions {
                Some(acc) => acc.merge(w),
                None => s.sessions = Some(w.clone()),
            }
        }
        Measured { pairs }
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
        if let Some(v) = percentile_ms(&s.one_way, percentile) {
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
        percentile_ms(&s.rtt, percentile).map(|rtt| Estimate {
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
