//! One spool's road to the controller, the same for windows and results:
//! batches of the oldest spooled items, each deleted once the controller
//! acknowledged it (stored now, or before: ingest is idempotent on
//! (probe, seq)). A 400 on a batch narrows it down to one item at a time; an
//! item refused alone is moved aside (`rejected/`); 401/403 is fatal.

use super::log::log;
use super::spool::Spool;
use super::{is_refusal, AgentError};
use protocol::api::UploadAck;
use protocol::client::ClientError;
use std::future::Future;
use std::sync::{Mutex, MutexGuard};

/// Where a spool lives and what to count as it drains.
pub(super) struct Outbox<'a, T> {
    pub shared: &'a Mutex<T>,
    pub spool: fn(&mut T) -> &mut Spool,
    /// `n` items acknowledged.
    pub acknowledged: fn(&mut T, u64),
    /// One item refused as malformed and moved aside.
    pub rejected: fn(&mut T),
    /// The batch's array key (`windows`, `results`) and one item's name.
    pub key: &'static str,
    pub item: &'static str,
    pub batch: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<T> Outbox<'_, T> {
    /// Uploads until the spool is empty or a call fails (`Ok(Err(_))`: to be
    /// retried later). `single` keeps the one-at-a-time mode across calls.
    pub(super) async fn drain<F, Fut>(
        &self,
        probe: &str,
        single: &mut bool,
        send: F,
    ) -> Result<Result<(), ClientError>, AgentError>
    where
        F: Fn(Vec<u8>) -> Fut,
        Fut: Future<Output = Result<UploadAck, ClientError>>,
    {
        loop {
            let take = if *single { 1 } else { self.batch };
            let (seqs, body) = {
                let mut guard = lock(self.shared);
                let spool = (self.spool)(&mut guard);
                let seqs: Vec<u64> = spool.pending().take(take).collect();
                if seqs.is_empty() {
                    return Ok(Ok(()));
                }
                let mut body = format!(
                    "{{\"probe\":{},\"{}\":[",
                    serde_json::to_string(probe).unwrap_or_default(),
                    self.key
                )
                .into_bytes();
                for (i, seq) in seqs.iter().enumerate() {
                    if i > 0 {
                        body.push(b',');
                    }
                    body.extend(spool.read(*seq).map_err(AgentError::Spool)?);
                }
                body.extend(b"]}");
                (seqs, body)
            };
            match send(body).await {
                Ok(ack) => {
                    let mut guard = lock(self.shared);
                    let spool = (self.spool)(&mut guard);
                    let mut done = 0;
                    for seq in ack.accepted.iter().chain(&ack.duplicate) {
                        if seqs.contains(seq) {
                            spool.remove(*seq).map_err(AgentError::Spool)?;
                            done += 1;
                        }
                    }
                    spool.sync().map_err(AgentError::Spool)?;
                    (self.acknowledged)(&mut guard, done);
                    if done == 0 {
                        return Ok(Err(ClientError::Decode(format!(
                            "the acknowledgement names none of the {} sent",
                            self.key
                        ))));
                    }
                    if *single && seqs.len() == 1 {
                        *single = false;
                    }
                }
                Err(e) if is_refusal(&e) => return Err(AgentError::refused(e)),
                Err(e) if e.status() == Some(400) => {
                    if seqs.len() > 1 {
                        log(&format!("a batch was refused ({e}): uploading one by one"));
                        *single = true;
                    } else if let Some(&seq) = seqs.first() {
                        let mut guard = lock(self.shared);
                        let to = (self.spool)(&mut guard)
                            .reject(seq)
                            .map_err(AgentError::Spool)?;
                        (self.rejected)(&mut guard);
                        log(&format!(
                            "{} {seq} refused ({e}): moved to {}",
                            self.item,
                            to.display()
                        ));
                    }
                }
                Err(e) => return Ok(Err(e)),
            }
        }
    }
}
