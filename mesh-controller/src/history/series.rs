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
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use topology::analysis::Basis;

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
    /// Clock error bound of the one-way figures (0 on one kernel clock); null
    /// with `rtt-half`.
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
    pub fn points(self) -> Vec<Point> {
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
            out.push(point(t, len, &ab, &ba));
        }
        out
    }
}

/// Which step to read hourly rows at: steps of whole hours.
pub fn uses_hourly_rows(step_ms: u64) -> bool {
    step_ms.is_multiple_of(COARSE_MS)
}

/// The figures of one point from its two session directions.
pub fn point(t: u64, duration_ms: u64, ab: &Rollup, ba: &Rollup) -> Point {
    let (fwd, rev) = directions(ab, ba);
    let ms = |x: Option<f64>| x.map(round3);
    let one_way = |s: &PairStats| OneWay {
        p50: ms(s.one_way.percentile_ms(50.0)),
        p90: ms(s.one_way.percentile_ms(90.0)),
        p99: ms(s.one_way.percentile_ms(99.0)),
    };
    let p50p99 = |h: &protocol::window::SparseHistogram, half: bool| {
        let f = |p| ms(h.percentile_ms(p).map(|v| if half { v / 2.0 } else { v }));
        P50P99 {
            p50: f(50.0),
            p99: f(99.0),
        }
    };
    // One-way where both directions' figures may be trusted (judged at the
    // p99, the strictest reading), as the route table does.
    let trusted = |s: &PairStats| {
        s.one_way
            .percentile_ms(99.0)
            .is_some_and(|v| crate::server::measured::one_way_trusted(s, v))
    };
    let one_way_basis = trusted(&fwd) && (rev.one_way.is_empty() || trusted(&rev));
    let (basis, forward, reverse, error_ms) = if one_way_basis {
        (
            Basis::OneWay,
            one_way(&fwd),
            one_way(&rev),
            Some(round3(fwd.error_ns as f64 / 1e6)),
        )
    } else {
        let half = |p| ms(fwd.rtt.percentile_ms(p).map(|v| v / 2.0));
        let h = OneWay {
            p50: half(50.0),
            p90: half(90.0),
            p99: half(99.0),
        };
        (Basis::RttHalf, h, h, None)
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
        let p = b.points();
        assert_eq!(p.len(), 3, "{p:?}");
        assert_eq!((p[0].t, p[0].duration_ms, p[0].windows), (base, 300_000, 2));
        assert_eq!(p[0].basis, Basis::OneWay);
        assert_eq!(p[0].forward.p50, Some(5.003));
        assert_eq!(p[0].reverse.p99, Some(7.003));
        assert_eq!(p[0].error_ms, Some(0.0));
        // The B -> A session measured from -> to on its way back (4 ms).
        assert_eq!(p[1].forward.p50, Some(4.001));
        assert_eq!(p[1].reverse.p50, Some(9.007));
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
        let p = point(0, 60_000, &r, &Rollup::default());
        assert_eq!(p.basis, Basis::RttHalf);
        assert_eq!(p.forward, p.reverse);
        // Half of the 10.007 ms bucket edge.
        assert_eq!(p.forward.p50, Some(5.004));
        assert_eq!(p.error_ms, None);
    }
}
