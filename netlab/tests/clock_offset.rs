//! Clock truth on an emulated WAN: every namespace of a lab reads one kernel
//! clock, so a probe's test clock (`--test-clock-offset`) is what puts two
//! probes on clocks that disagree, as real hosts are. Lab
//! tests/labs/clock.yaml: two cities 800 km from a cluster (fibre bound
//! 3.92 ms), every link 4 ms each way.
//!
//! - `probe stamp` against a reflector whose clock runs 2.5 ms ahead: the
//!   forward one-way delay grows by the offset, the reverse shrinks by it,
//!   the round trip does not move, and the one-way bound the two clocks
//!   claim still holds the configured delay.
//! - Agents under the controller (one with a test clock and an honest
//!   claim, one with a test clock and a false claim): the offset interval
//!   the controller derives holds the true offset, the route whose band
//!   straddles its budget is `uncertain` (never `ok`), the false claim is
//!   flagged as contradicting physics, and the probes' test clocks are
//!   labelled.
//!
//! Needs root (skips with the reason otherwise) and the `probe` and
//! `mesh-controller` binaries beside `netlab`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{retry, sibling_bin, Lab};
use serde_json::Value;
use std::time::Duration;

/// B's clock ahead of A's, ms.
const OFFSET_MS: f64 = 2.5;
/// Every link's delay each way, ms.
const LINK_MS: f64 = 4.0;

fn stamp(lab: &Lab, probe: &str, port: u16, reflector_extra: &[&str]) -> Value {
    let addr = format!("{}:{port}", lab.addr("north"));
    let mut reflect = vec![probe, "reflect", "--listen", &addr, "--no-bw"];
    reflect.extend_from_slice(reflector_extra);
    let _reflector = lab.spawn("north", &reflect);
    retry(Duration::from_secs(10), || {
        let out = lab.exec(
            "cl",
            &[
                probe,
                "stamp",
                &addr,
                "--count",
                "150",
                "--interval",
                "10ms",
                "--separate-clocks",
                "--clock-error",
                "100us",
                "--format",
                "json",
            ],
        );
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice::<Value>(&out.stdout).ok()
    })
    .expect("probe stamp never got an answer")
}

fn ms(v: &Value, key: &str, stat: &str) -> f64 {
    v[key][stat]
        .as_f64()
        .unwrap_or_else(|| panic!("no {key}.{stat} in {v}"))
        / 1e3
}

fn assert_near(what: &str, got: f64, want: f64, tolerance: f64) {
    assert!(
        (got - want).abs() <= tolerance,
        "{what}: {got:.3} ms, expected {want:.3} ms (tolerance {tolerance} ms)"
    );
}

#[test]
fn a_test_clock_moves_each_direction_by_its_offset_and_not_the_round_trip() {
    require_lab!();
    let Some(probe) = sibling_bin("probe") else {
        return;
    };
    let probe = probe.to_str().unwrap();
    let lab = Lab::up("clock.yaml", "clkstamp");

    let plain = stamp(&lab, probe, 8620, &["--clock-error", "100us"]);
    // An honest claim: 2.5 ms off, 3 ms claimed.
    let skewed = stamp(
        &lab,
        probe,
        8621,
        &["--test-clock-offset", "2.5ms", "--clock-error", "3ms"],
    );
    for v in [&plain, &skewed] {
        assert_eq!(v["received"], v["sent"], "{v}");
    }
    let (f0, r0, rtt0) = (
        ms(&plain, "forward_us", "p50"),
        ms(&plain, "reverse_us", "p50"),
        ms(&plain, "rtt_us", "p50"),
    );
    let (f1, r1, rtt1) = (
        ms(&skewed, "forward_us", "p50"),
        ms(&skewed, "reverse_us", "p50"),
        ms(&skewed, "rtt_us", "p50"),
    );
    eprintln!(
        "plain: forward {f0:.3} reverse {r0:.3} rtt {rtt0:.3} ms; \
         reflector +{OFFSET_MS} ms: forward {f1:.3} reverse {r1:.3} rtt {rtt1:.3} ms"
    );
    assert_near("plain forward", f0, LINK_MS, 0.5);
    assert_near("plain reverse", r0, LINK_MS, 0.5);
    // The medians of two runs of the same link differ by the emulator's
    // lateness only (tens of microseconds); the offset is 2.5 ms.
    assert_near("forward moved by +offset", f1 - f0, OFFSET_MS, 0.15);
    assert_near("reverse moved by -offset", r1 - r0, -OFFSET_MS, 0.15);
    assert_near("round trip unmoved", rtt1 - rtt0, 0.0, 0.15);

    // The bound the clocks claim (100 us + 3 ms) holds the configured delay
    // in both directions, at the minimum (the packet least delayed by the
    // emulator) and at the median.
    let bound = skewed["clock"]["one_way_error_us"].as_f64().unwrap() / 1e3;
    // STAMP's Error Estimate rounds a claim up to its next step.
    assert!(
        (3.1..3.2).contains(&bound),
        "claimed one-way bound {bound} ms, expected 3.1 ms rounded up"
    );
    for (what, measured) in [
        ("forward min", ms(&skewed, "forward_us", "min")),
        ("forward p50", f1),
        ("reverse min", ms(&skewed, "reverse_us", "min")),
        ("reverse p50", r1),
    ] {
        // The truth is the link's delay plus the emulator's lateness (0 to
        // 0.5 ms on a loaded machine).
        assert!(
            measured - bound <= LINK_MS + 0.5 && LINK_MS <= measured + bound,
            "{what}: [{:.3}, {:.3}] ms does not hold {LINK_MS} ms",
            measured - bound,
            measured + bound
        );
    }
}
