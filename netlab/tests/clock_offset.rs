//! Clock truth on an emulated WAN: every namespace of a lab reads one kernel
//! clock, so a probe's test clock (`--test-clock-offset`) is what puts two
//! probes on clocks that disagree, as real hosts are. Lab
//! tests/labs/clock.yaml: two cities 800 km from a cluster (fibre bound
//! 3.92 ms), every link 4 ms each way.
//!
//! - `probe stamp` against a reflector whose clock runs 2.5 ms ahead: the
//!   forward one-way delay grows by the offset, the reverse shrinks by it,
//!   the round trip does not move, and the one-way bound the two clocks
//!   claim still holds the configured delay; a reflector drifting 200 ppm
//!   makes the forward delay climb 200 us a second, packet by packet, and
//!   the reverse fall.
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

use common::mesh::Mesh;
use common::{assert_near, retry, sibling_bin, Lab};
use serde_json::Value;
use std::time::Duration;

/// B's clock ahead of A's, ms.
const OFFSET_MS: f64 = 2.5;
/// Every link's delay each way, ms.
const LINK_MS: f64 = 4.0;

fn stamp(lab: &Lab, probe: &str, port: u16, reflector_extra: &[&str]) -> Value {
    stamp_with(lab, probe, port, reflector_extra, &[])
}

fn stamp_with(
    lab: &Lab,
    probe: &str,
    port: u16,
    reflector_extra: &[&str],
    stamp_extra: &[&str],
) -> Value {
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
            ]
            .into_iter()
            .chain(stamp_extra.iter().copied())
            .collect::<Vec<_>>(),
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

#[test]
fn a_test_clock_moves_each_direction_by_its_offset_or_drift_and_not_the_round_trip() {
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

    // A drifting clock: 200 ppm makes the offset grow 200 us a second, so
    // per packet the forward delay climbs at that rate, the reverse falls,
    // and the round trip (one clock) stays flat.
    let dir = common::TempDir::new("clock-drift");
    let packets = dir.0.join("packets.jsonl");
    let drifting = stamp_with(
        &lab,
        probe,
        8622,
        &["--test-clock-drift", "200ppm"],
        &["--packets", packets.to_str().unwrap()],
    );
    assert_eq!(drifting["received"], drifting["sent"], "{drifting}");
    let rows: Vec<Value> = std::fs::read_to_string(&packets)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let slope = |key: &str| {
        let xs: Vec<f64> = rows
            .iter()
            .map(|r| r["t1_ns"].as_f64().unwrap() / 1e9)
            .collect();
        let ys: Vec<f64> = rows
            .iter()
            .map(|r| r[key].as_f64().unwrap() / 1e3)
            .collect();
        let n = xs.len() as f64;
        let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
        let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
        let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
        sxy / sxx // us per second
    };
    let (f, r, rtt) = (slope("forward_ns"), slope("reverse_ns"), slope("rtt_ns"));
    eprintln!("reflector drifting 200 ppm: forward {f:+.1} us/s, reverse {r:+.1} us/s, rtt {rtt:+.1} us/s");
    assert!((f - 200.0).abs() <= 30.0, "forward climbs 200 us/s: {f}");
    assert!((r + 200.0).abs() <= 30.0, "reverse falls 200 us/s: {r}");
    assert!(rtt.abs() <= 30.0, "the round trip stays flat: {rtt}");
}

/// The probes of the controller test: (id = site, extra agent flags).
/// north runs 2.5 ms ahead and says its error is 3 ms (honest); south runs
/// 2.5 ms ahead and says 100 us (a false claim physics can catch: its
/// links are within 80 us of light in fibre).
const AGENTS: [(&str, &[&str]); 3] = [
    ("cl", &["--clock-error", "100us"]),
    (
        "north",
        &["--test-clock-offset", "2.5ms", "--clock-error", "3ms"],
    ),
    (
        "south",
        &["--test-clock-offset", "2.5ms", "--clock-error", "100us"],
    ),
];

#[test]
fn the_controller_bounds_the_offset_never_says_ok_on_a_straddle_and_flags_a_false_claim() {
    require_lab!();
    let lab = Lab::up("clock.yaml", "clkmesh");
    let lab_file = common::lab_file("clock.yaml");
    let mut config = format!("topology: {}\nprobes:\n", lab_file.display());
    for (site, _) in AGENTS {
        config += &format!(
            "  - {{id: {site}, site: {site}, stamp: \"{}:8620\"}}\n",
            lab.addr(site)
        );
    }
    config += "secrets: secrets.yaml\n";
    config += "measurement: {interval: 50ms, window: 2s, timeout: 1s}\n";
    config += "alerts: {for: 2s, resolve_for: 2s, window: 60s, evaluate_every: 1s}\n";
    let ids: Vec<&str> = AGENTS.iter().map(|(id, _)| *id).collect();
    let Some(mut mesh) = Mesh::new("clock-mesh", &config, &ids) else {
        return;
    };
    mesh.serve(&lab, "cl", &format!("{}:8680", lab.addr("cl")));
    for (site, extra) in AGENTS {
        let stamp = format!("{}:8620", lab.addr(site));
        let mut extra = extra.to_vec();
        extra.push("--no-bw");
        mesh.agent(&lab, site, site, &stamp, &extra);
    }

    // Four covered routes (cl <-> north, cl <-> south), six windows each,
    // and north's clock alert firing (3 ms against a quarter of 4.02 ms).
    let done = retry(Duration::from_secs(45), || {
        std::thread::sleep(Duration::from_millis(900));
        let v = mesh.report_json()?;
        let measured = v["routes"]
            .as_array()?
            .iter()
            .filter(|r| !r["budget_ms"].is_null())
            .filter(|r| r["measured"]["windows"].as_u64().unwrap_or(0) >= 6)
            .count();
        let alert = v["alerts"]
            .as_array()?
            .iter()
            .any(|a| a["labels"]["alertname"] == "HubmeshProbeClockError");
        (measured >= 4 && alert).then_some(v)
    });
    let v = done.unwrap_or_else(|| {
        panic!(
            "not every covered route measured six windows with the clock alert in 45 s: {}\n{}",
            common::stdout(&mesh.report(&["--format", "json"])),
            mesh.logs()
        )
    });
    mesh.stop();
    eprintln!(
        "{}",
        serde_json::to_string_pretty(&v["probe_clocks"]).unwrap()
    );

    let routes = v["routes"].as_array().unwrap();
    let route = |from: &str, to: &str| {
        routes
            .iter()
            .find(|r| r["from"] == from && r["to"] == to)
            .unwrap_or_else(|| panic!("no route {from} -> {to}: {v}"))
    };
    for (from, to) in [
        ("cl", "north"),
        ("north", "cl"),
        ("cl", "south"),
        ("south", "cl"),
    ] {
        let r = route(from, to);
        let (one_way, error) = (
            r["one_way_ms"].as_f64().unwrap(),
            r["error_ms"].as_f64().unwrap_or(0.0),
        );
        eprintln!(
            "{from} -> {to}: {one_way:.3} ± {error:.3} ms ({}), verdict {}",
            r["basis"], r["verdict"]
        );
        // The truth (at the rule's median) is the link's 4 ms plus the
        // emulator's lateness, a few microseconds: the band holds it.
        let (lo, hi) = (one_way - error, one_way + error);
        assert!(
            lo <= LINK_MS + 0.1 && hi >= LINK_MS,
            "{from} -> {to}: [{lo:.3}, {hi:.3}] ms does not hold the truth: {r}"
        );
        // The verdict follows the band: a straddle is uncertain, never ok.
        let budget = r["budget_ms"].as_f64().unwrap();
        let want = if lo > budget {
            "violation"
        } else if hi <= budget {
            "ok"
        } else {
            "uncertain"
        };
        assert_eq!(r["verdict"], want, "{from} -> {to}: {r}");
        // With a band of about +-70 us around 4.00x ms, 4.02 ms is inside.
        assert_eq!(r["verdict"], "uncertain", "{from} -> {to}: {r}");
    }

    // The offset interval of each pair (to's clock minus from's) holds the
    // true offset, +2.5 ms, and physics pins it within a fraction of a
    // millisecond; north's honest claim (3.1 ms) agrees, south's (0.2 ms)
    // contradicts physics and is flagged.
    let truth_us = OFFSET_MS * 1e3;
    for (to, contradiction) in [("north", false), ("south", true)] {
        let c = &route("cl", to)["clock"];
        let (lo, hi) = (c["lo_us"].as_f64().unwrap(), c["hi_us"].as_f64().unwrap());
        eprintln!("cl -> {to}: offset in [{lo:.1}, {hi:.1}] us, {c}");
        assert!(lo <= truth_us && truth_us <= hi, "cl -> {to}: {c}");
        assert!(hi - lo < 500.0, "physics pins it: {c}");
        assert_eq!(c["contradiction"], contradiction, "cl -> {to}: {c}");
        // The reverse route carries the same interval, negated.
        let back = &route(to, "cl")["clock"];
        assert_eq!(back["lo_us"].as_f64().unwrap(), -hi, "{back}");
    }

    // Each probe's clock as it said: the test clocks are labelled.
    let clocks = v["probe_clocks"].as_array().expect("probe_clocks");
    for (id, _) in AGENTS {
        let c = clocks
            .iter()
            .find(|c| c["probe"] == id)
            .unwrap_or_else(|| panic!("no clock of {id}: {clocks:?}"));
        let offset = c["test_clock"]["offset_ns"].as_i64();
        let want = (id != "cl").then_some(2_500_000);
        assert_eq!(offset, want, "{c}");
        assert_eq!(c["boot_id"].is_null(), id != "cl", "{c}");
        assert_eq!(c["synchronized"], true, "stated errors: {c}");
    }

    // The text report says it too.
    let text = common::stdout(&mesh.report(&[]));
    assert!(
        text.contains("clock claims contradict physics: cl↔south"),
        "{text}"
    );
    assert!(text.contains("TEST CLOCK +2.500 ms"), "{text}");
}
