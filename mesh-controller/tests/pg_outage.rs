//! A PostgreSQL outage under a running controller: while the database is
//! down the controller answers 503 (with Retry-After) and its health check
//! fails, the probe keeps its windows and sends them again; when the
//! database is back, ingest resumes by itself and every window is stored
//! exactly once.
//!
//! Needs PostgreSQL (the Debian package): without it, says why and passes;
//! under CI it fails instead.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pg_server;
mod serve_common;
mod uploader;

use serve_common::*;
use std::time::{Duration, Instant};
use uploader::Uploader;

const PROBES: [(&str, &str); 2] = [("cl-1", "cl"), ("a-1", "city-a")];

fn wait(what: &str, secs: u64, ctl: &Ctl, mut done: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !done() {
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}: {}",
            ctl.log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn ingest_resumes_by_itself_after_a_database_outage() {
    let Some(pg) = pg_server::PgServer::start() else {
        return;
    };
    let ctl = Ctl::start_on(&config_with(&PROBES, ""), &["cl-1", "a-1"], &pg.url());
    ctl.hello("cl-1", "boot-x");
    let up = Uploader::start(ctl.url(), ctl.token("cl-1").to_string());
    std::thread::sleep(Duration::from_secs(2));

    pg.stop_immediately().unwrap();
    wait("the health check to fail", 15, &ctl, || {
        ctl.http("GET", "/healthz", None, b"").0 == 503
    });
    let w = window(100, 0, 5.0, 3.0, unsync_clock());
    let (status, answer) = ctl.post_json(
        "/v1/windows",
        ctl.token("cl-1"),
        &batch("cl-1", &[(1_000_000, "a-1", &w)], 0),
    );
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["error"], "unavailable", "{answer}");
    std::thread::sleep(Duration::from_secs(3));

    pg.start_again().unwrap();
    wait("the health check to pass", 30, &ctl, || {
        ctl.http("GET", "/healthz", None, b"").0 == 200
    });
    std::thread::sleep(Duration::from_secs(2));
    let (starts, retries) = up.finish();
    let uploaded = starts.len() as u64;
    assert!(retries > 0, "the outage was not seen");

    uploader::stored_once(&ctl, &pg.url(), uploaded);
}
