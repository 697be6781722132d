//! Budget alerts end to end on a real controller: a route goes over budget,
//! the alert fires after `for`, its webhook reaches a receiver that refused
//! the first attempts (retried, signed, delivered once), the controller is
//! killed with SIGKILL and restarted without forgetting or repeating it, the
//! route recovers and the alert resolves exactly once; `/v1/alerts` and
//! `/metrics` say the same along the way.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serve_common;

use hmac::{Hmac, Mac};
use serde_json::Value;
use serve_common::*;
use sha2::Sha256;
use std::time::{Duration, Instant};

const PROBES: [(&str, &str); 2] = [("cl-1", "cl"), ("a-1", "city-a")];
const SECRET: &str = "s3cret-key";

struct Mesh {
    ctl: Ctl,
    seq: u64,
}

impl Mesh {
    /// One 100-packet window cl-1 -> a-1: forward `fwd` .. fwd+1 ms.
    fn upload(&mut self, fwd: f64) {
        self.seq += 1;
        let w = window(100, 0, fwd, 3.0, unsync_clock());
        let (status, ack) = self.ctl.post_json(
            "/v1/windows",
            self.ctl.token("cl-1"),
            &batch("cl-1", &[(self.seq, "a-1", &w)], 0),
        );
        assert_eq!(status, 200, "{ack}");
    }

    /// Uploads a window every 300 ms until `done` holds (at most `secs`).
    fn feed_until(&mut self, fwd: f64, secs: u64, what: &str, mut done: impl FnMut(&Ctl) -> bool) {
        let t0 = Instant::now();
        loop {
            self.upload(fwd);
            if done(&self.ctl) {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(secs),
                "timed out waiting for {what}: {}",
                self.ctl.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

fn alerts(ctl: &Ctl, state: &str) -> Vec<Value> {
    ctl.get_json(&format!("/v1/alerts?state={state}"))["alerts"]
        .as_array()
        .unwrap()
        .clone()
}

fn over_budget_firing(ctl: &Ctl) -> Option<Value> {
    alerts(ctl, "firing")
        .into_iter()
        .find(|a| a["alertname"] == "HubmeshRouteOverBudget")
}

fn sign(body: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

#[test]
fn an_alert_fires_notifies_survives_a_kill_and_resolves_once() {
    let receiver = Receiver::start(2);
    let keys = tempfile::tempdir().unwrap();
    let secret = keys.path().join("ops.secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    let extra = format!(
        "history: {{fine: 10s}}\n\
         alerts:\n  for: 3s\n  resolve_for: 3s\n  hysteresis_ms: 1\n  window: 10s\n  evaluate_every: 1s\n  no_data_after: 5m\n  \
         receivers:\n    - {{name: ops, url: \"{}\", secret_file: \"{}\"}}\n",
        receiver.url(),
        secret.display()
    );
    let ctl = Ctl::start(&config_with(&PROBES, &extra), &["cl-1", "a-1"]);
    ctl.hello("cl-1", "boot-x");
    ctl.hello("a-1", "boot-x");
    let mut mesh = Mesh { ctl, seq: 0 };

    // Within budget: nothing fires.
    for _ in 0..5 {
        mesh.upload(5.0);
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(over_budget_firing(&mesh.ctl).is_none());

    // 25 ms forward against a 20 ms budget: pending, then firing after 3 s.
    let t_over = Instant::now();
    mesh.feed_until(25.0, 30, "the alert to fire", |c| {
        over_budget_firing(c).is_some()
    });
    let fired_after = t_over.elapsed();
    assert!(
        fired_after >= Duration::from_secs(3),
        "fired before `for`: {fired_after:?}"
    );
    let a = over_budget_firing(&mesh.ctl).unwrap();
    assert_eq!(
        (a["from"].as_str(), a["to"].as_str()),
        (Some("cl"), Some("city-a"))
    );
    assert_eq!(a["direction"], "forward");
    assert_eq!(a["severity"], "critical");
    assert!(
        a["value"].as_f64().unwrap() > 20.0 && a["threshold"] == 20.0,
        "{a}"
    );
    let fired_at = a["fired_at"].clone();

    // The receiver refused twice; the third attempt lands, signed.
    mesh.feed_until(25.0, 30, "the firing webhook", |_| {
        !receiver.received().is_empty()
    });
    assert_eq!(*receiver.refused.lock().unwrap(), 2);
    let got = receiver.received();
    let hook = &got[0];
    assert_eq!(hook.path, "/hook");
    assert_eq!(
        hook.headers.get("x-hubmesh-signature"),
        Some(&sign(&hook.body))
    );
    assert!(hook.headers.contains_key("x-hubmesh-delivery"));
    let v: Value = serde_json::from_str(&hook.body).unwrap();
    assert_eq!(v["version"], "4");
    assert_eq!(v["status"], "firing");
    assert_eq!(v["receiver"], "ops");
    assert_eq!(v["groupLabels"]["alertname"], "HubmeshRouteOverBudget");
    let alert = &v["alerts"][0];
    assert_eq!(alert["labels"]["rule"], a["rule"]);
    assert_eq!(alert["fingerprint"], a["fingerprint"]);
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    assert!(alert["annotations"]["summary"]
        .as_str()
        .unwrap()
        .contains("over its 20 ms budget"));

    // /metrics carries the firing gauge and the route over budget.
    let (_, metrics) = mesh.ctl.http("GET", "/metrics", None, b"");
    assert!(
        metrics.contains("hubmesh_alert_firing{alertname=\"HubmeshRouteOverBudget\",from=\"cl\",to=\"city-a\",direction=\"forward\""),
        "{metrics}"
    );
    assert!(
        metrics.contains("hubmesh_route_over_budget{from_site=\"cl\",to_site=\"city-a\""),
        "{metrics}"
    );
    assert!(metrics
        .contains("hubmesh_webhook_deliveries_total{receiver=\"ops\",outcome=\"delivered\"} 1"));

    // SIGKILL and restart: still firing, from the same moment, not re-sent.
    mesh.ctl.kill9();
    mesh.ctl.spawn();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(4) {
        mesh.upload(25.0);
        std::thread::sleep(Duration::from_millis(300));
    }
    let again = over_budget_firing(&mesh.ctl).expect("still firing after the restart");
    assert_eq!(again["fired_at"], fired_at);
    assert_eq!(statuses(&receiver), vec!["firing:HubmeshRouteOverBudget"]);

    // Back within budget: resolves once the over-budget windows left the
    // look-back and 3 s passed under budget minus the hysteresis.
    mesh.feed_until(5.0, 60, "the resolved webhook", |_| {
        receiver.received().len() >= 2
    });
    assert!(over_budget_firing(&mesh.ctl).is_none());
    let resolved = alerts(&mesh.ctl, "resolved");
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert_eq!(resolved[0]["fired_at"], fired_at);
    let v: Value = serde_json::from_str(&receiver.received()[1].body).unwrap();
    assert_eq!(v["status"], "resolved");
    assert_ne!(v["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    for _ in 0..10 {
        mesh.upload(5.0);
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(
        statuses(&receiver),
        vec![
            "firing:HubmeshRouteOverBudget",
            "resolved:HubmeshRouteOverBudget"
        ],
        "each exactly once"
    );
    let (_, metrics) = mesh.ctl.http("GET", "/metrics", None, b"");
    assert!(!metrics.contains("hubmesh_alert_firing{"), "{metrics}");
}

#[test]
fn bad_alert_queries_are_refused() {
    let ctl = Ctl::start(&config_with(&PROBES, ""), &["cl-1"]);
    for q in ["state=burning", "since=forever", "colour=red"] {
        let (status, body) = ctl.http("GET", &format!("/v1/alerts?{q}"), None, b"");
        assert_eq!(status, 400, "{q}: {body}");
    }
    assert!(alerts(&ctl, "all").is_empty());
}
