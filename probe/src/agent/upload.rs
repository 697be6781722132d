//! Uploading the spools: windows (and results) oldest first, deleted once
//! acknowledged, retried with backoff while the controller is unreachable.

use super::*;

impl Agent {
    /// Uploads spooled windows, oldest first, until the spool is empty or a
    /// call fails. A 400 narrows batches down to one window, and a single
    /// window refused is moved aside; 401/403 is fatal.
    pub(super) async fn upload_pending(&mut self) -> Result<Result<(), ClientError>, AgentError> {
        loop {
            let take = if self.single { 1 } else { BATCH };
            let (seqs, body) = {
                let st = lock(&self.store);
                let seqs: Vec<u64> = st.spool.pending().take(take).collect();
                if seqs.is_empty() {
                    return Ok(Ok(()));
                }
                let mut body = format!(
                    "{{\"probe\":{},\"windows\":[",
                    serde_json::to_string(&self.opts.id).unwrap_or_default()
                )
                .into_bytes();
                for (i, seq) in seqs.iter().enumerate() {
                    if i > 0 {
                        body.push(b',');
                    }
                    body.extend(st.spool.read(*seq).map_err(AgentError::Spool)?);
                }
                body.extend(b"]}");
                (seqs, body)
            };
            match self.client.upload_json(body).await {
                Ok(ack) => {
                    let mut st = lock(&self.store);
                    let mut done = 0;
                    for seq in ack.accepted.iter().chain(&ack.duplicate) {
                        if seqs.contains(seq) {
                            st.spool.remove(*seq).map_err(AgentError::Spool)?;
                            done += 1;
                        }
                    }
                    st.spool.sync().map_err(AgentError::Spool)?;
                    st.summary.windows_acknowledged += done;
                    if done == 0 {
                        return Ok(Err(ClientError::Decode(
                            "the acknowledgement names none of the windows sent".into(),
                        )));
                    }
                    if self.single && seqs.len() == 1 {
                        self.single = false;
                    }
                }
                Err(e) if fatal(&e) => return Err(AgentError::Refused(e)),
                Err(e) if e.status() == Some(400) => {
                    if seqs.len() > 1 {
                        log(&format!("a batch was refused ({e}): uploading one by one"));
                        self.single = true;
                    } else if let Some(&seq) = seqs.first() {
                        let mut st = lock(&self.store);
                        let to = st.spool.reject(seq).map_err(AgentError::Spool)?;
                        st.summary.windows_rejected += 1;
                        log(&format!(
                            "window {seq} refused ({e}): moved to {}",
                            to.display()
                        ));
                    }
                }
                Err(e) => return Ok(Err(e)),
            }
        }
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
