//! End to end: the measured mesh on an emulated WAN. A small lab
//! (tests/labs/mesh.yaml: a cluster, two cities and a router), a probe agent
//! in every site, the controller inside the cluster's site, a few seconds of
//! measurement, then `mesh-controller report` from the store: the measured
//! one-way delays are the lab's link delays per direction, and exactly the
//! route the lab makes too slow (cl -> city-b, 12 ms against 8 ms) is a
//! violation, and its traced path runs through the router site r.
//!
//! Needs root (skips with the reason otherwise) and the `probe` and
//! `mesh-controller` binaries beside `netlab` (scripts/test.sh builds them;
//! under CI a missing binary fails the test).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::mesh::Mesh;
use common::{retry, Lab};
use serde_json::Value;
use std::time::Duration;

/// Sites of the lab, each with one probe (id = site).
const SITES: [&str; 4] = ["cl", "city-a", "city-b", "r"];

/// One-way delay of the lab's path from -> to, ms (links of mesh.yaml:
/// cl -- city-a 3 ms, cl -> r 7 / r -> cl 2, r -> city-b 5 / city-b -> r 3).
fn configured_ms(from: &str, to: &str) -> f64 {
    match (from, to) {
        ("cl", "city-a") | ("city-a", "cl") => 3.0,
        ("cl", "city-b") => 12.0,
        ("city-b", "cl") => 5.0,
        ("cl", "r") => 7.0,
        ("r", "cl") => 2.0,
        ("city-a", "city-b") => 15.0,
        ("city-b", "city-a") => 8.0,
        ("city-a", "r") => 10.0,
        ("r", "city-a") => 5.0,
        ("r", "city-b") => 5.0,
        ("city-b", "r") => 3.0,
        _ => panic!("no path {from} -> {to} in mesh.yaml"),
    }
}

#[test]
fn agents_measure_the_lab_and_the_report_flags_exactly_the_slow_route() {
    require_lab!();
    let lab = Lab::up("mesh.yaml", "mesh");
    let addrs: Vec<String> = SITES.iter().map(|s| lab.addr(s)).collect();

    let lab_file = common::lab_file("mesh.yaml");
    let mut config = format!("topology: {}\nprobes:\n", lab_file.display());
    for (site, addr) in SITES.iter().zip(&addrs) {
        config += &format!("  - {{id: {site}, site: {site}, stamp: \"{addr}:8620\"}}\n");
    }
    config += "secrets: secrets.yaml\n";
    config += "measurement: {interval: 50ms, window: 2s, timeout: 1s}\n";
    config += "icmp: {ping_interval: 200ms, trace_period: 10s, max_hops: 8}\n";
    let Some(mut mesh) = Mesh::new("mesh-e2e", &config, &SITES) else {
        return;
    };
    // The controller inside the cluster's site; the agents reach it across
    // the emulated WAN.
    mesh.serve(&lab, "cl", &format!("{}:8680", addrs[0]));
    for (site, addr) in SITES.iter().zip(&addrs) {
        mesh.agent(&lab, site, site, &format!("{addr}:8620"), &[]);
    }

    // Measure until every ordered pair has at least six windows stored (both
    // sessions of the pair count; about 7 s), bounded. The verdicts are read at p99: with two windows (80
    // packets) p99 is the largest delay, and one packet the emulator
    // delivers late on a loaded machine (5 ms late was seen in CI-like runs)
    // turned a 5 ms route against its 8 ms budget into a violation; with six
    // (240 packets) it takes three.
    let pairs = SITES.len() * (SITES.len() - 1);
    let done = retry(Duration::from_secs(45), || {
        std::thread::sleep(Duration::from_millis(900));
        let out = mesh.report(&["--format", "json"]);
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        let measured = v["routes"]
            .as_array()?
            .iter()
            .filter(|r| r["measured"]["windows"].as_u64().unwrap_or(0) >= 6)
            .count();
        let traced = v["paths"]
            .as_array()?
            .iter()
            .any(|p| p["from"] == "cl" && p["to"] == "city-b");
        (measured >= pairs && traced).then_some(())
    });
    assert!(
        done.is_some(),
        "not every pair measured six windows in 45 s: {}\n{}",
        common::stdout(&mesh.report(&["--format", "json"])),
        mesh.logs()
    );
    mesh.stop();

    let out = mesh.report(&["--format", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("report JSON: {e}: {}", common::stderr(&out)));
    assert_eq!(
        out.status.code(),
        Some(1),
        "report exit status (a violated budget is 1): {v}"
    );
    let routes = v["routes"].as_array().expect("routes");

    // Every measured direction is the lab's path delay in that direction.
    let mut seen = 0;
    for r in routes {
        let (from, to) = (r["from"].as_str().unwrap(), r["to"].as_str().unwrap());
        let m = &r["measured"];
        assert_eq!(m["basis"], "one-way", "{from} -> {to}: {r}");
        let forward = m["forward"]["p50"].as_f64().expect("forward p50");
        let reverse = m["reverse"]["p50"].as_f64().expect("reverse p50");
        for (what, got, want) in [
            ("forward", forward, configured_ms(from, to)),
            ("reverse", reverse, configured_ms(to, from)),
        ] {
            assert!(
                (got - want).abs() <= 1.0,
                "{from} -> {to} {what}: measured p50 {got:.3} ms, configured {want} ms: {r}"
            );
        }
        seen += 1;
    }
    assert_eq!(seen, pairs, "routes: {v}");

    // Exactly the covered routes, and only cl -> city-b over its budget.
    let mut verdicts: Vec<(String, String)> = routes
        .iter()
        .filter(|r| !r["budget_ms"].is_null())
        .map(|r| {
            assert_eq!(r["budget_ms"].as_f64(), Some(8.0), "{r}");
            assert_eq!(r["basis"], "one-way", "{r}");
            (
                format!(
                    "{} -> {}",
                    r["from"].as_str().unwrap(),
                    r["to"].as_str().unwrap()
                ),
                r["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    verdicts.sort();
    let want: Vec<(String, String)> = [
        ("city-a -> cl", "ok"),
        ("city-b -> cl", "ok"),
        ("cl -> city-a", "ok"),
        ("cl -> city-b", "violation"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(verdicts, want, "{v}");
    assert_eq!(v["summary"]["violations"], 1, "{v}");
    assert_eq!(v["summary"]["routes"], pairs, "{v}");
    // Verdict counts cover the budgeted routes only: 4 covered, 3 of them ok.
    assert_eq!(v["summary"]["ok"], 3, "{v}");
    assert_eq!(v["summary"]["uncovered"], pairs - 4, "{v}");

    // The slow route's measured path: through the router site r, named from
    // the lab's router address that answered the trace.
    let paths = v["paths"].as_array().expect("paths");
    let p = paths
        .iter()
        .find(|p| p["from"] == "cl" && p["to"] == "city-b")
        .unwrap_or_else(|| panic!("no path of cl -> city-b: {paths:?}"));
    assert_eq!(p["sites"], serde_json::json!(["cl", "r", "city-b"]), "{p}");
    assert_eq!(p["reached"], true, "{p}");
}
