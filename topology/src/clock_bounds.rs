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
//!
//! All of this assumes `θ` constant over the measurements behind the minima
//! (the look-back). A drifting clock breaks that: physics then bounds some
//! mixture of offsets, not the one at the time of any given packet. The
//! clocks' claims hold at every instant, drift included, which is why the
//! controller lets physics tighten the claims but never replace them
//! ([`PairOffset`]).

use serde::{Deserialize, Serialize};

/// A closed interval of clock offsets (µs): B's clock minus A's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
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

/// Where a pair's offset interval comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OffsetSource {
    /// Both ends read one kernel clock (same boot id): `θ = 0` exactly.
    SameClock,
    /// The clocks' claims alone, `|θ| ≤ e_A + e_B`.
    Claims,
    /// Physics alone: the claims contradict it, or there are none (a clock
    /// said it was unsynchronized).
    Physics,
    /// The claims intersected with physics.
    #[serde(rename = "claims+physics")]
    ClaimsAndPhysics,
}

impl OffsetSource {
    pub fn as_str(self) -> &'static str {
        match self {
            OffsetSource::SameClock => "same-clock",
            OffsetSource::Claims => "claims",
            OffsetSource::Physics => "physics",
            OffsetSource::ClaimsAndPhysics => "claims+physics",
        }
    }
}

/// The clock offset of an ordered endpoint pair as a route reports it:
/// `θ` = the receiving end's clock minus the sending end's, in µs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairOffset {
    pub lo_us: f64,
    pub hi_us: f64,
    pub source: OffsetSource,
    /// The clocks claim more than physics allows (a clock's error bound is
    /// wrong, or a site's location, or a timestamp): `lo_us`/`hi_us` are
    /// physics alone.
    pub contradiction: bool,
    /// `±` what the clocks claim (µs), when they claim anything.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub claimed_us: Option<f64>,
    /// What physics allows, when it was applied.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub physics: Option<OffsetInterval>,
    /// Why physics was not applied, when it was not.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
}

impl PairOffset {
    /// One kernel clock at both ends.
    pub fn same_clock() -> PairOffset {
        PairOffset {
            lo_us: 0.0,
            hi_us: 0.0,
            source: OffsetSource::SameClock,
            contradiction: false,
            claimed_us: None,
            physics: None,
            note: None,
        }
    }

    /// From what the clocks claim (`±claimed_us`, None when they claim
    /// nothing) and what physics allows (None when it could not be applied;
    /// `note` says why). None when neither bounds the offset.
    pub fn resolve(
        claimed_us: Option<f64>,
        physics: Option<OffsetInterval>,
        note: Option<String>,
    ) -> Option<PairOffset> {
        let claimed = claimed_us.map(|e| from_claims(e, 0.0));
        let (interval, source, contradiction) = match (claimed, physics) {
            (None, None) => return None,
            (Some(c), None) => (c, OffsetSource::Claims, false),
            (None, Some(p)) => (p, OffsetSource::Physics, false),
            (Some(c), Some(p)) => match combine(p, c) {
                Offset::Bounded(i) => (i, OffsetSource::ClaimsAndPhysics, false),
                Offset::Contradiction { physics, .. } => (physics, OffsetSource::Physics, true),
            },
        };
        Some(PairOffset {
            lo_us: interval.lo_us,
            hi_us: interval.hi_us,
            source,
            contradiction,
            claimed_us: claimed_us.map(f64::abs),
            physics,
            note,
        })
    }

    pub fn interval(&self) -> OffsetInterval {
        OffsetInterval {
            lo_us: self.lo_us,
            hi_us: self.hi_us,
        }
    }

    /// The same offset seen from the other end (`θ` of B→A is `−θ` of A→B).
    pub fn reversed(&self) -> PairOffset {
        let flip = |i: OffsetInterval| OffsetInterval {
            lo_us: -i.hi_us,
            hi_us: -i.lo_us,
        };
        let i = flip(self.interval());
        PairOffset {
            lo_us: i.lo_us,
            hi_us: i.hi_us,
            physics: self.physics.map(flip),
            ..self.clone()
        }
    }

    /// Whether one-way figures corrected by this interval may be trusted: one
    /// clock, or claims (tightened by physics or not) that physics does not
    /// contradict. Physics alone says nothing about drift over the look-back.
    pub fn bounds_drift(&self) -> bool {
        !self.contradiction && self.source != OffsetSource::Physics
    }
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

    #[test]
    fn pair_offsets_say_where_they_come_from() {
        let p = from_physics(8_500.0, 4_500.0, 4_900.0, 0.0); // [400, 3600]
        let both = PairOffset::resolve(Some(1_000.0), Some(p), None).unwrap();
        assert_eq!((both.lo_us, both.hi_us), (400.0, 1_000.0));
        assert_eq!(both.source, OffsetSource::ClaimsAndPhysics);
        assert!(!both.contradiction && both.bounds_drift());
        let back = both.reversed();
        assert_eq!((back.lo_us, back.hi_us), (-1_000.0, -400.0));
        assert_eq!(
            back.physics,
            Some(OffsetInterval {
                lo_us: -3_600.0,
                hi_us: -400.0
            })
        );
        // Claims of ±10 µs where physics needs θ ≥ 400 µs: flagged, physics kept,
        // and not trusted for one-way figures.
        let bad = PairOffset::resolve(Some(10.0), Some(p), None).unwrap();
        assert!(bad.contradiction);
        assert_eq!(bad.source, OffsetSource::Physics);
        assert_eq!(bad.interval(), p);
        assert!(!bad.bounds_drift());
        let claims = PairOffset::resolve(Some(250.0), None, Some("why".into())).unwrap();
        assert_eq!(
            (claims.lo_us, claims.hi_us, claims.source),
            (-250.0, 250.0, OffsetSource::Claims)
        );
        assert_eq!(PairOffset::resolve(None, None, None), None);
        assert!(PairOffset::same_clock().bounds_drift());
        let json = serde_json::to_value(&both).unwrap();
        assert_eq!(json["source"], "claims+physics");
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
