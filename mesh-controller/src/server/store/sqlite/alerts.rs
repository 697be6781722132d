//! Alerts in the store: where each alert stands (`alert_states`, only those
//! not inactive), every firing as an episode (`alert_episodes`, resolved or
//! not), and the webhook notifications still to send (`deliveries`). A state
//! change, its episode and its notifications are written in one transaction,
//! so a restart neither forgets a firing alert nor notifies twice.

use super::{to_i64, to_u64, Db, StoreError};
use crate::monitor::alerts::AlertState;
use crate::server::store::alerts::{
    labels_json, labels_of, Change, Delivery, Episode, StoredState,
};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;

/// Every alert not inactive, by fingerprint.
pub fn states(conn: &Connection) -> Result<HashMap<String, StoredState>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT fingerprint, labels, state, since_ms, good_since_ms FROM alert_states",
    )?;
    let mut rows = st.query([])?;
    let mut out = HashMap::new();
    while let Some(r) = rows.next()? {
        let since = to_u64(r.get(3)?);
        let state = match r.get::<_, String>(2)?.as_str() {
            "pending" => AlertState::Pending { since },
            "firing" => AlertState::Firing {
                since,
                good_since: r.get::<_, Option<i64>>(4)?.map(to_u64),
            },
            _ => continue,
        };
        out.insert(
            r.get(0)?,
            StoredState {
                labels: labels_of(&r.get::<_, String>(1)?)?,
                state,
            },
        );
    }
    Ok(out)
}

impl Db {
    /// Writes state changes, their episodes and their notifications in one
    /// transaction.
    pub fn apply_alert_changes(
        &mut self,
        changes: &[Change],
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let tx = self.transaction()?;
        for c in changes {
            match c.state {
                AlertState::Inactive => {
                    tx.execute(
                        "DELETE FROM alert_states WHERE fingerprint = ?1",
                        [&c.fingerprint],
                    )?;
                }
                AlertState::Pending { since } | AlertState::Firing { since, .. } => {
                    let (name, good) = match c.state {
                        AlertState::Firing { good_since, .. } => ("firing", good_since),
                        _ => ("pending", None),
                    };
                    tx.execute(
                        "INSERT OR REPLACE INTO alert_states
                         (fingerprint, labels, state, since_ms, good_since_ms, updated_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![
                            c.fingerprint,
                            labels_json(&c.labels),
                            name,
                            to_i64(since),
                            good.map(to_i64),
                            to_i64(now_ms)
                        ],
                    )?;
                }
            }
            let Some(n) = &c.notice else { continue };
            let episode: i64 = if n.status == "firing" {
                tx.execute(
                    "INSERT INTO alert_episodes
                     (fingerprint, labels, annotations, pending_since_ms, fired_ms, value, threshold)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        c.fingerprint,
                        labels_json(&c.labels),
                        labels_json(&n.annotations),
                        to_i64(n.pending_since_ms),
                        to_i64(n.fired_ms),
                        n.value,
                        n.threshold
                    ],
                )?;
                tx.last_insert_rowid()
            } else {
                let open: Option<i64> = tx
                    .query_row(
                        "SELECT id FROM alert_episodes WHERE fingerprint = ?1 AND resolved_ms IS NULL
                         ORDER BY id DESC LIMIT 1",
                        [&c.fingerprint],
                        |r| r.get(0),
                    )
                    .optional()?;
                let Some(id) = open else { continue };
                tx.execute(
                    "UPDATE alert_episodes SET resolved_ms = ?2 WHERE id = ?1",
                    params![id, n.resolved_ms.map(to_i64)],
                )?;
                id
            };
            for (receiver, body) in &n.bodies {
                tx.execute(
                    "INSERT INTO deliveries (episode, receiver, status, body, created_ms, next_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                    params![episode, receiver, n.status, body, to_i64(now_ms)],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Marks a delivery sent.
    pub fn delivered(&mut self, id: i64, now_ms: u64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE deliveries SET delivered_ms = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
            params![id, to_i64(now_ms)],
        )?;
        Ok(())
    }

    /// Records a failed attempt: retried at `next_ms`, or given up on.
    pub fn delivery_failed(
        &mut self,
        id: i64,
        now_ms: u64,
        error: &str,
        next_ms: Option<u64>,
    ) -> Result<(), StoreError> {
        match next_ms {
            Some(next) => self.conn.execute(
                "UPDATE deliveries SET attempts = attempts + 1, last_error = ?2, next_ms = ?3 WHERE id = ?1",
                params![id, error, to_i64(next)],
            )?,
            None => self.conn.execute(
                "UPDATE deliveries SET attempts = attempts + 1, last_error = ?2, given_up_ms = ?3 WHERE id = ?1",
                params![id, error, to_i64(now_ms)],
            )?,
        };
        Ok(())
    }
}

/// Episodes firing now, and those resolved at or after `resolved_since`
/// (when given), newest first.
pub fn episodes(
    conn: &Connection,
    firing: bool,
    resolved_since: Option<u64>,
) -> Result<Vec<Episode>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT id, fingerprint, labels, annotations, pending_since_ms, fired_ms, resolved_ms, value, threshold
         FROM alert_episodes
         WHERE (?1 AND resolved_ms IS NULL) OR (?2 IS NOT NULL AND resolved_ms >= ?2)
         ORDER BY fired_ms DESC, id DESC",
    )?;
    let mut rows = st.query(params![firing, resolved_since.map(to_i64)])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(Episode {
            id: r.get(0)?,
            fingerprint: r.get(1)?,
            labels: labels_of(&r.get::<_, String>(2)?)?,
            annotations: labels_of(&r.get::<_, String>(3)?)?,
            pending_since_ms: to_u64(r.get(4)?),
            fired_ms: to_u64(r.get(5)?),
            resolved_ms: r.get::<_, Option<i64>>(6)?.map(to_u64),
            value: r.get(7)?,
            threshold: r.get(8)?,
        });
    }
    Ok(out)
}

/// The oldest notification waiting for each receiver (they go out in order,
/// so a resolved never overtakes its firing).
pub fn next_deliveries(conn: &Connection) -> Result<Vec<Delivery>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT d.id, d.receiver, d.status, d.body, d.created_ms, d.next_ms, d.attempts
         FROM deliveries d JOIN (
             SELECT MIN(id) AS id FROM deliveries
             WHERE delivered_ms IS NULL AND given_up_ms IS NULL GROUP BY receiver
         ) h ON d.id = h.id",
    )?;
    let rows = st.query_map([], |r| {
        Ok(Delivery {
            id: r.get(0)?,
            receiver: r.get(1)?,
            status: r.get(2)?,
            body: r.get(3)?,
            created_ms: to_u64(r.get(4)?),
            next_ms: to_u64(r.get(5)?),
            attempts: to_u64(r.get(6)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Per receiver: (waiting, delivered, given up).
pub fn delivery_counts(conn: &Connection) -> Result<HashMap<String, (u64, u64, u64)>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT receiver,
                SUM(delivered_ms IS NULL AND given_up_ms IS NULL),
                SUM(delivered_ms IS NOT NULL),
                SUM(given_up_ms IS NOT NULL)
         FROM deliveries GROUP BY receiver",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            (to_u64(r.get(1)?), to_u64(r.get(2)?), to_u64(r.get(3)?)),
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
