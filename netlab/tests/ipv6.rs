//! End to end over IPv6: the lab is dual stack (2001:2::/48 beside
//! 198.18.0.0/15), and what the IPv4 tests measure holds over IPv6 too:
//! `probe stamp` sees each direction of an asymmetric link (same bounds as
//! `measure.rs`), `probe ping` the round trip, `probe trace` the middle
//! router named by site (ICMPv6 time exceeded from the router's IPv6
//! address), and a small agent mesh with the controller on IPv6 measures the
//! lab's delays, says the family in its report and names traced hops by site.
//!
//! Needs root (skips with the reason otherwise) and the `probe` and
//! `mesh-controller` binaries beside `netlab`. Traffic stays inside the lab's
//! namespaces (2001:2::/48).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::mesh::Mesh;
use common::{assert_near, retry, sibling_bin, Lab};
use serde_json::Value;
use std::time::Duration;

/// The workspace's `probe` binary (under CI a missing one fails the test).
fn probe_bin() -> Option<String> {
    sibling_bin("probe").map(|p| p.to_string_lossy().into_owned())
}

/// `netlab addr -6`: an endpoint's IPv6 address.
fn addr6(lab: &Lab, endpoint: &str) -> String {
    let out = common::netlab(&["addr", "--name", &lab.name, "-6", endpoint]);
    assert!(
        out.status.success(),
        "addr -6 {endpoint}: {}",
        common::stderr(&out)
    );
    common::stdout(&out).trim().to_string()
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

fn p50_ms(v: &Value, key: &str) -> f64 {
    v[key]["p50"]
        .as_f64()
        .unwrap_or_else(|| panic!("no {key}.p50 in {v}"))
        / 1e3
}

#[test]
fn every_site_has_both_families() {
    require_lab!();
    let lab = Lab::up("three.yaml", "v6-addr");
    assert_eq!(addr6(&lab, "a"), "2001:2::1");
    assert_eq!(addr6(&lab, "c"), "2001:2:0:2::1");
    // IPv4 as before.
    assert_eq!(lab.addr("c"), "198.18.2.1");
    let out = lab.exec("b", &["ip", "-6", "-o", "addr", "show", "dev", "hm0"]);
    assert!(
        common::stdout(&out).contains("2001:2:0:1::1/128"),
        "{}",
        common::stdout(&out)
    );
    let out = common::netlab(&["addr", "--name", &lab.name, "--all"]);
    assert!(
        common::stdout(&out).contains("2001:2:0:8000::1 at a, 2001:2:0:8000::2 at b"),
        "{}",
        common::stdout(&out)
    );
}

/// `probe stamp` over IPv6 from `client` to a reflector in `server`.
fn stamp6(lab: &Lab, probe: &str, client: &str, server: &str, port: u16) -> Value {
    let addr = format!("[{}]:{port}", addr6(lab, server));
    let _reflector = lab.spawn(server, &[probe, "reflect", "--listen", &addr]);
    retry(Duration::from_secs(10), || {
        let out = lab.exec(
            client,
            &[
                probe,
                "stamp",
                &addr,
                "--count",
                "100",
                "--interval",
                "10ms",
                "--same-host",
                "--format",
                "json",
            ],
        );
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice::<Value>(&out.stdout).ok()
    })
    .expect("probe stamp over IPv6 never got an answer")
}

#[test]
fn probe_stamp_over_ipv6_sees_each_direction_of_an_asymmetric_link() {
    require_lab!();
    let Some(probe) = probe_bin() else { return };
    let lab = Lab::up("three.yaml", "v6-stamp");
    // a -> b 4 ms, b -> a 9 ms; the bounds of measure.rs's IPv4 test.
    let v = stamp6(&lab, &probe, "a", "b", 8620);
    assert_eq!(
        v["target"], "[2001:2:0:1::1]:8620",
        "measured over IPv6: {v}"
    );
    assert_eq!(v["received"], v["sent"], "{v}");
    eprintln!(
        "a -> b over IPv6: forward p50 {:.3} ms, reverse p50 {:.3} ms, rtt p50 {:.3} ms",
        p50_ms(&v, "forward_us"),
        p50_ms(&v, "reverse_us"),
        p50_ms(&v, "rtt_us")
    );
    assert_near("a -> b", p50_ms(&v, "forward_us"), 4.0, 0.5);
    assert_near("b -> a", p50_ms(&v, "reverse_us"), 9.0, 0.5);
    assert_near("a -> b -> a", p50_ms(&v, "rtt_us"), 13.0, 0.5);
    // Two hops: a -> b -> c 6 ms, back 11 ms.
    let v = stamp6(&lab, &probe, "a", "c", 8621);
    assert_eq!(v["target"], "[2001:2:0:2::1]:8621", "{v}");
    assert_near("a -> c", p50_ms(&v, "forward_us"), 6.0, 0.5);
    assert_near("c -> a", p50_ms(&v, "reverse_us"), 11.0, 0.5);
    assert!(lab.counter("received_ipv6", 400) >= 400);
}

#[test]
fn probe_ping_over_ipv6_round_trip_is_the_sum_of_both_directions() {
    require_lab!();
    let Some(probe) = probe_bin() else { return };
    let lab = Lab::up("three.yaml", "v6-ping");
    let router_b = "2001:2:0:8000::2"; // link 0's router at b
    for (to, rtt, socket) in [
        (addr6(&lab, "b"), 13.0, "raw"),
        (addr6(&lab, "c"), 17.0, "raw"),
        (addr6(&lab, "c"), 17.0, "dgram"),
        (router_b.to_string(), 13.0, "dgram"),
    ] {
        let v = run_json(
            &lab,
            "a",
            &[
                &probe,
                "ping",
                &to,
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
        assert_eq!(v["target"], to.as_str(), "{v}");
        assert_eq!(v["socket"], socket, "{v}");
        assert_eq!(v["received"], 50, "{v}");
        assert_eq!(v["loss_pct"], 0.0, "{v}");
        assert_near(
            &format!("a -> {to} -> a (p50)"),
            p50_ms(&v, "rtt_us"),
            rtt,
            0.5,
        );
    }
}

#[test]
fn probe_trace_over_ipv6_names_the_middle_site_and_reaches_the_destination() {
    require_lab!();
    let Some(probe) = probe_bin() else { return };
    let lab = Lab::up("three.yaml", "v6-trace");
    let file = common::lab_file("three.yaml");
    let file = file.to_str().unwrap();
    let c = addr6(&lab, "c");
    for (mode, socket) in [
        (None, "raw"),
        (None, "dgram"),
        (Some("--udp"), "raw"),
        (Some("--udp"), "dgram"),
    ] {
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
        assert_eq!(v["reached"], true, "{what}: {v}");
        let hops = v["hops"].as_array().unwrap();
        assert_eq!(hops.len(), 2, "{what}: {v}");
        // Link 0 (a -- b): its router at b answers from 2001:2:0:8000::2.
        assert_eq!(hops[0]["address"], "2001:2:0:8000::2", "{what}: {v}");
        assert_eq!(hops[0]["site"], "b", "{what}: {v}");
        assert_eq!(hops[1]["address"], c.as_str(), "{what}: {v}");
        assert_eq!(hops[1]["site"], "c", "{what}: {v}");
        for h in hops {
            assert_eq!(h["loss_pct"], 0.0, "{what}: {v}");
        }
        assert_near(
            &format!("{what} hop 1"),
            p50_ms(&hops[0], "rtt_us"),
            13.0,
            0.5,
        );
        assert_near(
            &format!("{what} hop 2"),
            p50_ms(&hops[1], "rtt_us"),
            17.0,
            0.5,
        );
    }
    assert!(lab.counter("icmp_time_exceeded", 1) >= 1);
}

/// One-way delay of three.yaml's path from -> to, ms.
fn configured_ms(from: &str, to: &str) -> f64 {
    match (from, to) {
        ("a", "b") => 4.0,
        ("b", "a") => 9.0,
        ("b", "c") | ("c", "b") => 2.0,
        ("a", "c") => 6.0,
        ("c", "a") => 11.0,
        _ => panic!("no path {from} -> {to} in three.yaml"),
    }
}

#[test]
fn agent_mesh_over_ipv6_with_the_controller_on_ipv6() {
    require_lab!();
    let lab = Lab::up("three.yaml", "v6-mesh");
    let sites = ["a", "b", "c"];
    let v6: Vec<String> = sites.iter().map(|s| addr6(&lab, s)).collect();

    // a and c have IPv6 only; b is dual stack (an IPv4 stamp, stamp6
    // beside it, its agent listening on both): every pair has IPv6 at both
    // ends, so every session runs over IPv6.
    let lab_file = common::lab_file("three.yaml");
    let mut config = format!("topology: {}\nprobes:\n", lab_file.display());
    config += &format!("  - {{id: a, site: a, stamp: \"[{}]:8620\"}}\n", v6[0]);
    config += &format!(
        "  - {{id: b, site: b, stamp: \"{}:8620\", stamp6: \"[{}]:8620\"}}\n",
        lab.addr("b"),
        v6[1]
    );
    config += &format!("  - {{id: c, site: c, stamp: \"[{}]:8620\"}}\n", v6[2]);
    config += "secrets: secrets.yaml\n";
    config += "measurement: {interval: 50ms, window: 2s, timeout: 1s}\n";
    config += "icmp: {ping_interval: 200ms, trace_period: 10s, max_hops: 8}\n";
    let Some(mut mesh) = Mesh::new("v6-mesh", &config, &sites) else {
        return;
    };
    // The controller on a's IPv6 address; the agents reach it across the lab.
    mesh.serve(&lab, "a", &format!("[{}]:8680", v6[0]));
    for (i, site) in sites.iter().enumerate() {
        // b listens on every address of both families.
        let listen = if *site == "b" {
            "[::]:8620".to_string()
        } else {
            format!("[{}]:8620", v6[i])
        };
        mesh.agent(&lab, site, site, &listen, &[]);
    }

    let pairs = sites.len() * (sites.len() - 1);
    let done = retry(Duration::from_secs(45), || {
        std::thread::sleep(Duration::from_millis(900));
        let v: Value = serde_json::from_slice(&mesh.report(&["--format", "json"]).stdout).ok()?;
        let measured = v["routes"]
            .as_array()?
            .iter()
            .filter(|r| r["measured"]["windows"].as_u64().unwrap_or(0) >= 3)
            .count();
        let traced = v["paths"]
            .as_array()?
            .iter()
            .any(|p| p["from"] == "a" && p["to"] == "c");
        (measured >= pairs && traced).then_some(())
    });
    assert!(
        done.is_some(),
        "not every pair measured three windows over IPv6 in 45 s: {}\n{}",
        common::stdout(&mesh.report(&["--format", "json"])),
        mesh.logs()
    );
    mesh.stop();

    let out = mesh.report(&["--format", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("report JSON: {e}: {}", common::stderr(&out)));
    let routes = v["routes"].as_array().expect("routes");
    let mut seen = 0;
    for r in routes {
        let (from, to) = (r["from"].as_str().unwrap(), r["to"].as_str().unwrap());
        let m = &r["measured"];
        assert_eq!(m["basis"], "one-way", "{from} -> {to}: {r}");
        assert_eq!(
            m["family"],
            serde_json::json!(["ipv6"]),
            "{from} -> {to}: {r}"
        );
        let forward = m["forward"]["p50"].as_f64().expect("forward p50");
        let reverse = m["reverse"]["p50"].as_f64().expect("reverse p50");
        eprintln!(
            "{from} -> {to} over IPv6: forward p50 {forward:.3} ms, reverse p50 {reverse:.3} ms"
        );
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

    // The traced path a -> c over IPv6: through b, named from b's router's
    // IPv6 address.
    let paths = v["paths"].as_array().expect("paths");
    let p = paths
        .iter()
        .find(|p| p["from"] == "a" && p["to"] == "c")
        .unwrap_or_else(|| panic!("no path of a -> c: {paths:?}"));
    assert_eq!(p["sites"], serde_json::json!(["a", "b", "c"]), "{p}");
    assert_eq!(p["reached"], true, "{p}");
}
