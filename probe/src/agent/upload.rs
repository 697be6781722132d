//! Uploading the spools: windows (and results) oldest first, deleted once
//! acknowledged, retried with backoff while the controller is unreachable.

use super::outbox::Outbox;
use super::*;

impl Agent {
    /// Uploads spooled windows, oldest first, until the spool is empty or a
    /// call fails (see [`Outbox`]).
    pub(super) async fn upload_pending(&mut self) -> Result<Result<(), ClientError>, AgentError> {
        let outbox = Outbox {
            shared: &*self.store,
            spool: |s: &mut Store| &mut s.spool,
            acknowledged: |s: &mut Store, n| s.summary.windows_acknowledged += n,
            rejected: |s: &mut Store| s.summary.windows_rejected += 1,
            key: "windows",
            item: "window",
            batch: BATCH,
        };
        let client = &self.client;
        outbox
            .drain(&self.opts.id, &mut self.single, |body| {
                client.upload_json(body)
            })
            .await
    }

    /// One upload attempt, with the backoff and the warnings around it.
    pub(super) async fn try_upload(&mut self) -> Result<(), AgentError> {
        if self.retry_at.is_some_and(|t| Instant::now() < t) || lock(&self.store).spool.is_empty() {
            return Ok(());
        }
        match self.upload_pending().await? {
            Ok(()) => {
                if self.unreachable {
                    log(&format!(
                        "controller reachable again: spool replayed ({} acknowledged in all)",
                        lock(&self.store).summary.windows_acknowledged
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
    pub(super) async fn try_upload_results(&mut self) -> Result<(), AgentError> {
        if self.results_retry_at.is_some_and(|t| Instant::now() < t)
            || results::lock(&self.results).pending() == 0
        {
            return Ok(());
        }
        match results::upload(&self.client, &self.opts.id, &self.results).await? {
            Ok(()) => self.results_retry_at = None,
            Err(_) => {
                // The windows' upload logs the outage; results follow it.
                self.results_retry_at = Some(Instant::now() + self.backoff.next_delay());
            }
        }
        Ok(())
    }
}
