//! `probe ping` and `probe trace` through an emulated WAN: the round trip is
//! the sum of the configured delays of both directions, and a path forced
//! through a third site shows that site's router, named by the lab file, on
//! the way to the destination (ICMP echo and UDP probes).
//!
//! Needs root (skips with the reason otherwise). Runs the workspace's `probe`
//! binary inside the lab's namespaces; traffic stays in 198.18.0.0/15.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_near, Lab};
use serde_json::Value;

/// The workspace's `probe` binary, built beside `netlab` (scripts/test.sh
/// builds every binary first).
fn probe_bin() -> Option<String> {
    let p = std::path::Path::new(common::bin()).with_file_name("probe");
    p.exists().then(|| p.to_string_lossy().into_owned())
}

macro_rules! require_probe {
    () => {
        match probe_bin() {
            Some(p) => p,
            None => {
                // Under CI the workspace is built first, so a missing probe is a defect.
                assert!(
                    std::env::var_os("CI").is_none(),
                    "probe binary missing beside netlab"
                );
                eprintln!("skipped: the probe binary is not built (run scripts/test.sh)");
                return;
            }
        }
    };
}

fn run_json(lab: &Lab, site: &str, args: &[&str]) -> Value {
    let out = lab.exec(site, args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        common::stdout(&out),
        common::stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", common::stdout(&out)))
}

fn p50_ms(v: &Value) -> f64 {
    v["rtt_us"]["p50"]
        .as_f64()
        .unwrap_or_else(|| panic!("no rtt_us.p50 in {v}"))
        / 1e3
}

#[test]
fn probe_ping_round_trip_is_the_sum_of_both_directions() {
    require_lab!();
    let probe = require_probe!();
    let lab = Lab::up("three.yaml", "icmp-ping");
    // a -> b 4 ms, b -> a 9 ms; a -> b -> c 6 ms, back 11 ms.
    // Raw sockets and datagram sockets (netlab's namespaces admit root's
    // group in ping_group_range) take different receive paths: both are run.
    for (to, rtt, socket) in [("b", 13.0, "raw"), ("c", 17.0, "raw"), ("c", 17.0, "dgram")] {
        let addr = lab.addr(to);
        let v = run_json(
            &lab,
            "a",
            &[
                &probe,
                "ping",
                &addr,
                "--count",
                "50",
                "--interval",
                "10ms",
                "--format",
                "json",
                "--socket",
                socket,
            ],
        );
        assert_eq!(v["target"], addr.as_str(), "{v}");
        assert_eq!(v["socket"], socket, "{v}");
        assert_eq!(v["received"], 50, "{v}");
        assert_eq!(v["loss_pct"], 0.0, "{v}");
        assert_near(&format!("a -> {to} -> a (p50)"), p50_ms(&v), rtt, 0.5);
    }
}

#[test]
fn probe_trace_names_the_middle_site_and_reaches_the_destination() {
    require_lab!();
    let probe = require_probe!();
    let lab = Lab::up("three.yaml", "icmp-trace");
    let file = common::lab_file("three.yaml");
    let file = file.to_str().unwrap();
    let c = lab.addr("c");
    // ICMP echo and UDP probes, each over a raw socket (errors read as ICMP
    // packets quoting the probe) and a datagram socket (errors from the error
    // queue with the offender address).
    let modes = [
        (None, "raw"),
        (None, "dgram"),
        (Some("--udp"), "raw"),
        (Some("--udp"), "dgram"),
    ];
    for (mode, socket) in modes {
        let mut args = vec![
            probe.as_str(),
            "trace",
            &c,
            "--topology",
            file,
            "--format",
            "json",
            "--socket",
            socket,
        ];
        args.extend(mode);
        let v = run_json(&lab, "a", &args);
        let what = format!("{} over {socket}", mode.unwrap_or("icmp"));
        assert_eq!(v["socket"], socket, "{what}: {v}");
        assert_eq!(v["reached"], true, "{what}: {v}");
        let hops = v["hops"].as_array().unwrap();
        assert_eq!(hops.len(), 2, "{what}: {v}");
        // Link 0 (a -- b): its router at b answers when TTL 1 expires there.
        assert_eq!(hops[0]["address"], "198.19.0.2", "{what}: {v}");
        assert_eq!(hops[0]["site"], "b", "{what}: {v}");
        assert_eq!(hops[1]["address"], c.as_str(), "{what}: {v}");
        assert_eq!(hops[1]["site"], "c", "{what}: {v}");
        for h in hops {
            assert_eq!(h["loss_pct"], 0.0, "{what}: {v}");
        }
        // b's router answers after a -> b and b -> a; c after both ways to c.
        assert_near(&format!("{what} hop 1"), p50_ms(&hops[0]), 13.0, 0.5);
        assert_near(&format!("{what} hop 2"), p50_ms(&hops[1]), 17.0, 0.5);
    }
    // Without a topology the same path has no site names.
    let v = run_json(&lab, "a", &[&probe, "trace", &c, "--format", "json"]);
    assert_eq!(v["hops"][0]["site"], Value::Null, "{v}");
}

#[test]
fn source_address_picks_the_carrier_of_ping_and_trace() {
    require_lab!();
    let probe = require_probe!();
    let lab = Lab::up("carriers.yaml", "icmp-src");
    let file = common::lab_file("carriers.yaml");
    let file = file.to_str().unwrap();
    let (xt, xu) = (lab.addr("x@telecom"), lab.addr("x@unicom"));
    for socket in ["raw", "dgram"] {
        // From x's telecom address to its unicom one: out to z on telecom,
        // across the exchange, back on unicom: 2 x (8 + 0.3 + 9) ms.
        let v = run_json(
            &lab,
            "x",
            &[
                &probe,
                "ping",
                &xu,
                "--source",
                &xt,
                "--count",
                "5",
                "--interval",
                "20ms",
                "--socket",
                socket,
                "--format",
                "json",
            ],
        );
        assert_eq!(v["received"], 5, "{socket}: {v}");
        assert_near(
            &format!("x@telecom -> x@unicom ({socket})"),
            p50_ms(&v),
            34.6,
            0.5,
        );
        let v = run_json(
            &lab,
            "x",
            &[
                &probe,
                "trace",
                &xu,
                "--source",
                &xt,
                "--topology",
                file,
                "--socket",
                socket,
                "--format",
                "json",
            ],
        );
        assert_eq!(v["reached"], true, "{socket}: {v}");
        let sites: Vec<&str> = v["hops"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|h| h["site"].as_str())
            .collect();
        assert!(
            sites.contains(&"z"),
            "{socket}: the crossing at z is in the path: {v}"
        );
        assert_eq!(sites.last(), Some(&"x"), "{socket}: {v}");
    }
}
