//! The store under `serve`: retention merges old windows into coarse ones
//! without changing any merged total or histogram, replays of merged windows
//! stay duplicates, and a database from an older schema is migrated on open.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serve_common;

use mesh_controller::server::config::Retention;
use mesh_controller::server::store::sqlite::{self as store, migrations, Db};
use mesh_controller::server::store::NewWindow;
use serve_common::{now_ms, unsync_clock, window};
use std::time::Duration;

const HOUR: u64 = 3_600_000;

fn new_window(seq: u64, target: &str, start_ms: u64, w: &protocol::window::Window) -> NewWindow {
    NewWindow {
        seq,
        target: target.to_string(),
        start_ms,
        duration_ms: 10_000,
        ssid: Some(7),
        timestamping: Some(protocol::window::TsSource::Kernel),
        sent: w.counters.sent,
        replies: w.counters.received,
        json: serde_json::to_string(w).unwrap(),
        pair: None,
        rollup: None,
        medians: Default::default(),
    }
}

#[test]
fn retention_merges_exactly_and_remembers_merged_seqs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let mut db = Db::open(&path).unwrap();
    let now = now_ms();
    // Three hours of windows, 30 s apart, varied so histograms differ.
    let mut windows = Vec::new();
    for i in 0..360u64 {
        let w = window(
            20 + (i % 7) as u32,
            (i % 3) as u32,
            1.0 + (i % 50) as f64 / 10.0,
            2.0 + (i % 13) as f64,
            unsync_clock(),
        );
        let target = if i % 2 == 0 { "b-1" } else { "c-1" };
        windows.push(new_window(i + 1, target, now - 3 * HOUR + i * 30_000, &w));
    }
    let ack = db.ingest("a-1", &windows, now).unwrap();
    assert_eq!(ack.accepted.len(), 360);
    let before = store::merged_since(db.conn(), 0).unwrap();

    let r = Retention {
        raw: Duration::from_secs(3600),
        coarse: Duration::from_secs(30 * 86400),
        coarse_window: Duration::from_secs(300),
    };
    let stats = db.retain(now, &r).unwrap();
    // Two hours of windows merged (240), in 5-minute buckets per target.
    assert_eq!(stats.merged, 240);
    assert!(
        stats.coarse_rows >= 48 && stats.coarse_rows <= 50,
        "{stats:?}"
    );
    let (raw, coarse) = store::totals(db.conn()).unwrap();
    assert_eq!((raw, coarse), (120, 240));
    let after = store::merged_since(db.conn(), 0).unwrap();
    assert_eq!(after.len(), before.len());
    for (k, b) in &before {
        let a = &after[k];
        assert_eq!(a.windows, b.windows, "{k:?}");
        assert_eq!(a.window.counters, b.window.counters, "{k:?}");
        // Histograms merge exactly: every bucket count is the same.
        assert_eq!(a.window, b.window, "{k:?}");
    }

    // A replay of a merged seq stays a duplicate; a late window older than
    // the raw horizon is taken and merged into its bucket on the next pass.
    let w = window(10, 0, 1.0, 1.0, unsync_clock());
    let ack = db
        .ingest(
            "a-1",
            &[
                new_window(5, "b-1", now - 3 * HOUR, &w),
                new_window(5000, "b-1", now - 3 * HOUR, &w),
            ],
            now,
        )
        .unwrap();
    assert_eq!(ack.duplicate, vec![5]);
    assert_eq!(ack.accepted, vec![5000]);
    assert_eq!(ack.next_seq, 5001);
    let stats = db.retain(now, &r).unwrap();
    assert_eq!((stats.merged, stats.coarse_rows), (1, 1));
    let (raw, coarse) = store::totals(db.conn()).unwrap();
    assert_eq!((raw, coarse), (120, 241));
    let sent: u64 = store::merged_since(db.conn(), 0)
        .unwrap()
        .values()
        .map(|m| m.window.counters.sent)
        .sum();
    let expect: u64 = windows.iter().map(|w| w.sent).sum::<u64>() + 10;
    assert_eq!(sent, expect);

    // Coarse rows past their retention are dropped.
    let short = Retention {
        coarse: Duration::from_secs(2 * 3600),
        ..r
    };
    let stats = db.retain(now, &short).unwrap();
    assert!(stats.dropped > 0);
    let (_, coarse) = store::totals(db.conn()).unwrap();
    assert!(coarse < 241 && coarse > 0, "{coarse}");
}

#[test]
fn an_old_database_is_migrated_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        // A database as the first schema left it, with a window in it.
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        migrations::migrate_to(&mut conn, 1, 1).unwrap();
        assert_eq!(migrations::current(&conn).unwrap(), 1);
        let w = window(10, 0, 1.0, 2.0, unsync_clock());
        conn.execute(
            "INSERT INTO windows (probe, seq, target, start_ms, duration_ms, received_ms, sent, replies, window)
             VALUES ('a-1', 1, 'b-1', ?1, 10000, ?1, 10, 10, ?2)",
            rusqlite::params![now_ms() as i64, serde_json::to_string(&w).unwrap()],
        )
        .unwrap();
        conn.execute("INSERT INTO probes (id, last_seq) VALUES ('a-1', 1)", [])
            .unwrap();
        assert!(conn.prepare("SELECT 1 FROM coarse_windows").is_err());
    }
    let mut db = Db::open(&path).unwrap();
    assert_eq!(
        migrations::current(db.conn()).unwrap(),
        migrations::latest()
    );
    let applied = migrations::applied(db.conn()).unwrap();
    assert_eq!(
        applied.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
        (1..=migrations::latest()).collect::<Vec<_>>()
    );
    assert_eq!(store::totals(db.conn()).unwrap(), (1, 0));
    assert_eq!(store::next_seq(db.conn(), "a-1").unwrap(), 2);
    // The new tables work.
    let r = Retention {
        raw: Duration::from_secs(1),
        ..Retention::default()
    };
    let stats = db.retain(now_ms() + 10_000, &r).unwrap();
    assert_eq!(stats.merged, 1);
    drop(db);

    // A database from a newer build is refused, not damaged.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = Db::open(&path).unwrap_err().to_string();
    assert!(err.contains("newer"), "{err}");
}

/// A database from before rollups (schema 4) is rolled up when `serve` starts
/// on it: its windows show in the route table, `report --db` refuses it
/// until then.
#[test]
fn a_database_from_before_rollups_is_rolled_up_on_start() {
    use serve_common::{config_with, Ctl};
    let mut ctl = Ctl::start(
        &config_with(&[("cl-1", "cl"), ("a-1", "city-a")], ""),
        &["cl-1", "a-1"],
    );
    ctl.kill9();
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", ctl.db.display()));
    }
    let now = now_ms();
    {
        let mut conn = rusqlite::Connection::open(&ctl.db).unwrap();
        migrations::migrate_to(&mut conn, 4, now as i64).unwrap();
        let w = window(100, 0, 2.0, 3.0, unsync_clock());
        for seq in 1..=3u64 {
            conn.execute(
                "INSERT INTO windows (probe, seq, target, start_ms, duration_ms, received_ms, sent, replies, window)
                 VALUES ('cl-1', ?1, 'a-1', ?2, 10000, ?2, 100, 100, ?3)",
                rusqlite::params![seq as i64, (now - 60_000 + seq * 1000) as i64, serde_json::to_string(&w).unwrap()],
            )
            .unwrap();
        }
    }
    let (db, config) = (
        ctl.db.to_str().unwrap().to_string(),
        ctl.config.to_str().unwrap().to_string(),
    );
    let out = serve_common::run(&["report", "--db", &db, "--config", &config]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("run `mesh-controller serve` on it once"));
    ctl.spawn();
    assert!(
        ctl.log.lock().unwrap().contains("rolled up 3 raw windows"),
        "{}",
        ctl.log.lock().unwrap()
    );
    let routes = ctl.get_json("/v1/routes?measured=true");
    let r = routes["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["from"] == "cl" && r["to"] == "city-a")
        .unwrap_or_else(|| panic!("{routes}"))
        .clone();
    // No hello recorded boot ids, and the clocks say unsynchronized: RTT/2,
    // the p99 of 5 .. 7 ms round trips halved.
    assert_eq!(r["basis"], "rtt-half", "{r}");
    assert!(
        (r["one_way_ms"].as_f64().unwrap() - 3.48).abs() < 0.05,
        "{r}"
    );
    // Once only: a restart rolls up nothing more.
    ctl.kill9();
    ctl.spawn();
    assert_eq!(ctl.log.lock().unwrap().matches("rolled up").count(), 1);
    let out = serve_common::run(&[
        "report", "--db", &db, "--config", &config, "--format", "json",
    ]);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
