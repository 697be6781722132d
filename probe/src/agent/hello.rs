//! The agent's first call: hello to the controller (who it is, its version,
//! boot id, clock state, where its reflector listens) until the controller
//! answers with the assignment, retried with backoff while it is
//! unreachable; a refusal (401/403) is final.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use protocol::api::{Assignment, ClockInfo, Hello};
use protocol::client::{Backoff, Client};

use super::log::log;
use super::{AgentError, AgentOptions};
use crate::clock::{boot_id, test_clock, ClockStatus};

/// Hello until the controller answers; None when stopped first.
pub(super) async fn hello(
    client: &Client,
    opts: &AgentOptions,
    backoff: &mut Backoff,
    stop: &AtomicBool,
) -> Result<Option<Assignment>, AgentError> {
    let mut status = ClockStatus::read().map_err(|e| AgentError::Setup(format!("clock: {e}")))?;
    if let Some(error) = opts.clock_error {
        status = status.with_stated_error(error);
    }
    let hello = Hello {
        probe: opts.id.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        boot_id: boot_id(),
        clock: ClockInfo {
            synchronized: status.is_synchronized(),
            error_us: u64::try_from(status.error().as_micros()).unwrap_or(u64::MAX),
            source: Some(status.source()),
            test_clock: test_clock::installed(),
        },
        stamp: opts.announce_listen.then(|| opts.listen.to_string()),
    };
    let mut warned = false;
    loop {
        match client.hello(&hello).await {
            Ok(a) => {
                log(&format!(
                    "hello: {} targets, window {} s, interval {} ms, next seq {}",
                    a.targets.len(),
                    a.settings.window_s,
                    a.settings.interval_ms,
                    a.next_seq
                ));
                return Ok(Some(a));
            }
            Err(e) if e.is_retryable() => {
                if !warned {
                    log(&format!("controller unreachable ({e}): retrying hello"));
                    warned = true;
                }
                let until = Instant::now() + backoff.next_delay();
                while Instant::now() < until {
                    if stop.load(Ordering::SeqCst) {
                        return Ok(None);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            Err(e) => return Err(AgentError::refused(e)),
        }
    }
}
