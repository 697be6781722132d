//! Rollup rows: one per (level, sender endpoint, reflector endpoint, bucket),
//! holding the exactly merged windows of that session direction (see
//! `history::rollup`). Written in the ingest transaction, so a window is in
//! its rollups exactly when it is stored; read by spans (`history::buckets`).

use super::{to_i64, to_u64, StoreError};
use crate::history::{Levels, Rollup, Span, COARSE_MS};
use crate::server::store::rollups::{decode, DirectionSeen, Directions, RollupInput, RollupRow};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;

/// Key of a row: (level, sender, reflector, bucket start).
type Key = (u64, String, String, u64);

/// Adds windows to their fine and coarse rows, one read and one write per row
/// touched (the caller holds the transaction).
pub fn add(conn: &Connection, levels: Levels, inputs: &[RollupInput]) -> Result<(), StoreError> {
    let mut rows: HashMap<Key, Rollup> = HashMap::new();
    for i in inputs {
        for (level, bucket) in levels.buckets_of(i.start_ms) {
            rows.entry((level, i.sender.clone(), i.reflector.clone(), bucket))
                .or_default()
                .merge(&i.rollup);
        }
    }
    let mut get = conn.prepare_cached(
        "SELECT data FROM rollups WHERE level_ms = ?1 AND sender = ?2 AND reflector = ?3 AND bucket_ms = ?4",
    )?;
    let mut put = conn.prepare_cached(
        "INSERT OR REPLACE INTO rollups (level_ms, sender, reflector, bucket_ms, windows, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut seen: HashMap<(&str, &str), (u64, u64)> = HashMap::new();
    for i in inputs {
        let e = seen
            .entry((i.sender.as_str(), i.reflector.as_str()))
            .or_insert((i.start_ms, i.start_ms));
        e.0 = e.0.min(i.start_ms);
        e.1 = e.1.max(i.start_ms);
    }
    let mut mark = conn.prepare_cached(
        "INSERT INTO rollup_directions (sender, reflector, first_ms, last_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (sender, reflector) DO UPDATE SET
             first_ms = MIN(first_ms, ?3), last_ms = MAX(last_ms, ?4)",
    )?;
    for ((sender, reflector), (first, last)) in seen {
        mark.execute(params![sender, reflector, to_i64(first), to_i64(last)])?;
    }
    for ((level, sender, reflector, bucket), mut r) in rows {
        let key = params![to_i64(level), sender, reflector, to_i64(bucket)];
        let old: Option<Vec<u8>> = get.query_row(key, |row| row.get(0)).optional()?;
        if let Some(bytes) = old {
            r.merge(&decode(&bytes)?);
        }
        put.execute(params![
            to_i64(level),
            sender,
            reflector,
            to_i64(bucket),
            to_i64(r.windows),
            r.encode()
        ])?;
    }
    Ok(())
}

/// Calls `f` with every row in the spans (one row alive at a time); an
/// error from `f` ends the reading.
pub fn for_each(
    conn: &Connection,
    spans: &[Span],
    which: Directions<'_>,
    mut f: impl FnMut(RollupRow<'_>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    for s in spans {
        let (from, until) = (to_i64(s.from), to_i64(s.until));
        // Names and bytes are read in place, not copied out of the row.
        let mut each = |row: &rusqlite::Row<'_>| -> Result<(), StoreError> {
            let text = |i: usize| -> Result<&str, StoreError> {
                Ok(row.get_ref(i)?.as_str().map_err(rusqlite::Error::from)?)
            };
            f(RollupRow {
                level_ms: s.level_ms,
                sender: text(0)?,
                reflector: text(1)?,
                bucket_ms: to_u64(row.get(2)?),
                data: row.get_ref(3)?.as_blob().map_err(rusqlite::Error::from)?,
            })
        };
        match which {
            Directions::All => {
                let mut st = conn.prepare_cached(
                    "SELECT sender, reflector, bucket_ms, data FROM rollups
                     WHERE level_ms = ?1 AND bucket_ms >= ?2 AND bucket_ms < ?3",
                )?;
                let mut rows = st.query(params![to_i64(s.level_ms), from, until])?;
                while let Some(r) = rows.next()? {
                    each(r)?;
                }
            }
            Directions::Between(a, b) => {
                let mut st = conn.prepare_cached(
                    "SELECT sender, reflector, bucket_ms, data FROM rollups
                     WHERE level_ms = ?1 AND sender = ?2 AND reflector = ?3
                       AND bucket_ms >= ?4 AND bucket_ms < ?5
                     ORDER BY bucket_ms",
                )?;
                for (x, y) in [(a, b), (b, a)] {
                    let mut rows = st.query(params![to_i64(s.level_ms), x, y, from, until])?;
                    while let Some(r) = rows.next()? {
                        each(r)?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// From when mid rows hold every window (see migration 7): 0 unless the
/// store had rollups before the mid level.
pub fn mid_from(conn: &Connection) -> Result<u64, StoreError> {
    let v: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'rollups_mid_from'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(v.and_then(|s| s.parse().ok()).unwrap_or(0))
}

/// Every session direction ever rolled up, with its first and last window.
pub fn directions_seen(conn: &Connection) -> Result<Vec<DirectionSeen>, StoreError> {
    let mut st =
        conn.prepare_cached("SELECT sender, reflector, first_ms, last_ms FROM rollup_directions")?;
    let rows = st.query_map([], |r| {
        Ok(DirectionSeen {
            sender: r.get(0)?,
            reflector: r.get(1)?,
            first_ms: to_u64(r.get(2)?),
            last_ms: to_u64(r.get(3)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Drops fine rows (of any fine length) that ended before `fine_cutoff` and
/// coarse rows that ended before `coarse_cutoff`; returns the rows dropped.
pub fn retain(conn: &Connection, fine_cutoff: u64, coarse_cutoff: u64) -> Result<u64, StoreError> {
    let mut n = conn.execute(
        "DELETE FROM rollups WHERE level_ms <> ?1 AND bucket_ms + level_ms <= ?2",
        params![to_i64(COARSE_MS), to_i64(fine_cutoff)],
    )?;
    n += conn.execute(
        "DELETE FROM rollups WHERE level_ms = ?1 AND bucket_ms + level_ms <= ?2",
        params![to_i64(COARSE_MS), to_i64(coarse_cutoff)],
    )?;
    Ok(n as u64)
}
