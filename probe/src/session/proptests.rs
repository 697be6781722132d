//! Properties: windows merge exactly, loss is never negative nor above 100 %,
//! every sent packet has exactly one fate, and no order of events panics.

use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::timestamping::{Timestamp, TsSource};

fn arb_source() -> impl Strategy<Value = TsSource> {
    prop_oneof![
        Just(TsSource::User),
        Just(TsSource::Kernel),
        Just(TsSource::Hardware)
    ]
}

fn arb_clock() -> impl Strategy<Value = ClockSample> {
    (
        any::<bool>(),
        0u64..20_000_000_000,
        any::<bool>(),
        0u64..20_000_000_000,
    )
        .prop_map(|(ls, le, rs, re)| ClockSample {
            local_synchronized: ls,
            local_error: Duration::from_nanos(le),
            remote_synchronized: rs,
            remote_error: Duration::from_nanos(re),
            one_way_error: Duration::from_nanos(le + re),
        })
}

fn arb_ns() -> impl Strategy<Value = i64> {
    prop_oneof![
        -2_000_000_000i64..100_000_000_000,
        0i64..5_000_000,
        Just(i64::MIN),
        Just(i64::MAX),
    ]
}

fn arb_sample() -> impl Strategy<Value = PacketSample> {
    (
        any::<u32>(),
        any::<u32>(),
        arb_ns(),
        arb_ns(),
        arb_ns(),
        arb_clock(),
        arb_source(),
    )
        .prop_map(|(s, r, rtt, f, b, clock, src)| PacketSample {
            sender_seq: s,
            reflector_seq: r,
            rtt_ns: rtt,
            forward_ns: f,
            reverse_ns: b,
            clock,
            ts_source: src,
        })
}

fn arb_event() -> impl Strategy<Value = Event> {
    prop_oneof![
        Just(Event::Sent),
        arb_sample().prop_map(Event::Reply),
        arb_ns().prop_map(Event::Ipdv),
        Just(Event::RoundTripLost),
        Just(Event::ReverseLost),
        prop_oneof![
            Just(None),
            Just(Some(Direction::Forward)),
            Just(Some(Direction::Reverse))
        ]
        .prop_map(Event::Duplicate),
        Just(Event::Late),
        Just(Event::Unmatched),
        (1u64..1000).prop_map(|extent| Event::Reordered { extent }),
        (1u64..1000).prop_map(|extent| Event::ReverseReordered { extent }),
        Just(Event::ReflectorSeqJump),
        Just(Event::ReflectorSeqUntracked),
    ]
}

fn check_loss(w: &Window) -> Result<(), TestCaseError> {
    let loss = w.loss();
    for pct in [
        Some(loss.round_trip_pct),
        loss.forward_pct,
        loss.reverse_pct,
    ]
    .into_iter()
    .flatten()
    {
        prop_assert!((0.0..=100.0).contains(&pct), "{pct}");
    }
    prop_assert!(loss.round_trip_lost <= loss.finalized);
    prop_assert!(loss.forward_lost.unwrap_or(0) <= loss.finalized);
    Ok(())
}

/// One step of a session, with times in milliseconds from an epoch.
#[derive(Debug, Clone)]
enum Op {
    Sent { seq: u32, at: u64 },
    Reply { seq: u32, rseq: u32, t: [u64; 4] },
    Expire { now: u64, timeout: u64 },
    TakeWindow,
}

fn arb_seq() -> impl Strategy<Value = u32> {
    prop_oneof![8 => 0u32..40, 1 => any::<u32>(), 1 => (u32::MAX - 20)..=u32::MAX]
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (arb_seq(), 0u64..20_000).prop_map(|(seq, at)| Op::Sent { seq, at }),
        4 => (arb_seq(), arb_seq(), proptest::array::uniform4(0u64..20_000))
            .prop_map(|(seq, rseq, t)| Op::Reply { seq, rseq, t }),
        1 => (0u64..30_000, 0u64..5_000).prop_map(|(now, timeout)| Op::Expire { now, timeout }),
        1 => Just(Op::TakeWindow),
    ]
}

fn at(ms: u64) -> Timestamp {
    Timestamp::from_millis(1_700_000_000_000 + ms)
}

fn apply(t: &mut Tracker, op: &Op, take_windows: bool, taken: &mut Window) {
    match *op {
        Op::Sent { seq, at: when } => t.sent(seq, at(when)),
        Op::Reply { seq, rseq, t: ts } => {
            let _ = t.reply(&Reply {
                sender_seq: seq,
                reflector_seq: rseq,
                t1: at(ts[0]),
                t2: at(ts[1]),
                t3: at(ts[2]),
                t4: at(ts[3]),
                clock: ClockSample::default(),
                ts_source: TsSource::Kernel,
            });
        }
        Op::Expire { now, timeout } => t.expire(at(now), Duration::from_millis(timeout)),
        Op::TakeWindow => {
            if take_windows {
                taken.merge(&t.take_window());
            }
        }
    }
}

fn arb_kind() -> impl Strategy<Value = ReflectorKind> {
    prop_oneof![
        Just(ReflectorKind::Stateful { first_seq: None }),
        Just(ReflectorKind::Stateful { first_seq: Some(0) }),
        Just(ReflectorKind::Stateless),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn merging_two_windows_equals_one_window(
        events in proptest::collection::vec(arb_event(), 0..120),
        split in any::<prop::sample::Index>(),
    ) {
        let cut = split.index(events.len() + 1);
        let (mut first, mut second, mut all) = (Window::new(), Window::new(), Window::new());
        for (i, e) in events.iter().enumerate() {
            if i < cut { first.record(e) } else { second.record(e) }
            all.record(e);
        }
        first.merge(&second);
        prop_assert_eq!(&first, &all);
        prop_assert_eq!(first.report("t"), all.report("t"));
        check_loss(&all)?;
        let text = serde_json::to_string(&first).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: Window = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, all);
    }

    #[test]
    fn tracker_windows_merge_into_the_whole_session(
        kind in arb_kind(),
        ops in proptest::collection::vec(arb_op(), 0..200),
    ) {
        let (mut split, mut whole) = (Tracker::with_reflector(kind), Tracker::with_reflector(kind));
        let mut taken = Window::new();
        let mut ignored = Window::new();
        for op in &ops {
            apply(&mut split, op, true, &mut taken);
            apply(&mut whole, op, false, &mut ignored);
        }
        taken.merge(split.window());
        prop_assert_eq!(&taken, whole.window());
    }

    #[test]
    fn every_packet_has_one_fate_and_loss_stays_in_range(
        kind in arb_kind(),
        ops in proptest::collection::vec(arb_op(), 0..300),
    ) {
        let mut t = Tracker::with_reflector(kind);
        let mut taken = Window::new();
        for op in &ops {
            apply(&mut t, op, true, &mut taken);
            check_loss(t.window())?;
        }
        taken.merge(t.window());
        check_loss(&taken)?;
        let c = taken.counters;
        prop_assert_eq!(c.sent, c.received + c.round_trip_lost + t.in_flight() as u64);
        let report = taken.report("t");
        prop_assert!(report.received <= report.sent);
    }
}
