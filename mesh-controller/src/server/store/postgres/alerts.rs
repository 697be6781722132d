//! Alerts: where each alert stands (`alert_states`, only those not
//! inactive), every firing as an episode, and the webhook notifications
//! still to send. A state change, its episode and its notifications are
//! written in one transaction.

use super::link::Stmts;
use crate::monitor::alerts::AlertState;
use crate::server::store::alerts::{
    labels_json, labels_of, Change, Delivery, Episode, StoredState,
};
use crate::server::store::{to_i64, to_u64, StoreError};
use postgres::Client;
use std::collections::HashMap;

/// Every alert not inactive, by fingerprint.
pub fn states(
    c: &mut Client,
    stmts: &mut Stmts,
) -> Result<HashMap<String, StoredState>, StoreError> {
    let st = stmts.get(
        c,
        "SELECT fingerprint, labels, state, since_ms, good_since_ms FROM alert_states",
    )?;
    let mut out = HashMap::new();
    for r in c.query(&st, &[])? {
        let since = to_u64(r.get(3));
        let state = match r.get::<_, &str>(2) {
            "pending" => AlertState::Pending { since },
            "firing" => AlertState::Firing {
                since,
                good_since: r.get::<_, Option<i64>>(4).map(to_u64),
            },
            _ => continue,
        };
        out.insert(
            r.get(0),
            StoredState {
                labels: labels_of(r.get(1))?,
                state,
            },
        );
    }
    Ok(out)
}

/// Writes state changes, their episodes and their notifications.
pub fn apply(
    c: &mut Client,
    stmts: &mut Stmts,
    changes: &[Change],
    now_ms: u64,
) -> Result<(), StoreError> {
    let mut tx = c.transaction()?;
    for ch in changes {
        match ch.state {
            AlertState::Inactive => {
                let st = stmts.get(&mut tx, "DELETE FROM alert_states WHERE fingerprint = $1")?;
                tx.execute(&st, &[&ch.fingerprint])?;
            }
            AlertState::Pending { since } | AlertState::Firing { since, .. } => {
                let (name, good) = match ch.state {
                    AlertState::Firing { good_since, .. } => ("firing", good_since),
                    _ => ("pending", None),
                };
                let st = stmts.get(
                    &mut tx,
                    "INSERT INTO alert_states
                     (fingerprint, labels, state, since_ms, good_since_ms, updated_ms)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (fingerprint) DO UPDATE SET labels = excluded.labels,
                         state = excluded.state, since_ms = excluded.since_ms,
                         good_since_ms = excluded.good_since_ms, updated_ms = excluded.updated_ms",
                )?;
                tx.execute(
                    &st,
                    &[
                        &ch.fingerprint,
                        &labels_json(&ch.labels),
                        &name,
                        &to_i64(since),
                        &good.map(to_i64),
                        &to_i64(now_ms),
                    ],
                )?;
            }
        }
        let Some(n) = &ch.notice else { continue };
        let episode: i64 = if n.status == "firing" {
            let st = stmts.get(
                &mut tx,
                "INSERT INTO alert_episodes
                 (fingerprint, labels, annotations, pending_since_ms, fired_ms, value, threshold)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )?;
            tx.query_one(
                &st,
                &[
                    &ch.fingerprint,
                    &labels_json(&ch.labels),
                    &labels_json(&n.annotations),
                    &to_i64(n.pending_since_ms),
                    &to_i64(n.fired_ms),
                    &n.value,
                    &n.threshold,
                ],
            )?
            .get(0)
        } else {
            let st = stmts.get(
                &mut tx,
                "UPDATE alert_episodes SET resolved_ms = $2
                 WHERE id = (SELECT id FROM alert_episodes
                             WHERE fingerprint = $1 AND resolved_ms IS NULL
                             ORDER BY id DESC LIMIT 1)
                 RETURNING id",
            )?;
            let row = tx.query_opt(&st, &[&ch.fingerprint, &n.resolved_ms.map(to_i64)])?;
            let Some(row) = row else { continue };
            row.get(0)
        };
        let st = stmts.get(
            &mut tx,
            "INSERT INTO deliveries (episode, receiver, status, body, created_ms, next_ms)
             VALUES ($1, $2, $3, $4, $5, $5)",
        )?;
        for (receiver, body) in &n.bodies {
            tx.execute(&st, &[&episode, receiver, &n.status, body, &to_i64(now_ms)])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Marks a delivery sent.
pub fn delivered(c: &mut Client, id: i64, now_ms: u64) -> Result<(), StoreError> {
    c.execute(
        "UPDATE deliveries SET delivered_ms = $2, attempts = attempts + 1, last_error = NULL
         WHERE id = $1",
        &[&id, &to_i64(now_ms)],
    )?;
    Ok(())
}

/// Records a failed attempt: retried at `next_ms`, or given up on.
pub fn failed(
    c: &mut Client,
    id: i64,
    now_ms: u64,
    error: &str,
    next_ms: Option<u64>,
) -> Result<(), StoreError> {
    match next_ms {
        Some(next) => c.execute(
            "UPDATE deliveries SET attempts = attempts + 1, last_error = $2, next_ms = $3
             WHERE id = $1",
            &[&id, &error, &to_i64(next)],
        )?,
        None => c.execute(
            "UPDATE deliveries SET attempts = attempts + 1, last_error = $2, given_up_ms = $3
             WHERE id = $1",
            &[&id, &error, &to_i64(now_ms)],
        )?,
    };
    Ok(())
}

/// Episodes firing now, and those resolved at or after `resolved_since`.
pub fn episodes(
    c: &mut Client,
    stmts: &mut Stmts,
    firing: bool,
    resolved_since: Option<u64>,
) -> Result<Vec<Episode>, StoreError> {
    let st = stmts.get(
        c,
        "SELECT id, fingerprint, labels, annotations, pending_since_ms, fired_ms, resolved_ms,
                value, threshold
         FROM alert_episodes
         WHERE ($1 AND resolved_ms IS NULL) OR ($2::bigint IS NOT NULL AND resolved_ms >= $2)
         ORDER BY fired_ms DESC, id DESC",
    )?;
    let mut out = Vec::new();
    for r in c.query(&st, &[&firing, &resolved_since.map(to_i64)])? {
        out.push(Episode {
            id: r.get(0),
            fingerprint: r.get(1),
            labels: labels_of(r.get(2))?,
            annotations: labels_of(r.get(3))?,
            pending_since_ms: to_u64(r.get(4)),
            fired_ms: to_u64(r.get(5)),
            resolved_ms: r.get::<_, Option<i64>>(6).map(to_u64),
            value: r.get(7),
            threshold: r.get(8),
        });
    }
    Ok(out)
}

/// The oldest notification waiting for each receiver.
pub fn next_deliveries(c: &mut Client, stmts: &mut Stmts) -> Result<Vec<Delivery>, StoreError> {
    let st = stmts.get(
        c,
        "SELECT DISTINCT ON (receiver) id, receiver, status, body, created_ms, next_ms, attempts
         FROM deliveries WHERE delivered_ms IS NULL AND given_up_ms IS NULL
         ORDER BY receiver, id",
    )?;
    Ok(c.query(&st, &[])?
        .iter()
        .map(|r| Delivery {
            id: r.get(0),
            receiver: r.get(1),
            status: r.get(2),
            body: r.get(3),
            created_ms: to_u64(r.get(4)),
            next_ms: to_u64(r.get(5)),
            attempts: to_u64(r.get(6)),
        })
        .collect())
}

/// Per receiver: (waiting, delivered, given up).
pub fn delivery_counts(
    c: &mut Client,
    stmts: &mut Stmts,
) -> Result<HashMap<String, (u64, u64, u64)>, StoreError> {
    let st = stmts.get(
        c,
        "SELECT receiver,
                COUNT(*) FILTER (WHERE delivered_ms IS NULL AND given_up_ms IS NULL),
                COUNT(*) FILTER (WHERE delivered_ms IS NOT NULL),
                COUNT(*) FILTER (WHERE given_up_ms IS NOT NULL)
         FROM deliveries GROUP BY receiver",
    )?;
    Ok(c.query(&st, &[])?
        .iter()
        .map(|r| {
            (
                r.get(0),
                (to_u64(r.get(1)), to_u64(r.get(2)), to_u64(r.get(3))),
            )
        })
        .collect())
}
