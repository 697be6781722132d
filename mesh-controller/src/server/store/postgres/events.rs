//! Events: level shifts and path changes, recorded once by their key
//! whichever controller sees them first (`ON CONFLICT (key) DO NOTHING`),
//! and linked pairwise when one explains the other.

use super::link::Stmts;
use crate::server::store::events::{direction_of, Event, NewEvent};
use crate::server::store::{to_i64, to_u64, StoreError};
use postgres::Client;

/// Records an event unless one with its key exists; Some(id) when new.
pub fn record(
    c: &mut Client,
    stmts: &mut Stmts,
    e: &NewEvent,
    now_ms: u64,
) -> Result<Option<i64>, StoreError> {
    let detail = serde_json::to_string(&e.detail)
        .map_err(|x| StoreError::Corrupt(format!("event detail: {x}")))?;
    let st = stmts.get(
        c,
        "INSERT INTO events (kind, from_ep, to_ep, at_ms, detected_ms, detail, key)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (key) DO NOTHING RETURNING id",
    )?;
    let row = c.query_opt(
        &st,
        &[
            &e.detail.kind(),
            &e.from,
            &e.to,
            &to_i64(e.at_ms),
            &to_i64(now_ms),
            &detail,
            &e.key(),
        ],
    )?;
    Ok(row.map(|r| r.get(0)))
}

/// Links two events to each other (one statement: both or neither).
pub fn link(c: &mut Client, stmts: &mut Stmts, a: i64, b: i64) -> Result<(), StoreError> {
    let st = stmts.get(
        c,
        "UPDATE events SET linked = CASE WHEN id = $1 THEN $2 ELSE $1 END
         WHERE id IN ($1, $2)",
    )?;
    c.execute(&st, &[&a, &b])?;
    Ok(())
}

/// Events at or after `since_ms` (of one route, either orientation, when
/// given), oldest first.
pub fn since(
    c: &mut Client,
    stmts: &mut Stmts,
    since_ms: u64,
    route: Option<(&str, &str)>,
) -> Result<Vec<Event>, StoreError> {
    let st = stmts.get(
        c,
        "SELECT id, from_ep, to_ep, at_ms, detected_ms, detail, linked, key FROM events
         WHERE at_ms >= $1
           AND ($2::text IS NULL OR (from_ep = $2 AND to_ep = $3) OR (from_ep = $3 AND to_ep = $2))
         ORDER BY at_ms, id",
    )?;
    let (a, b) = route.unzip();
    let mut out = Vec::new();
    for r in c.query(&st, &[&to_i64(since_ms), &a, &b])? {
        let id: i64 = r.get(0);
        out.push(Event {
            id,
            from: r.get(1),
            to: r.get(2),
            direction: direction_of(r.get(7)),
            at_ms: to_u64(r.get(3)),
            detected_ms: to_u64(r.get(4)),
            detail: serde_json::from_str(r.get(5))
                .map_err(|e| StoreError::Corrupt(format!("event {id}: {e}")))?,
            linked: r.get(6),
        });
    }
    Ok(out)
}
