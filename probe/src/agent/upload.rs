//! When the spools are uploaded: windows (and results) oldest first, deleted
//! once acknowledged (see [`Outbox`]), retried with a jittered exponential
//! backoff while the controller is unreachable, with one warning per outage.

use std::time::Instant;

use protocol::client::{Backoff, Client, ClientError};

use super::log::log;
use super::outbox::Outbox;
use super::results::{self, SharedResults};
use super::spool_writer::{lock, SharedStore, Store};
use super::AgentError;

/// Windows per upload call.
const BATCH: usize = 200;

/// Upload state across attempts.
pub(super) struct Uploads {
    backoff: Backoff,
    /// Earliest time of the next window upload try (after a failure).
    retry_at: Option<Instant>,
    /// The last window upload failed (warned once until it works again).
    unreachable: bool,
    /// Upload one window per call (after a 400 on a batch, to find the bad one).
    single: bool,
    /// Earliest time of the next results upload try (after a failure).
    results_retry_at: Option<Instant>,
}

impl Uploads {
    pub(super) fn new(backoff: Backoff) -> Uploads {
        Uploads {
            backoff,
            retry_at: None,
            unreachable: false,
            single: false,
            results_retry_at: None,
        }
    }

    /// Uploads spooled windows, oldest first, until the spool is empty or a
    /// call fails (see [`Outbox`]).
    pub(super) async fn windows(
        &mut self,
        client: &Client,
        probe: &str,
        store: &SharedStore,
    ) -> Result<Result<(), ClientError>, AgentError> {
        let outbox = Outbox {
            shared: &**store,
            spool: |s: &mut Store| &mut s.spool,
            acknowledged: |s: &mut Store, n| s.summary.windows_acknowledged += n,
            rejected: |s: &mut Store| s.summary.windows_rejected += 1,
            key: "windows",
            item: "window",
            batch: BATCH,
        };
        outbox
            .drain(probe, &mut self.single, |body| client.upload_json(body))
            .await
    }

    /// One window upload attempt, unless waiting out the backoff, with the
    /// warnings around it.
    pub(super) async fn try_windows(
        &mut self,
        client: &Client,
        probe: &str,
        store: &SharedStore,
    ) -> Result<(), AgentError> {
        if self.retry_at.is_some_and(|t| Instant::now() < t) || lock(store).spool.is_empty() {
            return Ok(());
        }
        match self.windows(client, probe, store).await? {
            Ok(()) => {
                if self.unreachable {
                    log(&format!(
                        "controller reachable again: spool replayed ({} acknowledged in all)",
                        lock(store).summary.windows_acknowledged
                    ));
                }
                self.unreachable = false;
                self.retry_at = None;
                self.backoff.reset();
            }
            Err(e) => {
                let delay = self.backoff.next_delay();
                if !self.unreachable {
                    log(&format!(
                        "upload failed ({e}): windows stay in the spool, retrying with backoff"
                    ));
                }
                self.unreachable = true;
                self.retry_at = Some(Instant::now() + delay);
            }
        }
        Ok(())
    }

    /// One upload attempt of the results spool (its own retry time, the
    /// same backoff policy).
    pub(super) async fn try_results(
        &mut self,
        client: &Client,
        probe: &str,
        results: &SharedResults,
    ) -> Result<(), AgentError> {
        if self.results_retry_at.is_some_and(|t| Instant::now() < t)
            || results::lock(results).pending() == 0
        {
            return Ok(());
        }
        match results::upload(client, probe, results).await? {
            Ok(()) => self.results_retry_at = None,
            Err(_) => {
                // The windows' upload logs the outage; results follow it.
                self.results_retry_at = Some(Instant::now() + self.backoff.next_delay());
            }
        }
        Ok(())
    }
}
