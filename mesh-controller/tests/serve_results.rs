//! `POST /v1/results` and `GET /v1/bw/task` against the real binary:
//! results stored once whatever the replays, refused whole when malformed or
//! not the token's, and bandwidth tasks handed out by tournament round.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serve_common;

use serde_json::{json, Value};
use serve_common::*;
use std::collections::HashSet;
use std::time::{Duration, Instant};

const PROBES: [(&str, &str); 4] = [
    ("cl-1", "cl"),
    ("a-1", "city-a"),
    ("b-1", "city-b"),
    ("b-2", "city-b"),
];
const IDS: [&str; 4] = ["cl-1", "a-1", "b-1", "b-2"];

fn bw(seq: u64, target: &str, direction: &str, mbit: f64) -> Value {
    json!({"seq": seq, "target": target, "start_unix_ms": now_ms() - 1000, "kind": "bandwidth",
           "direction": direction, "protocol": "tcp", "streams": 1, "duration_s": 1.0,
           "throughput_mbit": mbit, "retransmits": 0, "loss_pct": null, "jitter_us": null})
}

fn trace(seq: u64, target: &str) -> Value {
    json!({"seq": seq, "target": target, "start_unix_ms": now_ms() - 1000, "kind": "trace",
           "address": "198.18.1.1", "reached": true,
           "hops": [{"ttl": 1, "address": "198.19.0.2", "site": null, "rtt_us": null, "loss_pct": 0.0},
                    {"ttl": 2, "address": null, "site": null, "rtt_us": null, "loss_pct": 100.0}]})
}

#[test]
fn results_are_stored_once_and_refused_whole_when_bad() {
    let ctl = Ctl::start(&config_with(&PROBES, ""), &IDS);
    let a = ctl.hello("cl-1", "boot-x");
    assert_eq!(a["next_result_seq"], 1, "{a}");
    assert_eq!(a["bandwidth"], false);
    let body = json!({"probe": "cl-1", "results": [bw(1, "a-1", "forward", 940.0), bw(2, "a-1", "reverse", 930.5), trace(3, "b-1")]});
    let (status, ack) = ctl.post_json("/v1/results", ctl.token("cl-1"), &body);
    assert_eq!(status, 200, "{ack}");
    assert_eq!(ack["accepted"], json!([1, 2, 3]));
    assert_eq!(ack["next_seq"], 4);
    // A replay is acknowledged as duplicate, not stored again.
    let (status, ack) = ctl.post_json("/v1/results", ctl.token("cl-1"), &body);
    assert_eq!(status, 200);
    assert_eq!(ack["duplicate"], json!([1, 2, 3]));
    assert_eq!(ack["accepted"], json!([]));
    assert_eq!(ctl.hello("cl-1", "boot-x")["next_result_seq"], 4);
    let probes = ctl.get_json("/v1/probes");
    let cl = probes["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "cl-1")
        .unwrap();
    assert_eq!(cl["results"], 3, "{cl}");
    assert_eq!(cl["last_result_seq"], 3, "{cl}");

    // Someone else's results, or a batch with one bad result: nothing stored.
    let (status, _) = ctl.post_json("/v1/results", ctl.token("a-1"), &body);
    assert_eq!(status, 403);
    for bad in [
        bw(4, "nobody", "forward", 1.0),
        bw(4, "a-1", "sideways", 1.0),
        bw(4, "a-1", "forward", -1.0),
        bw(4, "cl-1", "forward", 1.0),
        json!({"seq": 4, "target": "a-1", "start_unix_ms": now_ms(), "kind": "teleport"}),
        json!({"seq": 0, "target": "a-1", "start_unix_ms": now_ms(), "kind": "ping", "sent": 1, "received": 0, "loss_pct": 100.0}),
        json!({"seq": 4, "target": "city-a", "start_unix_ms": now_ms(), "kind": "ping", "sent": 1, "received": 2, "loss_pct": 0.0}),
    ] {
        let body = json!({"probe": "cl-1", "results": [bw(5, "a-1", "forward", 1.0), bad.clone()]});
        let (status, err) = ctl.post_json("/v1/results", ctl.token("cl-1"), &body);
        assert_eq!(status, 400, "{bad}: {err}");
        let reason = err["reason"].as_str().unwrap();
        assert!(
            reason.contains("results[") || reason.starts_with("body:"),
            "{err}"
        );
    }
    let (status, _) = ctl.post_json("/v1/results", "wrong-token", &body);
    assert_eq!(status, 401);
    assert_eq!(ctl.hello("cl-1", "boot-x")["next_result_seq"], 4);
}

#[test]
fn bandwidth_tasks_follow_the_tournament() {
    // The shortest legal round: 500 ms each way, 6 s slots; a task is handed
    // out only in the first 2 s of a slot.
    let extra = "bandwidth: {period: 6s, duration: 500ms, streams: 2}\n";
    let ctl = Ctl::start(&config_with(&PROBES, extra), &IDS);
    for id in IDS {
        assert_eq!(ctl.hello(id, "boot-x")["bandwidth"], true);
    }
    let task_of = |id: &str| -> Value {
        let (status, body) = ctl.http("GET", "/v1/bw/task", Some(ctl.token(id)), b"");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    // Wait for the start of a slot, then ask all four.
    let deadline = Instant::now() + Duration::from_secs(15);
    let answers = loop {
        let answers: Vec<(String, Value)> =
            IDS.iter().map(|id| (id.to_string(), task_of(id))).collect();
        let given = answers.iter().filter(|(_, a)| !a["task"].is_null()).count();
        if given > 0 {
            break answers;
        }
        assert!(Instant::now() < deadline, "no task in 15 s: {answers:?}");
        std::thread::sleep(Duration::from_millis(250));
    };
    let tasks: Vec<(&str, &Value)> = answers
        .iter()
        .filter(|(_, a)| !a["task"].is_null())
        .map(|(id, a)| (id.as_str(), &a["task"]))
        .collect();
    // Four probes: two tests, nobody in two.
    assert_eq!(tasks.len(), 2, "{answers:?}");
    let mut busy = HashSet::new();
    for (client, t) in &tasks {
        assert!(busy.insert(client.to_string()));
        assert!(
            busy.insert(t["target"].as_str().unwrap().to_string()),
            "{tasks:?}"
        );
        assert_eq!(t["duration_ms"], 500);
        assert_eq!(t["streams"], 2);
        let port = 28600 + IDS.iter().position(|i| *i == t["target"]).unwrap();
        assert_eq!(t["address"], format!("127.0.0.1:{port}"));
    }
    // Handed out once per slot.
    let again = task_of(tasks[0].0);
    assert!(again["task"].is_null(), "{again}");
    assert!(again["retry_after_ms"].as_u64().unwrap() >= 1000);
    let (status, _) = ctl.http("GET", "/v1/bw/task", Some("nope"), b"");
    assert_eq!(status, 401);
}

#[test]
fn report_shows_throughput_per_direction_and_the_path_of_a_slow_route() {
    let ctl = Ctl::start(&config_with(&PROBES, ""), &IDS);
    for id in IDS {
        ctl.hello(id, "boot-x");
    }
    // cl -> city-b over its 20 ms budget (RTT/2 of 45..47 ms).
    let w = window(100, 0, 25.0, 20.0, unsync_clock());
    let (status, ack) = ctl.post_json(
        "/v1/windows",
        ctl.token("cl-1"),
        &batch("cl-1", &[(1, "b-1", &w)], 0),
    );
    assert_eq!(status, 200, "{ack}");
    let mut t = trace(3, "b-1");
    t["hops"] = json!([
        {"ttl": 1, "address": "198.19.0.2", "site": "city-a", "rtt_us": null, "loss_pct": 0.0},
        {"ttl": 2, "address": null, "site": null, "rtt_us": null, "loss_pct": 100.0},
        {"ttl": 3, "address": "198.18.2.1", "site": "city-b", "rtt_us": null, "loss_pct": 0.0}
    ]);
    let ping = json!({"seq": 4, "target": "city-b", "start_unix_ms": now_ms() - 1000, "kind": "ping",
        "sent": 10, "received": 9, "loss_pct": 10.0,
        "rtt_us": {"min": 800.0, "mean": 900.0, "p50": 900.0, "p90": 950.0, "p99": 990.0, "max": 990.0}});
    let body = json!({"probe": "cl-1", "results": [
        bw(1, "a-1", "forward", 940.0), bw(2, "a-1", "reverse", 310.0), t, ping]});
    let (status, ack) = ctl.post_json("/v1/results", ctl.token("cl-1"), &body);
    assert_eq!(status, 200, "{ack}");
    // And a second forward test, from the other side.
    // Half a second later: the latest test of cl -> city-a.
    let mut later = bw(1, "cl-1", "reverse", 900.0);
    later["start_unix_ms"] = json!(now_ms() - 500);
    let body = json!({"probe": "a-1", "results": [later]});
    let (status, _) = ctl.post_json("/v1/results", ctl.token("a-1"), &body);
    assert_eq!(status, 200);

    let (db, config) = (ctl.db.to_str().unwrap(), ctl.config.to_str().unwrap());
    let out = run(&["report", "--db", db, "--config", config, "--format", "json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tp = report["throughput"].as_array().unwrap();
    let find = |from: &str, to: &str| {
        tp.iter()
            .find(|t| t["from"] == from && t["to"] == to)
            .unwrap_or_else(|| panic!("no {from} -> {to} in {tp:?}"))
    };
    // cl -> city-a: cl-1's forward test (940) and a-1's reverse one (900).
    let up = find("cl", "city-a");
    assert_eq!(up["tests"], 2);
    assert_eq!(up["min_mbit"], 900.0);
    assert_eq!(up["max_mbit"], 940.0);
    assert_eq!(up["median_mbit"], 920.0);
    assert_eq!(find("city-a", "cl")["latest_mbit"], 310.0);
    // The slow route's path, by site, from its trace.
    let paths = report["paths"].as_array().unwrap();
    let p = paths
        .iter()
        .find(|p| p["from"] == "cl" && p["to"] == "city-b")
        .unwrap_or_else(|| panic!("no path of cl -> city-b: {paths:?}"));
    assert_eq!(p["sites"], json!(["cl", "city-a", "city-b"]));
    assert_eq!(p["reached"], true);
    let icmp = &report["icmp"][0];
    assert_eq!(icmp["from"], "cl");
    assert_eq!(icmp["to"], "city-b");
    assert_eq!(icmp["loss_pct"], 10.0);
    assert_eq!(icmp["rtt_p50_ms"], 0.9);
    // And in the metrics, by site pair.
    let (status, metrics) = ctl.http("GET", "/metrics", None, b"");
    assert_eq!(status, 200);
    for line in [
        "hubmesh_throughput_bits_per_second{from_site=\"cl\",to_site=\"city-a\",protocol=\"tcp\"} 900000000",
        "hubmesh_throughput_bits_per_second{from_site=\"city-a\",to_site=\"cl\",protocol=\"tcp\"} 310000000",
        "hubmesh_icmp_loss_ratio{from_site=\"cl\",to_site=\"city-b\"} 0.1",
        "hubmesh_icmp_rtt_seconds{from_site=\"cl\",to_site=\"city-b\",quantile=\"0.5\"} 0.0009",
    ] {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }
    let out = run(&["report", "--db", db, "--config", config, "--all"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("THROUGHPUT"), "{text}");
    assert!(text.contains("ICMP TARGETS"), "{text}");
    assert!(text.contains("cl > city-a > city-b"), "{text}");
    let out = run(&["report", "--db", db, "--config", config, "--format", "html"]);
    let html = String::from_utf8_lossy(&out.stdout);
    // The report page carries it all in its snapshot: the traced path (the
    // console draws it on the map when the route is opened) and the tests.
    let snap = snapshot_of(&html);
    let paths = snap["report"]["paths"].as_array().unwrap();
    assert!(
        paths
            .iter()
            .any(|p| p["sites"] == serde_json::json!(["cl", "city-a", "city-b"])),
        "{snap}"
    );
    let tests = snap["report"]["throughput"].as_array().unwrap();
    let latest = |from: &str, to: &str| {
        tests
            .iter()
            .find(|t| t["from"] == from && t["to"] == to)
            .map(|t| t["latest_mbit"].clone())
            .unwrap_or_else(|| panic!("no throughput {from} -> {to}: {snap}"))
    };
    assert_eq!(
        latest("cl", "city-a"),
        900.0,
        "the latest test, not the median"
    );
    assert_eq!(latest("city-a", "cl"), 310.0);
}
