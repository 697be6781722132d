//! `mesh-controller token add` and the probe calls of `serve`, against the real
//! binary on loopback: tokens, 401/403/400, idempotent ingest.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serve_common;

use serde_json::{json, Value};
use serve_common::*;

const PROBES: [(&str, &str); 3] = [("cl-1", "cl"), ("a-1", "city-a"), ("b-1", "city-b")];
const IDS: [&str; 3] = ["cl-1", "a-1", "b-1"];

fn probes_json(ctl: &Ctl) -> Value {
    ctl.get_json("/v1/probes")
}

fn windows_of(ctl: &Ctl, id: &str) -> u64 {
    let v = probes_json(ctl);
    v["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap()["windows"]
        .as_u64()
        .unwrap()
}

#[test]
fn token_add_prints_once_and_keeps_only_a_hash() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mesh.yaml");
    std::fs::write(&config, config_with(&PROBES, "")).unwrap();
    let out = run(&["token", "add", "--config", config.to_str().unwrap(), "a-1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.trim();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    let secrets = dir.path().join("secrets.yaml");
    let text = std::fs::read_to_string(&secrets).unwrap();
    assert!(!text.contains(token), "token stored in clear: {text}");
    let hash: String = mesh_controller::server::secrets::hash_token(token)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(text.contains(&hash), "{text}");
    let mode = std::fs::metadata(&secrets).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // A second probe keeps the first one's hash.
    let out = run(&["token", "add", "--config", config.to_str().unwrap(), "b-1"]);
    assert!(out.status.success());
    assert!(std::fs::read_to_string(&secrets).unwrap().contains(&hash));

    let out = run(&["token", "add", "--config", config.to_str().unwrap(), "zz-9"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown probe \"zz-9\""), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn hello_auth_and_refusals_store_nothing() {
    let ctl = Ctl::start(&config_with(&PROBES, ""), &IDS);
    let a = ctl.hello("a-1", "boot-1");
    assert_eq!(a["probe"], "a-1");
    assert_eq!(a["next_seq"], 1);
    assert_eq!(a["settings"]["interval_ms"], 100);
    assert_eq!(a["settings"]["window_s"], 10);
    assert_eq!(a["settings"]["mode"], "unauthenticated");
    let targets: Vec<&str> = a["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["probe"].as_str().unwrap())
        .collect();
    assert_eq!(targets, vec!["cl-1", "b-1"]);
    assert!(a["targets"][0]["ssid"].as_u64().unwrap() > 0);
    assert_eq!(a["targets"][0]["stamp"], "127.0.0.1:28600");

    let hello = json!({"probe": "a-1", "version": "t", "boot_id": null,
                       "clock": {"synchronized": false, "error_us": 1}});
    // Wrong token, missing token, not Bearer.
    let (status, body) = ctl.post_json("/v1/hello", "00ff", &hello);
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "unauthorized");
    assert!(body["reason"].as_str().unwrap().contains("unknown token"));
    let (status, body) = ctl.http("POST", "/v1/hello", None, hello.to_string().as_bytes());
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("missing"), "{body}");
    let (status, _) = ctl.http("GET", "/v1/targets", None, b"");
    assert_eq!(status, 401);
    // Another probe's hello with a valid token: 403.
    let (status, body) = ctl.post_json("/v1/hello", ctl.token("b-1"), &hello);
    assert_eq!(status, 403, "{body}");

    // Garbage body: 400 with a reason, nothing stored.
    let (status, text) = ctl.http("POST", "/v1/windows", Some(ctl.token("a-1")), b"{not json");
    assert_eq!(status, 400, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["error"], "bad-request");
    assert!(!v["reason"].as_str().unwrap().is_empty());
    // A batch with one good and one bad window: refused whole.
    let w = window(10, 0, 2.0, 3.0, unsync_clock());
    let mut b = batch("a-1", &[(1, "cl-1", &w), (2, "cl-1", &w)], 0);
    b["windows"][1]["window"]["rtt"] = json!("bm90IGEgaGlzdG9ncmFt");
    let (status, body) = ctl.post_json("/v1/windows", ctl.token("a-1"), &b);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["reason"].as_str().unwrap().starts_with("windows[1]"),
        "{body}"
    );
    // Counters that do not add up: refused.
    let mut b = batch("a-1", &[(1, "cl-1", &w)], 0);
    b["windows"][0]["window"]["counters"]["received"] = json!(11);
    let (status, _) = ctl.post_json("/v1/windows", ctl.token("a-1"), &b);
    assert_eq!(status, 400);
    // Posting another probe's windows: 403, nothing stored.
    let b = batch("b-1", &[(1, "cl-1", &w)], 0);
    let (status, body) = ctl.post_json("/v1/windows", ctl.token("a-1"), &b);
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "forbidden");
    for id in IDS {
        assert_eq!(windows_of(&ctl, id), 0, "{id}");
    }
    assert_eq!(db_totals(&ctl.db).0, 0);

    let (status, text) = ctl.http("GET", "/metrics", None, b"");
    assert_eq!(status, 200);
    assert!(
        text.contains("hubmesh_ingest_errors_total{reason=\"unauthorized\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("hubmesh_ingest_errors_total{reason=\"forbidden\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("hubmesh_ingest_errors_total{reason=\"bad-request\"} 3"),
        "{text}"
    );
    let (status, text) = ctl.http("GET", "/healthz", None, b"");
    assert_eq!((status, text.trim()), (200, "ok"));
}

#[test]
fn replayed_seqs_are_stored_once() {
    let ctl = Ctl::start(&config_with(&PROBES, ""), &IDS);
    ctl.hello("a-1", "boot-1");
    let w = window(100, 2, 2.0, 3.0, unsync_clock());
    let b = batch("a-1", &[(1, "cl-1", &w), (2, "b-1", &w)], 0);
    let (status, ack) = ctl.post_json("/v1/windows", ctl.token("a-1"), &b);
    assert_eq!(status, 200, "{ack}");
    assert_eq!(ack["accepted"], json!([1, 2]));
    assert_eq!(ack["duplicate"], json!([]));
    assert_eq!(ack["next_seq"], 3);
    // The same batch again, plus one new window.
    let b = batch(
        "a-1",
        &[(2, "b-1", &w), (1, "cl-1", &w), (3, "cl-1", &w)],
        0,
    );
    let (status, ack) = ctl.post_json("/v1/windows", ctl.token("a-1"), &b);
    assert_eq!(status, 200, "{ack}");
    assert_eq!(ack["accepted"], json!([3]));
    assert_eq!(ack["duplicate"], json!([2, 1]));
    assert_eq!(ack["next_seq"], 4);
    // Duplicate seq inside one batch: malformed.
    let b = batch("a-1", &[(4, "b-1", &w), (4, "cl-1", &w)], 0);
    let (status, _) = ctl.post_json("/v1/windows", ctl.token("a-1"), &b);
    assert_eq!(status, 400);

    assert_eq!(windows_of(&ctl, "a-1"), 3);
    let (raw, coarse, sent) = db_totals(&ctl.db);
    assert_eq!((raw, coarse, sent), (3, 0, 300));
    let a = ctl.hello("a-1", "boot-1");
    assert_eq!(a["next_seq"], 4);
    let p = probes_json(&ctl);
    let a1 = p["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "a-1")
        .unwrap();
    assert_eq!(a1["last_seq"], 3);
    assert_eq!(a1["boot_id"], "boot-1");
    assert!(a1["last_upload_unix_ms"].as_u64().unwrap() > 0);
    assert_eq!(a1["clock"]["error_us"], 16_000_000);
}
