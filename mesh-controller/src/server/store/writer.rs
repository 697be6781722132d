//! The async face of the store, whatever the backend: one writer thread owns
//! the backend's writer and commits whatever batches queued up meanwhile in
//! one transaction (group commit: one fsync for many uploads); reads run on
//! `spawn_blocking` over a small pool of the backend's readers.

use super::{
    BackfillStats, Connector, NewWindow, RetentionStats, StoreError, StoreRead, StoreWrite,
};
use crate::history::Levels;
use crate::server::config::Retention;
use protocol::api::{Hello, ResultUpload, UploadAck};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::oneshot;

/// Most batches committed in one transaction.
const GROUP_MAX: usize = 512;
/// Read connections kept open.
const READERS_KEPT: usize = 8;
/// Most windows queued for the writer: an ingest beyond this is refused at
/// once ([`StoreError::Busy`]) rather than waiting behind minutes of work
/// (about 5 s at the writer's pace on this 2-core machine).
pub const MAX_QUEUED_WINDOWS: usize = 50_000;

/// A write run on the writer thread.
type WriteJob = Box<dyn FnOnce(&mut dyn StoreWrite) + Send>;

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

enum Job {
    Ingest {
        probe: String,
        windows: Vec<NewWindow>,
        levels: Levels,
        reply: Reply<UploadAck>,
    },
    Hello {
        hello: Hello,
        reply: Reply<()>,
    },
    Results {
        probe: String,
        results: Vec<ResultUpload>,
        reply: Reply<UploadAck>,
    },
    Retain {
        retention: Retention,
        reply: Reply<RetentionStats>,
    },
    Backfill {
        levels: Levels,
        endpoints: HashMap<String, String>,
        reply: Reply<BackfillStats>,
    },
    /// Any other write (alerts, events, deliveries), run in turn.
    Exec(WriteJob),
}

/// Handle to the store, cheap to clone.
#[derive(Clone)]
pub struct Store {
    jobs: mpsc::Sender<Job>,
    /// Windows handed to the writer and not answered yet.
    queued: Arc<AtomicUsize>,
    backend: Arc<dyn Connector>,
    readers: Arc<Mutex<Vec<Box<dyn StoreRead>>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Job::Ingest { .. } => "Ingest",
            Job::Hello { .. } => "Hello",
            Job::Results { .. } => "Results",
            Job::Retain { .. } => "Retain",
            Job::Backfill { .. } => "Backfill",
            Job::Exec(_) => "Exec",
        })
    }
}

impl Store {
    /// Opens and migrates the database and starts the writer thread.
    pub fn start(backend: impl Connector) -> Result<Store, StoreError> {
        let db = backend.writer()?;
        let (jobs, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("store-writer".to_string())
            .spawn(move || writer_loop(db, rx))
            .map_err(|e| StoreError::Schema(format!("cannot start the writer thread: {e}")))?;
        Ok(Store {
            jobs,
            queued: Arc::new(AtomicUsize::new(0)),
            backend: Arc::new(backend),
            readers: Arc::new(Mutex::new(Vec::new())),
        })
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Job) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.jobs.send(make(tx)).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Stores a probe's batch, all or nothing; resolves once committed.
    pub async fn ingest(
        &self,
        probe: String,
        windows: Vec<NewWindow>,
        levels: Levels,
    ) -> Result<UploadAck, StoreError> {
        let n = windows.len();
        let before = self.queued.fetch_add(n, Ordering::Relaxed);
        // Counted until answered, or until the caller goes away (a dropped
        // request future drops the guard).
        let _queued = Queued(&self.queued, n);
        if before > 0 && before + n > MAX_QUEUED_WINDOWS {
            return Err(StoreError::Busy(format!(
                "{before} windows wait to be written; try again later"
            )));
        }
        self.ask(|reply| Job::Ingest {
            probe,
            windows,
            levels,
            reply,
        })
        .await
    }

    /// Stores a probe's results, all or nothing; resolves once committed.
    pub async fn ingest_results(
        &self,
        probe: String,
        results: Vec<ResultUpload>,
    ) -> Result<UploadAck, StoreError> {
        self.ask(|reply| Job::Results {
            probe,
            results,
            reply,
        })
        .await
    }

    pub async fn hello(&self, hello: Hello) -> Result<(), StoreError> {
        self.ask(|reply| Job::Hello { hello, reply }).await
    }

    /// Rolls up a database from before rollups (see `backfill`); a no-op
    /// when none is pending.
    pub async fn backfill(
        &self,
        levels: Levels,
        endpoints: HashMap<String, String>,
    ) -> Result<BackfillStats, StoreError> {
        self.ask(|reply| Job::Backfill {
            levels,
            endpoints,
            reply,
        })
        .await
    }

    pub async fn retain(&self, retention: Retention) -> Result<RetentionStats, StoreError> {
        self.ask(|reply| Job::Retain { retention, reply }).await
    }

    /// Runs `f` on the writer, in turn with the other writes.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn StoreWrite) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Job::Exec(Box::new(move |db| {
                let _ = tx.send(f(db));
            })))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on a pooled reader, off the async runtime.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn StoreRead) -> Result<T, StoreError> + Send + 'static,
    {
        let backend = self.backend.clone();
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = readers.lock().ok().and_then(|mut v| v.pop());
            let conn = match pooled {
                Some(c) => c,
                None => backend.reader()?,
            };
            let out = f(conn.as_ref());
            if let Ok(mut v) = readers.lock() {
                if v.len() < READERS_KEPT {
                    v.push(conn);
                }
            }
            out
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }
}

/// Windows counted as queued while this lives.
struct Queued<'a>(&'a AtomicUsize, usize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(self.1, Ordering::Relaxed);
    }
}

fn writer_loop(mut db: Box<dyn StoreWrite>, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < GROUP_MAX {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let now = super::now_ms();
        let mut ingests: Vec<(String, Vec<NewWindow>, Reply<UploadAck>)> = Vec::new();
        for job in jobs {
            match job {
                Job::Ingest {
                    probe,
                    windows,
                    levels,
                    reply,
                } => {
                    db.set_levels(levels);
                    ingests.push((probe, windows, reply))
                }
                Job::Hello { hello, reply } => {
                    let _ = reply.send(db.hello(&hello, now));
                }
                Job::Results {
                    probe,
                    results,
                    reply,
                } => {
                    let _ = reply.send(db.ingest_results(&probe, &results, now));
                }
                Job::Retain { retention, reply } => {
                    let _ = reply.send(db.retain(now, &retention));
                }
                Job::Exec(run) => run(db.as_mut()),
                Job::Backfill {
                    levels,
                    endpoints,
                    reply,
                } => {
                    let _ = reply.send(db.backfill_rollups(levels, &|p| endpoints.get(p).cloned()));
                }
            }
        }
        if ingests.is_empty() {
            continue;
        }
        let batches: Vec<(&str, &[NewWindow])> = ingests
            .iter()
            .map(|(p, w, _)| (p.as_str(), w.as_slice()))
            .collect();
        match db.ingest_many(&batches, now) {
            Ok(results) => {
                for ((_, _, reply), result) in ingests.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                let msg = e.to_string();
                let unavailable = matches!(e, StoreError::Unavailable(_));
                for (_, _, reply) in ingests {
                    let _ = reply.send(Err(if unavailable {
                        StoreError::Unavailable(msg.clone())
                    } else {
                        StoreError::Schema(format!("commit failed: {msg}"))
                    }));
                }
            }
        }
    }
}
