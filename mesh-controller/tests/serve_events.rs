//! Events on a real controller, without a lab: windows whose median steps up
//! 8 ms and traces whose path gains a site are uploaded; `/v1/events` reports
//! one level shift and one path change, linked, each once however often the
//! controller looks again; bad queries are refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serve_common;

use protocol::api::{WindowBatch, WindowUpload};
use serde_json::{json, Value};
use serve_common::*;
use std::time::Duration;

const PROBES: [(&str, &str); 2] = [("cl-1", "cl"), ("a-1", "city-a")];

fn trace(seq: u64, start: u64, via: &[&str]) -> Value {
    let hops: Vec<Value> = via
        .iter()
        .enumerate()
        .map(|(i, site)| {
            json!({"ttl": i + 1, "address": format!("198.19.0.{}", i + 1), "site": site,
                   "rtt_us": null, "loss_pct": 0.0})
        })
        .collect();
    json!({"seq": seq, "target": "a-1", "start_unix_ms": start, "kind": "trace",
           "address": "198.18.0.9", "reached": true, "hops": hops})
}

fn events(ctl: &Ctl) -> Vec<Value> {
    ctl.get_json("/v1/events?since=1h&from=cl&to=city-a")["events"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_step_and_a_new_path_are_one_linked_story_recorded_once() {
    let extra =
        "measurement: {window: 2s}\nicmp: {trace_period: 10s}\nalerts: {evaluate_every: 1s}\n";
    let ctl = Ctl::start(&config_with(&PROBES, extra), &["cl-1", "a-1"]);
    ctl.hello("cl-1", "boot-x");
    ctl.hello("a-1", "boot-x");
    let now = now_ms();
    let t0 = now - 44_000;
    // 22 windows of 2 s: forward medians 4.5 ms, then 12.5 ms from the 13th.
    let (low, high) = (
        window(100, 0, 4.0, 3.0, unsync_clock()),
        window(100, 0, 12.0, 3.0, unsync_clock()),
    );
    let batch = WindowBatch {
        probe: "cl-1".to_string(),
        windows: (0..22u64)
            .map(|i| WindowUpload {
                seq: i + 1,
                target: "a-1".to_string(),
                start_unix_ms: t0 + i * 2_000,
                duration_ms: 2_000,
                window: if i < 12 { low.clone() } else { high.clone() },
                timestamping: None,
                ssid: None,
            })
            .collect(),
    };
    let (status, ack) = ctl.post_json(
        "/v1/windows",
        ctl.token("cl-1"),
        &serde_json::to_value(&batch).unwrap(),
    );
    assert_eq!(status, 200, "{ack}");
    // Traces: direct twice, then through city-b twice (from the step on).
    let body = json!({"probe": "cl-1", "results": [
        trace(1, t0, &["city-a"]),
        trace(2, t0 + 10_000, &["city-a"]),
        trace(3, t0 + 24_000, &["city-b", "city-a"]),
        trace(4, t0 + 34_000, &["city-b", "city-a"]),
    ]});
    let (status, ack) = ctl.post_json("/v1/results", ctl.token("cl-1"), &body);
    assert_eq!(status, 200, "{ack}");

    ctl.wait_for("a linked level shift and path change", || {
        let e = events(&ctl);
        e.len() == 2 && e.iter().all(|x| !x["linked"].is_null())
    });
    let e = events(&ctl);
    let shift = e.iter().find(|x| x["kind"] == "level-shift").unwrap();
    let change = e.iter().find(|x| x["kind"] == "path-change").unwrap();
    assert_eq!(shift["direction"], "forward", "{shift}");
    // The window slot (windows on a 2 s grid) of the first window at the new level.
    assert_eq!(shift["at"], (t0 + 24_000) / 2_000 * 2_000, "{shift}");
    assert!(
        (shift["delta_ms"].as_f64().unwrap() - 8.0).abs() < 0.1,
        "{shift}"
    );
    assert_eq!(shift["basis"], "one-way");
    assert_eq!(change["old_path"], json!(["cl", "city-a"]));
    assert_eq!(change["new_path"], json!(["cl", "city-b", "city-a"]));
    assert_eq!(change["at"], t0 + 24_000);
    assert_eq!(shift["linked"], change["id"]);
    assert_eq!(change["linked"], shift["id"]);
    let summary = shift["summary"].as_str().unwrap();
    assert!(summary.starts_with("+8.0 ms forward at "), "{summary}");
    assert!(
        summary.ends_with("path cl > city-a became cl > city-b > city-a"),
        "{summary}"
    );

    // Evaluations go on: still exactly these two.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(events(&ctl).len(), 2);

    // The report leads with them.
    let (db, config) = (ctl.db.to_str().unwrap(), ctl.config.to_str().unwrap());
    let out = run(&["report", "--db", db, "--config", config]);
    let text = String::from_utf8(out.stdout).unwrap();
    // After the summary lines: no alert, nothing over budget, then the events.
    let lead = text.split_once("\n\n").expect(&text).1;
    assert!(
        lead.starts_with("FIRING ALERTS (0)\nNone.\n\nOVER BUDGET (0)\n"),
        "{text}"
    );
    assert!(lead.contains("\n\nEVENTS, LAST 1H (2)\n"), "{text}");
    assert!(text.contains(summary), "{text}");

    for q in ["since=soon", "from=cl", "from=cl&to=mars", "kind=all"] {
        let (status, body) = ctl.http("GET", &format!("/v1/events?{q}"), None, b"");
        assert_eq!(status, 400, "{q}: {body}");
    }
}
