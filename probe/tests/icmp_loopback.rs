//! `probe ping` and `probe trace` on loopback, the real binary: the JSON
//! shape, concurrent runs that each see only their own replies, a trace that
//! reaches 127.0.0.1 in one hop (ICMP and UDP), and the unprivileged paths
//! (datagram sockets, the one-line refusal) in a network namespace of their
//! own where `ping_group_range` can be set without touching the host's.
//!
//! Traffic goes to 127.0.0.1 and ::1 only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Output};

use common::PROBE;
use serde_json::Value;

fn probe(args: &[&str]) -> Output {
    Command::new(PROBE).args(args).output().expect("run probe")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Why ICMP sockets cannot be had here, if they cannot (not root and
/// `ping_group_range` excludes us).
fn icmp_unavailable() -> Option<String> {
    let out = probe(&["ping", "127.0.0.1", "--count", "1", "--interval", "10ms"]);
    let err = text(&out.stderr);
    err.contains("cannot open an ICMP socket").then_some(err)
}

macro_rules! require_icmp {
    () => {
        if let Some(why) = icmp_unavailable() {
            eprintln!("skipped: {}", why.trim());
            return;
        }
    };
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "status {:?}: {}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}

#[test]
fn ping_loopback_json() {
    require_icmp!();
    let v = json(&probe(&[
        "ping",
        "127.0.0.1",
        "--count",
        "5",
        "--interval",
        "10ms",
        "--format",
        "json",
    ]));
    assert_eq!(v["target"], "127.0.0.1", "{v}");
    assert_eq!(v["sent"], 5, "{v}");
    assert_eq!(v["received"], 5, "{v}");
    assert_eq!(v["loss_pct"], 0.0, "{v}");
    assert_eq!(v["duplicates"], 0, "{v}");
    let rtt = v["rtt_us"].as_object().expect("rtt_us object");
    let keys: Vec<&str> = rtt.keys().map(String::as_str).collect();
    for k in ["min", "mean", "p50", "p90", "p99", "max"] {
        assert!(keys.contains(&k), "{k} missing in {v}");
    }
    let (min, p50, max) = (
        rtt["min"].as_u64().unwrap(),
        rtt["p50"].as_u64().unwrap(),
        rtt["max"].as_u64().unwrap(),
    );
    assert!(min <= p50 && p50 <= max && max < 1_000_000, "{v}");
    assert!(
        ["kernel", "user"].contains(&v["timestamping"].as_str().unwrap_or("")),
        "{v}"
    );
}

#[test]
fn concurrent_pings_each_see_only_their_own_replies() {
    require_icmp!();
    let args = [
        "ping",
        "127.0.0.1",
        "--count",
        "40",
        "--interval",
        "5ms",
        "--format",
        "json",
    ];
    // Both run at once: each is waited for only after both started.
    let spawn = || {
        Command::new(PROBE)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn probe")
    };
    let (a, b) = (spawn(), spawn());
    let a = json(&a.wait_with_output().expect("wait"));
    let b = json(&b.wait_with_output().expect("wait"));
    for v in [&a, &b] {
        assert_eq!(v["sent"], 40, "{v}");
        assert_eq!(v["received"], 40, "{v}");
        assert_eq!(v["duplicates"], 0, "{v}");
    }
    // Raw sockets see every ICMP packet on the host: each run saw the other's
    // requests and replies and set them aside.
    if a["socket"] == "raw" && b["socket"] == "raw" {
        assert!(
            a["unrelated"].as_u64().unwrap() + b["unrelated"].as_u64().unwrap() > 0,
            "{a}\n{b}"
        );
    }
}

#[test]
fn trace_to_loopback_reaches_in_one_hop() {
    require_icmp!();
    for extra in [&[][..], &["--udp"][..]] {
        let mut args = vec!["trace", "127.0.0.1", "--format", "json"];
        args.extend_from_slice(extra);
        let v = json(&probe(&args));
        assert_eq!(v["reached"], true, "{v}");
        let hops = v["hops"].as_array().unwrap();
        assert_eq!(hops.len(), 1, "{v}");
        assert_eq!(hops[0]["ttl"], 1, "{v}");
        assert_eq!(hops[0]["address"], "127.0.0.1", "{v}");
        assert_eq!(hops[0]["site"], Value::Null, "{v}");
        assert_eq!(hops[0]["loss_pct"], 0.0, "{v}");
        assert!(hops[0]["rtt_us"]["p50"].as_u64().is_some(), "{v}");
    }
}

#[test]
fn ipv6_loopback_ping_and_trace() {
    require_icmp!();
    let out = probe(&[
        "ping",
        "::1",
        "--count",
        "3",
        "--interval",
        "10ms",
        "--format",
        "json",
    ]);
    if text(&out.stderr).contains("Address family not supported")
        || text(&out.stderr).contains("unreachable")
    {
        eprintln!("skipped: no IPv6 loopback here");
        return;
    }
    let v = json(&out);
    assert_eq!(v["received"], 3, "{v}");
    let v = json(&probe(&["trace", "::1", "--format", "json"]));
    assert_eq!(v["hops"][0]["address"], "::1", "{v}");
    assert_eq!(v["reached"], true, "{v}");
}

/// Runs `script` (sh) in a new network namespace whose loopback is up, with
/// `$PROBE` set. None when namespaces cannot be made here.
fn in_fresh_netns(script: &str) -> Option<Output> {
    let have = |tool: &str| {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
    };
    if !(have("unshare") && have("ip") && have("setpriv")) {
        eprintln!("skipped: unshare, setpriv (util-linux) and ip (iproute2) are needed");
        return None;
    }
    // A copy that `nobody` can run, wherever the checkout lives (a home
    // directory may be closed to other users).
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("probe");
    std::fs::copy(PROBE, &copy).expect("copy probe");
    for (path, mode) in [(dir.path(), 0o755), (copy.as_path(), 0o755)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    let out = Command::new("unshare")
        .args(["-n", "sh", "-ec"])
        .arg(format!("ip link set lo up\n{script}"))
        .env("PROBE", &copy)
        .output()
        .expect("run unshare");
    if text(&out.stderr).contains("unshare failed") {
        eprintln!(
            "skipped: cannot make a network namespace: {}",
            text(&out.stderr)
        );
        return None;
    }
    Some(out)
}

#[test]
fn datagram_sockets_ping_and_trace_without_privilege() {
    // As nobody, in a namespace whose ping_group_range admits nobody's group.
    let Some(out) = in_fresh_netns(
        "sysctl -qw net.ipv4.ping_group_range='65534 65534'
         as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups \"$@\"; }
         as_nobody \"$PROBE\" ping 127.0.0.1 --count 3 --interval 10ms --format json
         as_nobody \"$PROBE\" trace 127.0.0.1 --format json
         as_nobody \"$PROBE\" trace 127.0.0.1 --udp --format json",
    ) else {
        return;
    };
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(lines[0]["received"], 3, "{stdout}");
    for v in &lines {
        assert_eq!(v["socket"], "dgram", "{v}");
    }
    for v in &lines[1..] {
        assert_eq!(v["reached"], true, "{v}");
        assert_eq!(v["hops"][0]["address"], "127.0.0.1", "{v}");
    }
}

#[test]
fn without_privilege_or_ping_group_range_the_refusal_is_one_clear_line() {
    // A fresh namespace has the kernel's default range, "1 0": nobody admitted.
    let Some(out) = in_fresh_netns(
        "setpriv --reuid=65534 --regid=65534 --clear-groups \"$PROBE\" ping 127.0.0.1 --count 1",
    ) else {
        return;
    };
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr).trim(),
        "probe: cannot open an ICMP socket: not root and ping_group_range 1 0 excludes gid 65534"
    );
}

/// RFC 1071 checksum, written into octets 2..4 of an ICMP message.
fn checksummed(mut m: Vec<u8>) -> Vec<u8> {
    m[2] = 0;
    m[3] = 0;
    let mut sum: u32 = m
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let sum = !(sum as u16);
    m[2..4].copy_from_slice(&sum.to_be_bytes());
    m
}

#[test]
fn raw_ping_counts_and_ignores_forged_and_malformed_icmp() {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};
    require_icmp!();
    let Ok(raw) = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)) else {
        eprintln!("skipped: no raw socket (not root) to forge packets with");
        return;
    };
    let ping = Command::new(PROBE)
        .args([
            "ping",
            "127.0.0.1",
            "--count",
            "30",
            "--interval",
            "10ms",
            "--socket",
            "raw",
            "--format",
            "json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn probe");
    let to = SockAddr::from(SocketAddr::from(([127, 0, 0, 1], 0)));
    // Every sequence number the run uses, answered by someone else: another
    // identifier, well formed (unrelated); the same with a broken checksum; a
    // time exceeded whose quote is cut short (malformed).
    let forged: Vec<Vec<u8>> = (0..30u8)
        .flat_map(|seq| {
            let reply = checksummed(vec![0, 0, 0, 0, 0x4e, 0x21, 0, seq, 1, 2, 3, 4, 5, 6, 7, 8]);
            let mut bad = reply.clone();
            bad[2] ^= 0x55;
            let cut = checksummed(vec![11, 0, 0, 0, 0, 0, 0, 0, 0x45, 0, 0]);
            [reply, bad, cut]
        })
        .collect();
    std::thread::sleep(Duration::from_millis(30));
    let until = Instant::now() + Duration::from_millis(250);
    for packet in forged.iter().cycle() {
        if Instant::now() > until {
            break;
        }
        raw.send_to(packet, &to)
            .expect("send forged ICMP to 127.0.0.1");
        std::thread::sleep(Duration::from_millis(1));
    }
    let v = json(&ping.wait_with_output().expect("wait"));
    assert_eq!(v["socket"], "raw", "{v}");
    assert_eq!(v["received"], 30, "{v}");
    assert_eq!(v["duplicates"], 0, "{v}");
    assert!(v["unrelated"].as_u64().unwrap() > 0, "{v}");
    assert!(v["malformed"].as_u64().unwrap() > 0, "{v}");
}
