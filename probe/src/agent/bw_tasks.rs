//! The agent's bandwidth tests, when the controller schedules them
//! (`bandwidth:` in its configuration): the agent asks `GET /v1/bw/task`
//! when the controller says to, and when it is the client of this round's
//! pair it runs the test forward, then reverse, against the target's server.
//! Each direction is one result, spooled like a window.

use super::log::log;
use super::results::{lock, SharedResults};
use crate::bw::{run_client, BwError, BwProtocol, BwReport, BwRequest, Direction};
use protocol::api::{BwResult, BwTask, ResultBody};
use protocol::client::Client;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The wire form of a test's report.
pub fn result_of(r: &BwReport) -> BwResult {
    BwResult {
        direction: match r.direction {
            Direction::Forward => "forward",
            Direction::Reverse => "reverse",
        }
        .to_string(),
        protocol: match r.protocol {
            BwProtocol::Tcp => "tcp",
            BwProtocol::Udp => "udp",
        }
        .to_string(),
        streams: r.streams,
        duration_s: r.duration_s,
        throughput_mbit: r.throughput_mbit,
        retransmits: r.retransmits,
        loss_pct: r.loss_pct,
        jitter_us: r.jitter_us,
    }
}

/// What the loop needs besides the controller.
#[derive(Debug, Clone)]
pub struct BwSide {
    pub auth_key: Option<Vec<u8>>,
    /// The address tests leave from (the agent's listen address).
    pub bind: Option<IpAddr>,
}

/// Runs one task: forward, then reverse, while the round lasts.
async fn run_task(task: &BwTask, side: &BwSide, results: &SharedResults) {
    let Ok(target) = task.address.parse::<SocketAddr>() else {
        log(&format!(
            "bandwidth task to {}: bad address {:?}",
            task.target, task.address
        ));
        return;
    };
    for reverse in [false, true] {
        let duration = Duration::from_millis(task.duration_ms);
        if now_ms().saturating_add(task.duration_ms) > task.deadline_unix_ms {
            log(&format!(
                "bandwidth test to {}: no time left in the round",
                task.target
            ));
            return;
        }
        let req = BwRequest {
            target,
            streams: task.streams,
            duration,
            reverse,
            udp_rate_bps: task.udp_rate_bps,
            auth_key: side.auth_key.clone(),
            // A dual-stack peer measured over the other family than our
            // listen address: leave from any address of the target's family.
            bind: side.bind.filter(|b| b.is_ipv4() == target.is_ipv4()),
        };
        let start = now_ms();
        match tokio::task::spawn_blocking(move || run_client(&req, None)).await {
            Ok(Ok(report)) => {
                lock(results).push(
                    &task.target,
                    start,
                    ResultBody::Bandwidth(result_of(&report)),
                );
            }
            Ok(Err(BwError::Busy { retry_after_s })) => {
                log(&format!(
                    "bandwidth test to {}: its server is busy (retry after {retry_after_s} s); skipped this round",
                    task.target
                ));
                return;
            }
            Ok(Err(e)) => {
                log(&format!(
                    "bandwidth test to {} ({target}): {e}",
                    task.target
                ));
                return;
            }
            Err(e) => {
                log(&format!("bandwidth test to {}: {e}", task.target));
                return;
            }
        }
    }
}

/// Asks for tasks while `enabled` says the controller schedules tests.
pub async fn bw_loop(
    client: Client,
    mut enabled: watch::Receiver<bool>,
    side: BwSide,
    results: SharedResults,
) {
    let mut last_slot = None;
    loop {
        if !*enabled.borrow_and_update() {
            if enabled.changed().await.is_err() {
                return;
            }
            continue;
        }
        let wait = match client.bw_task().await {
            Ok(answer) => {
                if let Some(task) = answer.task.filter(|t| Some(t.slot) != last_slot) {
                    last_slot = Some(task.slot);
                    run_task(&task, &side, &results).await;
                }
                answer.retry_after_ms.clamp(200, 60_000)
            }
            // Unreachable controller, refused token: the main loop reports
            // those; ask again later.
            Err(_) => 5_000,
        };
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
            changed = enabled.changed() => if changed.is_err() { return },
        }
    }
}
