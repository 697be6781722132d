//! Results other than STAMP windows (bandwidth tests, pings, traces) on their
//! way to the controller: a [`Spool`] of their own (`SPOOL/results/`, its own
//! sequence numbers, fsynced before any upload), uploaded in order through
//! `POST /v1/results` and deleted only once acknowledged, exactly like
//! windows; a result the controller refuses as malformed is moved aside.

use super::{fatal, log, AgentError, Spool};
use mesh_controller::client::{Client, ClientError};
use serde::Serialize;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use topology::api::{ResultBody, ResultUpload};

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
/// fails; a 400 on a single result moves it aside, on a batch retries the
/// batch's results one at a time.
pub async fn upload(
    client: &Client,
    probe: &str,
    results: &SharedResults,
) -> Result<Result<(), ClientError>, AgentError> {
    let mut single = false;
    loop {
        let take = if single { 1 } else { BATCH };
        let (seqs, body) = {
            let r = lock(results);
            let seqs: Vec<u64> = r.spool.pending().take(take).collect();
            if seqs.is_empty() {
                return Ok(Ok(()));
            }
            let mut body = format!(
                "{{\"probe\":{},\"results\":[",
                serde_json::to_string(probe).unwrap_or_default()
            )
            .into_bytes();
            for (i, seq) in seqs.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend(r.spool.read(*seq).map_err(AgentError::Spool)?);
            }
            body.extend(b"]}");
            (seqs, body)
        };
        match client.upload_results_json(body).await {
            Ok(ack) => {
                let mut r = lock(results);
                let mut done = 0;
                for seq in ack.accepted.iter().chain(&ack.duplicate) {
                    if seqs.contains(seq) {
                        r.spool.remove(*seq).map_err(AgentError::Spool)?;
                        done += 1;
                    }
                }
                r.spool.sync().map_err(AgentError::Spool)?;
                r.counts.acknowledged += done;
                if done == 0 {
                    return Ok(Err(ClientError::Decode(
                        "the acknowledgement names none of the results sent".into(),
                    )));
                }
                r.full_warned = false;
            }
            Err(e) if fatal(&e) => return Err(AgentError::Refused(e)),
            Err(e) if e.status() == Some(400) => {
                if seqs.len() > 1 {
                    single = true;
                } else if let Some(&seq) = seqs.first() {
                    let mut r = lock(results);
                    let to = r.spool.reject(seq).map_err(AgentError::Spool)?;
                    r.counts.rejected += 1;
                    log(&format!(
                        "result {seq} refused ({e}): moved to {}",
                        to.display()
                    ));
                }
            }
            Err(e) => return Ok(Err(e)),
        }
    }
}
