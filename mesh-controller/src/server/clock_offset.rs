//! The clock offset interval of an endpoint pair from what its rollups hold
//! (`topology::clock_bounds` does the arithmetic): the clocks' claims, the
//! smallest one-way delays each way against the fibre bound, and whether the
//! latter may be read as one pair of clocks at all.
//!
//! Physics bounds the offset between two clocks. An endpoint with several
//! probes merges several clocks into one histogram, whose minimum may come
//! from one probe pair and the opposite minimum from another: their offsets
//! differ, so nothing follows. Physics is applied only where each end has
//! exactly one probe in the configuration; elsewhere the claims alone bound
//! the offset, and the interval says why.
//!
//! Values come from the histograms (`protocol::window`): delays are rounded
//! to the nearest microsecond, then kept at three significant digits, each
//! bucket read as its highest equivalent value. The smallest bucket's value is
//! thus at least the smallest delay minus half a microsecond, which is the
//! safe side for both ends of the physics interval (a larger minimum only
//! widens it): the slack is the rounding, [`ROUNDING_US`]. A percentile read
//! from a bucket lies anywhere in it: [`bucket_us`] gives its edges.

use crate::history::PairStats;
use protocol::window::HIGHEST_US;
use topology::clock_bounds::{from_physics, PairOffset};

/// Rounding of a delay to whole microseconds on recording.
pub const ROUNDING_US: f64 = 0.5;

/// Sub-buckets below which the histogram keeps every microsecond (three
/// significant digits: 2 × 10³ rounded up to a power of two).
const EXACT_BELOW_US: u64 = 2048;

/// The true values (µs, rounding included) a bucket read as `value_us` (its
/// highest equivalent value) may hold.
pub fn bucket_us(value_us: u64) -> (f64, f64) {
    let width = if value_us < EXACT_BELOW_US {
        1
    } else {
        // Each doubling above 2048 µs doubles the bucket width.
        1u64 << (value_us.ilog2() - EXACT_BELOW_US.ilog2() + 1)
    };
    let lowest = value_us + 1 - width.min(value_us + 1);
    (lowest as f64 - ROUNDING_US, value_us as f64 + ROUNDING_US)
}

/// The offset interval of `there` (A→B figures) and `back` (B→A): θ = B's
/// clock minus A's, µs. `fibre_us` is the pair's fibre bound; `one_probe_each`
/// whether each end has exactly one probe. None when neither claims nor
/// physics bound it (a clock unsynchronized and physics not applicable) or
/// nothing one-way was measured.
pub fn pair_offset(
    there: &PairStats,
    back: &PairStats,
    fibre_us: f64,
    one_probe_each: bool,
) -> Option<PairOffset> {
    if there.one_way.is_empty() && back.one_way.is_empty() {
        return None;
    }
    if there.clock_samples == 0 {
        // Every session read one kernel clock (same boot id).
        return Some(PairOffset::same_clock());
    }
    // `error_ns` is the largest e_A + e_B either way (the one-way bound).
    let claimed_us = (!there.unsynchronized).then(|| there.error_ns as f64 / 1e3);
    let min_of = |s: &PairStats| {
        s.one_way
            .buckets()
            .first()
            .map(|&(v, _)| v)
            // A minimum clamped at the histogram's top is not a minimum.
            .filter(|&v| v < HIGHEST_US)
    };
    let (physics, note) = if !one_probe_each {
        (
            None,
            Some(
                "several probes at an end: physics bounds one pair of clocks, not a merge of them; claims only"
                    .to_string(),
            ),
        )
    } else {
        match (min_of(there), min_of(back)) {
            (Some(f), Some(r)) => (
                Some(from_physics(f as f64, r as f64, fibre_us, ROUNDING_US)),
                None,
            ),
            _ => (
                None,
                Some("no one-way delays both ways: physics needs both minima".to_string()),
            ),
        }
    };
    PairOffset::resolve(claimed_us, physics, note)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use protocol::window::{DelayHistogram, SparseHistogram};
    use topology::clock_bounds::OffsetSource;

    #[test]
    fn buckets_are_the_histograms() {
        // Every value recorded reads back as a bucket whose edges hold it.
        for us in [
            0u64, 1, 999, 2047, 2048, 2049, 3000, 4095, 4096, 10_007, 123_456, 59_999_999,
        ] {
            let mut h = DelayHistogram::new();
            h.record_ns(us * 1000);
            let v = SparseHistogram::of(&h).buckets()[0].0;
            let (lo, hi) = bucket_us(v);
            assert!(
                lo <= us as f64 && us as f64 <= hi,
                "{us} outside {lo}..{hi} ({v})"
            );
            // And the lowest edge is in the same bucket.
            let mut g = DelayHistogram::new();
            g.record_ns(((lo + ROUNDING_US) as u64) * 1000);
            assert_eq!(SparseHistogram::of(&g).buckets()[0].0, v, "{us}");
            if lo + ROUNDING_US >= 1.0 {
                let mut below = DelayHistogram::new();
                below.record_ns(((lo + ROUNDING_US) as u64 - 1) * 1000);
                assert_ne!(SparseHistogram::of(&below).buckets()[0].0, v, "{us}");
            }
        }
    }

    fn stats(one_way_us: &[u64], clock_samples: u64, error_ns: u64) -> PairStats {
        let mut h = DelayHistogram::new();
        for us in one_way_us {
            h.record_ns(us * 1000);
        }
        PairStats {
            one_way: SparseHistogram::of(&h),
            clock_samples,
            error_ns,
            ..PairStats::default()
        }
    }

    #[test]
    fn claims_contradicting_physics_are_flagged() {
        // 1,000 km (4.9 ms); B's clock 2.5 ms ahead; true delays 5 ms each
        // way at best. The clocks claim ±10 µs, but the minima need
        // θ ≥ 4.9 − 2.5 = 2.4 ms.
        let there = stats(&[7_500, 8_000], 10, 10_000);
        let back = stats(&[2_500, 3_000], 10, 10_000);
        let o = pair_offset(&there, &back, 4_900.0, true).unwrap();
        assert!(o.contradiction, "{o:?}");
        assert_eq!(o.source, OffsetSource::Physics);
        assert_eq!(o.claimed_us, Some(10.0));
        assert!(
            o.lo_us >= 2_000.0 && o.interval().contains(2_500.0),
            "{o:?}"
        );
        // Honest claims (±3 ms) meet physics: the intersection.
        let there = stats(&[7_500, 8_000], 10, 3_000_000);
        let back = stats(&[2_500, 3_000], 10, 3_000_000);
        let o = pair_offset(&there, &back, 4_900.0, true).unwrap();
        assert!(!o.contradiction);
        assert_eq!(o.source, OffsetSource::ClaimsAndPhysics);
        assert!(
            o.interval().contains(2_500.0) && o.hi_us - o.lo_us < 300.0,
            "{o:?}"
        );
    }

    #[test]
    fn several_probes_at_an_end_leave_the_claims() {
        let there = stats(&[3_500], 10, 20_000);
        let back = stats(&[0], 10, 20_000);
        let o = pair_offset(&there, &back, 490.0, false).unwrap();
        assert_eq!(o.source, OffsetSource::Claims);
        assert_eq!((o.lo_us, o.hi_us), (-20.0, 20.0));
        assert!(!o.contradiction);
        assert!(o.note.unwrap().contains("several probes"));
    }

    #[test]
    fn one_clock_is_no_offset() {
        let o = pair_offset(&stats(&[900], 0, 0), &stats(&[950], 0, 0), 490.0, true).unwrap();
        assert_eq!(
            (o.lo_us, o.hi_us, o.source),
            (0.0, 0.0, OffsetSource::SameClock)
        );
    }
}
