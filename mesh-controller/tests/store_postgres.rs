//! The PostgreSQL backend on its own (the conformance suite holds it to
//! every behaviour SQLite has): driven through the async `Store` handle
//! (reads on `spawn_blocking`, writes on the writer thread, opened on an
//! async worker as `serve` does), an outage answered at once as
//! `Unavailable` and recovered from without a restart. Ingest throughput
//! side by side with SQLite is `scripts/bench.sh ingest`'s (direct store).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pg_server;
mod serve_common;

use mesh_controller::history::{Levels, Rollup};
use mesh_controller::server::store::postgres::Postgres;
use mesh_controller::server::store::{Connector, Medians, NewWindow, Store, StoreError};
use protocol::window::Window;
use serve_common::{now_ms, unsync_clock, window};
use std::time::{Duration, Instant};

fn varied(i: u64) -> Window {
    window(
        20 + (i % 7) as u32,
        (i % 3) as u32,
        1.0 + (i % 50) as f64 / 10.0,
        2.0 + (i % 13) as f64,
        unsync_clock(),
    )
}

/// Windows `seqs` of one session, 10 s apart, ending about now.
fn windows(seqs: std::ops::RangeInclusive<u64>, target: &str, start: u64) -> Vec<NewWindow> {
    seqs.map(|seq| {
        let w = varied(seq);
        NewWindow {
            seq,
            target: target.to_string(),
            start_ms: start + seq * 10_000,
            duration_ms: 10_000,
            ssid: Some(7),
            timestamping: Some(protocol::window::TsSource::Kernel),
            sent: w.counters.sent,
            replies: w.counters.received,
            json: serde_json::to_string(&w).unwrap(),
            pair: Some(("cl".to_string(), format!("city-{target}"))),
            rollup: Some(Rollup::of_window(&w)),
            medians: Medians::of(&w),
        }
    })
    .collect()
}

#[test]
fn the_async_store_runs_it_and_recovers_from_an_outage() {
    let Some(pg) = pg_server::PgServer::start() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let start = now_ms() - 3_600_000;
    let levels = Levels::default();
    rt.block_on(async {
        // Opened on an async worker, as `serve` opens it.
        let store = Store::start(Postgres::new(&pg.url()).unwrap()).unwrap();
        let ack = store
            .ingest("cl-1".into(), windows(1..=10, "a-1", start), levels)
            .await
            .unwrap();
        assert_eq!(ack.accepted.len(), 10);
        assert_eq!(store.read(|r| r.totals()).await.unwrap(), (10, 0));

        // Every connection cut under it (the server stays up): at most one
        // call each fails, as unavailable, and the next one reconnects.
        pg.psql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = 'hubmesh' AND pid <> pg_backend_pid()",
        )
        .unwrap();
        let first = store.read(|r| r.totals()).await;
        assert!(
            matches!(first, Ok(_) | Err(StoreError::Unavailable(_))),
            "{first:?}"
        );
        assert_eq!(store.read(|r| r.totals()).await.unwrap(), (10, 0));
        let first = store
            .ingest("cl-1".into(), windows(11..=12, "a-1", start), levels)
            .await;
        assert!(
            matches!(first, Ok(_) | Err(StoreError::Unavailable(_))),
            "{first:?}"
        );
        let ack = store
            .ingest("cl-1".into(), windows(11..=12, "a-1", start), levels)
            .await
            .unwrap();
        assert_eq!(ack.next_seq, 13);

        // The server down: every call says so at once, again and again.
        pg.stop_immediately().unwrap();
        let t = Instant::now();
        for _ in 0..3 {
            let r = store.read(|r| r.totals()).await;
            assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
            let r = store
                .ingest("cl-1".into(), windows(13..=14, "a-1", start), levels)
                .await;
            assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
            let r = store
                .write(move |w| w.record_event(&shift(start), start))
                .await;
            assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
        }
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        assert!(matches!(
            Postgres::new(&pg.url()).unwrap().reader().map(|_| ()),
            Err(StoreError::Unavailable(_))
        ));

        // Back: everything resumes by itself, and a replay of what was sent
        // before and during the outage is stored exactly once.
        pg.start_again().unwrap();
        let ack = store
            .ingest("cl-1".into(), windows(1..=14, "a-1", start), levels)
            .await
            .unwrap();
        assert_eq!((ack.accepted, ack.duplicate.len()), (vec![13, 14], 12));
        assert_eq!(store.read(|r| r.totals()).await.unwrap(), (14, 0));
        assert!(store
            .write(move |w| w.record_event(&shift(start), start))
            .await
            .unwrap()
            .is_some());
        // The last handle goes on an async worker: its connections are
        // closed elsewhere (the driver's runtime must not drop here).
        drop(store);
    });
}

fn shift(at_ms: u64) -> mesh_controller::server::store::events::NewEvent {
    use mesh_controller::server::store::events::{Detail, NewEvent};
    NewEvent {
        from: "cl".into(),
        to: "city-a".into(),
        direction: "forward".into(),
        at_ms,
        detail: Detail::LevelShift {
            before_ms: 1.0,
            after_ms: 5.0,
            basis: "one-way".into(),
        },
    }
}
