//! No result lost, none counted twice: probes upload as fast as they can, the
//! controller is SIGKILLed mid-run; everything it acknowledged is in the
//! database exactly once, and after a restart the probes replay everything
//! they made (as an agent replays its spool) and the totals come out exact.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serve_common;

use serde_json::Value;
use serve_common::*;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const PROBES: [(&str, &str); 3] = [("cl-1", "cl"), ("a-1", "city-a"), ("b-1", "city-b")];
const IDS: [&str; 3] = ["cl-1", "a-1", "b-1"];
/// Windows per upload.
const BATCH: u64 = 4;
/// Packets per window.
const SENT: u32 = 25;

/// One simulated probe: uploads batches of fresh windows until `stop`;
/// returns (every seq it made, the seqs acknowledged).
fn uploader(ctl: &Ctl, probe: &str, target: &str, stop: &AtomicBool) -> (u64, BTreeSet<u64>) {
    let w = window(SENT, 1, 3.0, 4.0, unsync_clock());
    let mut made = 0u64;
    let mut acked = BTreeSet::new();
    while !stop.load(Ordering::Relaxed) {
        let seqs: Vec<u64> = (made + 1..=made + BATCH).collect();
        made += BATCH;
        let list: Vec<(u64, &str, &protocol::window::Window)> =
            seqs.iter().map(|&s| (s, target, &w)).collect();
        let body = batch(probe, &list, 0).to_string();
        match ctl.try_http(
            "POST",
            "/v1/windows",
            Some(ctl.token(probe)),
            body.as_bytes(),
        ) {
            Ok((200, text)) => {
                let ack: Value = serde_json::from_str(&text).unwrap();
                for s in ack["accepted"].as_array().unwrap() {
                    acked.insert(s.as_u64().unwrap());
                }
            }
            Ok((status, text)) => panic!("{probe}: {status} {text}"),
            // The controller is gone: these windows stay "spooled".
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    (made, acked)
}

#[test]
fn sigkill_mid_run_loses_nothing_and_counts_nothing_twice() {
    let mut ctl = Ctl::start(&config_with(&PROBES, ""), &IDS);
    for id in IDS {
        ctl.hello(id, "boot");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let pairs = [("cl-1", "a-1"), ("a-1", "b-1"), ("b-1", "cl-1")];
    let (results, _) = std::thread::scope(|s| {
        let handles: Vec<_> = pairs
            .iter()
            .map(|&(p, t)| {
                let (ctl, stop) = (&ctl, stop.clone());
                s.spawn(move || uploader(ctl, p, t, &stop))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(1500));
        // SIGKILL while uploads are in flight.
        sigkill(&ctl);
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        let results: Vec<(u64, BTreeSet<u64>)> =
            handles.into_iter().map(|h| h.join().unwrap()).collect();
        (results, ())
    });
    ctl.kill9();

    // Before any restart: every acknowledged window is there, exactly once.
    let conn = mesh_controller::server::store::sqlite::open_reader(&ctl.db).unwrap();
    let mut acked_total = 0;
    for ((probe, _), (_, acked)) in pairs.iter().zip(&results) {
        assert!(
            !acked.is_empty(),
            "{probe} got nothing acknowledged before the kill"
        );
        acked_total += acked.len();
        let mut st = conn
            .prepare("SELECT seq, COUNT(*) FROM windows WHERE probe = ?1 GROUP BY seq")
            .unwrap();
        let stored: Vec<(u64, u64)> = st
            .query_map([probe], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(stored.iter().all(|&(_, n)| n == 1));
        let stored: BTreeSet<u64> = stored.into_iter().map(|(s, _)| s).collect();
        let missing: Vec<_> = acked.difference(&stored).collect();
        assert!(
            missing.is_empty(),
            "{probe}: acknowledged but not stored: {missing:?}"
        );
    }
    drop(conn);
    let (raw_before, _, _) = db_totals(&ctl.db);
    assert!(raw_before as usize >= acked_total);

    // Restart; each probe replays everything it made.
    ctl.spawn();
    let mut made_total = 0;
    for ((probe, target), (made, acked)) in pairs.iter().zip(&results) {
        made_total += made;
        let w = window(SENT, 1, 3.0, 4.0, unsync_clock());
        let a = ctl.hello(probe, "boot");
        assert!(a["next_seq"].as_u64().unwrap() > *acked.iter().max().unwrap());
        let mut dup = 0;
        for chunk in (1..=*made).collect::<Vec<_>>().chunks(50) {
            let list: Vec<(u64, &str, &protocol::window::Window)> =
                chunk.iter().map(|&s| (s, *target, &w)).collect();
            let (status, ack) =
                ctl.post_json("/v1/windows", ctl.token(probe), &batch(probe, &list, 0));
            assert_eq!(status, 200, "{ack}");
            dup += ack["duplicate"].as_array().unwrap().len();
        }
        assert!(
            dup >= acked.len(),
            "{probe}: replays of acknowledged windows must be duplicates"
        );
        let a = ctl.hello(probe, "boot");
        assert_eq!(a["next_seq"].as_u64(), Some(made + 1));
    }
    let (raw, coarse, sent) = db_totals(&ctl.db);
    assert_eq!(raw, made_total);
    assert_eq!(coarse, 0);
    assert_eq!(sent, made_total * u64::from(SENT));
}

/// SIGKILL of the running controller while other threads hold `&Ctl`.
fn sigkill(ctl: &Ctl) {
    let pid = ctl.pid().expect("controller running");
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
