//! End to end: independent tools (irtt, ping, traceroute, iperf3) measure what
//! a lab was told to do: delay per direction, the two-hop path and its router,
//! loss, rate, and carriers that cross only at an interconnect.
//!
//! Needs root (skips with the reason otherwise) and the Debian packages
//! iproute2, irtt, iputils-ping, traceroute and iperf3. `probe stamp` measures
//! each direction too, beside irtt.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_near, require_tool, retry, Lab};
use serde_json::Value;
use std::time::Duration;

/// Median one-way delays (send, receive) in ms and loss percentages (up,
/// down) measured by irtt from `client` to an irtt server in `server`.
fn irtt(lab: &Lab, client: &str, server: &str, duration: &str, interval: &str) -> Value {
    let addr = format!("{}:2112", lab.addr(server));
    // -i 0: no minimum interval (the server's default is 10 ms).
    let _server = lab.spawn(server, &["irtt", "server", "-i", "0", "-b", &addr]);
    // The handshake crosses the lab too: on the lossy link a third of its
    // round trips are lost, so it is tried ten times, 300 ms apart (irtt's
    // default is four, 1 s to 8 s apart), rather than trusting four to one
    // retry window.
    // (irtt reads this flag only in the --flag=value form.)
    let timeouts = format!("--timeouts={}", ["300ms"; 10].join(","));
    retry(Duration::from_secs(30), || {
        let out = lab.exec(
            client,
            &[
                "irtt", "client", &timeouts, "-i", interval, "-d", duration, "-Q", "-o", "-", &addr,
            ],
        );
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice::<Value>(&out.stdout).ok()
    })
    .expect("irtt client never got an answer")
}

fn median_ms(v: &Value, key: &str) -> f64 {
    v["stats"][key]["median"]
        .as_f64()
        .unwrap_or_else(|| panic!("no stats.{key}.median in {v}"))
        / 1e6
}

#[test]
fn irtt_sees_each_direction_of_an_asymmetric_link_and_a_two_hop_path() {
    require_lab!();
    if !require_tool("irtt", "irtt") {
        return;
    }
    let lab = Lab::up("three.yaml", "irtt");
    // a -> b 4 ms, b -> a 9 ms.
    let v = irtt(&lab, "a", "b", "1s", "10ms");
    assert_near("a -> b", median_ms(&v, "send_delay"), 4.0, 0.5);
    assert_near("b -> a", median_ms(&v, "receive_delay"), 9.0, 0.5);
    // a -> b -> c 6 ms, c -> b -> a 11 ms.
    let v = irtt(&lab, "a", "c", "1s", "10ms");
    assert_near("a -> c", median_ms(&v, "send_delay"), 6.0, 0.5);
    assert_near("c -> a", median_ms(&v, "receive_delay"), 11.0, 0.5);
}

/// The workspace's `probe` binary, built beside `netlab` by `cargo test
/// --workspace` / nextest (scripts/test.sh builds the workspace first).
fn probe_bin() -> Option<std::path::PathBuf> {
    let p = std::path::Path::new(common::bin()).with_file_name("probe");
    p.exists().then_some(p)
}

fn probe_stamp(lab: &Lab, client: &str, server: &str, port: u16) -> Value {
    let probe = probe_bin().expect("probe binary");
    let probe = probe.to_string_lossy();
    let addr = format!("{}:{port}", lab.addr(server));
    let _reflector = lab.spawn(server, &[&probe, "reflect", "--listen", &addr]);
    retry(Duration::from_secs(10), || {
        let out = lab.exec(
            client,
            &[
                &probe,
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
    .expect("probe stamp never got an answer")
}

fn p50_ms(v: &Value, key: &str) -> f64 {
    v[key]["p50"]
        .as_f64()
        .unwrap_or_else(|| panic!("no {key}.p50 in {v}"))
        / 1e3
}

#[test]
fn probe_stamp_sees_each_direction_of_an_asymmetric_link_and_a_two_hop_path() {
    require_lab!();
    if probe_bin().is_none() {
        // Under CI the workspace is built first, so a missing probe is a defect.
        assert!(
            std::env::var_os("CI").is_none(),
            "probe binary missing beside netlab"
        );
        eprintln!("skipping: the probe binary is not built (run scripts/test.sh)");
        return;
    }
    let lab = Lab::up("three.yaml", "stamp");
    let v = probe_stamp(&lab, "a", "b", 8620);
    assert_eq!(v["received"], v["sent"], "{v}");
    assert_near("a -> b", p50_ms(&v, "forward_us"), 4.0, 0.5);
    assert_near("b -> a", p50_ms(&v, "reverse_us"), 9.0, 0.5);
    assert_near("a -> b -> a", p50_ms(&v, "rtt_us"), 13.0, 0.5);
    let v = probe_stamp(&lab, "a", "c", 8621);
    assert_near("a -> c", p50_ms(&v, "forward_us"), 6.0, 0.5);
    assert_near("c -> a", p50_ms(&v, "reverse_us"), 11.0, 0.5);
}

#[test]
fn ping_round_trip_is_the_sum_of_both_directions() {
    require_lab!();
    if !require_tool("ping", "iputils-ping") {
        return;
    }
    let lab = Lab::up("three.yaml", "ping");
    let c = lab.addr("c");
    let out = lab.exec("a", &["ping", "-n", "-q", "-c", "20", "-i", "0.05", &c]);
    let text = common::stdout(&out);
    assert!(out.status.success(), "{text}{}", common::stderr(&out));
    let (min, avg) = ping_rtt(&text);
    // The best sample is the emulator's; the average also carries the
    // machine's scheduling noise, so it gets a looser bound.
    assert_near("a -> c -> a round trip (min)", min, 17.0, 0.5);
    assert_near("a -> c -> a round trip (avg)", avg, 17.0, 3.0);
}

#[test]
fn traceroute_shows_the_middle_router_then_the_destination() {
    require_lab!();
    if !require_tool("traceroute", "traceroute") {
        return;
    }
    let lab = Lab::up("three.yaml", "trace");
    let c = lab.addr("c");
    let out = lab.exec(
        "a",
        &["traceroute", "-n", "-q", "3", "-w", "2", "-m", "5", &c],
    );
    let text = common::stdout(&out);
    assert!(out.status.success(), "{text}{}", common::stderr(&out));
    // " 1  198.19.0.2  13.1 ms  13.0 ms  13.0 ms": the address and the best time.
    let hops: Vec<(String, f64)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let best = f
                .iter()
                .filter_map(|t| t.parse::<f64>().ok())
                .skip(1)
                .fold(f64::NAN, f64::min);
            (f.get(1).unwrap_or(&"").to_string(), best)
        })
        .collect();
    // Link 0 (a -- b): the router at b is 198.19.0.2 (netlab/README.md, address plan).
    assert_eq!(hops.len(), 2, "{text}");
    assert_eq!(hops[0].0, "198.19.0.2", "{text}");
    assert_eq!(hops[1].0, c, "{text}");
    // Hop 1 answers after a -> b and b -> a (4 + 9 ms); the destination after 6 + 11.
    assert_near("hop 1 round trip", hops[0].1, 13.0, 0.5);
    assert_near("hop 2 round trip", hops[1].1, 17.0, 0.5);
    assert!(lab.counter("icmp_time_exceeded", 1) >= 1);
    // The router answers pings itself, from its own place: 4 + 9 ms away.
    if common::require_tool("ping", "iputils-ping") {
        let out = lab.exec(
            "a",
            &["ping", "-n", "-q", "-c", "5", "-i", "0.05", "198.19.0.2"],
        );
        let text = common::stdout(&out);
        assert!(out.status.success(), "{text}");
        assert_near("ping to b's router", ping_rtt(&text).0, 13.0, 0.5);
    }
}

/// Minimum and average of ping's `rtt min/avg/max/mdev = ...` line, ms.
fn ping_rtt(text: &str) -> (f64, f64) {
    let line = text
        .lines()
        .find(|l| l.contains("min/avg/max"))
        .expect("ping summary");
    let v: Vec<f64> = line
        .split('=')
        .nth(1)
        .unwrap_or("")
        .trim()
        .split('/')
        .filter_map(|t| t.trim_end_matches(" ms").parse().ok())
        .collect();
    (v[0], v[1])
}

#[test]
fn jitter_spreads_delay_uniformly_around_the_configured_value() {
    require_lab!();
    if !require_tool("irtt", "irtt") {
        return;
    }
    let lab = Lab::up("jitter.yaml", "jit");
    let v = irtt(&lab, "a", "b", "2s", "10ms");
    let sends: Vec<f64> = v["round_trips"]
        .as_array()
        .expect("round_trips")
        .iter()
        .filter_map(|r| r["delay"]["send"].as_f64())
        .map(|ns| ns / 1e6)
        .collect();
    assert!(sends.len() >= 150, "only {} delays", sends.len());
    let n = sends.len() as f64;
    let mean = sends.iter().sum::<f64>() / n;
    let sd = (sends.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n).sqrt();
    // 5 ms +- 2 ms uniform: mean 5, standard deviation 2 / sqrt(3) = 1.15, and
    // nothing outside [3, 7] but what the measuring tools add (a few outliers
    // when other tests load the machine).
    assert_near("mean", mean, 5.0, 0.5);
    // Measuring can make a packet late, never early.
    let early = sends.iter().filter(|d| **d < 2.9).count();
    assert!(
        early as f64 <= 0.01 * n,
        "{early} of {n} delays under 2.9 ms"
    );
    let inside = sends.iter().filter(|d| (2.9..=7.5).contains(*d)).count() as f64;
    assert!(
        inside / n >= 0.95,
        "only {inside} of {n} delays in [2.9, 7.5] ms"
    );
    let sd_inside = {
        let v: Vec<f64> = sends
            .iter()
            .copied()
            .filter(|d| (2.9..=7.5).contains(d))
            .collect();
        let m = v.iter().sum::<f64>() / v.len() as f64;
        (v.iter().map(|d| (d - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
    };
    assert!(
        (0.8..=1.5).contains(&sd_inside),
        "standard deviation {sd_inside:.2} ms (all: {sd:.2})"
    );
}

#[test]
fn loss_drops_about_the_configured_share_each_way() {
    require_lab!();
    if !require_tool("irtt", "irtt") {
        return;
    }
    let lab = Lab::up("loss.yaml", "loss");
    // 600 packets each way at 20%: a standard deviation of about 1.6 points.
    let v = irtt(&lab, "a", "b", "3s", "5ms");
    let up = v["stats"]["upstream_loss_percent"].as_f64().unwrap();
    let down = v["stats"]["downstream_loss_percent"].as_f64().unwrap();
    let sent = v["stats"]["packets_sent"].as_u64().unwrap();
    assert!(sent >= 400, "irtt sent only {sent} packets");
    assert!(
        (12.0..=28.0).contains(&up),
        "upstream loss {up}% (configured 20%)"
    );
    // Downstream counts only replies to requests that arrived.
    assert!(
        (12.0..=28.0).contains(&down),
        "downstream loss {down}% (configured 20%)"
    );
    assert!(lab.counter("dropped_loss", 1) >= 1);
}

/// Receiver throughput in Mbit/s of an iperf3 test from a to b.
fn iperf3(lab: &Lab, extra: &[&str]) -> f64 {
    let b = lab.addr("b");
    let _server = lab.spawn("b", &["iperf3", "-s", "-B", &b]);
    let v = retry(Duration::from_secs(10), || {
        let mut args = vec!["iperf3", "-c", &b, "-t", "3", "-J"];
        args.extend_from_slice(extra);
        let out = lab.exec("a", &args);
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        (out.status.success() && v.get("error").is_none()).then_some(v)
    })
    .expect("iperf3 never ran");
    v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap()
        / 1e6
}

#[test]
fn rate_limits_throughput() {
    require_lab!();
    if !require_tool("iperf3", "iperf3") {
        return;
    }
    let lab = Lab::up("rate.yaml", "rate");
    // 20 Mbit/s of IP packets; TCP goodput is ~96% of that (headers).
    let tcp = iperf3(&lab, &[]);
    assert!(
        (17.0..=23.0).contains(&tcp),
        "TCP {tcp:.1} Mbit/s through a 20 Mbit/s link"
    );
    // UDP offered at twice the rate: what gets through is the rate.
    let udp = iperf3(&lab, &["-u", "-b", "40M"]);
    assert!(
        (17.0..=23.0).contains(&udp),
        "UDP {udp:.1} Mbit/s through a 20 Mbit/s link"
    );
    assert!(lab.counter("dropped_rate", 1) >= 1);
}

#[test]
fn carriers_cross_only_at_the_interconnect() {
    require_lab!();
    if !require_tool("ping", "iputils-ping") {
        return;
    }
    let lab = Lab::up("carriers.yaml", "carr");
    let (xt, xu) = (lab.addr("x@telecom"), lab.addr("x@unicom"));
    assert_eq!((xt.as_str(), xu.as_str()), ("198.18.0.1", "198.18.0.2"));
    // Same site, other carrier, source bound: out to z, across, back.
    let out = lab.exec(
        "x",
        &["ping", "-n", "-q", "-c", "10", "-i", "0.05", "-I", &xt, &xu],
    );
    let text = common::stdout(&out);
    assert!(out.status.success(), "{text}{}", common::stderr(&out));
    let (min, avg) = ping_rtt(&text);
    // 2 x (8 + 0.3 + 9) ms.
    assert_near("telecom -> unicom round trip at x (min)", min, 34.6, 0.5);
    assert_near("telecom -> unicom round trip at x (avg)", avg, 34.6, 3.0);
}
