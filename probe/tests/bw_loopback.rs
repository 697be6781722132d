//! `probe bw` on 127.0.0.1: TCP forward and reverse with two streams, UDP at
//! a modest rate, one test at a time, the key and the allow list, malformed
//! and stalled control connections. The library's server (port 0) where the
//! server's counters matter, the real binaries where the CLI does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{probe, Reflector};
use probe::bw::{run_client, spawn_server, BwError, BwRequest, BwServerConfig, BwServerHandle};

fn server(configure: impl FnOnce(&mut BwServerConfig)) -> BwServerHandle {
    let mut cfg = BwServerConfig::new("127.0.0.1:0".parse().unwrap());
    configure(&mut cfg);
    spawn_server(cfg).unwrap()
}

fn request(addr: SocketAddr, duration_ms: u64) -> BwRequest {
    let mut req = BwRequest::new(addr);
    req.duration = Duration::from_millis(duration_ms);
    req
}

fn bw_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["bw"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let out = probe(&all, Duration::from_secs(20));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "probe bw {args:?}: {:?} {stdout} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

const KEYS: [&str; 9] = [
    "target",
    "direction",
    "protocol",
    "streams",
    "duration_s",
    "throughput_mbit",
    "retransmits",
    "loss_pct",
    "jitter_us",
];

#[test]
fn tcp_forward_and_reverse_with_two_streams_through_the_reflector() {
    let reflector = Reflector::start(&[]);
    let target = reflector.target();
    for (reverse, direction) in [(false, "forward"), (true, "reverse")] {
        let mut args = vec![target.as_str(), "--streams", "2", "--duration", "1s"];
        if reverse {
            args.push("--reverse");
        }
        let v = bw_json(&args);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut sorted = KEYS.to_vec();
        sorted.sort_unstable();
        assert_eq!(keys, sorted, "{v}"); // serde_json's map is sorted
        assert_eq!(v["target"], target.as_str());
        assert_eq!(v["direction"], direction);
        assert_eq!(v["protocol"], "tcp");
        assert_eq!(v["streams"], 2);
        assert_eq!(v["duration_s"], 1.0);
        assert!(v["throughput_mbit"].as_f64().unwrap() > 0.0, "{v}");
        assert!(v["retransmits"].is_u64(), "{v}");
        assert!(v["loss_pct"].is_null() && v["jitter_us"].is_null(), "{v}");
    }
    // The key order of the JSON line itself.
    let out = probe(
        &["bw", &target, "--duration", "200ms", "--format", "json"],
        Duration::from_secs(10),
    );
    let line = String::from_utf8_lossy(&out.stdout);
    let at: Vec<usize> = KEYS
        .iter()
        .map(|k| line.find(&format!("\"{k}\":")).unwrap())
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{line}");
}

#[test]
fn udp_at_50_mbit_is_received_at_that_rate_without_loss() {
    let srv = server(|_| {});
    for reverse in [false, true] {
        let mut req = request(srv.local_addr(), 1000);
        req.udp_rate_bps = Some(50_000_000);
        req.reverse = reverse;
        let r = run_client(&req, None).unwrap();
        assert!(
            (45.0..=55.0).contains(&r.throughput_mbit),
            "reverse={reverse}: {r:?}"
        );
        let loss = r.loss_pct.unwrap();
        assert!(loss <= 0.5, "reverse={reverse}: {r:?}");
        assert!(r.jitter_us.is_some() && r.retransmits.is_none(), "{r:?}");
    }
    assert_eq!(srv.stats().tests.load(Ordering::Relaxed), 2);
}

#[test]
fn a_second_client_is_told_to_retry_later() {
    let srv = server(|_| {});
    let addr = srv.local_addr();
    let first = std::thread::spawn(move || run_client(&request(addr, 2000), None));
    // Until the first test holds the slot.
    let deadline = Instant::now() + Duration::from_secs(5);
    while srv.stats().tests.load(Ordering::Relaxed) == 0 {
        assert!(Instant::now() < deadline, "first test never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    match run_client(&request(addr, 500), None) {
        Err(e @ BwError::Busy { retry_after_s }) => {
            assert!((1..=2).contains(&retry_after_s), "{e}");
            assert!(e.to_string().contains("retry after"), "{e}");
        }
        other => panic!("expected busy, got {other:?}"),
    }
    // The CLI says so in one line, exit status 1.
    let out = probe(
        &["bw", &addr.to_string(), "-t", "1s"],
        Duration::from_secs(10),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("busy") && stderr.lines().count() == 1,
        "{stderr}"
    );
    assert!(first.join().unwrap().is_ok());
    assert_eq!(srv.stats().busy.load(Ordering::Relaxed), 2);
    // Free again once the first test is over.
    assert!(run_client(&request(addr, 200), None).is_ok());
}

#[test]
fn the_key_is_required_and_a_wrong_one_refused() {
    let srv = server(|c| c.auth_key = Some(b"secret".to_vec()));
    let addr = srv.local_addr();
    let none = run_client(&request(addr, 200), None);
    assert!(matches!(none, Err(BwError::Auth(_))), "{none:?}");
    let mut wrong = request(addr, 200);
    wrong.auth_key = Some(b"guess".to_vec());
    let wrong = run_client(&wrong, None);
    assert!(matches!(wrong, Err(BwError::Auth(_))), "{wrong:?}");
    assert_eq!(srv.stats().auth_failed.load(Ordering::Relaxed), 1);
    assert_eq!(srv.stats().tests.load(Ordering::Relaxed), 0);
    let mut right = request(addr, 200);
    right.auth_key = Some(b"secret".to_vec());
    let r = run_client(&right, None).unwrap();
    assert!(r.throughput_mbit > 0.0);
    assert_eq!(srv.stats().tests.load(Ordering::Relaxed), 1);
}

#[test]
fn the_server_limits_are_applied_and_reported() {
    let srv = server(|c| {
        c.limits.max_streams = 3;
        c.limits.max_duration = Duration::from_millis(300);
    });
    let mut req = request(srv.local_addr(), 5000);
    req.streams = 5;
    let started = Instant::now();
    let r = run_client(&req, None).unwrap();
    assert_eq!((r.streams, r.duration_s), (3, 0.3), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "ran the 5 s asked for"
    );
}

#[test]
fn the_allow_list_refuses_other_sources() {
    let srv = server(|c| c.allow = vec!["198.18.0.0/15".parse().unwrap()]);
    let r = run_client(&request(srv.local_addr(), 200), None);
    match r {
        Err(BwError::Refused(text)) => assert!(text.contains("allow"), "{text}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(srv.stats().forbidden.load(Ordering::Relaxed), 1);
    assert_eq!(srv.stats().tests.load(Ordering::Relaxed), 0);
}

#[test]
fn malformed_and_stalled_connections_are_dropped_and_do_not_block() {
    let srv = server(|_| {});
    let addr = srv.local_addr();
    // Garbage instead of a hello.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    // A hello, then a truncated request.
    let mut t = TcpStream::connect(addr).unwrap();
    t.write_all(&[1, 1, 0, 4, b'H', b'M', b'B', b'W', 1, 3, 0, 30, 0])
        .unwrap();
    // A connection that says nothing at all.
    let _silent = TcpStream::connect(addr).unwrap();
    // A test runs meanwhile.
    let r = run_client(&request(addr, 300), None).unwrap();
    assert!(r.throughput_mbit > 0.0);
    // The garbage is counted at once; the stalled ones after the 3 s handshake limit.
    drop(t);
    let deadline = Instant::now() + Duration::from_secs(5);
    while srv.stats().malformed.load(Ordering::Relaxed) < 3 {
        assert!(Instant::now() < deadline, "malformed: {:?}", srv.stats());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn cli_errors_are_one_line_with_the_right_status() {
    // Nothing listens on this port (bound and closed at once).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = format!("127.0.0.1:{port}");
    let cases: [(&[&str], i32, &str); 6] = [
        (&[&target, "-t", "1s"], 1, "cannot connect"),
        (&[&target, "--udp", "--rate", "5X"], 2, "unknown unit"),
        (&[&target, "--udp"], 2, "--rate"),
        (&[&target, "--streams", "0"], 2, "--streams"),
        (&["not-an-address"], 2, "cannot resolve"),
        (&[&target, "--duration", "5"], 2, "no unit"),
    ];
    for (args, code, needle) in cases {
        let mut all = vec!["bw"];
        all.extend_from_slice(args);
        let out = probe(&all, Duration::from_secs(10));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    }
}
