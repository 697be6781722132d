//! The controller's monitoring duties, run in the background of `serve`:
//! evaluating the budget alerts every `alerts.evaluate_every` over the
//! rollups of the last `alerts.window` ([`alerting`]), finding what changed
//! ([`events`]), and sending the queued webhooks with retries ([`webhook`]).
//! None of it blocks ingest: reads go through the read pool, writes are small
//! jobs of the store's writer.

pub mod alert_list;
pub mod alerting;
pub mod clock_subjects;
pub mod event_list;
pub mod events;
pub mod webhook;

use crate::history::buckets;
use crate::server::api::Shared;
use crate::server::config::Config;
use crate::server::duties;
use crate::server::measured::{endpoint_names, open_end, Measured};
use crate::server::store::{self, now_ms, StoreError, StoreRead};
use std::collections::HashMap;
use std::time::Duration;
use topology::Endpoint;

/// When each direction of travel was last measured: the end of the latest
/// window of sessions either way (both measure it).
pub fn last_measured(
    conn: &dyn StoreRead,
    config: &Config,
) -> Result<HashMap<(Endpoint, Endpoint), u64>, StoreError> {
    let names = endpoint_names(&config.topology);
    let window_ms = config.settings.window_s * 1000;
    let mut out: HashMap<(Endpoint, Endpoint), u64> = HashMap::new();
    for d in conn.directions_seen()? {
        let (Some(&a), Some(&b)) = (names.get(&d.sender), names.get(&d.reflector)) else {
            continue;
        };
        let end = d.last_ms.saturating_add(window_ms);
        for key in [(a, b), (b, a)] {
            let e = out.entry(key).or_insert(end);
            *e = (*e).max(end);
        }
    }
    Ok(out)
}

/// One evaluation of the alerts: reads, judges, stores the changes; returns
/// how many alerts changed.
pub async fn evaluate_alerts(state: &Shared, now: u64) -> Result<usize, StoreError> {
    let config = state.live().config.clone();
    let external = config
        .alerts
        .external_url
        .clone()
        .unwrap_or_else(|| state.listen_url.clone());
    let changes = state
        .store
        .read(move |c| {
            let window = u64::try_from(config.alerts.window.as_millis()).unwrap_or(u64::MAX);
            let from = buckets::floor(now.saturating_sub(window), config.history.fine_ms);
            let measured = Measured::load_range(c, &config, from, open_end(now), now)?;
            let last = last_measured(c, &config)?;
            let states = c.alert_states()?;
            let probes = c.probe_rows()?;
            Ok(alerting::evaluate(&alerting::Inputs {
                config: &config,
                measured: &measured,
                last_measured: &last,
                states: &states,
                probes: &probes,
                external_url: &external,
                now,
            }))
        })
        .await?;
    let n = changes.len();
    let notices = changes.iter().any(|c| c.notice.is_some());
    if n > 0 {
        for c in changes
            .iter()
            .filter_map(|c| c.notice.as_ref().map(|n| (c, n)))
        {
            let (c, n) = c;
            eprintln!(
                "mesh-controller: alert {} {}: {}",
                c.labels.get("alertname").map_or("", String::as_str),
                n.status,
                n.annotations.get("summary").map_or("", String::as_str),
            );
        }
        state
            .store
            .write(move |db| db.apply_alert_changes(&changes, now))
            .await?;
    }
    if notices {
        state.delivery_wake.notify_one();
    }
    Ok(n)
}

/// Looks for level shifts and path changes; records the new ones, linked;
/// returns how many.
pub async fn find_events(state: &Shared, now: u64) -> Result<usize, StoreError> {
    let config = state.live().config.clone();
    let c2 = config.clone();
    let found = state
        .store
        .read(move |c| {
            let mut found = events::level_shifts(c, &c2, now)?;
            found.extend(events::path_changes(c, &c2, now)?);
            Ok(found)
        })
        .await?;
    if found.is_empty() {
        return Ok(0);
    }
    let ids = state
        .store
        .write(move |db| events::record(db, &found, &config, now))
        .await?;
    if !ids.is_empty() {
        let list = state
            .store
            .read(move |c| {
                c.events_since(0, None).map(|v| {
                    v.into_iter()
                        .filter(|e| ids.contains(&e.id))
                        .collect::<Vec<_>>()
                })
            })
            .await?;
        for e in &list {
            eprintln!(
                "mesh-controller: event {} {} -> {} ({}) at {}",
                e.detail.kind(),
                e.from,
                e.to,
                e.direction,
                e.at_ms
            );
        }
        return Ok(list.len());
    }
    Ok(0)
}

/// The monitor lease's length: three evaluations (or three delivery
/// rounds of a second, whichever is longer), within [3 s, 60 s].
fn monitor_ttl(state: &Shared) -> Duration {
    duties::ttl_for(
        state
            .live()
            .config
            .alerts
            .evaluate_every
            .max(Duration::from_secs(1)),
    )
}

/// Evaluates the alerts and looks for events every
/// `alerts.evaluate_every`, forever.
pub async fn evaluate_loop(state: Shared) {
    loop {
        let period = state.live().config.alerts.evaluate_every;
        if duties::hold(&state, duties::MONITOR, monitor_ttl(&state)).await {
            let now = now_ms();
            if let Err(e) = evaluate_alerts(&state, now).await {
                eprintln!("mesh-controller: alert evaluation failed: {e}");
            }
            if let Err(e) = find_events(&state, now).await {
                eprintln!("mesh-controller: event detection failed: {e}");
            }
        }
        tokio::time::sleep(period).await;
    }
}

/// Sends queued webhooks, oldest first per receiver, retrying with backoff;
/// wakes when an evaluation queues more, and at least every second.
pub async fn deliver_loop(state: Shared) {
    loop {
        let now = now_ms();
        let mut wake = now + 1_000;
        let due = if duties::hold(&state, duties::MONITOR, monitor_ttl(&state)).await {
            state.store.read(|c| c.next_deliveries()).await
        } else {
            Ok(Vec::new())
        };
        match due {
            Err(e) => eprintln!("mesh-controller: webhook queue: {e}"),
            Ok(due) => {
                let receivers = state.live().config.alerts.receivers.clone();
                let mut sends = tokio::task::JoinSet::new();
                for d in due {
                    if d.next_ms > now {
                        wake = wake.min(d.next_ms);
                        continue;
                    }
                    let receiver = receivers.iter().find(|r| r.name == d.receiver).cloned();
                    sends.spawn(async move {
                        let outcome = match &receiver {
                            Some(r) => {
                                webhook::post(
                                    &r.url,
                                    d.id,
                                    &d.body,
                                    r.secret.as_deref(),
                                    r.ca_file.as_deref(),
                                )
                                .await
                            }
                            None => Err("receiver no longer configured".to_string()),
                        };
                        (d, receiver.is_some(), outcome)
                    });
                }
                while let Some(done) = sends.join_next().await {
                    let Ok((d, configured, outcome)) = done else {
                        continue;
                    };
                    let at = now_ms();
                    let result = match outcome {
                        Ok(_) => {
                            // The receiver's next notification can go at once.
                            wake = now;
                            state.store.write(move |db| db.delivered(d.id, at)).await
                        }
                        Err(e) => {
                            let give_up = !configured
                                || at.saturating_sub(d.created_ms)
                                    > u64::try_from(webhook::GIVE_UP_AFTER.as_millis())
                                        .unwrap_or(u64::MAX);
                            let next = (!give_up).then(|| {
                                let jitter = rand::random::<f64>();
                                at + u64::try_from(webhook::backoff(d.attempts, jitter).as_millis())
                                    .unwrap_or(u64::MAX)
                            });
                            eprintln!(
                                "mesh-controller: webhook {} to {} (attempt {}): {e}{}",
                                d.status,
                                d.receiver,
                                d.attempts + 1,
                                if give_up {
                                    "; given up"
                                } else {
                                    "; will retry"
                                }
                            );
                            if let Some(n) = next {
                                wake = wake.min(n);
                            }
                            state
                                .store
                                .write(move |db| db.delivery_failed(d.id, at, &e, next))
                                .await
                        }
                    };
                    if let Err(e) = result {
                        eprintln!("mesh-controller: webhook bookkeeping: {e}");
                    }
                }
            }
        }
        let wait = Duration::from_millis(wake.saturating_sub(now_ms()).clamp(10, 1_000));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = state.delivery_wake.notified() => {}
        }
    }
}

pub use store::alerts::Episode;
