//! A route's history as points in time (`GET /v1/series`, `mesh-controller
//! series`): per step, the forward (from -> to) and reverse one-way delay
//! percentiles with their clock error bound, the round trip, loss per
//! direction, jitter and the windows behind it, every percentile read from
//! exactly merged histograms (never an average of percentiles).
//!
//! Pure: the caller reads rows (rollups, or one probe pair's windows made into
//! rollups) and hands each one over with the time it covers; [`Builder`]
//! files them under their point and turns each point's two session directions
//! into figures the way the route table does (`history::pair`).

use super::pair::{directions, PairStats};
use super::rollup::Rollup;
use super::COARSE_MS;
use crate::server::clock_offset::pair_offset;
use crate::server::measured::{bands, rtt_half_band};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use topology::analysis::{Basis, Estimate};
use topology::clock_bounds::PairOffset;

/// Steps `step=auto` chooses from (ms), finest first.
const AUTO_STEPS: [u64; 8] = [
    60_000,
    300_000,
    900_000,
    3_600_000,
    3 * 3_600_000,
    6 * 3_600_000,
    12 * 3_600_000,
    86_400_000,
];
/// `step=auto` picks the finest step giving at most this many points.
pub const AUTO_MAX_POINTS: u64 = 360;
/// Most points a request may ask for.
pub const MAX_POINTS: u64 = 20_000;

/// The step `auto` picks for a range: the finest of [`AUTO_STEPS`] (not finer
/// than the fine buckets) giving at most [`AUTO_MAX_POINTS`] points.
pub fn auto_step(range_ms: u64, fine_ms: u64) -> u64 {
    AUTO_STEPS
        .iter()
        .copied()
        .filter(|s| *s >= fine_ms && s.is_multiple_of(fine_ms))
        .find(|s| range_ms.div_ceil(*s) <= AUTO_MAX_POINTS)
        .unwrap_or(86_400_000)
}

/// p50/p90/p99 of a one-way delay (ms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct OneWay {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
}

/// p50/p99 (ms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct P50P99 {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
}

/// One point of a route's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Start of the time the point covers (Unix ms) and its length: the step,
    /// or longer where only hourly rows are left for that time.
    pub t: u64,
    pub duration_ms: u64,
    /// `one-way`, or `rtt-half` where the clocks do not allow one-way figures
    /// (then forward and reverse are both half the round trip).
    pub basis: Basis,
    /// from -> to and to -> from.
    pub forward: OneWay,
    pub reverse: OneWay,
    /// Half-width of the widest band behind the point's one-way figures
    /// (each figure is its band's midpoint, as the route table's are): the
    /// clock offset interval of the point's own minima and claims with
    /// `one-way`, `rtt/2 − L` with `rtt-half`.
    pub error_ms: Option<f64>,
    pub rtt: P50P99,
    pub loss_forward_pct: Option<f64>,
    pub loss_reverse_pct: Option<f64>,
    pub loss_round_trip_pct: Option<f64>,
    /// |IPDV| of consecutive round trips.
    pub jitter: P50P99,
    /// Uploaded windows merged into the point.
    pub windows: u64,
}

/// The answer of `GET /v1/series`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub from: String,
    pub to: String,
    /// The probe pair, when narrowed to one (`probe=`, `peer=`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// The range asked for (Unix ms, `[since, until)`) and the step.
    pub since: u64,
    pub until: u64,
    pub step_ms: u64,
    /// The budget of the route's rule, its percentile and name (null when no
    /// rule covers the route).
    pub budget_ms: Option<f64>,
    pub percentile: Option<f64>,
    pub rule: Option<String>,
    /// `rollups` (per endpoint pair) or `windows` (one probe pair's raw and
    /// retained windows).
    pub source: String,
    /// Points with data, in time order.
    pub points: Vec<Point>,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Files rows under their points; see the module documentation.
#[derive(Debug)]
pub struct Builder {
    step_ms: u64,
    /// Per point (start, length): rows of from -> to and to -> from sessions.
    points: BTreeMap<(u64, u64), (Rollup, Rollup)>,
}

impl Builder {
    pub fn new(step_ms: u64) -> Builder {
        Builder {
            step_ms: step_ms.max(1),
            points: BTreeMap::new(),
        }
    }

    /// Adds a row covering `[start, start + len)`: `forward` when its sessions
    /// were sent from -> to. A row longer than the step (an hourly row where
    /// the fine ones are gone) makes a point of its own.
    pub fn add(&mut self, start: u64, len: u64, forward: bool, r: &Rollup) {
        let key = if len > self.step_ms {
            (start, len)
        } else {
            (start - start % self.step_ms, self.step_ms)
        };
        let e = self.points.entry(key).or_default();
        if forward {
            e.0.merge(r);
        } else {
            e.1.merge(r);
        }
    }

    /// The points, in time order; a point that overlaps a longer one (an
    /// hourly row beside fine rows of the same hour) is left out, so no
    /// window counts twice.
    pub fn points(self, pair: &PairContext) -> Vec<Point> {
        let mut out: Vec<Point> = Vec::new();
        for ((t, len), (ab, ba)) in self.points {
            if let Some(last) = out.last() {
                if t < last.t + last.duration_ms {
                    continue;
                }
            }
            if ab.windows + ba.windows == 0 {
                continue;
            }
            out.push(point(t, len, &ab, &ba, pair));
        }
        out
    }
}

/// Which step to read hourly rows at: steps of whole hours.
pub fn uses_hourly_rows(step_ms: u64) -> bool {
    step_ms.is_multiple_of(COARSE_MS)
}

/// What a point's figures need beyond its rollups: the pair's fibre bound
/// and whether its minima are those of one pair of clocks (see
/// `server::clock_offset`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PairContext {
    pub fibre_us: f64,
    pub one_probe_each: bool,
}

const PERCENTILES: [f64; 3] = [50.0, 90.0, 99.0];

/// The one-way figures of one direction as bands (p50, p90, p99), when
/// every one of them may be read one-way (the route table's rule).
fn one_way_bands(
    s: &PairStats,
    offset: Option<&PairOffset>,
    fibre_us: f64,
) -> Option<[Estimate; 3]> {
    if s.one_way.is_empty() {
        return None;
    }
    let band = |p| match bands(s, offset, p, fibre_us).0 {
        Some(e) if e.basis == Basis::OneWay => Some(e),
        _ => None,
    };
    Some([band(50.0)?, band(90.0)?, band(99.0)?])
}

/// The figures of one point from its two session directions: the same bands
/// the route table judges by, from the point's own rollups.
pub fn point(t: u64, duration_ms: u64, ab: &Rollup, ba: &Rollup, pair: &PairContext) -> Point {
    let (fwd, rev) = directions(ab, ba);
    let ms = |x: Option<f64>| x.map(round3);
    let p50p99 = |h: &protocol::window::SparseHistogram, half: bool| {
        let f = |p| ms(h.percentile_ms(p).map(|v| if half { v / 2.0 } else { v }));
        P50P99 {
            p50: f(50.0),
            p99: f(99.0),
        }
    };
    // One-way where both directions' bands may be read one-way, as the
    // route table does; half the round trip with its own band otherwise.
    let offset = pair_offset(&fwd, &rev, pair.fibre_us, pair.one_probe_each);
    let there = one_way_bands(&fwd, offset.as_ref(), pair.fibre_us);
    let back = one_way_bands(&rev, offset.map(|o| o.reversed()).as_ref(), pair.fibre_us);
    let figures = |b: &[Estimate; 3]| OneWay {
        p50: Some(round3(b[0].one_way_ms)),
        p90: Some(round3(b[1].one_way_ms)),
        p99: Some(round3(b[2].one_way_ms)),
    };
    let widest = |b: &[Estimate]| b.iter().map(|e| e.error_ms).fold(0.0, f64::max);
    let (basis, forward, reverse, error_ms) = match (there, back) {
        (Some(f), Some(r)) => (
            Basis::OneWay,
            figures(&f),
            figures(&r),
            Some(round3(widest(&f).max(widest(&r)))),
        ),
        (Some(f), None) if rev.one_way.is_empty() => (
            Basis::OneWay,
            figures(&f),
            OneWay::default(),
            Some(round3(widest(&f))),
        ),
        _ => {
            let halves: Vec<Estimate> = PERCENTILES
                .iter()
                .filter_map(|&p| rtt_half_band(&fwd, p, pair.fibre_us))
                .collect();
            let h = match halves.as_slice() {
                [a, b, c] => OneWay {
                    p50: Some(round3(a.one_way_ms)),
                    p90: Some(round3(b.one_way_ms)),
                    p99: Some(round3(c.one_way_ms)),
                },
                _ => OneWay::default(),
            };
            let error = (!halves.is_empty()).then(|| round3(widest(&halves)));
            (Basis::RttHalf, h, h, error)
        }
    };
    Point {
        t,
        duration_ms,
        basis,
        forward,
        reverse,
        error_ms,
        rtt: p50p99(&fwd.rtt, false),
        loss_forward_pct: fwd.loss_pct().map(round3),
        loss_reverse_pct: rev.loss_pct().map(round3),
        loss_round_trip_pct: fwd.round_trip_pct().map(round3),
        jitter: p50p99(&fwd.ipdv, false),
        windows: fwd.windows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::window::{ClockSample, Event, PacketSample, TsSource, Window};

    fn rollup(n: u32, fwd_ms: i64, rev_ms: i64) -> Rollup {
        let mut w = Window::new();
        for i in 0..n {
            w.record(&Event::Sent);
            w.record(&Event::Reply(PacketSample {
                sender_seq: i,
                reflector_seq: i,
                rtt_ns: (fwd_ms + rev_ms) * 1_000_000,
                forward_ns: fwd_ms * 1_000_000,
                reverse_ns: rev_ms * 1_000_000,
                clock: ClockSample::default(),
                ts_source: TsSource::Kernel,
            }));
        }
        Rollup::of_window(&w).same_clock()
    }

    #[test]
    fn auto_steps_keep_the_points_few_and_not_finer_than_the_rows() {
        assert_eq!(auto_step(3_600_000, 60_000), 60_000);
        assert_eq!(auto_step(24 * 3_600_000, 60_000), 300_000);
        assert_eq!(auto_step(30 * 86_400_000, 60_000), 3 * 3_600_000);
        assert_eq!(auto_step(600_000, 300_000), 300_000);
        assert_eq!(auto_step(u64::MAX / 2, 60_000), 86_400_000);
    }

    #[test]
    fn rows_fall_into_steps_and_a_long_row_stands_alone() {
        let mut b = Builder::new(300_000);
        let base = 1_000 * COARSE_MS;
        // Two fine rows in the first 5-minute step (forward sessions 5 ms),
        // one reverse-session row in the second, then an hourly row.
        b.add(base, 60_000, true, &rollup(10, 5, 7));
        b.add(base + 60_000, 60_000, true, &rollup(10, 5, 7));
        b.add(base + 300_000, 60_000, false, &rollup(10, 9, 4));
        b.add(base + COARSE_MS, COARSE_MS, true, &rollup(10, 20, 20));
        // A fine row inside that hour is shadowed by the hourly row.
        b.add(base + COARSE_MS + 600_000, 60_000, true, &rollup(10, 1, 1));
        let p = b.points(&PairContext::default());
        assert_eq!(p.len(), 3, "{p:?}");
        assert_eq!((p[0].t, p[0].duration_ms, p[0].windows), (base, 300_000, 2));
        assert_eq!(p[0].basis, Basis::OneWay);
        // One kernel clock: each figure is its histogram bucket's midpoint,
        // the band no wider than the bucket (4 us at 4 to 8 ms, 8 us above).
        let near = |got: Option<f64>, want: f64, bucket: f64| {
            got.is_some_and(|g| (g - want).abs() <= bucket / 1e3)
        };
        assert!(near(p[0].forward.p50, 5.0, 4.0), "{:?}", p[0]);
        assert!(near(p[0].reverse.p99, 7.0, 4.0), "{:?}", p[0]);
        assert!(p[0].error_ms.is_some_and(|e| e <= 0.004), "{:?}", p[0]);
        // The B -> A session measured from -> to on its way back (4 ms).
        assert!(near(p[1].forward.p50, 4.0, 2.0), "{:?}", p[1]);
        assert!(near(p[1].reverse.p50, 9.0, 8.0), "{:?}", p[1]);
        assert_eq!((p[2].t, p[2].duration_ms), (base + COARSE_MS, COARSE_MS));
        assert_eq!(p[2].rtt.p50, Some(40.031));
    }

    #[test]
    fn untrusted_clocks_give_half_the_round_trip() {
        let mut w = Window::new();
        w.record(&Event::Sent);
        w.record(&Event::Reply(PacketSample {
            sender_seq: 0,
            reflector_seq: 0,
            rtt_ns: 10_000_000,
            forward_ns: -2_000_000,
            reverse_ns: 12_000_000,
            clock: ClockSample::default(),
            ts_source: TsSource::User,
        }));
        let r = Rollup::of_window(&w);
        let pair = PairContext {
            fibre_us: 1_000.0,
            one_probe_each: true,
        };
        let p = point(0, 60_000, &r, &Rollup::default(), &pair);
        assert_eq!(p.basis, Basis::RttHalf);
        assert_eq!(p.forward, p.reverse);
        // Half of the 10.007 ms bucket edge (plus the rounding), with its
        // own band: each way at least the 1 ms fibre bound.
        assert_eq!(p.forward.p50, Some(5.004));
        assert_eq!(p.error_ms, Some(4.004));
    }

    /// A session across two clocks, B's 2.5 ms ahead of A's, each claiming
    /// honestly (0.1 and 3 ms), on a path of 4 ms each way whose fibre
    /// bound is 3.923 ms.
    fn offset_rollups() -> (Rollup, Rollup) {
        let clock = ClockSample {
            local_synchronized: true,
            local_error: std::time::Duration::from_micros(100),
            remote_synchronized: true,
            remote_error: std::time::Duration::from_micros(3_000),
            one_way_error: std::time::Duration::from_micros(3_100),
        };
        let mut w = Window::new();
        for i in 0..100u32 {
            let jitter = i64::from(i % 10) * 5_000;
            w.record(&Event::Sent);
            w.record(&Event::Reply(PacketSample {
                sender_seq: i,
                reflector_seq: i,
                rtt_ns: 8_000_000 + 2 * jitter,
                forward_ns: 6_500_000 + jitter,
                reverse_ns: 1_500_000 + jitter,
                clock,
                ts_source: TsSource::Kernel,
            }));
        }
        (Rollup::of_window(&w), Rollup::default())
    }

    #[test]
    fn points_are_the_route_tables_bands_offset_corrected() {
        let (ab, ba) = offset_rollups();
        let pair = PairContext {
            fibre_us: 3_923.0,
            one_probe_each: true,
        };
        let p = point(0, 60_000, &ab, &ba, &pair);
        assert_eq!(p.basis, Basis::OneWay, "{p:?}");
        let (v, err) = (p.forward.p50.unwrap(), p.error_ms.unwrap());
        // Truly 4.000 (p50: 4.020) ms: the band holds it, and it is physics'
        // width (about 0.08 ms), not the 3.1 ms claimed.
        assert!((v - err..=v + err).contains(&4.02), "{p:?}");
        assert!(err < 0.2, "{p:?}");
        let back = p.reverse.p50.unwrap();
        assert!((back - err..=back + err).contains(&4.02), "{p:?}");

        // Several probes at an end: the claims alone, 3.1 ms wide, too wide
        // to read one-way (a quarter of the delay): half the round trip.
        let claims_only = PairContext {
            one_probe_each: false,
            ..pair
        };
        let p = point(0, 60_000, &ab, &ba, &claims_only);
        assert_eq!(p.basis, Basis::RttHalf, "{p:?}");
        let (v, err) = (p.forward.p50.unwrap(), p.error_ms.unwrap());
        assert!((v - err..=v + err).contains(&4.02), "{p:?}");
    }
}
