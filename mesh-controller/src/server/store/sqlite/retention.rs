//! Retention: raw windows older than `raw` are merged, per probe, target and
//! `coarse_window` bucket, into coarse rows that keep the exactly merged
//! histograms; their sequence numbers are kept as ranges so replays stay
//! duplicates; coarse rows older than `coarse` are dropped. One transaction.

use super::{decode, to_i64, to_u64, StoreError};
use crate::server::config::Retention;
use crate::server::store::ranges::coalesce;
use crate::server::store::RetentionStats;
use protocol::window::Window;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeMap;

struct Bucket {
    window: Window,
    windows: u64,
    duration_ms: u64,
    sent: u64,
    replies: u64,
}

pub(super) fn retain(
    conn: &mut Connection,
    now_ms: u64,
    r: &Retention,
) -> Result<RetentionStats, StoreError> {
    let len = u64::try_from(r.coarse_window.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let raw_cutoff = now_ms.saturating_sub(u64::try_from(r.raw.as_millis()).unwrap_or(u64::MAX));
    let coarse_cutoff =
        now_ms.saturating_sub(u64::try_from(r.coarse.as_millis()).unwrap_or(u64::MAX));
    let tx = conn.transaction()?;
    let mut stats = RetentionStats::default();
    let mut buckets: BTreeMap<(String, String, u64), Bucket> = BTreeMap::new();
    let mut seqs: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    {
        let mut st = tx.prepare(
            "SELECT probe, target, start_ms, duration_ms, sent, replies, window, seq
             FROM windows WHERE start_ms < ?1",
        )?;
        let mut rows = st.query([to_i64(raw_cutoff)])?;
        while let Some(row) = rows.next()? {
            let probe: String = row.get(0)?;
            let target: String = row.get(1)?;
            let start = to_u64(row.get(2)?);
            let w = decode(&row.get::<_, String>(6)?)?;
            let key = (probe.clone(), target, start - start % len);
            let b = buckets.entry(key).or_insert_with(|| Bucket {
                window: Window::new(),
                windows: 0,
                duration_ms: 0,
                sent: 0,
                replies: 0,
            });
            b.window.merge(&w);
            b.windows += 1;
            b.duration_ms += to_u64(row.get(3)?);
            b.sent += to_u64(row.get(4)?);
            b.replies += to_u64(row.get(5)?);
            seqs.entry(probe).or_default().push(to_u64(row.get(7)?));
            stats.merged += 1;
        }
    }
    for ((probe, target, bucket), mut b) in buckets {
        let existing: Option<(String, i64, i64, i64, i64)> = tx
            .query_row(
                "SELECT window, windows, duration_ms, sent, replies FROM coarse_windows
                 WHERE probe = ?1 AND target = ?2 AND bucket_ms = ?3",
                params![probe, target, to_i64(bucket)],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        if let Some((json, n, d, s, rep)) = existing {
            b.window.merge(&decode(&json)?);
            b.windows += to_u64(n);
            b.duration_ms += to_u64(d);
            b.sent += to_u64(s);
            b.replies += to_u64(rep);
        }
        let json =
            serde_json::to_string(&b.window).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        tx.execute(
            "INSERT OR REPLACE INTO coarse_windows
             (probe, target, bucket_ms, bucket_len_ms, windows, duration_ms, sent, replies, window)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                probe,
                target,
                to_i64(bucket),
                to_i64(len),
                to_i64(b.windows),
                to_i64(b.duration_ms),
                to_i64(b.sent),
                to_i64(b.replies),
                json
            ],
        )?;
        stats.coarse_rows += 1;
    }
    tx.execute(
        "DELETE FROM windows WHERE start_ms < ?1",
        [to_i64(raw_cutoff)],
    )?;
    for (probe, new) in seqs {
        let mut all: Vec<(u64, u64)> = new.into_iter().map(|s| (s, s)).collect();
        {
            let mut st = tx.prepare("SELECT lo, hi FROM merged_seqs WHERE probe = ?1")?;
            let rows =
                st.query_map([&probe], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
            for row in rows {
                let (lo, hi) = row?;
                all.push((to_u64(lo), to_u64(hi)));
            }
        }
        tx.execute("DELETE FROM merged_seqs WHERE probe = ?1", [&probe])?;
        for (lo, hi) in coalesce(all) {
            tx.execute(
                "INSERT INTO merged_seqs (probe, lo, hi) VALUES (?1, ?2, ?3)",
                params![probe, to_i64(lo), to_i64(hi)],
            )?;
        }
    }
    stats.dropped = tx.execute(
        "DELETE FROM coarse_windows WHERE bucket_ms + bucket_len_ms <= ?1",
        [to_i64(coarse_cutoff)],
    )? as u64;
    tx.commit()?;
    Ok(stats)
}
