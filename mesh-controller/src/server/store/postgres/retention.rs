//! Retention: raw windows older than `raw` are merged per probe, target and
//! `coarse_window` bucket into retained rows (exactly merged histograms);
//! their sequence numbers are kept as ranges so replays stay duplicates;
//! the days wholly merged are dropped as partitions (no row-by-row delete),
//! the rest of the cut-off day is deleted; retained rows, results and
//! rollups past their horizons go. One transaction, holding the retention
//! advisory lock alone: ingest (which shares it) waits meanwhile, and only
//! one controller retains at a time.

use super::lock;
use super::partitions::{self, Known, DAY_MS};
use crate::server::config::Retention;
use crate::server::store::ranges::coalesce;
use crate::server::store::{decode, to_i64, to_u64, RetentionStats, StoreError};
use postgres::fallible_iterator::FallibleIterator;
use postgres::Client;
use protocol::window::Window;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Default)]
struct Bucket {
    window: Window,
    windows: u64,
    duration_ms: u64,
    sent: u64,
    replies: u64,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub fn retain(
    c: &mut Client,
    known: &mut Known,
    now_ms: u64,
    r: &Retention,
) -> Result<RetentionStats, StoreError> {
    let len = ms(r.coarse_window).max(1);
    let raw_cutoff = now_ms.saturating_sub(ms(r.raw));
    let coarse_cutoff = now_ms.saturating_sub(ms(r.coarse));
    let mut tx = c.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lock::RETAIN])?;
    let mut stats = RetentionStats::default();
    let mut buckets: BTreeMap<(String, String, i64), Bucket> = BTreeMap::new();
    let mut seqs: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    {
        let mut rows = tx.query_raw(
            "SELECT probe, target, start_ms, duration_ms, sent, replies, json, seq
             FROM windows WHERE start_ms < $1",
            [to_i64(raw_cutoff)],
        )?;
        while let Some(row) = rows.next()? {
            let probe: String = row.try_get(0)?;
            let start = to_u64(row.try_get(2)?);
            let w = decode(row.try_get(6)?)?;
            let key = (probe.clone(), row.try_get(1)?, to_i64(start - start % len));
            let b = buckets.entry(key).or_default();
            b.window.merge(&w);
            b.windows += 1;
            b.duration_ms += to_u64(row.try_get(3)?);
            b.sent += to_u64(row.try_get(4)?);
            b.replies += to_u64(row.try_get(5)?);
            seqs.entry(probe).or_default().push(to_u64(row.try_get(7)?));
            stats.merged += 1;
        }
    }
    if !buckets.is_empty() {
        let probes: Vec<String> = buckets.keys().map(|k| k.0.clone()).collect();
        let targets: Vec<String> = buckets.keys().map(|k| k.1.clone()).collect();
        let starts: Vec<i64> = buckets.keys().map(|k| k.2).collect();
        for row in tx.query(
            "SELECT c.probe, c.target, c.bucket_ms, c.json, c.windows, c.duration_ms, c.sent, c.replies
             FROM coarse_windows c
             JOIN unnest($1::text[], $2::text[], $3::bigint[]) AS u(p, t, b)
               ON c.probe = u.p AND c.target = u.t AND c.bucket_ms = u.b",
            &[&probes, &targets, &starts],
        )? {
            let key: (String, String, i64) = (row.get(0), row.get(1), row.get(2));
            if let Some(b) = buckets.get_mut(&key) {
                b.window.merge(&decode(row.get(3))?);
                b.windows += to_u64(row.get(4));
                b.duration_ms += to_u64(row.get(5));
                b.sent += to_u64(row.get(6));
                b.replies += to_u64(row.get(7));
            }
        }
        let mut jsons = Vec::with_capacity(buckets.len());
        for b in buckets.values() {
            jsons.push(
                serde_json::to_string(&b.window).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            );
        }
        let field = |f: fn(&Bucket) -> u64| -> Vec<i64> {
            buckets.values().map(|b| to_i64(f(b))).collect()
        };
        tx.execute(
            "INSERT INTO coarse_windows
             (probe, target, bucket_ms, bucket_len_ms, windows, duration_ms, sent, replies, json)
             SELECT p, t, b, $4, n, d, s, r, w
             FROM unnest($1::text[], $2::text[], $3::bigint[], $5::bigint[], $6::bigint[],
                         $7::bigint[], $8::bigint[], $9::text[]) AS u(p, t, b, n, d, s, r, w)
             ON CONFLICT (probe, target, bucket_ms) DO UPDATE SET
                 bucket_len_ms = excluded.bucket_len_ms, windows = excluded.windows,
                 duration_ms = excluded.duration_ms, sent = excluded.sent,
                 replies = excluded.replies, json = excluded.json",
            &[
                &probes,
                &targets,
                &starts,
                &to_i64(len),
                &field(|b| b.windows),
                &field(|b| b.duration_ms),
                &field(|b| b.sent),
                &field(|b| b.replies),
                &jsons,
            ],
        )?;
        stats.coarse_rows = buckets.len() as u64;
    }
    // Whole days merged: dropped; the rest of the cut-off day: deleted.
    let mut dropped_days = Vec::new();
    for day in partitions::existing(&mut tx)? {
        if (day + 1).saturating_mul(DAY_MS) <= to_i64(raw_cutoff) {
            tx.batch_execute(&format!("DROP TABLE {}", partitions::name(day)))?;
            dropped_days.push(day);
        }
    }
    tx.execute(
        "DELETE FROM windows WHERE start_ms < $1",
        &[&to_i64(raw_cutoff)],
    )?;
    // Their keys: merged_seqs answers for them from now on.
    tx.execute(
        "DELETE FROM window_seqs WHERE start_ms < $1",
        &[&to_i64(raw_cutoff)],
    )?;
    let mut counted: Vec<(&str, i64)> = Vec::new();
    for (probe, new) in &seqs {
        counted.push((probe, new.len() as i64));
        let mut all: Vec<(u64, u64)> = new.iter().map(|&s| (s, s)).collect();
        for row in tx.query("SELECT lo, hi FROM merged_seqs WHERE probe = $1", &[probe])? {
            all.push((to_u64(row.get(0)), to_u64(row.get(1))));
        }
        let ranges = coalesce(all);
        let los: Vec<i64> = ranges.iter().map(|r| to_i64(r.0)).collect();
        let his: Vec<i64> = ranges.iter().map(|r| to_i64(r.1)).collect();
        tx.execute("DELETE FROM merged_seqs WHERE probe = $1", &[probe])?;
        tx.execute(
            "INSERT INTO merged_seqs (probe, lo, hi)
             SELECT $1, lo, hi FROM unnest($2::bigint[], $3::bigint[]) AS u(lo, hi)",
            &[probe, &los, &his],
        )?;
    }
    if !counted.is_empty() {
        let ids: Vec<&str> = counted.iter().map(|c| c.0).collect();
        let ns: Vec<i64> = counted.iter().map(|c| c.1).collect();
        tx.execute(
            "UPDATE probes p SET windows = p.windows - u.n
             FROM unnest($1::text[], $2::bigint[]) AS u(id, n) WHERE p.id = u.id",
            &[&ids, &ns],
        )?;
    }
    stats.dropped = tx.execute(
        "DELETE FROM coarse_windows WHERE bucket_ms + bucket_len_ms <= $1",
        &[&to_i64(coarse_cutoff)],
    )?;
    tx.execute(
        "DELETE FROM results WHERE start_ms < $1",
        &[&to_i64(coarse_cutoff)],
    )?;
    stats.rollups_dropped = super::rollups::retain(&mut tx, raw_cutoff, coarse_cutoff)?;
    tx.commit()?;
    for day in dropped_days {
        known.forget(day);
    }

    Ok(stats)
}
