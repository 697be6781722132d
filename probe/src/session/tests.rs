//! Hand-made timestamps through the tracker, one metric at a time.

use std::time::Duration;

use super::*;
use crate::clock::ClockSide;
use crate::timestamping::{Timestamp, TsSource};

const TIMEOUT: Duration = Duration::from_secs(2);

fn ms(v: u64) -> Timestamp {
    Timestamp::from_millis(1_700_000_000_000 + v)
}

fn clock(one_way_error: Duration) -> ClockSample {
    ClockSample {
        local_synchronized: false,
        local_error: one_way_error / 2,
        remote_synchronized: false,
        remote_error: one_way_error / 2,
        one_way_error,
    }
}

/// A reply for `seq` sent at `sent` ms, with `fwd`, turnaround and `rev` in ms
/// on one shared clock.
fn reply(seq: u32, rseq: u32, sent: u64, fwd: u64, turn: u64, rev: u64) -> Reply {
    Reply {
        sender_seq: seq,
        reflector_seq: rseq,
        t1: ms(sent),
        t2: ms(sent + fwd),
        t3: ms(sent + fwd + turn),
        t4: ms(sent + fwd + turn + rev),
        clock: clock(Duration::ZERO),
        ts_source: TsSource::Kernel,
    }
}

/// `value` reads `expected` at 3 significant digits (bucket top at most 0.1 % up).
fn within(value: u64, expected: u64) -> bool {
    (expected..=expected + expected / 1000).contains(&value)
}

fn fresh(outcome: ReplyOutcome) -> PacketSample {
    match outcome {
        ReplyOutcome::Fresh(s) => s,
        other => panic!("expected a fresh reply, got {other:?}"),
    }
}

#[test]
fn rtt_excludes_the_reflector_turnaround() {
    let mut t = Tracker::new();
    t.sent(0, ms(0));
    let s = fresh(t.reply(&reply(0, 0, 0, 10, 500, 12)));
    assert_eq!(s.rtt_ns, 22_000_000);
    assert_eq!(s.forward_ns, 10_000_000);
    assert_eq!(s.reverse_ns, 12_000_000);
    let r = t.window().report("x");
    // Histogram statistics hold 3 significant digits: maxima and percentiles
    // read as the top of their bucket.
    assert!(r.rtt_us.is_some_and(|s| within(s.max, 22_000)));
    assert_eq!(r.forward_us.map(|s| s.min), Some(10_000));
}

#[test]
fn negative_one_way_is_kept_and_counted() {
    let mut t = Tracker::new();
    t.sent(0, ms(0));
    // Reflector clock 5 s ahead: forward looks 5.010 s, reverse -4.988 s.
    let offset = Duration::from_secs(5);
    let mut r = reply(0, 0, 0, 10, 50, 12);
    r.t2 += offset;
    r.t3 += offset;
    r.clock = clock(Duration::from_millis(1));
    let s = fresh(t.reply(&r));
    assert_eq!(s.rtt_ns, 22_000_000, "offset cancels in the RTT");
    assert_eq!(s.reverse_ns, -4_988_000_000);
    let w = t.window();
    assert_eq!(w.counters.negative_reverse, 1);
    assert_eq!(
        w.counters.one_way_beyond_error, 1,
        "5 s beyond a 1 ms bound"
    );
    assert!(
        w.reverse.is_empty(),
        "negative values stay out of the histogram"
    );
    assert_eq!(w.reverse_range.min_ns, Some(-4_988_000_000));
    let report = w.report("x");
    assert_eq!(report.negative_one_way, 1);
    assert_eq!(report.one_way_us.reverse_min, Some(-4_988_000));
    assert_eq!(report.reverse_us, None);
    assert_eq!(report.reverse_pdv_us, None);
    assert!(report.forward_pdv_us.is_some());

    // Within a 16 s unsynchronized bound the same offset is no contradiction.
    let mut t = Tracker::new();
    t.sent(0, ms(0));
    r.clock = clock(Duration::from_secs(16));
    t.reply(&r);
    assert_eq!(t.window().counters.negative_reverse, 1);
    assert_eq!(t.window().counters.one_way_beyond_error, 0);
}

#[test]
fn loss_per_direction_with_a_reflector_gap() {
    let mut t = Tracker::with_reflector(ReflectorKind::Stateful { first_seq: Some(0) });
    for seq in 0..10 {
        t.sent(seq, ms(u64::from(seq) * 10));
    }
    // Sender packet 3 is lost on the way out: the reflector numbers the nine it
    // gets 0..=8. Its reply numbered 5 (for sender packet 6) is lost on the way
    // back.
    let delivered = [
        (0, 0),
        (1, 1),
        (2, 2),
        (4, 3),
        (5, 4),
        (7, 6),
        (8, 7),
        (9, 8),
    ];
    for (seq, rseq) in delivered {
        fresh(t.reply(&reply(seq, rseq, u64::from(seq) * 10, 5, 1, 5)));
    }
    // Nothing is lost before the timeout.
    t.expire(ms(1_000), TIMEOUT);
    let loss = t.window().loss();
    assert_eq!((loss.round_trip_lost, loss.reverse_lost), (0, Some(0)));
    assert_eq!(t.in_flight(), 2);

    t.expire(ms(2_200), TIMEOUT);
    let loss = t.window().loss();
    assert_eq!(loss.finalized, 10);
    assert_eq!(loss.round_trip_lost, 2);
    assert_eq!(loss.reverse_lost, Some(1));
    assert_eq!(loss.forward_lost, Some(1));
    assert!((loss.round_trip_pct - 20.0).abs() < 1e-9);
    assert!(loss.forward_pct.is_some_and(|p| (p - 10.0).abs() < 1e-9));
    assert!(loss
        .reverse_pct
        .is_some_and(|p| (p - 100.0 / 9.0).abs() < 1e-9));
}

#[test]
fn leading_reverse_loss_needs_the_known_first_number() {
    // The reply numbered 0 is lost on the way back.
    for (first_seq, reverse) in [(Some(0), Some(1)), (None, Some(0))] {
        let mut t = Tracker::with_reflector(ReflectorKind::Stateful { first_seq });
        t.sent(0, ms(0));
        t.sent(1, ms(10));
        t.reply(&reply(1, 1, 10, 5, 1, 5));
        t.expire(ms(5_000), TIMEOUT);
        assert_eq!(t.window().loss().reverse_lost, reverse, "{first_seq:?}");
        assert_eq!(t.window().loss().round_trip_lost, 1);
    }
}

#[test]
fn stateless_reflector_gives_round_trip_loss_only() {
    let mut t = Tracker::with_reflector(ReflectorKind::Stateless);
    t.sent(0, ms(0));
    t.sent(1, ms(10));
    t.reply(&reply(1, 1, 10, 5, 1, 5));
    t.expire(ms(5_000), TIMEOUT);
    let r = t.window().report("x");
    assert!((r.loss.round_trip_pct - 50.0).abs() < 1e-9);
    assert_eq!((r.loss.forward_pct, r.loss.reverse_pct), (None, None));
}

#[test]
fn duplicates_are_counted_once_and_kept_out_of_metrics() {
    let mut t = Tracker::new();
    t.sent(0, ms(0));
    t.sent(1, ms(10));
    fresh(t.reply(&reply(0, 0, 0, 5, 1, 5)));
    // The same reply again: duplicated on the way back.
    assert_eq!(
        t.reply(&reply(0, 0, 0, 5, 1, 7)),
        ReplyOutcome::Duplicate(Some(Direction::Reverse))
    );
    // The reflector answered packet 0 twice: duplicated on the way out.
    assert_eq!(
        t.reply(&reply(0, 1, 0, 6, 1, 5)),
        ReplyOutcome::Duplicate(Some(Direction::Forward))
    );
    fresh(t.reply(&reply(1, 2, 10, 5, 1, 5)));
    t.expire(ms(5_000), TIMEOUT);
    let w = t.window();
    assert_eq!(w.counters.duplicates, 2);
    assert_eq!(w.counters.forward_duplicates, 1);
    assert_eq!(w.counters.reverse_duplicates, 1);
    assert_eq!(w.counters.received, 2);
    assert_eq!(w.rtt.len(), 2);
    let loss = w.loss();
    assert_eq!(
        (loss.round_trip_lost, loss.forward_lost, loss.reverse_lost),
        (0, Some(0), Some(0))
    );
    let report = w.report("x");
    assert_eq!(report.duplicates, 2);
    assert_eq!(report.received, 2);
}

fn reorder_counts(arrival: &[u32]) -> (u64, u64) {
    let mut t = Tracker::new();
    for seq in 0..arrival.len() as u32 {
        t.sent(seq, ms(u64::from(seq)));
    }
    for (rseq, &seq) in arrival.iter().enumerate() {
        fresh(t.reply(&reply(seq, rseq as u32, u64::from(seq), 5, 1, 5)));
    }
    let c = t.window().counters;
    (c.reordered, c.reorder_extent_max)
}

#[test]
fn reordering_on_known_sequences() {
    assert_eq!(reorder_counts(&[0, 1, 2, 3, 4]), (0, 0));
    assert_eq!(reorder_counts(&[0, 1, 3, 2, 4]), (1, 1));
    assert_eq!(reorder_counts(&[0, 2, 3, 4, 1]), (1, 3));
    assert_eq!(reorder_counts(&[4, 0, 1, 2, 3]), (4, 4));
    assert_eq!(reorder_counts(&[1, 0, 3, 2, 5, 4]), (3, 1));
}

#[test]
fn reverse_reordering_from_reflector_numbers() {
    let mut t = Tracker::new();
    t.sent(0, ms(0));
    t.sent(1, ms(1));
    // The reflector sent 0 then 1; they came back swapped.
    fresh(t.reply(&reply(1, 1, 1, 5, 1, 5)));
    fresh(t.reply(&reply(0, 0, 0, 5, 1, 7)));
    let c = t.window().counters;
    assert_eq!((c.reordered, c.reverse_reordered), (1, 1));
}

#[test]
fn late_reply_is_lost_and_blames_the_reverse_path() {
    let mut t = Tracker::new();
    t.sent(0, ms(0));
    t.sent(1, ms(10));
    fresh(t.reply(&reply(0, 0, 0, 5, 1, 5)));
    t.expire(ms(3_000), TIMEOUT);
    assert_eq!(t.reply(&reply(1, 1, 10, 5, 1, 4_000)), ReplyOutcome::Late);
    let w = t.window();
    assert_eq!(w.counters.late, 1);
    assert_eq!(w.counters.received, 1);
    let loss = w.loss();
    assert_eq!(
        (loss.round_trip_lost, loss.forward_lost, loss.reverse_lost),
        (1, Some(0), Some(1))
    );
}

#[test]
fn unmatched_replies_are_counted_apart() {
    let mut t = Tracker::new();
    assert_eq!(t.reply(&reply(0, 0, 0, 1, 1, 1)), ReplyOutcome::Unmatched);
    t.sent(0, ms(0));
    assert_eq!(t.reply(&reply(7, 0, 0, 1, 1, 1)), ReplyOutcome::Unmatched);
    assert_eq!(t.window().counters.unmatched, 2);
    assert_eq!(t.window().counters.received, 0);
}

#[test]
fn ipdv_between_consecutive_packets_whatever_the_arrival_order() {
    for order in [[0u32, 1, 2], [0, 2, 1], [2, 1, 0]] {
        let mut t = Tracker::new();
        let rtts = [10u64, 12, 9];
        for seq in 0..3u32 {
            t.sent(seq, ms(u64::from(seq) * 100));
        }
        for (rseq, &seq) in order.iter().enumerate() {
            let rtt = rtts[seq as usize];
            fresh(t.reply(&reply(
                seq,
                rseq as u32,
                u64::from(seq) * 100,
                rtt / 2,
                1,
                rtt - rtt / 2,
            )));
        }
        let w = t.window();
        assert_eq!(w.ipdv.len(), 2, "{order:?}");
        let s = w.ipdv.summary();
        assert_eq!(s.map(|s| s.min), Some(2_000), "{order:?}");
        assert!(s.is_some_and(|s| within(s.max, 3_000)), "{order:?}");
    }
}

#[test]
fn ipdv_skips_pairs_with_a_lost_packet() {
    let mut t = Tracker::new();
    for seq in 0..3u32 {
        t.sent(seq, ms(u64::from(seq) * 100));
    }
    fresh(t.reply(&reply(0, 0, 0, 5, 1, 5)));
    fresh(t.reply(&reply(2, 1, 200, 7, 1, 5)));
    assert!(t.window().ipdv.is_empty());
}

#[test]
fn sequence_numbers_wrap() {
    let mut t = Tracker::new();
    let seqs = [u32::MAX - 1, u32::MAX, 0, 1];
    for (i, &seq) in seqs.iter().enumerate() {
        t.sent(seq, ms(i as u64 * 10));
    }
    for (i, &seq) in seqs.iter().enumerate().rev().skip(1) {
        fresh(t.reply(&reply(seq, i as u32, i as u64 * 10, 5, 1, 5)));
    }
    fresh(t.reply(&reply(1, 3, 30, 5, 1, 5)));
    let c = t.window().counters;
    assert_eq!(c.received, 4);
    // Arrival 0, MAX, MAX-1, 1: two reordered after 0 (extents 1 and 2).
    assert_eq!((c.reordered, c.reorder_extent_max), (2, 2));
    assert_eq!(c.unmatched, 0);
}

#[test]
fn windows_split_fates_where_they_are_decided() {
    let mut t = Tracker::new();
    t.sent(0, ms(0));
    t.sent(1, ms(10));
    let first = t.take_window();
    fresh(t.reply(&reply(0, 0, 0, 5, 1, 5)));
    t.expire(ms(5_000), TIMEOUT);
    let second = t.take_window();
    assert_eq!((first.counters.sent, first.counters.received), (2, 0));
    assert_eq!(
        (
            second.counters.sent,
            second.counters.received,
            second.counters.round_trip_lost
        ),
        (0, 1, 1)
    );
    let mut all = first.clone();
    all.merge(&second);
    assert_eq!(all.loss().round_trip_pct, 50.0);
}

#[test]
fn same_boot_id_means_no_one_way_error() {
    let side = |error_s: u64, boot: &str| ClockSide {
        synchronized: false,
        error: Duration::from_secs(error_s),
        boot_id: Some(boot.to_owned()),
    };
    let same = crate::clock::clock_sample(&side(16, "a"), &side(16, "a"));
    assert_eq!(same.one_way_error, Duration::ZERO);
    let other = crate::clock::clock_sample(&side(16, "a"), &side(16, "b"));
    assert_eq!(other.one_way_error, Duration::from_secs(32));
}

#[test]
fn report_json_has_the_agreed_shape() -> Result<(), serde_json::Error> {
    let mut t = Tracker::new();
    for seq in 0..4 {
        t.sent(seq, ms(u64::from(seq) * 10));
        let mut r = reply(seq, seq, u64::from(seq) * 10, 5, 1, 5 + u64::from(seq));
        r.clock = ClockSample {
            local_synchronized: true,
            local_error: Duration::from_micros(3),
            remote_synchronized: true,
            remote_error: Duration::from_nanos(4_500),
            one_way_error: Duration::from_nanos(7_500),
        };
        t.reply(&r);
    }
    let v = serde_json::to_value(t.window().report("127.0.0.1:8620"))?;
    assert_eq!(v["target"], "127.0.0.1:8620");
    assert_eq!(v["sent"], 4);
    assert_eq!(v["received"], 4);
    assert_eq!(v["timestamping"], "kernel");
    for key in ["rtt_us", "forward_us", "reverse_us", "ipdv_us"] {
        for stat in ["min", "mean", "p50", "p90", "p99", "max"] {
            assert!(v[key][stat].is_u64(), "{key}.{stat}: {}", v[key]);
        }
    }
    assert_eq!(v["rtt_us"]["min"], 10_000);
    assert!(v["rtt_us"]["max"]
        .as_u64()
        .is_some_and(|m| within(m, 13_000)));
    assert_eq!(v["ipdv_us"]["max"], 1_000);
    for key in ["round_trip_pct", "forward_pct", "reverse_pct"] {
        assert_eq!(v["loss"][key], 0.0, "{key}");
    }
    assert_eq!(v["duplicates"], 0);
    assert_eq!(v["reordered"], 0);
    assert_eq!(v["clock"]["local_synchronized"], true);
    assert_eq!(v["clock"]["local_error_us"], 3);
    assert_eq!(v["clock"]["remote_synchronized"], true);
    assert_eq!(v["clock"]["remote_error_us"], 5, "rounded up");
    assert_eq!(v["clock"]["one_way_error_us"], 8);
    Ok(())
}

#[test]
fn window_travels_as_json_exactly() -> Result<(), serde_json::Error> {
    let mut t = Tracker::new();
    for seq in 0..20 {
        t.sent(seq, ms(u64::from(seq) * 10));
        if seq % 7 != 3 {
            t.reply(&reply(
                seq,
                seq,
                u64::from(seq) * 10,
                5 + u64::from(seq),
                1,
                5,
            ));
        }
    }
    t.expire(ms(10_000), TIMEOUT);
    let text = serde_json::to_string(t.window())?;
    let back: Window = serde_json::from_str(&text)?;
    assert_eq!(&back, t.window());
    assert!(serde_json::from_str::<Window>(&text.replace("\"rtt\":\"", "\"rtt\":\"x")).is_err());
    Ok(())
}
