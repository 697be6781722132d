//! The measured bands against known truths: synthetic sessions between two
//! clocks with a known offset, read back through rollups as the controller
//! reads them.

use super::*;
use proptest::prelude::*;
use protocol::window::{ClockSample, Event, PacketSample, TsSource, Window};
use std::time::Duration;
use topology::analysis::{judge, Verdict};

const A: Endpoint = Endpoint {
    site: 0,
    network: None,
};
const B: Endpoint = Endpoint {
    site: 1,
    network: None,
};

/// Two sites `km` apart along the equator, `probes` probes at each.
fn ends(km: f64, probes: usize) -> Ends {
    let deg = km / (std::f64::consts::PI * topology::geo::EARTH_RADIUS_KM / 180.0);
    Ends {
        locations: vec![LatLon { lat: 0.0, lon: 0.0 }, LatLon { lat: 0.0, lon: deg }],
        probes: [(A, probes), (B, probes)].into_iter().collect(),
    }
}

/// One A -> B session: true delays (ns) each way, B's clock `theta_ns`
/// ahead of A's, each clock claiming `claim_ns`.
fn session(forward: &[i64], reverse: &[i64], theta_ns: i64, claim_ns: u64) -> Window {
    let mut w = Window::new();
    let claim = Duration::from_nanos(claim_ns);
    for (i, (d, d2)) in forward.iter().zip(reverse).enumerate() {
        w.record(&Event::Sent);
        w.record(&Event::Reply(PacketSample {
            sender_seq: i as u32,
            reflector_seq: i as u32,
            rtt_ns: d + d2,
            forward_ns: d + theta_ns,
            reverse_ns: d2 - theta_ns,
            clock: ClockSample {
                local_synchronized: true,
                local_error: claim,
                remote_synchronized: true,
                remote_error: claim,
                one_way_error: claim * 2,
            },
            ts_source: TsSource::Kernel,
        }));
    }
    w
}

fn measured(w: &Window, ends: &Ends) -> Measured {
    let by_dir: ByDirection = [((A, B), Rollup::of_window(w))].into_iter().collect();
    Measured::of(&by_dir, ends)
}

/// The value at `percentile` of `values` as the histograms read it: the
/// smallest value with at least that share of the values at or below it.
fn truth_at(values: &[i64], percentile: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_unstable();
    let rank = ((percentile / 100.0 * v.len() as f64).ceil() as usize).max(1);
    v[rank - 1] as f64 / 1e6
}

fn holds(e: &Estimate, truth_ms: f64) -> bool {
    e.one_way_ms - e.error_ms <= truth_ms + 1e-9 && truth_ms <= e.one_way_ms + e.error_ms + 1e-9
}

#[test]
fn an_offset_is_corrected_toward_the_truth_and_the_band_holds_it() {
    // 1,000 km (4.9 ms); B's clock 1.5 ms ahead, each clock claiming 1 ms;
    // true delays 6..7 ms forward, 6.5..7.5 ms back.
    let fwd: Vec<i64> = (0..100).map(|i| 6_000_000 + i * 10_000).collect();
    let rev: Vec<i64> = (0..100).map(|i| 6_500_000 + i * 10_000).collect();
    let m = measured(
        &session(&fwd, &rev, 1_500_000, 1_000_000),
        &ends(1_000.0, 1),
    );
    let o = m.clocks.get(&(A, B)).unwrap();
    assert_eq!(o.source, OffsetSource::ClaimsAndPhysics);
    assert!(o.interval().contains(1_500.0), "{o:?}");
    // Physics: θ ≤ min f − L = 7.5 − 4.9 ms; θ ≥ L − min r = 4.9 − 5.0 ms;
    // the claims ±2 ms: [−0.1, 2] ms.
    assert!(
        (o.lo_us + 100.0).abs() < 5.0 && (o.hi_us - 2_000.0).abs() < 1e-9,
        "{o:?}"
    );
    let back = m.clocks.get(&(B, A)).unwrap();
    assert_eq!((back.lo_us, back.hi_us), (-o.hi_us, -o.lo_us));

    let e = m.estimate(A, B, 50.0).unwrap();
    assert_eq!(e.basis, Basis::OneWay);
    let truth = truth_at(&fwd, 50.0);
    assert!(holds(&e, truth), "{e:?} misses {truth}");
    let raw = m.pairs[&(A, B)].one_way.percentile_ms(50.0).unwrap();
    assert!(
        (e.one_way_ms - truth).abs() < (raw - truth).abs(),
        "{e:?} {raw}"
    );
    let e = m.estimate(B, A, 99.0).unwrap();
    assert!(holds(&e, truth_at(&rev, 99.0)), "{e:?}");
}

#[test]
fn a_straddling_one_way_band_tries_rtt_half_and_is_never_ok() {
    // Several probes per end: claims only, ±3 ms around a 5.5 ms one-way
    // delay. 1,000 km: RTT/2 of 11 ms lies in [4.9, 6.1] ms.
    let fwd = vec![5_500_000i64; 50];
    let rev = vec![5_500_000i64; 50];
    let m = measured(&session(&fwd, &rev, 0, 1_500_000), &ends(1_000.0, 2));
    let o = m.clocks.get(&(A, B)).unwrap();
    assert_eq!(o.source, OffsetSource::Claims, "{o:?}");
    assert!(o.note.as_deref().unwrap().contains("several probes"));
    let (first, alternative) = m.bands(A, B, 99.0);
    let first = first.unwrap();
    // ±3 ms is over a quarter of 5.5 ms: RTT/2 comes first, one-way second.
    assert_eq!(first.basis, Basis::RttHalf);
    assert!((first.error_ms - (5.5 - 4.9)).abs() < 0.01, "{first:?}");
    assert_eq!(alternative.as_ref().unwrap().basis, Basis::OneWay);
    // 8 ms: the one-way band (2.5..8.5) straddles; RTT/2 (4.9..6.1) is
    // clear of it and decides, with its own nonzero bound.
    let j = judge(alternative.clone(), Some(first.clone()), 8.0);
    assert_eq!(j.verdict, Verdict::Ok);
    let e = j.estimate.unwrap();
    assert_eq!(e.basis, Basis::RttHalf);
    assert!(e.error_ms > 0.5);
    assert!(j.note.unwrap().contains("rtt-half"));
    // 6 ms: both straddle: uncertain, never ok.
    let j = judge(Some(first), alternative, 6.0);
    assert_eq!(j.verdict, Verdict::Uncertain);
    assert_eq!(
        j.estimate.unwrap().basis,
        Basis::RttHalf,
        "the tighter band"
    );
}

#[test]
fn claims_contradicting_the_minima_are_flagged_and_not_trusted() {
    // 1,000 km; B's clock 2.5 ms ahead of A's, the clocks claiming ±5 µs
    // each (±10 µs between them): physics needs θ ≥ L − min r = 4.9 −
    // (5.0 − 2.5) = 2.4 ms.
    let fwd = vec![5_000_000i64; 20];
    let rev = vec![5_000_000i64; 20];
    let m = measured(&session(&fwd, &rev, 2_500_000, 5_000), &ends(1_000.0, 1));
    let o = m.clocks.get(&(A, B)).unwrap();
    assert!(o.contradiction, "{o:?}");
    assert_eq!(o.claimed_us, Some(10.0));
    assert!(
        o.lo_us >= 2_000.0 && o.interval().contains(2_500.0),
        "{o:?}"
    );
    // The one-way figures are not used: RTT/2 only.
    let (first, alternative) = m.bands(A, B, 50.0);
    assert_eq!(first.unwrap().basis, Basis::RttHalf);
    assert_eq!(alternative, None);
}

#[test]
fn one_kernel_clock_has_no_offset() {
    let fwd = vec![5_000_000i64; 20];
    let w = session(&fwd, &fwd, 0, 0);
    let by_dir: ByDirection = [((A, B), Rollup::of_window(&w).same_clock())]
        .into_iter()
        .collect();
    let m = Measured::of(&by_dir, &ends(1_000.0, 1));
    let o = m.clocks.get(&(A, B)).unwrap();
    assert_eq!(
        (o.lo_us, o.hi_us, o.source),
        (0.0, 0.0, OffsetSource::SameClock)
    );
    let e = m.estimate(A, B, 50.0).unwrap();
    // Only the histogram's bucket (4 µs wide at 5 ms) is left.
    assert!(holds(&e, 5.0) && e.error_ms < 0.003, "{e:?}");
}

proptest! {
    /// Random offsets, distances, delays, claims and probe counts: the band
    /// a verdict uses always holds the true one-way delay at the percentile,
    /// and the verdict is never ok when that delay is over the budget.
    #[test]
    fn the_judged_band_holds_the_truth(
        theta_us in -5_000i64..5_000,
        km in 0.0f64..3_000.0,
        route_factor in 1.0f64..2.5,
        fwd_extra in proptest::collection::vec(0i64..20_000_000, 1..60),
        rev_extra in proptest::collection::vec(0i64..20_000_000, 1..60),
        claim_slack_us in 0u64..2_000,
        probes in 1usize..3,
        percentile in prop_oneof![Just(50.0), Just(90.0), Just(99.0), 1.0f64..100.0],
        budget_ms in 0.5f64..60.0,
    ) {
        let ends = ends(km, probes);
        let l_ns = (ends.fibre_us(A, B) * 1e3).ceil() as i64;
        let n = fwd_extra.len().min(rev_extra.len());
        let base = (l_ns as f64 * route_factor) as i64;
        let fwd: Vec<i64> = fwd_extra[..n].iter().map(|q| base + q).collect();
        let rev: Vec<i64> = rev_extra[..n].iter().map(|q| base + q).collect();
        // Honest claims: each clock claims at least its share of |θ|.
        let claim_ns = (theta_us.unsigned_abs().div_ceil(2) + claim_slack_us) * 1_000;
        let m = measured(&session(&fwd, &rev, theta_us * 1_000, claim_ns), &ends);
        for (from, to, truth) in [(A, B, truth_at(&fwd, percentile)), (B, A, truth_at(&rev, percentile))] {
            if let Some(o) = m.clocks.get(&(from, to)) {
                let theta = if from == A { theta_us as f64 } else { -theta_us as f64 };
                prop_assert!(o.interval().contains(theta), "{o:?} misses {theta}");
                prop_assert!(!o.contradiction, "honest claims flagged: {o:?}");
            }
            let (first, alternative) = m.bands(from, to, percentile);
            for e in first.iter().chain(alternative.iter()) {
                prop_assert!(holds(e, truth), "{e:?} misses {truth}");
            }
            let j = judge(first, alternative, budget_ms);
            let e = j.estimate.unwrap();
            prop_assert!(holds(&e, truth), "{e:?} misses {truth}");
            if truth > budget_ms {
                prop_assert_ne!(j.verdict, Verdict::Ok, "{:?} over {}", e, budget_ms);
            }
            if truth <= budget_ms {
                prop_assert_ne!(j.verdict, Verdict::Violation, "{:?} under {}", e, budget_ms);
            }
        }
    }
}
