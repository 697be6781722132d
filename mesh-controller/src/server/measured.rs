//! Measured latency: the rollups of the look-back merged per ordered endpoint
//! pair (several probes of one `site@network` merge into one endpoint), as the
//! [`LatencySource`] the route analysis runs on, so `/v1/routes` is the same
//! table as `plan` with measured values.
//!
//! A session from A to B measures A -> B forward, B -> A reverse, and the round
//! trip (see `history::pair`). Every estimate is a band that holds the true
//! delay at the rule's percentile:
//!
//! - one-way: the merged one-way histogram's value `m` across clocks whose
//!   offset lies in `[θlo, θhi]` (`server::clock_offset`: the clocks' claims,
//!   tightened by light in fibre where each end has one probe; 0 exactly on
//!   one kernel clock) was truly in `[m − θhi, m − θlo]`, widened by the
//!   histogram bucket `m` was read from; reported as its midpoint ± half its
//!   width;
//! - RTT/2: each direction takes at least the fibre bound `L`, so the one-way
//!   delay at percentile p lies in `[L, rtt_p − L]`: `rtt_p / 2 ± (rtt_p / 2 −
//!   L)`.
//!
//! The one-way band comes first where the clocks allow it (synchronized, no
//! one-way delay negative, claims physics does not contradict, a band under
//! [`MAX_ERROR_FRACTION`] of the delay); RTT/2 otherwise. The other band is
//! the [`LatencySource::alternative`] the verdict tries when the first
//! straddles the budget (`topology::analysis::judge`), so a route is never
//! `ok` on a band that reaches over its budget.
//!
//! The rows read are the rollups (`history`): hours the look-back covers whole
//! from one row each, whole ten minutes from mid rows, its ragged ends from
//! fine rows, so the cost grows with the endpoint pairs and the hours, not
//! with the windows stored. Histograms stay sparse (a few hundred buckets),
//! so memory is small too.

use crate::history::{directions, Kept, Levels, PairStats, Rollup};
use crate::server::clock_offset::{self, bucket_us};
use crate::server::config::Config;
use crate::server::store::rollups::Directions;
use crate::server::store::{StoreError, StoreRead};
use std::collections::HashMap;
use topology::analysis::{self, Basis, Estimate, LatencySource, Options, RouteTable};
use topology::clock_bounds::{OffsetSource, PairOffset};
use topology::{budgets, geo, Endpoint, LatLon, Topology};

/// A one-way figure whose clock error bound reaches this fraction of the delay
/// says too little: the route uses RTT/2 first instead.
pub const MAX_ERROR_FRACTION: f64 = 0.25;

/// Measured values per ordered endpoint pair.
#[derive(Debug, Default)]
pub struct Measured {
    pub pairs: HashMap<(Endpoint, Endpoint), PairStats>,
    /// The clock offset interval per ordered pair with one-way figures: the
    /// receiving end's clock minus the sending end's.
    pub clocks: HashMap<(Endpoint, Endpoint), PairOffset>,
    /// The fibre lower bound per measured ordered pair (µs).
    pub fibre_us: HashMap<(Endpoint, Endpoint), f64>,
}

/// What the clock intervals need from the configuration: where the sites
/// are, and how many probes measure from each endpoint.
#[derive(Debug, Clone, Default)]
pub struct Ends {
    pub locations: Vec<LatLon>,
    pub probes: HashMap<Endpoint, usize>,
}

impl Ends {
    pub fn of(config: &Config) -> Ends {
        let mut probes = HashMap::new();
        for p in &config.probes {
            *probes.entry(p.endpoint).or_insert(0) += 1;
        }
        Ends {
            locations: config.topology.sites.iter().map(|s| s.location).collect(),
            probes,
        }
    }

    /// The fibre lower bound between two endpoints' sites (µs); 0 (which
    /// bounds nothing) for a site the topology does not have.
    pub fn fibre_us(&self, a: Endpoint, b: Endpoint) -> f64 {
        match (self.locations.get(a.site), self.locations.get(b.site)) {
            (Some(&x), Some(&y)) => geo::fibre_lower_bound_ms(x, y) * 1e3,
            _ => 0.0,
        }
    }

    /// Whether each end has exactly one probe, so that its figures are one
    /// pair of clocks.
    pub fn one_probe_each(&self, a: Endpoint, b: Endpoint) -> bool {
        self.probes.get(&a) == Some(&1) && self.probes.get(&b) == Some(&1)
    }
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
        Ok(Measured::of(&by_dir, &Ends::of(config)))
    }

    /// Both directions of every pair with rollups in either, with their clock
    /// offset intervals.
    pub fn of(by_dir: &ByDirection, ends: &Ends) -> Measured {
        let empty = Rollup::default();
        let mut pairs = HashMap::new();
        let mut clocks = HashMap::new();
        let mut fibre_us = HashMap::new();
        for &(a, b) in by_dir.keys() {
            let (lo, hi) = (a.min(b), a.max(b));
            if pairs.contains_key(&(lo, hi)) {
                continue;
            }
            let ab = by_dir.get(&(lo, hi)).unwrap_or(&empty);
            let ba = by_dir.get(&(hi, lo)).unwrap_or(&empty);
            let (up, down) = directions(ab, ba);
            let l = ends.fibre_us(lo, hi);
            if let Some(o) = clock_offset::pair_offset(&up, &down, l, ends.one_probe_each(lo, hi)) {
                clocks.insert((hi, lo), o.reversed());
                clocks.insert((lo, hi), o);
            }
            fibre_us.insert((lo, hi), l);
            fibre_us.insert((hi, lo), l);
            pairs.insert((lo, hi), up);
            pairs.insert((hi, lo), down);
        }
        Measured {
            pairs,
            clocks,
            fibre_us,
        }
    }

    /// The band a verdict against `budget_ms` uses (`analysis::judge`).
    pub fn judged(
        &self,
        from: Endpoint,
        to: Endpoint,
        percentile: f64,
        budget_ms: f64,
    ) -> Option<Estimate> {
        let (first, alternative) = self.bands(from, to, percentile);
        analysis::judge(first, alternative, budget_ms).estimate
    }

    /// The first band and the alternative for `from -> to` (see the module
    /// documentation).
    pub fn bands(
        &self,
        from: Endpoint,
        to: Endpoint,
        percentile: f64,
    ) -> (Option<Estimate>, Option<Estimate>) {
        let Some(s) = self.pairs.get(&(from, to)) else {
            return (None, None);
        };
        let fibre_us = self.fibre_us.get(&(from, to)).copied().unwrap_or(0.0);
        bands(s, self.clocks.get(&(from, to)), percentile, fibre_us)
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

/// The band `[lo_us, hi_us]` as an estimate (ms): midpoint ± half-width.
fn band(lo_us: f64, hi_us: f64, basis: Basis) -> Estimate {
    Estimate {
        one_way_ms: (lo_us + hi_us) / 2.0 / 1e3,
        error_ms: ((hi_us - lo_us) / 2.0).max(0.0) / 1e3,
        basis,
        path: Vec::new(),
    }
}

fn quantile(percentile: f64) -> f64 {
    (percentile / 100.0).clamp(0.0, 1.0)
}

/// The one-way delay at `percentile` of figures measured across clocks
/// whose offset lies in `offset` (the receiving end's clock minus the
/// sending end's): `[m − θhi, m − θlo]`, `m` widened to its histogram
/// bucket.
pub fn one_way_band(s: &PairStats, offset: &PairOffset, percentile: f64) -> Option<Estimate> {
    let (lo, hi) = bucket_us(s.one_way.value_at_quantile(quantile(percentile))?);
    Some(band(lo - offset.hi_us, hi - offset.lo_us, Basis::OneWay))
}

/// Half the round trip at `percentile` with its own bound: each direction
/// takes at least the fibre bound `L`, so one way lies in `[L, rtt − L]`.
pub fn rtt_half_band(s: &PairStats, percentile: f64, fibre_us: f64) -> Option<Estimate> {
    let (_, rtt) = bucket_us(s.rtt.value_at_quantile(quantile(percentile))?);
    let half_width = (rtt / 2.0 - fibre_us).max(0.0);
    Some(band(
        rtt / 2.0 - half_width,
        rtt / 2.0 + half_width,
        Basis::RttHalf,
    ))
}

/// A pair's bands at `percentile`, the one to use first and the alternative
/// (see the module documentation). `offset` is the pair's clock offset
/// interval, `fibre_us` its fibre bound.
pub fn bands(
    s: &PairStats,
    offset: Option<&PairOffset>,
    percentile: f64,
    fibre_us: f64,
) -> (Option<Estimate>, Option<Estimate>) {
    let offset = offset.filter(|o| o.bounds_drift() && !s.unsynchronized && !s.clock_suspect);
    let one_way = offset.and_then(|o| {
        let e = one_way_band(s, o, percentile)?;
        Some((e, o.source == OffsetSource::SameClock))
    });
    let rtt = rtt_half_band(s, percentile, fibre_us);
    match one_way {
        Some((e, same_clock)) if same_clock || e.error_ms < MAX_ERROR_FRACTION * e.one_way_ms => {
            (Some(e), rtt)
        }
        Some((e, _)) if rtt.is_some() => (rtt, Some(e)),
        Some((e, _)) => (Some(e), None),
        None => (rtt, None),
    }
}

impl LatencySource for Measured {
    fn estimate(&self, from: Endpoint, to: Endpoint, percentile: f64) -> Option<Estimate> {
        self.bands(from, to, percentile).0
    }

    fn one_way_ms(&self, from: Endpoint, to: Endpoint) -> Option<f64> {
        self.estimate(from, to, 50.0).map(|e| e.one_way_ms)
    }

    fn alternative(&self, from: Endpoint, to: Endpoint, percentile: f64) -> Option<Estimate> {
        self.bands(from, to, percentile).1
    }

    fn clock(&self, from: Endpoint, to: Endpoint) -> Option<PairOffset> {
        self.clocks.get(&(from, to)).cloned()
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
#[allow(clippy::unwrap_used)]
#[path = "measured_tests.rs"]
mod tests;
