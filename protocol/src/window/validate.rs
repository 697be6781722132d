//! The checks an uploaded window must pass before the controller stores it,
//! and the arithmetic the controller does over stored windows' counters.

use super::{ClockCounters, Counters, DelayHistogram, SourceCounts, Window};

/// Largest value a counter may hold in one upload: far above any real window
/// (a packet every microsecond for 11 days), and low enough that merging a
/// million windows cannot overflow.
pub const MAX_COUNT: u64 = 1 << 40;

/// Checks that a decoded window is internally consistent: every reply lands in
/// exactly one of each delay histogram or its negative counter, counts are
/// bounded, and the per-direction duplicates add up.
pub fn validate(w: &Window) -> Result<(), String> {
    check_parts(
        &w.counters,
        [w.rtt.len(), w.forward.len(), w.reverse.len(), w.ipdv.len()],
        &w.clock,
        &w.sources,
    )
}

/// [`validate`] over a window's parts: its counters, the values its rtt,
/// forward, reverse and ipdv histograms hold, its clock and source counts
/// (whatever form the histograms are in).
pub(crate) fn check_parts(
    c: &Counters,
    [rtt, forward, reverse, ipdv]: [u64; 4],
    clock: &ClockCounters,
    s: &SourceCounts,
) -> Result<(), String> {
    let counters = [
        ("sent", c.sent),
        ("received", c.received),
        ("round_trip_lost", c.round_trip_lost),
        ("reverse_lost", c.reverse_lost),
        ("duplicates", c.duplicates),
        ("late", c.late),
        ("unmatched", c.unmatched),
        ("reordered", c.reordered),
        ("reverse_reordered", c.reverse_reordered),
        ("reflector_seq_jumps", c.reflector_seq_jumps),
        ("reflector_seq_untracked", c.reflector_seq_untracked),
        ("one_way_beyond_error", c.one_way_beyond_error),
        ("clamped", c.clamped),
    ];
    for (name, v) in counters {
        if v > MAX_COUNT {
            return Err(format!("counters.{name} = {v} is implausibly large"));
        }
    }
    let received = c.received;
    for (name, len, negative) in [
        ("rtt", rtt, c.negative_rtt),
        ("forward", forward, c.negative_forward),
        ("reverse", reverse, c.negative_reverse),
    ] {
        if len.checked_add(negative) != Some(received) {
            return Err(format!(
                "{name} histogram holds {len} values and {negative} were negative, but {received} replies were received"
            ));
        }
    }
    if ipdv > received {
        return Err(format!(
            "ipdv histogram holds {ipdv} values for {received} replies"
        ));
    }
    if c.forward_duplicates.saturating_add(c.reverse_duplicates) > c.duplicates {
        return Err("forward + reverse duplicates exceed duplicates".to_string());
    }
    if clock.samples != received {
        return Err(format!(
            "clock.samples = {} for {received} replies",
            clock.samples
        ));
    }
    if s.user
        .checked_add(s.kernel)
        .and_then(|x| x.checked_add(s.hardware))
        != Some(received)
    {
        return Err("timestamp source counts do not add up to the replies received".to_string());
    }
    if clock.local_unsynchronized > received || clock.remote_unsynchronized > received {
        return Err("more unsynchronized clock samples than replies".to_string());
    }
    Ok(())
}

/// Adds `c` into `acc` as [`Window::merge`] does for counters (sums, and
/// maxima for the extents), without touching any histogram. The exhaustive
/// pattern makes a new counter a compile error here rather than a silent gap.
pub fn add_counters(acc: &mut Counters, c: &Counters) {
    let Counters {
        sent,
        received,
        round_trip_lost,
        reverse_lost,
        duplicates,
        forward_duplicates,
        reverse_duplicates,
        late,
        unmatched,
        reordered,
        reorder_extent_max,
        reverse_reordered,
        reverse_reorder_extent_max,
        reflector_seq_jumps,
        reflector_seq_untracked,
        negative_rtt,
        negative_forward,
        negative_reverse,
        one_way_beyond_error,
        clamped,
    } = *c;
    acc.sent += sent;
    acc.received += received;
    acc.round_trip_lost += round_trip_lost;
    acc.reverse_lost += reverse_lost;
    acc.duplicates += duplicates;
    acc.forward_duplicates += forward_duplicates;
    acc.reverse_duplicates += reverse_duplicates;
    acc.late += late;
    acc.unmatched += unmatched;
    acc.reordered += reordered;
    acc.reorder_extent_max = acc.reorder_extent_max.max(reorder_extent_max);
    acc.reverse_reordered += reverse_reordered;
    acc.reverse_reorder_extent_max = acc
        .reverse_reorder_extent_max
        .max(reverse_reorder_extent_max);
    acc.reflector_seq_jumps += reflector_seq_jumps;
    acc.reflector_seq_untracked += reflector_seq_untracked;
    acc.negative_rtt += negative_rtt;
    acc.negative_forward += negative_forward;
    acc.negative_reverse += negative_reverse;
    acc.one_way_beyond_error += one_way_beyond_error;
    acc.clamped += clamped;
}

/// Loss per direction of merged counters (see the probe's `Loss`).
pub fn loss_of(c: &Counters) -> super::Loss {
    let mut w = Window::new();
    w.counters = *c;
    w.loss()
}

/// A delay histogram's value at `percentile` (0..100], in milliseconds; the
/// conservative reading (highest value equivalent to the bucket).
pub fn percentile_ms(h: &DelayHistogram, percentile: f64) -> Option<f64> {
    if h.is_empty() {
        return None;
    }
    let q = (percentile / 100.0).clamp(0.0, 1.0);
    Some(h.histogram().value_at_quantile(q) as f64 / 1000.0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::window::{ClockSample, Event, PacketSample, TsSource};

    fn sample(ms: i64) -> Event {
        Event::Reply(PacketSample {
            sender_seq: 1,
            reflector_seq: 1,
            rtt_ns: 2 * ms * 1_000_000,
            forward_ns: ms * 1_000_000,
            reverse_ns: ms * 1_000_000,
            clock: ClockSample::default(),
            ts_source: TsSource::Kernel,
        })
    }

    #[test]
    fn real_windows_pass_and_tampered_ones_fail() {
        let mut w = Window::new();
        for ms in 1..=10 {
            w.record(&Event::Sent);
            w.record(&sample(ms));
        }
        validate(&w).unwrap();
        assert_eq!(percentile_ms(&w.forward, 50.0), Some(5.003));
        let mut sum = Counters::default();
        add_counters(&mut sum, &w.counters);
        add_counters(&mut sum, &w.counters);
        let mut twice = w.clone();
        twice.merge(&w);
        assert_eq!(sum, twice.counters);
        assert_eq!(loss_of(&sum), twice.loss());
        let mut bad = w.clone();
        bad.counters.received += 1;
        assert!(validate(&bad).is_err());
        let mut bad = w.clone();
        bad.counters.sent = u64::MAX;
        assert!(validate(&bad).is_err());
    }
}
