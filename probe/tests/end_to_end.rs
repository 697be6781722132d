//! `probe reflect` and `probe stamp` against each other on 127.0.0.1: the
//! plain case, authenticated mode with the right and a wrong key, the allow
//! list and the per-source rate limit. Counts and times are bounded.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{stamp_json, Reflector};

const LIMIT: Duration = Duration::from_secs(30);

fn num(v: &serde_json::Value, path: &[&str]) -> f64 {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_f64()
        .unwrap_or_else(|| panic!("{path:?} missing in {v}"))
}

#[test]
fn loopback_session_with_kernel_timestamps() {
    let r = Reflector::start(&[]);
    let (code, v, stderr) =
        stamp_json(&[&r.target(), "--count", "200", "--interval", "5ms"], LIMIT);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(num(&v, &["sent"]), 200.0);
    assert_eq!(num(&v, &["received"]), 200.0, "{v}");
    assert_eq!(v["timestamping"], "kernel", "{v}");
    // Kernel stamps keep scheduling out: a loopback round trip is a few
    // microseconds; 1 ms is a generous bound for a loaded test machine.
    assert!(num(&v, &["rtt_us", "p50"]) < 1_000.0, "{v}");
    for key in ["forward_us", "reverse_us", "ipdv_us"] {
        for stat in ["min", "mean", "p50", "p90", "p99", "max"] {
            num(&v, &[key, stat]);
        }
    }
    for key in ["round_trip_pct", "forward_pct", "reverse_pct"] {
        assert_eq!(num(&v, &["loss", key]), 0.0);
    }
    for key in [
        "local_synchronized",
        "local_error_us",
        "remote_synchronized",
        "remote_error_us",
        "one_way_error_us",
    ] {
        assert!(!v["clock"][key].is_null(), "clock.{key} in {v}");
    }
    assert_eq!(v["clock"]["same_kernel_clock"], true);
    assert_eq!(num(&v, &["negative_one_way"]), 0.0, "one kernel clock: {v}");
    // Follow-Up Telemetry replaced T3 for all but the last reply.
    assert!(num(&v, &["sender", "t3_from_follow_up"]) >= 190.0, "{v}");
    let c = r.stop();
    assert_eq!(c["reflected"], 200);
    assert_eq!(c["dropped"], 0);
    assert!(c["follow_up_kernel"] >= 190, "{c:?}");
}

#[test]
fn authenticated_mode_needs_the_same_key() {
    let dir = std::env::temp_dir().join(format!("probe-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.key");
    let bad = dir.join("bad.key");
    std::fs::write(&good, "correct horse battery staple\n").unwrap();
    std::fs::write(&bad, "incorrect horse\n").unwrap();
    let r = Reflector::start(&["--auth-key-file", good.to_str().unwrap()]);

    let (code, v, stderr) = stamp_json(
        &[
            &r.target(),
            "--count",
            "20",
            "--interval",
            "5ms",
            "--auth-key-file",
            good.to_str().unwrap(),
        ],
        LIMIT,
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(num(&v, &["received"]), 20.0, "{v}");
    assert_eq!(v["packet"]["authenticated"], true);
    assert!(num(&v, &["packet", "size"]) >= 112.0);

    let (code, v, stderr) = stamp_json(
        &[
            &r.target(),
            "--count",
            "20",
            "--interval",
            "5ms",
            "--timeout",
            "200ms",
            "--auth-key-file",
            bad.to_str().unwrap(),
        ],
        LIMIT,
    );
    assert_eq!(code, Some(1), "no reply with a wrong key: {stderr}");
    assert_eq!(num(&v, &["received"]), 0.0);
    assert_eq!(num(&v, &["loss", "round_trip_pct"]), 100.0);

    // Unauthenticated packets are refused too.
    let (code, _, _) = stamp_json(
        &[
            &r.target(),
            "--count",
            "5",
            "--interval",
            "5ms",
            "--timeout",
            "200ms",
        ],
        LIMIT,
    );
    assert_eq!(code, Some(1));
    let c = r.stop();
    assert_eq!(c["reflected"], 20);
    assert_eq!(c["auth_failed"], 25, "{c:?}");
    assert_eq!(c["sessions_created"], 1, "refused senders leave no session");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn allow_list_excluding_us_gets_no_reply() {
    let r = Reflector::start(&["--allow", "198.18.0.0/15", "--allow", "::1/128"]);
    let (code, v, _) = stamp_json(
        &[
            &r.target(),
            "--count",
            "10",
            "--interval",
            "5ms",
            "--timeout",
            "200ms",
        ],
        LIMIT,
    );
    assert_eq!(code, Some(1));
    assert_eq!(num(&v, &["received"]), 0.0);
    let c = r.stop();
    assert_eq!(c["denied"], 10);
    assert_eq!(c["reflected"], 0);
}

#[test]
fn rate_limit_drops_the_excess() {
    // 40 pps per source (a bucket of 10); 100 packets at 1 ms take about
    // 0.1 s, so about 10 + 4 get through.
    let r = Reflector::start(&["--max-pps", "40"]);
    let (code, v, stderr) = stamp_json(
        &[
            &r.target(),
            "--count",
            "100",
            "--interval",
            "1ms",
            "--schedule",
            "fixed",
            "--timeout",
            "300ms",
        ],
        LIMIT,
    );
    assert_eq!(code, Some(0), "{stderr}");
    let received = num(&v, &["received"]);
    assert!(
        (10.0..=60.0).contains(&received),
        "received {received}: {v}"
    );
    let c = r.stop();
    assert_eq!(c["rate_limited"] + c["reflected"], 100, "{c:?}");
    assert_eq!(c["reflected"] as f64, received);
}

#[test]
fn dscp_is_asked_for_reported_and_used_on_replies() {
    let r = Reflector::start(&[]);
    let (code, v, stderr) = stamp_json(
        &[
            &r.target(),
            "--count",
            "10",
            "--interval",
            "5ms",
            "--dscp",
            "46",
        ],
        LIMIT,
    );
    assert_eq!(code, Some(0), "{stderr}");
    let cos = &v["class_of_service"];
    assert_eq!(cos["dscp"], 46, "{v}");
    // The reflector saw DSCP 46 (DSCP2) and replied with it (DSCP1, RP 0).
    assert_eq!(num(&v, &["class_of_service", "forward_kept"]), 10.0, "{v}");
    assert_eq!(num(&v, &["class_of_service", "reverse_kept"]), 10.0, "{v}");
    assert_eq!(cos["last_forward_dscp"], 46);
    assert_eq!(cos["last_reverse_dscp"], 46);
    assert_eq!(num(&v, &["packet", "size"]), 72.0, "base + CoS + Follow-Up");
    r.stop();
}

/// `run_windowed` (the agent's sessions): windows of the asked length, and
/// together they count every packet exactly once.
#[test]
fn windowed_session_cuts_windows_that_add_up() {
    use probe::sender::{run_windowed, StampConfig, WindowCut};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    let reflector = Reflector::start(&[]);
    let mut config = StampConfig::new(reflector.addr);
    config.interval = Duration::from_millis(10);
    config.timeout = Some(Duration::from_millis(300));
    let stop = Arc::new(AtomicBool::new(false));
    let stopper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1_700));
            stop.store(true, Ordering::SeqCst);
        })
    };
    let mut cuts: Vec<WindowCut> = Vec::new();
    let mut sink = |cut: WindowCut| cuts.push(cut);
    run_windowed(
        &config,
        &stop,
        Some((Duration::from_millis(500), &mut sink)),
    )
    .unwrap();
    stopper.join().unwrap();
    // Three full windows and the short last one.
    assert!((4..=5).contains(&cuts.len()), "{} windows", cuts.len());
    for pair in cuts.windows(2) {
        assert!(pair[1].start >= pair[0].start + pair[0].duration - Duration::from_millis(1));
    }
    for cut in &cuts[..3] {
        let ms = cut.duration.as_millis();
        assert!((450..=650).contains(&ms), "window of {ms} ms");
        assert!(cut.window.counters.sent > 20, "{:?}", cut.window.counters);
    }
    let sent: u64 = cuts.iter().map(|c| c.window.counters.sent).sum();
    let fates: u64 = cuts
        .iter()
        .map(|c| c.window.counters.received + c.window.counters.round_trip_lost)
        .sum();
    assert!(sent > 100, "{sent}");
    assert_eq!(fates, sent, "every packet's fate counted once");
}
