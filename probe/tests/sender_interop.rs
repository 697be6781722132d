//! Our sender (the real `probe stamp`) against a tiny STAMP reflector written
//! here from the RFC 8762 layout, byte by byte, whose behaviour the test
//! controls: which requests it "never received", which of its own replies it
//! "loses" (numbering them all the same), a clock offset, a held turnaround.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{probe, stamp_json};

const NTP_UNIX: u64 = 2_208_988_800;

fn ntp(at: Duration) -> [u8; 8] {
    let secs = (at.as_secs() + NTP_UNIX) as u32;
    let frac = ((u64::from(at.subsec_nanos()) << 32) / 1_000_000_000) as u32;
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&secs.to_be_bytes());
    out[4..].copy_from_slice(&frac.to_be_bytes());
    out
}

fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
}

/// How the test reflector misbehaves.
#[derive(Clone, Default)]
struct Script {
    /// Sender sequence numbers it acts as if it never received.
    ignore: HashSet<u32>,
    /// Sender sequence numbers whose reply it numbers but does not send.
    lose_reply: HashSet<u32>,
    /// Added to T2 and T3 (a clock running ahead).
    clock_offset: Duration,
    /// Sender sequence numbers it holds for 20 ms between T2 and T3.
    hold: HashSet<u32>,
    /// Error Estimate it announces.
    error_estimate: [u8; 2],
    /// Never reply at all.
    silent: bool,
}

struct TestReflector {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u32>>,
}

impl TestReflector {
    fn start(script: Script) -> TestReflector {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let port = socket.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut own_seq: u32 = 0;
            let mut buf = [0u8; 2048];
            while !flag.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let t2 = now() + script.clock_offset;
                if n < 44 || script.silent {
                    continue;
                }
                let req = &buf[..n];
                let seq = u32::from_be_bytes(req[0..4].try_into().unwrap());
                if script.ignore.contains(&seq) {
                    continue;
                }
                if script.hold.contains(&seq) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                // RFC 8762 4.3.1, unauthenticated, then the request's TLV
                // area copied as is (symmetric size).
                let mut reply = Vec::with_capacity(n);
                reply.extend_from_slice(&own_seq.to_be_bytes()); // Sequence Number
                let t3_at = reply.len();
                reply.extend_from_slice(&[0; 8]); // Timestamp (T3), below
                reply.extend_from_slice(&script.error_estimate); // Error Estimate
                reply.extend_from_slice(&req[14..16]); // SSID
                reply.extend_from_slice(&ntp(t2)); // Receive Timestamp
                reply.extend_from_slice(&req[0..4]); // Session-Sender Sequence Number
                reply.extend_from_slice(&req[4..12]); // Session-Sender Timestamp
                reply.extend_from_slice(&req[12..14]); // Session-Sender Error Estimate
                reply.extend_from_slice(&[0, 0]); // MBZ
                reply.push(255); // Session-Sender TTL
                reply.extend_from_slice(&[0, 0, 0]); // MBZ
                reply.extend_from_slice(&req[44..]); // TLVs, echoed
                own_seq += 1;
                if script.lose_reply.contains(&seq) {
                    continue;
                }
                let t3 = now() + script.clock_offset;
                reply[t3_at..t3_at + 8].copy_from_slice(&ntp(t3));
                let _ = socket.send_to(&reply, from);
            }
            own_seq
        });
        TestReflector {
            port,
            stop,
            thread: Some(thread),
        }
    }

    fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the thread; returns how many replies it numbered.
    fn stop(mut self) -> u32 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for TestReflector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn u(v: &serde_json::Value, path: &[&str]) -> f64 {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_f64()
        .unwrap_or_else(|| panic!("{path:?} is not a number in {v}"))
}

/// 100 us announced with the S bit: scale 11, multiplier 210 (210 x 2^-21 s).
const EE_100US_SYNCED: [u8; 2] = [0x80 | 11, 210];

#[test]
fn loss_per_direction_rtt_and_negative_one_way() {
    let r = TestReflector::start(Script {
        ignore: [3, 7].into(),
        lose_reply: [10, 15].into(),
        clock_offset: Duration::from_millis(2),
        hold: [12].into(),
        error_estimate: EE_100US_SYNCED,
        silent: false,
    });
    let (code, v, stderr) = stamp_json(
        &[
            &r.target(),
            "--count",
            "20",
            "--interval",
            "30ms",
            "--schedule",
            "fixed",
            "--timeout",
            "300ms",
            "--separate-clocks",
        ],
        Duration::from_secs(20),
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(r.stop(), 18, "the test reflector numbered 18 replies");
    assert_eq!(u(&v, &["sent"]), 20.0);
    assert_eq!(u(&v, &["received"]), 16.0);
    // Round trip 4 of 20; forward 2 of 20 (never numbered); reverse 2 of the
    // 18 the reflector numbered.
    assert_eq!(u(&v, &["loss", "round_trip_lost"]), 4.0);
    assert_eq!(u(&v, &["loss", "forward_lost"]), 2.0);
    assert_eq!(u(&v, &["loss", "reverse_lost"]), 2.0);
    assert!((u(&v, &["loss", "forward_pct"]) - 10.0).abs() < 1e-9, "{v}");
    assert!(
        (u(&v, &["loss", "reverse_pct"]) - 100.0 * 2.0 / 18.0).abs() < 1e-9,
        "{v}"
    );
    // RTT excludes the turnaround (20 ms held once; the clock offset
    // cancels). Bounds are loose for this user-space test reflector on a
    // loaded machine. (Fixed 30 ms gaps, so the next request does not queue
    // behind the held one, which would delay its user-space T2.)
    assert!(u(&v, &["rtt_us", "p50"]) < 2_000.0, "{v}");
    assert!(u(&v, &["rtt_us", "max"]) < 15_000.0, "{v}");
    // Forward = T2 - T1 with a clock 2 ms ahead: about +2 ms.
    let fwd = u(&v, &["forward_us", "p50"]);
    assert!((2_000.0..4_000.0).contains(&fwd), "forward p50 {fwd}");
    // Reverse = T4 - T3 comes out about -2 ms: reported as measured (not
    // clamped to 0), counted as a clock problem, kept out of the histogram.
    let rev_min = u(&v, &["one_way_us", "reverse_min"]);
    assert!(
        (-2_000.0..-1_000.0).contains(&rev_min),
        "reverse min {rev_min}"
    );
    assert_eq!(u(&v, &["negative_one_way"]), 16.0);
    assert!(v["reverse_us"].is_null(), "no non-negative reverse delay");
    // Clocks: ours unsynchronized (whatever adjtimex says), theirs from the
    // Error Estimate; the bound (ours + theirs) covers -2 ms here.
    assert_eq!(v["clock"]["remote_synchronized"], true);
    let remote_err = u(&v, &["clock", "remote_error_us"]);
    assert!((100.0..=101.0).contains(&remote_err), "{remote_err}");
    assert_eq!(v["clock"]["same_kernel_clock"], false);
    assert_eq!(
        u(&v, &["clock", "one_way_error_us"]),
        u(&v, &["clock", "local_error_us"]) + remote_err
    );
}

#[test]
fn same_kernel_clock_makes_a_negative_delay_an_error_beyond_the_bound() {
    let r = TestReflector::start(Script {
        clock_offset: Duration::from_millis(2),
        error_estimate: EE_100US_SYNCED,
        ..Script::default()
    });
    let (code, v, stderr) = stamp_json(
        &[&r.target(), "--count", "5", "--interval", "5ms"],
        Duration::from_secs(20),
    );
    assert_eq!(code, Some(0), "{stderr}");
    r.stop();
    assert_eq!(v["clock"]["same_kernel_clock"], true, "loopback target");
    assert_eq!(u(&v, &["clock", "one_way_error_us"]), 0.0);
    assert_eq!(u(&v, &["clock", "one_way_beyond_error"]), 5.0);
    assert_eq!(u(&v, &["loss", "round_trip_pct"]), 0.0);
}

#[test]
fn no_reply_at_all_exits_1_and_says_so() {
    let r = TestReflector::start(Script {
        silent: true,
        ..Script::default()
    });
    let (code, v, stderr) = stamp_json(
        &[
            &r.target(),
            "--count",
            "3",
            "--interval",
            "10ms",
            "--timeout",
            "200ms",
        ],
        Duration::from_secs(20),
    );
    r.stop();
    assert_eq!(code, Some(1));
    assert!(stderr.contains("no reply"), "{stderr}");
    assert_eq!(u(&v, &["received"]), 0.0);
    assert_eq!(u(&v, &["loss", "round_trip_pct"]), 100.0);
}

#[test]
fn bad_input_exits_2_with_one_line() {
    for args in [
        vec!["stamp", "127.0.0.1:9", "--count", "x"],
        vec!["stamp", "no-port-here"],
        vec!["stamp", "127.0.0.1:9", "--dscp", "64"],
        vec!["stamp", "127.0.0.1:9", "--size", "20"],
        vec!["stamp", "127.0.0.1:9", "--interval", "5"],
        vec![
            "stamp",
            "127.0.0.1:9",
            "--auth-key-file",
            "/nonexistent/key",
        ],
        vec!["reflect", "--allow", "198.18.0.0/33"],
    ] {
        let out = probe(&args, Duration::from_secs(10));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    }
}
