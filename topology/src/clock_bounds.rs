//! What physics says about the clock offset between two probes, and the
//! honest one-way bounds that follow (pure arithmetic, microseconds).
//!
//! Let probe B's clock read `θ` ahead of probe A's (θ = θ_B − θ_A, each
//! clock's error against true time). A packet A→B whose true one-way delay
//! is `d` is measured as `f = d + θ` (B's receive stamp minus A's send
//! stamp); a packet B→A of true delay `d'` as `r = d' − θ`. No packet beats
//! light in fibre along the great circle, so `d, d' ≥ L` (4.9 µs/km,
//! [`crate::geo::FIBRE_US_PER_KM`]). Hence, for every packet,
//! `θ = f − d ≤ f − L` and `θ = d' − r ≥ L − r`; the tightest are the
//! smallest measured values:
//!
//! ```text
//!     L − min(r)  ≤  θ  ≤  min(f) − L
//! ```
//!
//! widened by the stamps' own resolution (`slack`). The interval is never
//! empty for real clocks (`min f + min r ≥ 2L`: a round trip cannot beat
//! light either); when it is, something else is wrong (a wrong site
//! location, a broken timestamp).
//!
//! The clocks' own claims (each an error bound against true time) give
//! `|θ| ≤ e_A + e_B`. Both hold for honest clocks, so the offset lies in
//! their intersection, the tightest honest bound; an empty intersection
//! means a clock claims more than physics allows (flag that probe pair).
//! A one-way delay measured as `m` was then truly in `[m − θ_hi, m − θ_lo]`
//! forward (and `[m + θ_lo, m + θ_hi]` reverse).

/// A closed interval of clock offsets (µs): B's clock minus A's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OffsetInterval {
    pub lo_us: f64,
    pub hi_us: f64,
}

impl OffsetInterval {
    pub fn width_us(&self) -> f64 {
        self.hi_us - self.lo_us
    }

    pub fn contains(&self, offset_us: f64) -> bool {
        self.lo_us <= offset_us && offset_us <= self.hi_us
    }

    fn intersect(&self, other: &OffsetInterval) -> Option<OffsetInterval> {
        let lo = self.lo_us.max(other.lo_us);
        let hi = self.hi_us.min(other.hi_us);
        (lo <= hi).then_some(OffsetInterval {
            lo_us: lo,
            hi_us: hi,
        })
    }
}

/// The offset physics allows: `[L − r_min − slack, f_min − L + slack]`, from
/// the smallest forward (`A→B`) and reverse (`B→A`) one-way delays measured
/// across the two clocks, the fibre bound `L` of the pair and the stamps'
/// resolution `slack`.
pub fn from_physics(
    forward_min_us: f64,
    reverse_min_us: f64,
    fibre_us: f64,
    slack_us: f64,
) -> OffsetInterval {
    OffsetInterval {
        lo_us: fibre_us - reverse_min_us - slack_us,
        hi_us: forward_min_us - fibre_us + slack_us,
    }
}

/// The offset the clocks claim: `|θ| ≤ e_A + e_B`.
pub fn from_claims(error_a_us: f64, error_b_us: f64) -> OffsetInterval {
    let e = error_a_us.abs() + error_b_us.abs();
    OffsetInterval {
        lo_us: -e,
        hi_us: e,
    }
}

/// Physics and the clocks' claims together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Offset {
    /// The tightest honest interval.
    Bounded(OffsetInterval),
    /// The claims leave no offset physics allows: a clock claims more than
    /// it can (or the pair's location or stamps are wrong). Only physics
    /// is kept.
    Contradiction {
        physics: OffsetInterval,
        claimed: OffsetInterval,
    },
}

impl Offset {
    /// The interval to use: the intersection, or physics alone when the
    /// claims contradict it.
    pub fn interval(&self) -> OffsetInterval {
        match self {
            Offset::Bounded(i) => *i,
            Offset::Contradiction { physics, .. } => *physics,
        }
    }
}

/// Combines the two.
pub fn combine(physics: OffsetInterval, claimed: OffsetInterval) -> Offset {
    match physics.intersect(&claimed) {
        Some(i) => Offset::Bounded(i),
        None => Offset::Contradiction { physics, claimed },
    }
}

/// The true forward one-way delay of a packet measured as `measured_us`
/// across clocks whose offset lies in `offset`: `[m − θ_hi, m − θ_lo]`.
pub fn forward_bounds(measured_us: f64, offset: OffsetInterval) -> (f64, f64) {
    (measured_us - offset.hi_us, measured_us - offset.lo_us)
}

/// The same for a reverse (`B→A`) one-way delay: `[m + θ_lo, m + θ_hi]`.
pub fn reverse_bounds(measured_us: f64, offset: OffsetInterval) -> (f64, f64) {
    (measured_us + offset.lo_us, measured_us + offset.hi_us)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_worked_example() {
        // 1,000 km of fibre (4.9 ms); B's clock 2.5 ms ahead; true delays
        // 6 ms forward and 7 ms back at best.
        let (l, theta) = (4_900.0, 2_500.0);
        let p = from_physics(6_000.0 + theta, 7_000.0 - theta, l, 0.0);
        assert_eq!(
            p,
            OffsetInterval {
                lo_us: 400.0,
                hi_us: 3_600.0
            }
        );
        assert!(p.contains(theta));
        // Clocks claiming 1 ms each: [-2, 2] ms, which misses 2.5 ms but
        // meets physics in [0.4, 2] ms: not flagged (the claims are wrong
        // here, and physics cannot tell).
        assert!(matches!(
            combine(p, from_claims(1_000.0, 1_000.0)),
            Offset::Bounded(_)
        ));
        // Claims of 0.1 ms each: [-0.2, 0.2] ms cannot hold.
        let c = combine(p, from_claims(100.0, 100.0));
        assert!(matches!(c, Offset::Contradiction { .. }));
        assert_eq!(c.interval(), p);
        // A forward window median of 8.5 ms measured: truly 4.9-8.1 ms.
        assert_eq!(forward_bounds(8_500.0, p), (4_900.0, 8_100.0));
    }

    proptest! {
        /// For any offsets, distances and delays, the physics interval holds
        /// the true offset, the bounds hold every true delay, and honest
        /// claims never contradict physics.
        #[test]
        fn the_bounds_always_contain_the_truth(
            theta_a in -2.0e6f64..2.0e6,
            theta_b in -2.0e6f64..2.0e6,
            km in 0.0f64..5_000.0,
            route_factor in 1.0f64..3.0,
            fwd_extra in proptest::collection::vec(0.0f64..50_000.0, 1..40),
            rev_extra in proptest::collection::vec(0.0f64..50_000.0, 1..40),
            claim_slack_a in 0.0f64..1_000.0,
            claim_slack_b in 0.0f64..1_000.0,
        ) {
            let l = km * crate::geo::FIBRE_US_PER_KM;
            let theta = theta_b - theta_a;
            let fwd: Vec<f64> = fwd_extra.iter().map(|q| l * route_factor + q).collect();
            let rev: Vec<f64> = rev_extra.iter().map(|q| l * route_factor + q).collect();
            let f_meas: Vec<f64> = fwd.iter().map(|d| d + theta).collect();
            let r_meas: Vec<f64> = rev.iter().map(|d| d - theta).collect();
            let f_min = f_meas.iter().copied().fold(f64::INFINITY, f64::min);
            let r_min = r_meas.iter().copied().fold(f64::INFINITY, f64::min);
            // Rounding of the sums above: well under a nanosecond.
            let p = from_physics(f_min, r_min, l, 1e-3);
            prop_assert!(p.contains(theta), "{p:?} misses {theta}");
            prop_assert!(p.lo_us <= p.hi_us);
            let claimed = from_claims(theta_a.abs() + claim_slack_a, theta_b.abs() + claim_slack_b);
            let c = combine(p, claimed);
            prop_assert!(matches!(c, Offset::Bounded(_)), "honest claims flagged: {c:?}");
            let i = c.interval();
            prop_assert!(i.contains(theta));
            prop_assert!(i.width_us() <= p.width_us() + 1e-9);
            for (m, d) in f_meas.iter().zip(&fwd) {
                let (lo, hi) = forward_bounds(*m, i);
                prop_assert!(lo <= d + 1e-3 && *d <= hi + 1e-3, "{d} outside [{lo}, {hi}]");
            }
            for (m, d) in r_meas.iter().zip(&rev) {
                let (lo, hi) = reverse_bounds(*m, i);
                prop_assert!(lo <= d + 1e-3 && *d <= hi + 1e-3, "{d} outside [{lo}, {hi}]");
            }
        }
    }
}
