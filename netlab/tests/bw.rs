//! `probe bw` through a lab link limited to 100 Mbit/s: TCP (forward, and
//! reverse with two streams) gets within 10% of the rate, UDP offered at
//! 90 Mbit/s arrives at that rate with little loss. The probe binary runs in
//! the lab's namespaces, beside `probe reflect` (its bandwidth server on the
//! reflector's port). Traffic stays on lab addresses (198.18.0.0/15).
//!
//! Needs root (skips with the reason otherwise).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{retry, Lab};
use serde_json::Value;
use std::time::Duration;

/// The workspace's `probe` binary, built beside `netlab`.
fn probe_bin() -> Option<std::path::PathBuf> {
    let p = std::path::Path::new(common::bin()).with_file_name("probe");
    p.exists().then_some(p)
}

/// `probe bw` from a to b's probe with extra arguments: the JSON report.
fn probe_bw(lab: &Lab, target: &str, extra: &[&str]) -> Value {
    let probe = probe_bin().expect("probe binary");
    let probe = probe.to_string_lossy();
    retry(Duration::from_secs(10), || {
        let mut args = vec![
            &*probe,
            "bw",
            target,
            "--duration",
            "3s",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let out = lab.exec("a", &args);
        if !out.status.success() {
            eprintln!("probe bw {extra:?}: {}", common::stderr(&out));
            return None;
        }
        serde_json::from_slice::<Value>(&out.stdout).ok()
    })
    .expect("probe bw never got an answer")
}

fn mbit(v: &Value) -> f64 {
    v["throughput_mbit"]
        .as_f64()
        .unwrap_or_else(|| panic!("no throughput_mbit in {v}"))
}

#[test]
fn probe_bw_measures_a_100_mbit_link() {
    require_lab!();
    if probe_bin().is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "probe binary missing beside netlab"
        );
        eprintln!("skipping: the probe binary is not built (run scripts/test.sh)");
        return;
    }
    let lab = Lab::up("rate100.yaml", "bw");
    let probe = probe_bin().unwrap();
    let target = format!("{}:8620", lab.addr("b"));
    let _reflector = lab.spawn(
        "b",
        &[&probe.to_string_lossy(), "reflect", "--listen", &target],
    );
    // 100 Mbit/s of IP packets; TCP goodput is about 96% of that (headers).
    let tcp = probe_bw(&lab, &target, &[]);
    assert_eq!(tcp["protocol"], "tcp");
    assert!((90.0..=110.0).contains(&mbit(&tcp)), "TCP forward {tcp}");
    let rev = probe_bw(&lab, &target, &["--reverse", "--streams", "2"]);
    assert_eq!(rev["direction"], "reverse");
    assert!((90.0..=110.0).contains(&mbit(&rev)), "TCP reverse {rev}");
    // UDP offered under the rate: it all arrives, at the offered rate.
    let udp = probe_bw(&lab, &target, &["--udp", "--rate", "90M"]);
    assert!((81.0..=99.0).contains(&mbit(&udp)), "UDP {udp}");
    let loss = udp["loss_pct"].as_f64().unwrap();
    assert!(loss < 2.0, "UDP loss {udp}");
    eprintln!(
        "through 100 Mbit/s: tcp {} Mbit/s (retransmits {}), reverse x2 {} Mbit/s, udp at 90M {} Mbit/s loss {} % jitter {} us",
        mbit(&tcp),
        tcp["retransmits"],
        mbit(&rev),
        mbit(&udp),
        udp["loss_pct"],
        udp["jitter_us"]
    );
}
