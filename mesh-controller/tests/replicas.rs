//! Two controllers on one PostgreSQL database, one killed with SIGKILL in
//! the middle of a run: a probe uploading through both (the agent's client
//! with two URLs) loses nothing and stores nothing twice, the alert that
//! fires before the kill and resolves after it is notified exactly once each
//! way (the monitor duty moves to the survivor with its lease), and a
//! bandwidth slot is handed out once whichever controller is asked.
//!
//! Needs PostgreSQL (the Debian package): without it, says why and passes;
//! under CI it fails instead.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pg_server;
mod serve_common;
mod uploader;

use protocol::api::{BwTaskAnswer, WindowBatch, WindowUpload};
use serve_common::*;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use uploader::Uploader;

const PROBES: [(&str, &str); 2] = [("cl-1", "cl"), ("a-1", "city-a")];

fn wait(what: &str, secs: u64, ctls: &[&Ctl], mut done: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !done() {
        if t0.elapsed() > Duration::from_secs(secs) {
            let logs: Vec<String> = ctls.iter().map(|c| c.log.lock().unwrap().clone()).collect();
            panic!("timed out waiting for {what}:\n{}", logs.join("\n---\n"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn bw_task(ctl: &Ctl, probe: &str) -> BwTaskAnswer {
    let (status, body) = ctl.http("GET", "/v1/bw/task", Some(ctl.token(probe)), b"");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn a_replica_killed_mid_run_loses_nothing_and_notifies_once() {
    let Some(pg) = pg_server::PgServer::start() else {
        return;
    };
    // A slow receiver: a notification stays in flight for over a second, so
    // a second controller sending the queue would send it again.
    let receiver = Receiver::start_slow(0, Duration::from_millis(1500));
    let extra = format!(
        "history: {{fine: 10s}}\n\
         bandwidth: {{period: 12s, duration: 1s}}\n\
         alerts:\n  for: 3s\n  resolve_for: 3s\n  hysteresis_ms: 1\n  window: 10s\n  evaluate_every: 1s\n  no_data_after: 5m\n  \
         receivers:\n    - {{name: ops, url: \"{}\"}}\n",
        receiver.url()
    );
    let mut a = Ctl::start_on(&config_with(&PROBES, &extra), &["cl-1", "a-1"], &pg.url());
    let mut b = a.replica();
    a.hello("cl-1", "boot-x");
    b.hello("a-1", "boot-x");

    // A bandwidth slot is handed out once, whichever controller is asked.
    let t0 = Instant::now();
    let mut given = 0;
    while given == 0 && t0.elapsed() < Duration::from_secs(15) {
        for (p, _) in PROBES {
            if bw_task(&a, p).task.is_some() {
                given += 1;
                assert!(bw_task(&b, p).task.is_none(), "{p}: slot given twice");
                assert!(bw_task(&a, p).task.is_none(), "{p}: slot given twice");
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(given, 1, "one test per round among two probes");

    let up = Uploader::start(
        format!("{},{}", a.url(), b.url()),
        a.token("cl-1").to_string(),
    );
    std::thread::sleep(Duration::from_secs(2));
    up.set_forward(25.0);
    wait("the firing webhook", 30, &[&a, &b], || {
        !receiver.received().is_empty()
    });

    // Kill the controller holding the monitor duty (it sent the webhook)
    // while the probe keeps uploading through both: the survivor takes the
    // duty when the lease runs out and sends the resolution.
    let a_leads = a.log.lock().unwrap().contains("took the monitor duty");
    let (dead, survivor) = if a_leads { (&mut a, &b) } else { (&mut b, &a) };
    dead.kill9();
    std::thread::sleep(Duration::from_secs(2));
    up.set_forward(5.0);
    wait("the resolved webhook", 60, &[survivor], || {
        receiver.received().len() >= 2
    });
    std::thread::sleep(Duration::from_secs(4));
    let (starts, retries) = up.finish();
    let uploaded = starts.len() as u64;
    eprintln!("{uploaded} windows uploaded, {retries} uploads retried");

    // Each way exactly once, with distinct delivery ids.
    assert_eq!(
        statuses(&receiver),
        vec![
            "firing:HubmeshRouteOverBudget",
            "resolved:HubmeshRouteOverBudget"
        ]
    );
    let ids: BTreeSet<String> = receiver
        .received()
        .iter()
        .map(|r| r.headers["x-hubmesh-delivery"].clone())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(
        survivor
            .log
            .lock()
            .unwrap()
            .contains("took the monitor duty"),
        "{}",
        survivor.log.lock().unwrap()
    );

    // Every window stored once: the probe's count, and the packets merged
    // over everything stored.
    let sent = uploader::stored_once(survivor, &pg.url(), uploaded);
    // Sent again, to the survivor: every one a duplicate.
    let again = WindowBatch {
        probe: "cl-1".to_string(),
        windows: (1..=uploaded)
            .map(|seq| WindowUpload {
                seq,
                target: "a-1".to_string(),
                start_unix_ms: starts[seq as usize - 1],
                duration_ms: 150,
                window: window(100, 0, 5.0, 3.0, unsync_clock()),
                timestamping: Some(protocol::window::TsSource::Kernel),
                ssid: None,
            })
            .collect(),
    };
    let (status, ack) = survivor.post_json(
        "/v1/windows",
        survivor.token("cl-1"),
        &serde_json::to_value(&again).unwrap(),
    );
    assert_eq!(status, 200, "{ack}");
    assert_eq!(ack["duplicate"].as_array().unwrap().len() as u64, uploaded);
    assert_eq!(uploader::sent_in(&pg.url(), uploaded), sent);
}
