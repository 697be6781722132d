//! Duties that must happen once however many controllers share a database:
//! retention, and the monitor (alert evaluation, event detection, webhook
//! delivery). Each runs under a lease in the store, taken or renewed before
//! every round and expiring `ttl` after the last renewal, so when the
//! controller holding it dies (even by kill -9) another takes it over within
//! one `ttl`, and while it lives no other runs it.
//!
//! Webhook deliveries are recorded in the store before and after each send;
//! the one gap is a controller killed between a receiver's 200 and recording
//! it: the next holder sends that notification again, with the same
//! `x-hubmesh-delivery` id for the receiver to drop.

use crate::server::api::Shared;
use crate::server::store::now_ms;
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

/// Retention passes.
pub const RETENTION: &str = "retention";
/// Alert evaluation, event detection and webhook delivery (one duty: the
/// controller that queues notifications sends them).
pub const MONITOR: &str = "monitor";

/// This controller as a lease holder.
#[derive(Debug)]
pub struct Leases {
    /// Host, process and a random part: unique per running controller.
    pub holder: String,
    /// The duties held at the last renewal (to log changes).
    held: Mutex<HashSet<&'static str>>,
}

impl Leases {
    pub fn new() -> Leases {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "host".to_string());
        Leases {
            holder: format!(
                "{host}:{}:{:08x}",
                std::process::id(),
                rand::random::<u32>()
            ),
            held: Mutex::new(HashSet::new()),
        }
    }

    /// Records whether `duty` is held now; true when that changed.
    fn note(&self, duty: &'static str, held: bool) -> bool {
        let mut set = match self.held.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if held {
            set.insert(duty)
        } else {
            set.remove(duty)
        }
    }
}

impl Default for Leases {
    fn default() -> Self {
        Leases::new()
    }
}

/// Takes or renews this controller's lease on `duty` for `ttl`: true when
/// it may run the duty now. A store error counts as not holding it.
pub async fn hold(state: &Shared, duty: &'static str, ttl: Duration) -> bool {
    let holder = state.leases.holder.clone();
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    let now = now_ms();
    let held = match state
        .store
        .write(move |db| db.lease(duty, &holder, now, ttl_ms))
        .await
    {
        Ok(h) => h,
        Err(e) => {
            eprintln!("mesh-controller: lease {duty}: {e}");
            false
        }
    };
    if state.leases.note(duty, held) {
        eprintln!(
            "mesh-controller: {} the {duty} duty ({})",
            if held { "took" } else { "lost" },
            state.leases.holder
        );
    }
    held
}

/// Gives up this controller's leases (a clean stop), so another controller
/// takes the duties at once instead of after the lease runs out.
pub async fn release_all(state: &Shared) {
    for duty in [RETENTION, MONITOR] {
        let holder = state.leases.holder.clone();
        let _ = state.store.write(move |db| db.release(duty, &holder)).await;
    }
}

/// The lease length for a duty run every `period`: three rounds, at least
/// 3 s and at most a minute (how long a dead holder's duty waits).
pub fn ttl_for(period: Duration) -> Duration {
    (period * 3).clamp(Duration::from_secs(3), Duration::from_secs(60))
}
