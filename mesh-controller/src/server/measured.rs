//! Measured latency: the rollups of the look-back merged per ordered endpoint
//! pair (several probes of one `site@network` merge into one endpoint), as the
//! [`LatencySource`] the route analysis runs on, so `/v1/routes` is the same
//! table as `plan` with measured values.
//!
//! A session from A to B measures A -> B forward, B -> A reverse, and the round
//! trip (see `history::pair`). A route's one-way delay is read from the merged
//! one-way histogram at the rule's percentile, with the clock error bound as
//! its error (zero when both probes share a boot id, so one kernel clock).
//! Where the clocks are not good enough (unsynchronized across two clocks, a
//! bound of at least [`MAX_ERROR_FRACTION`] of the delay, or one-way delays
//! that came out negative across two clocks) it falls back to half the round
//! trip, marked `rtt-half`.
//!
//! The rows read are the rollups (`history`): hours the look-back covers whole
//! from one row each, whole ten minutes from mid rows, its ragged ends from
//! fine rows, so the cost grows with the endpoint pairs and the hours, not
//! with the windows stored. Histograms stay sparse (a few hundred buckets),
//! so memory is small too.

use crate::history::{directions, Kept, Levels, PairStats, Rollup};
use crate::server::config::Config;
use crate::server::store::rollups::Directions;
use crate::server::store::{StoreError, StoreRead};
use std::collections::HashMap;
use topology::analysis::{self, Basis, Estimate, LatencySource, Options, RouteTable};
use topology::{budgets, Endpoint, Topology};

/// A one-way figure whose clock error bound reaches this fraction of the delay
/// says too little: the route uses RTT/2 instead.
pub const MAX_ERROR_FRACTION: f64 = 0.25;

/// Measured values per ordered endpoint pair.
#[derive(Debug, Default)]
pub struct Measured {
    pub pairs: HashMap<(Endpoint, Endpoint), PairStats>,
}

/// Endpoint names of a topology, for resolving stored rows.
pub fn endpoint_names(topo: &Topology) -> HashMap<String, Endpoint> {
    analysis::endpoints(topo)
        .into_iter()
        .map(|e| (e.name(topo), e))
        .collect()
}

/// Merged rollups per session direction (sender, reflector).
pub type ByDirection = HashMap<(Endpoint, Endpoint), Rollup>;

/// Reads the rollups of windows that started in `[from, until)` and merges
/// them per session direction. Rows of endpoints the topology no longer has
/// are left out.
pub fn read_directions(
    conn: &dyn StoreRead,
    config: &Config,
    from: u64,
    until: u64,
    now: u64,
    which: Directions<'_>,
) -> Result<ByDirection, StoreError> {
    let mid_from = conn.rollups_mid_from()?;
    let spans = plan(config.history, config, from, until, now, mid_from);
    let names = endpoint_names(&config.topology);
    let mut acc: ByDirection = HashMap::new();
    let mut scratch = protocol::window::SparseHistogram::new();
    conn.for_each_rollup(&spans, which, &mut |row| {
        let (Some(&a), Some(&b)) = (names.get(row.sender), names.get(row.reflector)) else {
            return Ok(());
        };
        if a == b {
            return Ok(());
        }
        row.merge_into(acc.entry((a, b)).or_default(), &mut scratch)
    })?;
    Ok(acc)
}

/// The end of a range that runs to now: windows may start up to a day ahead
/// of the controller's clock (a sender's clock running ahead), and an hour
/// more rounds to whole buckets.
pub fn open_end(now: u64) -> u64 {
    now.saturating_add(crate::server::api::FUTURE_SLACK_MS + crate::history::COARSE_MS)
}

/// The rows covering `[from, until)` given the retention of fine rows and
/// where mid rows begin.
pub fn plan(
    levels: Levels,
    config: &Config,
    from: u64,
    until: u64,
    now: u64,
    mid_from: u64,
) -> Vec<crate::history::Span> {
    let raw_ms = u64::try_from(config.retention.raw.as_millis()).unwrap_or(u64::MAX);
    let kept = Kept {
        fine_from: now.saturating_sub(raw_ms),
        mid_from,
    };
    levels.plan(from, until, kept, now)
}

impl Measured {
    /// What was measured by windows that started at or after `since_ms`
    /// (and up to a day ahead of now: senders' clocks may run ahead). The
    /// look-back is read in whole fine buckets, so it starts at the first
    /// fine bucket boundary at or after `since_ms`: a window older than the
    /// look-back is never counted, one in its first partial bucket is left
    /// out (at most one fine bucket, a minute by default).
    pub fn load(
        conn: &dyn StoreRead,
        config: &Config,
        since_ms: u64,
    ) -> Result<Measured, StoreError> {
        let now = crate::server::store::now_ms();
        let from = crate::history::buckets::ceil(since_ms, config.history.fine_ms);
        Measured::load_range(conn, config, from, open_end(now), now)
    }

    /// What was measured by windows that started in `[from, until)`.
    pub fn load_range(
        conn: &dyn StoreRead,
        config: &Config,
        from: u64,
        until: u64,
        now: u64,
    ) -> Result<Measured, StoreError> {
        let by_dir = read_directions(conn, config, from, until, now, Directions::All)?;
        Ok(Measured::of(&by_dir))
    }

    /// Both directions of every pair with rollups in either.
    pub fn of(by_dir: &ByDirection) -> Measured {
        let empty = Rollup::default();
        let mut pairs = HashMap::new();
        for &(a, b) in by_dir.keys() {
            let (lo, hi) = (a.min(b), a.max(b));
            if pairs.contains_key(&(lo, hi)) {
                continue;
            }
            let ab = by_dir.get(&(lo, hi)).unwrap_or(&empty);
            let ba = by_dir.get(&(hi, lo)).unwrap_or(&empty);
            let (up, down) = directions(ab, ba);
            pairs.insert((lo, hi), up);
            pairs.insert((hi, lo), down);
        }
        Measured { pairs }
    }

    pub fn is_measured(&self, from: Endpoint, to: Endpoint) -> bool {
        self.pairs
            .get(&(from, to))
            .is_some_and(PairStats::is_measured)
    }
}

/// Whether the one-way figures of `s` may be trusted at `one_way_ms`.
pub fn one_way_trusted(s: &PairStats, one_way_ms: f64) -> bool {
    let error_ms = s.error_ns as f64 / 1e6;
    !s.unsynchronized
        && !s.clock_suspect
        && (s.error_ns == 0 || error_ms < MAX_ERROR_FRACTION * one_way_ms)
}

/// A pair's one-way delay at `percentile`: one-way where the clocks allow,
/// half the round trip otherwise.
pub fn estimate(s: &PairStats, percentile: f64) -> Option<Estimate> {
    if let Some(v) = s.one_way.percentile_ms(percentile) {
        if one_way_trusted(s, v) {
            return Some(Estimate {
                one_way_ms: v,
                error_ms: s.error_ns as f64 / 1e6,
                basis: Basis::OneWay,
                path: Vec::new(),
            });
        }
    }
    // Half the round trip: its error is the path's asymmetry, which nothing
    // here bounds; the basis says so.
    s.rtt.percentile_ms(percentile).map(|rtt| Estimate {
        one_way_ms: rtt / 2.0,
        error_ms: 0.0,
        basis: Basis::RttHalf,
        path: Vec::new(),
    })
}

impl LatencySource for Measured {
    fn estimate(&self, from: Endpoint, to: Endpoint, percentile: f64) -> Option<Estimate> {
        estimate(self.pairs.get(&(from, to))?, percentile)
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
