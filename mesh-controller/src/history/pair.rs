//! From the rollups of both session directions of an endpoint pair (A -> B
//! sessions and B -> A sessions) to what was measured in each direction of
//! travel: one session measures its forward one-way delay, the reverse one,
//! the round trip and loss per direction, so the A -> B one-way delays are the
//! forward delays of A -> B sessions and the reverse delays of B -> A sessions,
//! merged exactly.
//!
//! Loss per direction follows RFC 7680 singletons as the probe counts them
//! (see `protocol::window::Loss`): the A -> B direction loses what A -> B
//! sessions lost forward and what B -> A sessions lost on the way back.

use super::rollup::Rollup;
use protocol::window::{loss_of, Counters, SparseHistogram};

/// Everything measured from one endpoint to another over some time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PairStats {
    /// One-way delays in this direction.
    pub one_way: SparseHistogram,
    /// Round trips of sessions in either direction.
    pub rtt: SparseHistogram,
    /// |IPDV| of consecutive round trips, sessions in either direction.
    pub ipdv: SparseHistogram,
    /// Largest clock error bound behind the one-way figures (ns; 0 on one
    /// kernel clock).
    pub error_ns: u64,
    /// Replies measured across two clocks, sessions in either direction (0:
    /// every session read one kernel clock, so the offset is 0 exactly).
    pub clock_samples: u64,
    /// Some sample came from an unsynchronized clock (across two clocks).
    pub unsynchronized: bool,
    /// Some one-way delay came out negative across two clocks: do not trust
    /// the one-way figures.
    pub clock_suspect: bool,
    /// Counters of the sessions sent in this direction.
    pub sessions: Option<Counters>,
    /// (lost, out of) in this direction, where the reflectors' sequence
    /// numbers could tell the directions apart.
    pub loss: Option<(u64, u64)>,
    /// (lost, out of) on the round trip, sessions in either direction.
    pub round_trip: (u64, u64),
    /// Uploaded windows behind the figures (both session directions).
    pub windows: u64,
}

impl PairStats {
    pub fn is_measured(&self) -> bool {
        !self.one_way.is_empty() || !self.rtt.is_empty()
    }

    /// Loss in this direction, percent.
    pub fn loss_pct(&self) -> Option<f64> {
        self.loss.and_then(pct)
    }

    /// Round-trip loss, percent.
    pub fn round_trip_pct(&self) -> Option<f64> {
        pct(self.round_trip)
    }
}

fn pct((lost, of): (u64, u64)) -> Option<f64> {
    (of > 0).then(|| lost.min(of) as f64 * 100.0 / of as f64)
}

fn add(acc: &mut Option<(u64, u64)>, lost: u64, of: u64) {
    let e = acc.get_or_insert((0, 0));
    e.0 += lost;
    e.1 += of;
}

/// The A -> B and B -> A figures from the merged rollups of A -> B sessions
/// (`ab`) and B -> A sessions (`ba`).
pub fn directions(ab: &Rollup, ba: &Rollup) -> (PairStats, PairStats) {
    let mut rtt = ab.rtt.clone();
    rtt.merge(&ba.rtt);
    let mut ipdv = ab.ipdv.clone();
    ipdv.merge(&ba.ipdv);
    let error_ns = ab.clock.error_ns.max(ba.clock.error_ns);
    let clock_samples = ab.clock.samples + ba.clock.samples;
    let unsynchronized = ab.clock.unsynchronized + ba.clock.unsynchronized > 0;
    let clock_suspect = ab.clock.suspect + ba.clock.suspect > 0;
    let windows = ab.windows + ba.windows;
    let mut round_trip = (0u64, 0u64);
    // [A -> B, B -> A]: each session direction's forward loss is its own
    // direction's, its reverse loss the other's.
    let mut loss: [Option<(u64, u64)>; 2] = [None, None];
    for (i, sent) in [ab, ba].into_iter().enumerate() {
        if sent.windows == 0 {
            continue;
        }
        let c = &sent.counters;
        let l = loss_of(c);
        round_trip.0 += l.round_trip_lost;
        round_trip.1 += l.finalized;
        if let (Some(fl), Some(rl)) = (l.forward_lost, l.reverse_lost) {
            add(&mut loss[i], fl, l.finalized);
            let reflector_sent = c
                .received
                .saturating_add(c.forward_duplicates)
                .saturating_add(c.reverse_lost);
            add(&mut loss[1 - i], rl, reflector_sent);
        }
    }
    let [loss_ab, loss_ba] = loss;
    let one_way = |a: &SparseHistogram, b: &SparseHistogram| {
        let mut h = a.clone();
        h.merge(b);
        h
    };
    let base = PairStats {
        rtt,
        ipdv,
        error_ns,
        clock_samples,
        unsynchronized,
        clock_suspect,
        round_trip,
        windows,
        ..PairStats::default()
    };
    (
        PairStats {
            one_way: one_way(&ab.forward, &ba.reverse),
            sessions: (ab.windows > 0).then_some(ab.counters),
            loss: loss_ab,
            ..base.clone()
        },
        PairStats {
            one_way: one_way(&ba.forward, &ab.reverse),
            sessions: (ba.windows > 0).then_some(ba.counters),
            loss: loss_ba,
            ..base
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::window::{ClockSample, Event, PacketSample, TsSource, Window};

    /// `n` replies at `fwd`/`rev` ms, then `lost_fwd` packets lost on the way
    /// out and `lost_rev` replies lost on the way back (a stateful reflector
    /// numbers what it receives, so the latter leave gaps).
    fn session(n: u32, fwd: i64, rev: i64, lost_fwd: u64, lost_rev: u64) -> Window {
        let mut w = Window::new();
        for i in 0..n {
            w.record(&Event::Sent);
            w.record(&Event::Reply(PacketSample {
                sender_seq: i,
                reflector_seq: i,
                rtt_ns: (fwd + rev) * 1_000_000,
                forward_ns: fwd * 1_000_000,
                reverse_ns: rev * 1_000_000,
                clock: ClockSample::default(),
                ts_source: TsSource::Kernel,
            }));
        }
        for _ in 0..lost_fwd + lost_rev {
            w.record(&Event::Sent);
            w.record(&Event::RoundTripLost);
        }
        for _ in 0..lost_rev {
            w.record(&Event::ReverseLost);
        }
        w
    }

    #[test]
    fn each_direction_takes_forward_of_its_sessions_and_reverse_of_the_others() {
        let ab = Rollup::of_window(&session(90, 5, 7, 10, 0)).same_clock();
        let ba = Rollup::of_window(&session(80, 6, 4, 0, 20)).same_clock();
        let (a_to_b, b_to_a) = directions(&ab, &ba);
        // A -> B: forward of A->B sessions (5 ms) and reverse of B->A (4 ms),
        // read as the histogram buckets' upper edges.
        assert_eq!(a_to_b.one_way.len(), 170);
        assert_eq!(a_to_b.one_way.percentile_ms(10.0), Some(4.001));
        assert_eq!(a_to_b.one_way.percentile_ms(90.0), Some(5.003));
        assert_eq!(b_to_a.one_way.percentile_ms(40.0), Some(6.003));
        assert_eq!(b_to_a.one_way.percentile_ms(99.0), Some(7.003));
        // A -> B lost 10 of 100 forward; B -> A sessions lost 20 replies on
        // the way back (A -> B) of the 100 their reflector sent. B -> A: none
        // of 100 (B -> A forward) nor of the 90 replies A's reflector sent.
        assert_eq!(a_to_b.loss, Some((10 + 20, 100 + 100)));
        assert_eq!(b_to_a.loss, Some((0, 100 + 90)));
        assert_eq!(a_to_b.round_trip, (30, 200));
        assert_eq!(a_to_b.windows, 2);
        assert_eq!(a_to_b.error_ns, 0);
        assert_eq!(a_to_b.clock_samples, 0, "one kernel clock");
        assert!(a_to_b.sessions.is_some() && b_to_a.sessions.is_some());
    }

    #[test]
    fn one_side_only_still_gives_both_directions() {
        let ab = Rollup::of_window(&session(10, 5, 7, 0, 0));
        let (a_to_b, b_to_a) = directions(&ab, &Rollup::default());
        assert_eq!(a_to_b.one_way.percentile_ms(50.0), Some(5.003));
        assert_eq!(b_to_a.one_way.percentile_ms(50.0), Some(7.003));
        assert!(b_to_a.sessions.is_none());
        assert_eq!(b_to_a.clock_samples, 10, "across two clocks");
        assert_eq!(b_to_a.loss, Some((0, 10)));
        assert!(b_to_a.is_measured());
    }
}
