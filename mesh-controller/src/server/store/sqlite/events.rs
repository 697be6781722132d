//! Events in the store: level shifts and path changes, recorded idempotently
//! by a key (kind, route, direction, time), and linked pairwise when one
//! explains the other (`monitor::attribution`).

use super::{to_i64, to_u64, Db, StoreError};
use crate::server::store::events::{direction_of, Event, NewEvent};
use rusqlite::{params, Connection};

impl Db {
    /// Records an event unless one with its key exists; Some(id) when new.
    pub fn record_event(&mut self, e: &NewEvent, now_ms: u64) -> Result<Option<i64>, StoreError> {
        let detail = serde_json::to_string(&e.detail)
            .map_err(|x| StoreError::Corrupt(format!("event detail: {x}")))?;
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO events (kind, from_ep, to_ep, at_ms, detected_ms, detail, key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                e.detail.kind(),
                e.from,
                e.to,
                to_i64(e.at_ms),
                to_i64(now_ms),
                detail,
                e.key()
            ],
        )?;
        Ok((n == 1).then(|| self.conn.last_insert_rowid()))
    }

    /// Links two events to each other.
    pub fn link_events(&mut self, a: i64, b: i64) -> Result<(), StoreError> {
        self.conn
            .execute("UPDATE events SET linked = ?2 WHERE id = ?1", params![a, b])?;
        self.conn
            .execute("UPDATE events SET linked = ?2 WHERE id = ?1", params![b, a])?;
        Ok(())
    }
}

/// Events at or after `since_ms` (of one route, either orientation, when
/// given), oldest first.
pub fn events_since(
    conn: &Connection,
    since_ms: u64,
    route: Option<(&str, &str)>,
) -> Result<Vec<Event>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT id, from_ep, to_ep, at_ms, detected_ms, detail, linked, key FROM events
         WHERE at_ms >= ?1
           AND (?2 IS NULL OR (from_ep = ?2 AND to_ep = ?3) OR (from_ep = ?3 AND to_ep = ?2))
         ORDER BY at_ms, id",
    )?;
    let (a, b) = route.unzip();
    let rows = st.query_map(params![to_i64(since_ms), a, b], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, Option<i64>>(6)?,
            r.get::<_, String>(7)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, from, to, at, detected, detail, linked, key) = row?;
        out.push(Event {
            id,
            from,
            to,
            direction: direction_of(&key),
            at_ms: to_u64(at),
            detected_ms: to_u64(detected),
            detail: serde_json::from_str(&detail)
                .map_err(|e| StoreError::Corrupt(format!("event {id}: {e}")))?,
            linked,
        });
    }
    Ok(out)
}
