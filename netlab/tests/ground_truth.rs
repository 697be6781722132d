//! Ground truth: `netlab truth` records the kernel's timestamps of every packet
//! where it enters and leaves the emulated WAN, and `probe stamp`'s and irtt's
//! one-way delays are checked against what the WAN did to each of their
//! packets, in one run over an asymmetric link with jitter.
//!
//! Needs root (skips with the reason otherwise), the probe binary beside
//! netlab and the Debian package irtt.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{require_tool, retry, Lab, TempDir};
use netlab::truth::compare::{irtt_forward, irtt_reverse, stamp_forward, stamp_reverse};
use netlab::truth::{compare, parse_lines, transits, Comparison, Measured, Transit};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const STAMP_PORT: u16 = 8620;
const IRTT_PORT: u16 = 2112;
const PACKETS: u64 = 300;

/// `probe stamp` from a to the reflector in b: its per-packet records.
fn probe_stamp(lab: &Lab, probe: &str, reflector: SocketAddr, file: &Path) -> Vec<Value> {
    let _reflector = lab.spawn("b", &[probe, "reflect", "--listen", &reflector.to_string()]);
    let count = PACKETS.to_string();
    let file_arg = file.to_str().unwrap();
    let mut last_error = String::new();
    retry(Duration::from_secs(10), || {
        let out = lab.exec(
            "a",
            &[
                probe,
                "stamp",
                &reflector.to_string(),
                "--count",
                &count,
                "--interval",
                "10ms",
                "--same-host",
                "--packets",
                file_arg,
            ],
        );
        if !out.status.success() {
            last_error = common::stderr(&out);
        }
        out.status.success().then_some(())
    })
    .unwrap_or_else(|| panic!("probe stamp never got an answer: {last_error}"));
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// irtt from a to a server in b, 10 ms apart for 3 s: its round trips.
fn irtt(lab: &Lab, server: SocketAddr, file: &Path) -> Vec<Value> {
    let addr = server.to_string();
    let _server = lab.spawn("b", &["irtt", "server", "-i", "0", "-b", &addr]);
    let file_arg = file.to_str().unwrap();
    let mut last_error = String::new();
    retry(Duration::from_secs(10), || {
        let out = lab.exec(
            "a",
            &[
                "irtt", "client", "-i", "10ms", "-d", "3s", "-Q", "-o", file_arg, &addr,
            ],
        );
        if !out.status.success() {
            last_error = common::stderr(&out);
        }
        out.status.success().then_some(())
    })
    .unwrap_or_else(|| panic!("irtt client never got an answer: {last_error}"));
    // (irtt writes gzipped JSON to FILE.json.gz unless FILE ends in .json.)
    let v: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    v["round_trips"].as_array().expect("round_trips").clone()
}

fn measured(records: &[Value], seq: &str, delay: &[&str]) -> Vec<Measured> {
    records
        .iter()
        .filter_map(|r| {
            let mut v = r;
            for k in delay {
                v = &v[k];
            }
            Some(Measured {
                seq: u32::try_from(r[seq].as_u64()?).ok()?,
                one_way_ns: v.as_i64()?,
            })
        })
        .collect()
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1e3
}

fn row(tool: &str, direction: &str, c: &Comparison) -> String {
    format!(
        "{tool:<8}{direction:<10}{:>8}{:>10}{:>10.1}{:>10.1}{:>10.1}{:>12.1}",
        c.matched,
        c.unmatched,
        us(c.p50_ns),
        us(c.p99_ns),
        us(c.max_ns),
        c.median_signed_ns as f64 / 1e3
    )
}

/// The spread of what the WAN did to the packets `seq_of` picks, µs: 1st to
/// 99th percentile.
fn spread_us(transits: &[Transit], seq_of: impl Fn(&Transit) -> Option<u32>) -> f64 {
    let mut wan: Vec<u64> = transits
        .iter()
        .filter(|t| seq_of(t).is_some())
        .map(Transit::wan_ns)
        .collect();
    wan.sort_unstable();
    if wan.len() < 100 {
        return 0.0;
    }
    us(wan[wan.len() * 99 / 100] - wan[wan.len() / 100])
}

#[test]
fn probe_one_way_delays_match_what_the_wan_did_to_each_packet() {
    require_lab!();
    let Some(probe) = common::sibling_bin("probe") else {
        return;
    };
    if !require_tool("irtt", "irtt") {
        return;
    }
    let probe = probe.to_string_lossy().into_owned();
    let lab = Lab::up("truth.yaml", "truth");
    let dir = TempDir::new("truth");
    let b = lab.addr("b");
    let reflector: SocketAddr = format!("{b}:{STAMP_PORT}").parse().unwrap();
    let irtt_server: SocketAddr = format!("{b}:{IRTT_PORT}").parse().unwrap();
    let truth_file = dir.0.join("truth.jsonl");

    // The recorder stops by itself after 25 s; it is told to stop sooner.
    // Killed when dropped, should the test fail before it stops.
    let mut recorder = common::Server(
        Command::new(common::bin())
            .args([
                "truth",
                "--name",
                &lab.name,
                "--sites",
                "a,b",
                "--duration",
                "25",
            ])
            .arg("--out")
            .arg(&truth_file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run netlab truth"),
    );
    let mut first = String::new();
    BufReader::new(recorder.0.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(
        first.starts_with("recording at a, b"),
        "netlab truth did not start: {first:?}"
    );

    let started = Instant::now();
    let stamp = probe_stamp(&lab, &probe, reflector, &dir.0.join("stamp.jsonl"));
    let irtt = irtt(&lab, irtt_server, &dir.0.join("irtt.json"));
    let tools_took = started.elapsed();

    // SIGTERM: the recorder writes what it has and exits.
    // SAFETY: kill takes a pid and a signal number.
    unsafe { libc::kill(recorder.0.id() as libc::pid_t, libc::SIGTERM) };
    let status = retry(Duration::from_secs(5), || recorder.0.try_wait().unwrap());
    let status = status.expect("netlab truth did not stop at SIGTERM");
    assert!(status.success(), "netlab truth failed: {status}");

    let records = parse_lines(&std::fs::read_to_string(&truth_file).unwrap()).unwrap();
    assert!(
        records.iter().all(|r| r.t_ns > 0),
        "a record without a kernel timestamp"
    );
    let (transits, lost) = transits(&records);

    let stamp_fwd = measured(&stamp, "seq", &["forward_ns"]);
    let stamp_rev = measured(&stamp, "seq", &["reverse_ns"]);
    // Lost round trips have no delays and drop out here.
    let irtt_fwd = measured(&irtt, "seqno", &["delay", "send"]);
    let irtt_rev = measured(&irtt, "seqno", &["delay", "receive"]);
    let results = [
        (
            "probe",
            "a -> b",
            compare(&stamp_fwd, &transits, stamp_forward(reflector)),
        ),
        (
            "probe",
            "b -> a",
            compare(&stamp_rev, &transits, stamp_reverse(reflector)),
        ),
        (
            "irtt",
            "a -> b",
            compare(&irtt_fwd, &transits, irtt_forward(irtt_server)),
        ),
        (
            "irtt",
            "b -> a",
            compare(&irtt_rev, &transits, irtt_reverse(irtt_server)),
        ),
    ];
    println!(
        "ground truth: {} records, {} transits, {} entries without an exit; tools ran {:.1} s",
        records.len(),
        transits.len(),
        lost,
        tools_took.as_secs_f64()
    );
    println!(
        "{:<8}{:<10}{:>8}{:>10}{:>10}{:>10}{:>10}{:>12}",
        "tool", "direction", "matched", "unmatched", "p50 us", "p99 us", "max us", "median +-us"
    );
    for (tool, direction, c) in &results {
        println!("{}", row(tool, direction, c));
    }

    // The link's jitter reached the packets: no fixed delay could pass the
    // per-packet check below.
    for (what, spread) in [
        ("a -> b", spread_us(&transits, stamp_forward(reflector))),
        ("b -> a", spread_us(&transits, stamp_reverse(reflector))),
    ] {
        assert!(
            spread >= 1000.0,
            "{what}: the WAN's delays spread only {spread:.0} us"
        );
    }
    for (tool, direction, c) in &results[..2] {
        assert!(
            c.matched as f64 >= 0.9 * PACKETS as f64,
            "{tool} {direction}: only {} of {PACKETS} packets matched",
            c.matched
        );
        assert!(
            c.p99_ns <= 50_000,
            "{tool} {direction}: p99 |measured - truth| {:.1} us (bound 50 us)",
            us(c.p99_ns)
        );
    }
    for (tool, direction, c) in &results[2..] {
        assert!(c.matched > 0, "{tool} {direction}: nothing matched");
    }
}
