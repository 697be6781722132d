//! A probe uploading windows through the client an agent uses, for the
//! replica and outage tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use crate::serve_common::{now_ms, unsync_clock, window};
use protocol::api::{WindowBatch, WindowUpload};
use protocol::client::Client;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A probe uploading one window every 150 ms through the client an agent
/// uses, given both controllers; a batch that fails is sent again (same
/// seq) until acknowledged, as the agent's spool does.
pub struct Uploader {
    forward_ms: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<(Vec<u64>, u64)>>,
}

impl Uploader {
    pub fn start(urls: String, token: String) -> Uploader {
        let forward_ms = Arc::new(AtomicU64::new(5.0f64.to_bits()));
        let stop = Arc::new(AtomicBool::new(false));
        let (fwd, halt) = (forward_ms.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let client = Client::new(&urls, token)
                    .unwrap()
                    .with_timeout(Duration::from_secs(5));
                let (mut seq, mut retries, mut starts) = (0u64, 0u64, Vec::new());
                let t0 = Instant::now();
                while !halt.load(Ordering::Relaxed) && t0.elapsed() < Duration::from_secs(240) {
                    seq += 1;
                    let f = f64::from_bits(fwd.load(Ordering::Relaxed));
                    starts.push(now_ms());
                    let batch = WindowBatch {
                        probe: "cl-1".to_string(),
                        windows: vec![WindowUpload {
                            seq,
                            target: "a-1".to_string(),
                            start_unix_ms: starts[starts.len() - 1],
                            duration_ms: 150,
                            window: window(100, 0, f, 3.0, unsync_clock()),
                            timestamping: Some(protocol::window::TsSource::Kernel),
                            ssid: None,
                        }],
                    };
                    loop {
                        match client.upload(&batch).await {
                            Ok(ack) => {
                                assert!(ack.accepted == vec![seq] || ack.duplicate == vec![seq]);
                                break;
                            }
                            Err(e) if e.is_retryable() => {
                                retries += 1;
                                assert!(retries < 200, "retrying for ever: {e}");
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                            Err(e) => panic!("upload {seq}: {e}"),
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(150)).await;
                }
                (starts, retries)
            })
        });
        Uploader {
            forward_ms,
            stop,
            thread: Some(thread),
        }
    }

    pub fn set_forward(&self, ms: f64) {
        self.forward_ms.store(ms.to_bits(), Ordering::Relaxed);
    }

    /// Stops; (the start of each window acknowledged, by seq from 1;
    /// retried uploads).
    pub fn finish(mut self) -> (Vec<u64>, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

/// Checks every window the uploader's probe (cl-1) had acknowledged is
/// stored exactly once: the probe's window count as `ctl` answers it, and
/// the packets merged over everything in the database at `db`. Returns
/// the packets merged.
pub fn stored_once(ctl: &crate::serve_common::Ctl, db: &str, uploaded: u64) -> u64 {
    let probes = ctl.get_json("/v1/probes");
    let row = probes["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "cl-1")
        .unwrap()
        .clone();
    assert_eq!(row["windows"], uploaded, "{row}");
    sent_in(db, uploaded)
}

/// The packets merged over every window stored at `db`, which must be
/// 100 a window.
pub fn sent_in(db: &str, uploaded: u64) -> u64 {
    let store = mesh_controller::server::store::open_for_reports(std::path::Path::new(db)).unwrap();
    let sent: u64 = store
        .merged_since(0)
        .unwrap()
        .values()
        .map(|m| m.window.counters.sent)
        .sum();
    assert_eq!(sent, uploaded * 100);
    sent
}
