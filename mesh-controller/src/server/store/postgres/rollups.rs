//! Rollup rows, one per (level, sender, reflector, bucket), merged in Rust
//! (the histograms are binary) under row locks so that two controllers
//! adding to one row at once both count: each missing key first gets an
//! empty placeholder (`INSERT … ON CONFLICT DO NOTHING`), then every key is
//! locked with `SELECT … FOR UPDATE` in one order (level, sender, reflector
//! and bucket, byte order: `COLLATE "C"`, which is how Rust sorts them
//! too), read, merged and written back; three statements per group.

use super::link::Stmts;
use super::reads::stream;
use crate::history::{Levels, Rollup, Span, COARSE_MS};
use crate::server::store::rollups::{decode, DirectionSeen, Directions, RollupInput, RollupRow};
use crate::server::store::{to_i64, to_u64, StoreError};
use postgres::{Client, GenericClient, Transaction};
use std::collections::BTreeMap;

const PLACE: &str = "INSERT INTO rollups (level_ms, sender, reflector, bucket_ms, windows, data)
     SELECT l, s, r, b, 0, '\\x'::bytea
     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[]) AS u(l, s, r, b)
     ON CONFLICT DO NOTHING";

const LOCK: &str = "SELECT r.level_ms, r.sender, r.reflector, r.bucket_ms, r.windows, r.data
     FROM rollups r
     JOIN unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[]) AS u(l, s, rf, b)
       ON r.level_ms = u.l AND r.sender = u.s AND r.reflector = u.rf AND r.bucket_ms = u.b
     ORDER BY r.level_ms, r.sender COLLATE \"C\", r.reflector COLLATE \"C\", r.bucket_ms
     FOR UPDATE OF r";

const PUT: &str = "UPDATE rollups r SET windows = u.n, data = u.d
     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bytea[])
          AS u(l, s, rf, b, n, d)
     WHERE r.level_ms = u.l AND r.sender = u.s AND r.reflector = u.rf AND r.bucket_ms = u.b";

const DIRECTIONS: &str = "INSERT INTO rollup_directions (sender, reflector, first_ms, last_ms)
     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])
     ON CONFLICT (sender, reflector) DO UPDATE SET
         first_ms = LEAST(rollup_directions.first_ms, excluded.first_ms),
         last_ms = GREATEST(rollup_directions.last_ms, excluded.last_ms)";

/// Key of a row: (level, sender, reflector, bucket start).
type Key = (i64, String, String, i64);

/// Adds windows to their rows at every level (the caller holds the
/// transaction).
pub fn add(
    tx: &mut Transaction<'_>,
    stmts: &mut Stmts,
    levels: Levels,
    inputs: &[RollupInput],
) -> Result<(), StoreError> {
    if inputs.is_empty() {
        return Ok(());
    }
    let mut rows: BTreeMap<Key, Rollup> = BTreeMap::new();
    let mut seen: BTreeMap<(&str, &str), (i64, i64)> = BTreeMap::new();
    for i in inputs {
        for (level, bucket) in levels.buckets_of(i.start_ms) {
            rows.entry((
                to_i64(level),
                i.sender.clone(),
                i.reflector.clone(),
                to_i64(bucket),
            ))
            .or_default()
            .merge(&i.rollup);
        }
        let start = to_i64(i.start_ms);
        let e = seen
            .entry((i.sender.as_str(), i.reflector.as_str()))
            .or_insert((start, start));
        e.0 = e.0.min(start);
        e.1 = e.1.max(start);
    }
    let keys: Vec<Key> = rows.keys().cloned().collect();
    let levels: Vec<i64> = keys.iter().map(|k| k.0).collect();
    let senders: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
    let reflectors: Vec<&str> = keys.iter().map(|k| k.2.as_str()).collect();
    let buckets: Vec<i64> = keys.iter().map(|k| k.3).collect();
    let key: [&(dyn postgres::types::ToSql + Sync); 4] = [&levels, &senders, &reflectors, &buckets];
    let st = stmts.get(tx, PLACE)?;
    tx.execute(&st, &key)?;
    let st = stmts.get(tx, LOCK)?;
    let mut merged: BTreeMap<Key, Rollup> = BTreeMap::new();
    for r in tx.query(&st, &key)? {
        let k: Key = (r.get(0), r.get(1), r.get(2), r.get(3));
        let Some(mut new) = rows.remove(&k) else {
            continue;
        };
        if r.get::<_, i64>(4) > 0 {
            new.merge(&decode(r.get::<_, &[u8]>(5))?);
        }
        merged.insert(k, new);
    }
    if !rows.is_empty() {
        return Err(StoreError::Backend(format!(
            "{} rollup rows vanished while locked",
            rows.len()
        )));
    }
    let data: Vec<Vec<u8>> = merged.values().map(Rollup::encode).collect();
    let counts: Vec<i64> = merged.values().map(|r| to_i64(r.windows)).collect();
    let st = stmts.get(tx, PUT)?;
    tx.execute(
        &st,
        &[&levels, &senders, &reflectors, &buckets, &counts, &data],
    )?;
    let senders: Vec<&str> = seen.keys().map(|k| k.0).collect();
    let reflectors: Vec<&str> = seen.keys().map(|k| k.1).collect();
    let firsts: Vec<i64> = seen.values().map(|v| v.0).collect();
    let lasts: Vec<i64> = seen.values().map(|v| v.1).collect();
    let st = stmts.get(tx, DIRECTIONS)?;
    tx.execute(&st, &[&senders, &reflectors, &firsts, &lasts])?;
    Ok(())
}

/// Calls `f` with every row in the spans, streamed (one row alive at a
/// time, names and bytes borrowed from it).
pub fn for_each(
    c: &mut Client,
    stmts: &mut Stmts,
    spans: &[Span],
    which: Directions<'_>,
    f: &mut dyn FnMut(RollupRow<'_>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    for s in spans {
        let (level, from, until) = (to_i64(s.level_ms), to_i64(s.from), to_i64(s.until));
        let mut each = |row: &postgres::Row| -> Result<(), StoreError> {
            if row.get::<_, i64>(4) == 0 {
                return Ok(()); // a placeholder (never committed empty)
            }
            f(RollupRow {
                level_ms: s.level_ms,
                sender: row.try_get(0)?,
                reflector: row.try_get(1)?,
                bucket_ms: to_u64(row.try_get(2)?),
                data: row.try_get(3)?,
            })
        };
        match which {
            Directions::All => {
                let st = stmts.get(
                    c,
                    "SELECT sender, reflector, bucket_ms, data, windows FROM rollups
                     WHERE level_ms = $1 AND bucket_ms >= $2 AND bucket_ms < $3",
                )?;
                stream(c, &st, &[&level, &from, &until], &mut each)?;
            }
            Directions::Between(a, b) => {
                let st = stmts.get(
                    c,
                    "SELECT sender, reflector, bucket_ms, data, windows FROM rollups
                     WHERE level_ms = $1 AND sender = $2 AND reflector = $3
                       AND bucket_ms >= $4 AND bucket_ms < $5
                     ORDER BY bucket_ms",
                )?;
                for (x, y) in [(a, b), (b, a)] {
                    stream(c, &st, &[&level, &x, &y, &from, &until], &mut each)?;
                }
            }
        }
    }
    Ok(())
}

/// Every session direction ever rolled up, with its first and last window.
pub fn directions_seen(
    c: &mut Client,
    stmts: &mut Stmts,
) -> Result<Vec<DirectionSeen>, StoreError> {
    let st = stmts.get(
        c,
        "SELECT sender, reflector, first_ms, last_ms FROM rollup_directions",
    )?;
    Ok(c.query(&st, &[])?
        .iter()
        .map(|r| DirectionSeen {
            sender: r.get(0),
            reflector: r.get(1),
            first_ms: to_u64(r.get(2)),
            last_ms: to_u64(r.get(3)),
        })
        .collect())
}

/// Drops fine and mid rows that ended before `fine_cutoff` and hourly rows
/// that ended before `coarse_cutoff`; returns the rows dropped.
pub fn retain(
    c: &mut impl GenericClient,
    fine_cutoff: u64,
    coarse_cutoff: u64,
) -> Result<u64, StoreError> {
    let coarse = to_i64(COARSE_MS);
    let mut n = c.execute(
        "DELETE FROM rollups WHERE level_ms <> $1 AND bucket_ms + level_ms <= $2",
        &[&coarse, &to_i64(fine_cutoff)],
    )?;
    n += c.execute(
        "DELETE FROM rollups WHERE level_ms = $1 AND bucket_ms + level_ms <= $2",
        &[&coarse, &to_i64(coarse_cutoff)],
    )?;
    Ok(n)
}
