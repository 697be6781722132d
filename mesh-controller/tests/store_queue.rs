//! The async store's write queue: while the writer is held up, an upload
//! that would take the windows waiting past `MAX_QUEUED_WINDOWS` is refused
//! at once as busy (the API's 503), not queued behind minutes of work; what
//! was queued before is written once the writer is free, and the queue takes
//! uploads again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mesh_controller::history::Levels;
use mesh_controller::server::store::sqlite::Sqlite;
use mesh_controller::server::store::{NewWindow, Store, StoreError, MAX_QUEUED_WINDOWS};
use std::time::{Duration, Instant};

/// A window as small as the store takes: its JSON is not read on ingest.
fn tiny(seq: u64, start_ms: u64) -> NewWindow {
    NewWindow {
        seq,
        target: "b-1".to_string(),
        start_ms,
        duration_ms: 10_000,
        ssid: Some(7),
        timestamping: None,
        sent: 1,
        replies: 1,
        json: "{}".to_string(),
        pair: None,
        rollup: None,
        medians: Default::default(),
    }
}

#[test]
fn a_full_write_queue_refuses_at_once_and_drains() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        - 3_600_000;
    let levels = Levels::default();
    rt.block_on(async {
        let store = Store::start(Sqlite::new(&dir.path().join("q.db"))).unwrap();
        // Hold the writer until told.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let hold = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .write(move |_| {
                        let _ = held.recv_timeout(Duration::from_secs(30));
                        Ok(())
                    })
                    .await
            }
        });
        // One window waits behind it.
        let first = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .ingest("a-1".into(), vec![tiny(1, start)], levels)
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!first.is_finished(), "the writer is held");

        // Filling the queue past its bound is refused at once.
        let many: Vec<NewWindow> = (2..=MAX_QUEUED_WINDOWS as u64 + 1)
            .map(|s| tiny(s, start + s))
            .collect();
        let t = Instant::now();
        let refused = store.ingest("a-1".into(), many, levels).await;
        assert!(
            matches!(refused, Err(StoreError::Busy(_))),
            "{:?}",
            refused.map(|a| a.accepted.len())
        );
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
        // Within the bound, an upload queues.
        let second = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .ingest("a-1".into(), vec![tiny(2, start + 2)], levels)
                    .await
            }
        });

        release.send(()).unwrap();
        hold.await.unwrap().unwrap();
        assert_eq!(first.await.unwrap().unwrap().accepted, vec![1]);
        assert_eq!(second.await.unwrap().unwrap().accepted, vec![2]);
        // Nothing of the refused upload was written; the queue takes more.
        assert_eq!(store.read(|r| r.totals()).await.unwrap(), (2, 0));
        let ack = store
            .ingest("a-1".into(), vec![tiny(3, start + 3)], levels)
            .await
            .unwrap();
        assert_eq!(ack.accepted, vec![3]);
    });
}
