//! What `serve` makes of uploaded windows: `/v1/routes` in `plan`'s JSON with
//! measured values (one-way on a shared clock, RTT/2 across unsynchronized
//! clocks), `/metrics` as Prometheus text labelled by site, and target lists
//! that follow a configuration change without a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serve_common;

use serde_json::Value;
use serve_common::*;
use std::collections::{BTreeMap, BTreeSet};

const PROBES: [(&str, &str); 3] = [("cl-1", "cl"), ("a-1", "city-a"), ("b-1", "city-b")];
const IDS: [&str; 3] = ["cl-1", "a-1", "b-1"];

fn upload(ctl: &Ctl, probe: &str, windows: &[(u64, &str, &protocol::window::Window)]) {
    let (status, ack) = ctl.post_json("/v1/windows", ctl.token(probe), &batch(probe, windows, 0));
    assert_eq!(status, 200, "{ack}");
    assert_eq!(ack["accepted"].as_array().unwrap().len(), windows.len());
}

fn route<'a>(table: &'a Value, from: &str, to: &str) -> &'a Value {
    table["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["from"] == from && r["to"] == to)
        .unwrap_or_else(|| panic!("no route {from} -> {to} in {table}"))
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn routes_use_one_way_on_a_shared_clock_and_rtt_half_otherwise() {
    let mut probes = PROBES.to_vec();
    probes.push(("a-2", "city-a"));
    let ctl = Ctl::start(&config_with(&probes, ""), &["cl-1", "a-1", "b-1", "a-2"]);
    // cl-1 and a-1 are namespaces of one machine; b-1 is elsewhere.
    ctl.hello("cl-1", "boot-x");
    ctl.hello("a-1", "boot-x");
    ctl.hello("b-1", "boot-y");
    let clock = unsync_clock();
    // cl-1 -> a-1: forward 2..3 ms, reverse 3..4 ms, two windows.
    let w1 = window(100, 0, 2.0, 3.0, clock);
    upload(&ctl, "cl-1", &[(1, "a-1", &w1), (2, "a-1", &w1)]);
    // a-1 -> b-1 across two unsynchronized clocks: one-way figures unusable.
    let w2 = window(100, 5, 20.0, 1.0, clock);
    upload(&ctl, "a-1", &[(1, "b-1", &w2)]);

    let table = ctl.get_json("/v1/routes");
    // Same shape as `plan --format json`.
    let dir = tempfile::tempdir().unwrap();
    let topo_file = dir.path().join("t.yaml");
    let topo_text: String = TOPOLOGY
        .lines()
        .skip(1)
        .map(|l| format!("{}\n", l.strip_prefix("  ").unwrap_or(l)))
        .collect();
    std::fs::write(&topo_file, topo_text).unwrap();
    let plan = run(&[
        "plan",
        "--topology",
        topo_file.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(plan.status.code() == Some(0) || plan.status.code() == Some(1));
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(keys(&table), keys(&plan));
    assert_eq!(keys(&table["summary"]), keys(&plan["summary"]));
    let typed: topology::analysis::RouteTable = serde_json::from_value(table.clone()).unwrap();
    assert_eq!(typed.summary.routes, typed.routes.len());

    let r = route(&table, "cl", "city-a");
    let plan_keys = keys(&plan["routes"][0]);
    assert!(keys(r).is_superset(&plan_keys), "{r}");
    assert_eq!(r["basis"], "one-way");
    // A shared clock has no offset (0 exactly); what is left of the band is
    // the histogram bucket the p99 was read from (2 us wide at 3 ms). It
    // used to be reported as no error at all.
    assert_eq!(r["clock"]["source"], "same-clock", "{r}");
    assert!(
        r["error_ms"].as_f64().is_some_and(|e| e <= 0.002),
        "shared clock: only the histogram's resolution: {r}"
    );
    let v = r["one_way_ms"].as_f64().unwrap();
    assert!((v - 2.98).abs() < 0.02, "p99 of forward 2..3 ms: {v}");
    assert_eq!(r["verdict"], "ok");
    assert_eq!(r["path"], serde_json::json!([]));
    // The reverse direction comes from the same session's reverse histogram.
    let r = route(&table, "city-a", "cl");
    assert_eq!(r["basis"], "one-way");
    let v = r["one_way_ms"].as_f64().unwrap();
    assert!((v - 3.98).abs() < 0.02, "p99 of reverse 3..4 ms: {v}");

    // Two cities: no budget rule, listed because measured; RTT/2.
    let r = route(&table, "city-a", "city-b");
    assert_eq!(r["basis"], "rtt-half");
    assert_eq!(r["budget_ms"], Value::Null);
    let v = r["one_way_ms"].as_f64().unwrap();
    // RTT 21..23 ms over 95 replies, p50 ~ 22 ms; p50 is used without a rule.
    assert!((v - 11.0).abs() < 0.1, "{v}");
    let r = route(&table, "city-b", "city-a");
    assert_eq!(r["basis"], "rtt-half");
    // Unmeasured but covered: no data.
    let r = route(&table, "cl", "city-b");
    assert_eq!(r["verdict"], "no-data");
    assert_eq!(r["one_way_ms"], Value::Null);

    let measured = ctl.get_json("/v1/routes?measured=true");
    assert_eq!(measured["routes"].as_array().unwrap().len(), 4);
    let (status, body) = ctl.http("GET", "/v1/routes?since=forever", None, b"");
    assert_eq!(status, 400, "{body}");
    // Windows older than `since` are left out.
    let none = ctl.get_json("/v1/routes?since=1ms&measured=true");
    assert!(none["routes"].as_array().unwrap().is_empty(), "{none}");

    // Metrics: Prometheus text, per site pair, never per probe.
    let (status, text) = ctl.http("GET", "/metrics", None, b"");
    assert_eq!(status, 200);
    let samples = parse_prometheus(&text);
    assert!(samples.iter().all(|s| !s.labels.contains_key("probe")));
    let find = |name: &str, from: &str, to: &str, extra: (&str, &str)| {
        samples
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.get("from_site").map(String::as_str) == Some(from)
                    && s.labels.get("to_site").map(String::as_str) == Some(to)
                    && s.labels.get(extra.0).map(String::as_str) == Some(extra.1)
            })
            .map(|s| s.value)
            .unwrap_or_else(|| panic!("no {name} {from}->{to} {extra:?} in\n{text}"))
    };
    let v = find(
        "hubmesh_one_way_delay_seconds",
        "cl",
        "city-a",
        ("quantile", "0.5"),
    );
    assert!((v - 0.0025).abs() < 0.0001, "{v}");
    let v = find(
        "hubmesh_rtt_seconds",
        "city-a",
        "city-b",
        ("quantile", "0.99"),
    );
    assert!((v - 0.0229).abs() < 0.0002, "{v}");
    let v = find(
        "hubmesh_loss_ratio",
        "city-a",
        "city-b",
        ("direction", "round-trip"),
    );
    assert!((v - 0.05).abs() < 1e-9, "{v}");
    assert_eq!(
        find("hubmesh_route_verdict", "cl", "city-a", ("verdict", "ok")),
        1.0
    );
    // One kernel clock: the offset is 0 exactly, no contradiction.
    for name in [
        "hubmesh_clock_offset_lower_seconds",
        "hubmesh_clock_offset_upper_seconds",
        "hubmesh_clock_contradiction",
    ] {
        let v = samples
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.get("from_site").map(String::as_str) == Some("cl")
                    && s.labels.get("to_site").map(String::as_str) == Some("city-a")
            })
            .map(|s| s.value);
        assert_eq!(v, Some(0.0), "{name} in\n{text}");
    }
    // No one-way figure across unsynchronized clocks.
    assert!(!samples
        .iter()
        .any(|s| s.name == "hubmesh_one_way_delay_seconds"
            && s.labels.get("from_site").map(String::as_str) == Some("city-a")
            && s.labels.get("to_site").map(String::as_str) == Some("city-b")));
    let ingested = samples
        .iter()
        .find(|s| s.name == "hubmesh_windows_ingested_total")
        .unwrap();
    assert_eq!(ingested.value, 3.0);

    // A second probe at city-a measuring cl-1: its reverse direction
    // (cl -> city-a, 12..13 ms) merges with a-1's sessions at the same endpoints.
    ctl.hello("a-2", "boot-x");
    let w3 = window(100, 0, 10.0, 12.0, clock);
    upload(&ctl, "a-2", &[(1, "cl-1", &w3)]);
    let table = ctl.get_json("/v1/routes");
    let r = route(&table, "cl", "city-a");
    let v = r["one_way_ms"].as_f64().unwrap();
    assert!((v - 12.98).abs() < 0.02, "p99 over 300 merged delays: {v}");
    let r = route(&table, "city-a", "cl");
    let v = r["one_way_ms"].as_f64().unwrap();
    assert!((v - 10.98).abs() < 0.02, "{v}");
    assert_eq!(r["basis"], "one-way");
}

#[test]
fn target_list_follows_a_config_change() {
    let mut ctl = Ctl::start(&config_with(&PROBES, ""), &IDS);
    let a = ctl.hello("a-1", "boot-1");
    let generation = a["generation"].as_u64().unwrap();
    let path = format!("/v1/targets?generation={generation}");
    let (status, body) = ctl.http("GET", &path, Some(ctl.token("a-1")), b"");
    assert_eq!(status, 304, "{body}");
    let (status, _) = ctl.http(
        "GET",
        "/v1/targets?generation=x",
        Some(ctl.token("a-1")),
        b"",
    );
    assert_eq!(status, 400);

    // A new probe at city-a, hierarchical mode with one representative per
    // site: a-1 keeps the other sites, a-2 measures only a-1.
    let mut probes = PROBES.to_vec();
    probes.push(("a-2", "city-a"));
    let text = config_with(
        &probes,
        "targets: {mode: hierarchical, representatives: 1}\n",
    );
    std::fs::write(&ctl.config, text).unwrap();
    let mut next = Value::Null;
    ctl.wait_for("the new target list", || {
        let (status, body) = ctl.http("GET", &path, Some(ctl.token("a-1")), b"");
        if status == 200 {
            next = serde_json::from_str(&body).unwrap();
        }
        status == 200
    });
    let targets: Vec<&str> = next["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["probe"].as_str().unwrap())
        .collect();
    assert_eq!(targets, vec!["cl-1", "b-1", "a-2"]);
    let g2 = next["generation"].as_u64().unwrap();
    assert_ne!(g2, generation);
    let (status, _) = ctl.http(
        "GET",
        &format!("/v1/targets?generation={g2}"),
        Some(ctl.token("a-1")),
        b"",
    );
    assert_eq!(status, 304);
    // The new probe gets a token without a restart (secrets reloaded too).
    let t = ctl.token_add("a-2");
    ctl.tokens.insert("a-2".to_string(), t);
    ctl.wait_for("the new token", || {
        ctl.http("GET", "/v1/targets", Some(ctl.token("a-2")), b"")
            .0
            == 200
    });
    let a2 = ctl.hello("a-2", "boot-1");
    assert_eq!(a2["targets"].as_array().unwrap().len(), 1);

    // A broken edit is refused and the running configuration kept.
    std::fs::write(&ctl.config, "probes: [").unwrap();
    ctl.wait_for("the refused reload", || {
        ctl.log
            .lock()
            .unwrap()
            .contains("keeping the running configuration")
    });
    let (status, _) = ctl.http(
        "GET",
        &format!("/v1/targets?generation={g2}"),
        Some(ctl.token("a-1")),
        b"",
    );
    assert_eq!(status, 304);
    ctl.kill9();
}

struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A strict reader of the Prometheus text format: every line is a comment
/// (`# HELP name text` / `# TYPE name kind`, TYPE before the samples) or
/// `name{label="value",...} number`.
fn parse_prometheus(text: &str) -> Vec<Sample> {
    let mut typed: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().unwrap();
            let name = parts.next().unwrap();
            assert!(valid_name(name), "{line}");
            if kind == "TYPE" {
                let t = parts.next().unwrap();
                assert!(["gauge", "counter", "summary", "histogram", "untyped"].contains(&t));
                typed.insert(name.to_string());
            } else {
                assert_eq!(kind, "HELP", "{line}");
            }
            continue;
        }
        assert!(!line.is_empty(), "blank line in exposition");
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.strip_suffix('}').expect("closing brace")),
            None => (series, ""),
        };
        assert!(valid_name(name), "{line}");
        assert!(typed.contains(name), "sample before its TYPE: {line}");
        let mut map = BTreeMap::new();
        let mut rest = labels;
        while !rest.is_empty() {
            let (k, v) = rest
                .split_once("=\"")
                .unwrap_or_else(|| panic!("label in {line}"));
            assert!(valid_name(k), "{line}");
            let end = v.find('"').unwrap();
            map.insert(k.to_string(), v[..end].to_string());
            rest = v[end + 1..].strip_prefix(',').unwrap_or(&v[end + 1..]);
        }
        out.push(Sample {
            name: name.to_string(),
            labels: map,
            value,
        });
    }
    out
}

#[test]
fn sighup_reloads_without_a_file_time_change() {
    let ctl = Ctl::start(&config_with(&PROBES, ""), &IDS);
    let a = ctl.hello("a-1", "boot-1");
    let path = format!("/v1/targets?generation={}", a["generation"]);
    // Drop b-1 but keep the file's modification time: polling sees nothing.
    let old = std::fs::metadata(&ctl.config).unwrap().modified().unwrap();
    std::fs::write(&ctl.config, config_with(&PROBES[..2], "")).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&ctl.config)
        .unwrap()
        .set_modified(old)
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1200));
    assert_eq!(ctl.http("GET", &path, Some(ctl.token("a-1")), b"").0, 304);
    let pid = ctl.pid().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    ctl.wait_for("the SIGHUP reload", || {
        ctl.http("GET", &path, Some(ctl.token("a-1")), b"").0 == 200
    });
    let (_, body) = ctl.http("GET", &path, Some(ctl.token("a-1")), b"");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["targets"].as_array().unwrap().len(), 1);
    assert!(ctl.log.lock().unwrap().contains("(SIGHUP)"));
}
