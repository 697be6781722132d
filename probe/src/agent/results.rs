//! Results other than STAMP windows (bandwidth tests, pings, traces) on their
//! way to the controller: a [`Spool`] of their own (`SPOOL/results/`, its own
//! sequence numbers, fsynced before any upload), uploaded in order through
//! `POST /v1/results` and deleted only once acknowledged, by the same
//! `Outbox` as windows; a result refused as malformed is moved aside.

use super::log::log;
use super::outbox::Outbox;
use super::spool::Spool;
use super::AgentError;
use protocol::api::{ResultBody, ResultUpload};
use protocol::client::{Client, ClientError};
use serde::Serialize;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// Results per upload call.
const BATCH: usize = 100;

/// What happened to results, for the agent's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ResultCounts {
    pub spooled: u64,
    pub acknowledged: u64,
    pub rejected: u64,
    /// Dropped because the spool was full, or lost to a disk error.
    pub dropped: u64,
}

/// The results spool and its counters.
#[derive(Debug)]
pub struct Results {
    spool: Spool,
    pub counts: ResultCounts,
    full_warned: bool,
}

pub type SharedResults = Arc<Mutex<Results>>;

pub fn lock(r: &SharedResults) -> MutexGuard<'_, Results> {
    r.lock().unwrap_or_else(|e| e.into_inner())
}

/// Opens `dir/results` (bounded to `max_bytes`).
pub fn open(dir: &Path, max_bytes: u64) -> std::io::Result<SharedResults> {
    let spool = Spool::open(&dir.join("results"), max_bytes)?;
    if !spool.is_empty() {
        log(&format!(
            "{} results left in the spool from an earlier run: replaying them",
            spool.len()
        ));
    }
    Ok(Arc::new(Mutex::new(Results {
        spool,
        counts: ResultCounts::default(),
        full_warned: false,
    })))
}

impl Results {
    pub fn raise_floor(&mut self, next: u64) -> std::io::Result<()> {
        self.spool.raise_floor(next)
    }

    pub fn pending(&self) -> usize {
        self.spool.len()
    }

    /// Numbers and spools one result (durably). False when it was dropped.
    pub fn push(&mut self, target: &str, start_unix_ms: u64, body: ResultBody) -> bool {
        let pushed = self.spool.push(|seq| {
            serde_json::to_vec(&ResultUpload {
                seq,
                target: target.to_string(),
                start_unix_ms,
                body,
            })
            .unwrap_or_default()
        });
        match pushed {
            Ok(Some(_)) => {
                self.counts.spooled += 1;
                true
            }
            Ok(None) => {
                self.counts.dropped += 1;
                if !self.full_warned {
                    log("the results spool is full: new results are dropped until it drains");
                    self.full_warned = true;
                }
                false
            }
            Err(e) => {
                self.counts.dropped += 1;
                log(&format!("cannot spool a result ({e}): it is lost"));
                false
            }
        }
    }
}

/// Uploads spooled results, oldest first, until none is left or a call
/// fails (see `Outbox`).
pub async fn upload(
    client: &Client,
    probe: &str,
    results: &SharedResults,
) -> Result<Result<(), ClientError>, AgentError> {
    let outbox = Outbox {
        shared: &**results,
        spool: |r: &mut Results| &mut r.spool,
        acknowledged: |r: &mut Results, n| {
            r.counts.acknowledged += n;
            if n > 0 {
                r.full_warned = false;
            }
        },
        rejected: |r: &mut Results| r.counts.rejected += 1,
        key: "results",
        item: "result",
        batch: BATCH,
    };
    let mut single = false;
    outbox
        .drain(probe, &mut single, |body| client.upload_results_json(body))
        .await
}
