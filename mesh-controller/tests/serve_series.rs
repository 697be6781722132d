//! `GET /v1/series` and `mesh-controller series`: a route's history from the
//! rollups, per step, with percentiles of exactly merged histograms; one
//! probe pair's history from its windows; bad requests refused with 400 and
//! exit 2.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serve_common;

use protocol::window::Window;
use serde_json::Value;
use serve_common::*;

const PROBES: [(&str, &str); 3] = [("cl-1", "cl"), ("a-1", "city-a"), ("a-2", "city-a")];
const MIN: u64 = 60_000;

fn upload(ctl: &Ctl, probe: &str, windows: &[(u64, &str, &Window)], age_ms: u64) {
    let (status, ack) = ctl.post_json(
        "/v1/windows",
        ctl.token(probe),
        &batch(probe, windows, age_ms),
    );
    assert_eq!(status, 200, "{ack}");
}

/// cl -> city-a: 40 min ago forward 2..3 ms (cl-1 -> a-1); 10 min ago
/// forward 8..9 ms (cl-1 -> a-2) and an a-1 -> cl-1 session whose reverse
/// (cl -> city-a) is 8..9 ms too.
fn controller() -> Ctl {
    let ctl = Ctl::start(&config_with(&PROBES, ""), &["cl-1", "a-1", "a-2"]);
    for p in ["cl-1", "a-1", "a-2"] {
        ctl.hello(p, "boot-x");
    }
    let clock = unsync_clock();
    let early = window(100, 0, 2.0, 3.0, clock);
    upload(
        &ctl,
        "cl-1",
        &[(1, "a-1", &early), (2, "a-1", &early)],
        40 * MIN,
    );
    let late = window(100, 10, 8.0, 1.0, clock);
    upload(&ctl, "cl-1", &[(3, "a-2", &late)], 10 * MIN);
    // a-1 -> cl-1: forward city-a -> cl 1 ms, reverse cl -> city-a 8 ms.
    let back = window(100, 0, 1.0, 8.0, clock);
    upload(&ctl, "a-1", &[(1, "cl-1", &back)], 10 * MIN);
    ctl
}

fn points(s: &Value) -> &Vec<Value> {
    s["points"].as_array().unwrap()
}

#[test]
fn series_steps_through_time_with_merged_percentiles() {
    let ctl = controller();
    let s = ctl.get_json("/v1/series?from=cl&to=city-a&since=1h&step=5m");
    assert_eq!(s["from"], "cl");
    assert_eq!(s["step_ms"], 300_000);
    assert_eq!(s["source"], "rollups");
    assert_eq!(s["budget_ms"], 20.0, "{s}");
    assert_eq!(s["percentile"], 99.0);
    let p = points(&s);
    assert_eq!(p.len(), 2, "two steps with data: {s}");
    let (early, late) = (&p[0], &p[1]);
    assert!(early["t"].as_u64().unwrap() < late["t"].as_u64().unwrap());
    assert_eq!(early["windows"], 2);
    assert_eq!(late["windows"], 2, "both session directions");
    assert_eq!(early["basis"], "one-way");
    let f = |v: &Value| v.as_f64().unwrap();
    // Early: forward 2..3 ms, reverse (city-a -> cl) 3..4 ms.
    assert!((f(&early["forward"]["p50"]) - 2.5).abs() < 0.02, "{early}");
    assert!((f(&early["forward"]["p99"]) - 2.99).abs() < 0.02, "{early}");
    assert!((f(&early["reverse"]["p50"]) - 3.5).abs() < 0.02, "{early}");
    // One boot: no clock error, only the histogram's resolution (a 1 us
    // bucket below 2 ms, 2 us to 4 ms).
    assert!(
        f(&early["error_ms"]) <= 0.002,
        "one boot: no clock error: {early}"
    );
    assert_eq!(early["loss_forward_pct"], 0.0);
    // Late: cl -> city-a is the forward of cl-1 -> a-2 (8..9 ms, 90 replies)
    // and the reverse of a-1 -> cl-1 (8..9 ms): merged, not averaged.
    // 190 values, 8.00 .. 8.89 and 8.00 .. 8.99 ms: the 95th and 96th are
    // both 8.47 ms, which the point's band holds.
    let (v, e) = (f(&late["forward"]["p50"]), f(&late["error_ms"]));
    assert!((v - e..=v + e).contains(&8.47), "{late}");
    // city-a -> cl: the reverse of cl-1 -> a-2 (1..2 ms) and the forward of
    // a-1 -> cl-1 (1..2 ms).
    assert!(f(&late["reverse"]["p99"]) < 2.01, "{late}");
    // 10 of 100 lost on cl-1 -> a-2, none on a-1 -> cl-1.
    assert!((f(&late["loss_forward_pct"]) - 5.0).abs() < 0.01, "{late}");

    // The other way round, forward and reverse swap.
    let r = ctl.get_json("/v1/series?from=city-a&to=cl&since=1h&step=5m");
    assert_eq!(points(&r)[1]["forward"], late["reverse"]);

    // One probe pair: cl-1 with a-2 only; from its raw windows.
    let one = ctl.get_json("/v1/series?from=cl&to=city-a&since=1h&step=5m&probe=cl-1&peer=a-2");
    assert_eq!(one["source"], "windows");
    let p = points(&one);
    assert_eq!(p.len(), 1, "{one}");
    assert_eq!(p[0]["windows"], 1);
    // 90 replies at 8.00 .. 8.89 ms.
    assert!((f(&p[0]["forward"]["p50"]) - 8.45).abs() < 0.03, "{one}");

    // auto picks a step; an hour step reads hourly rows.
    let auto = ctl.get_json("/v1/series?from=cl&to=city-a&since=1h");
    assert_eq!(auto["step_ms"], 60_000);
    let hourly = ctl.get_json("/v1/series?from=cl&to=city-a&since=3h&step=1h");
    let total: u64 = points(&hourly)
        .iter()
        .map(|p| p["windows"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 4, "every window once: {hourly}");
}

#[test]
fn bad_series_requests_are_refused() {
    let ctl = controller();
    for (q, why) in [
        ("from=cl&to=nowhere", "unknown endpoint"),
        ("from=cl", "to: required"),
        ("from=cl&to=city-a&since=forever", "since"),
        ("from=cl&to=city-a&step=7s", "step"),
        ("from=cl&to=city-a&step=1m&since=30d", "points"),
        ("from=cl&to=cl", "same endpoint"),
        ("from=cl&to=city-a&until=yesterday", "until"),
        ("from=cl&to=city-a&probe=a-1&peer=a-2", "peer"),
        ("from=cl&to=city-a&probe=ghost", "not a configured probe"),
        ("from=cl&to=city-a&color=red", "unknown parameter"),
    ] {
        let (status, body) = ctl.http("GET", &format!("/v1/series?{q}"), None, b"");
        assert_eq!(status, 400, "{q}: {body}");
        assert!(body.contains(why), "{q}: {body}");
    }
}

#[test]
fn series_command_reads_the_server_and_the_store_alike() {
    let ctl = controller();
    let (db, config) = (ctl.db.to_str().unwrap(), ctl.config.to_str().unwrap());
    let url = ctl.url();
    let common = [
        "--from", "cl", "--to", "city-a", "--since", "1h", "--step", "5m",
    ];
    let mut from_server = vec!["series", "--server", &url, "--format", "json"];
    from_server.extend(common);
    let out = run(&from_server);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut from_db = vec!["series", "--db", db, "--config", config, "--format", "json"];
    from_db.extend(common);
    let out = run(&from_db);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let b: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(a["points"], b["points"]);
    assert_eq!(points(&a).len(), 2);

    let mut csv = vec!["series", "--server", &url, "--format", "csv"];
    csv.extend(common);
    let out = run(&csv);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("time,duration_s,basis,fwd_p50_ms"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 3, "{text}");
    let mut table = vec!["series", "--server", &url];
    table.extend(common);
    let out = run(&table);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("cl -> city-a: 2 points, step 300 s"),
        "{text}"
    );

    // Bad input: one line, exit 2.
    let out = run(&["series", "--server", &url, "--from", "cl", "--to", "mars"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("unknown endpoint \"mars\""), "{err}");
    let out = run(&[
        "series", "--db", db, "--config", config, "--from", "cl", "--to", "city-a", "--since",
        "soon",
    ]);
    assert_eq!(out.status.code(), Some(2));
}
