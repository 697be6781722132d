//! Results that are not STAMP windows (bandwidth tests, pings, traces):
//! stored one row each, idempotent on (probe, seq) in a sequence of their own.

use super::{to_i64, to_u64, StoreError};
use crate::server::store::StoredResult;
use protocol::api::{ResultBody, ResultUpload, UploadAck};
use rusqlite::{params, Connection, OptionalExtension};

/// The result sequence number expected next from `probe`.
pub fn next_result_seq(conn: &Connection, probe: &str) -> Result<u64, StoreError> {
    let last: Option<i64> = conn
        .query_row(
            "SELECT last_result_seq FROM probes WHERE id = ?1",
            [probe],
            |r| r.get(0),
        )
        .optional()?;
    Ok(to_u64(last.unwrap_or(0)).saturating_add(1))
}

/// Stores one probe's results (the caller holds the transaction).
pub(super) fn ingest_results_in(
    conn: &Connection,
    probe: &str,
    results: &[ResultUpload],
    now_ms: u64,
) -> Result<UploadAck, StoreError> {
    let mut ack = UploadAck::default();
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO results (probe, seq, kind, target, start_ms, received_ms, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut max_seq = 0u64;
    for r in results {
        let body = serde_json::to_string(&r.body)
            .map_err(|e| StoreError::Schema(format!("result {}: {e}", r.seq)))?;
        let n = insert.execute(params![
            probe,
            to_i64(r.seq),
            r.body.kind(),
            r.target,
            to_i64(r.start_unix_ms),
            to_i64(now_ms),
            body
        ])?;
        if n == 1 {
            ack.accepted.push(r.seq);
            max_seq = max_seq.max(r.seq);
        } else {
            ack.duplicate.push(r.seq);
        }
    }
    if !ack.accepted.is_empty() {
        conn.execute(
            "INSERT INTO probes (id, last_upload_ms, last_result_seq) VALUES (?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET last_upload_ms = ?2,
                 last_result_seq = MAX(last_result_seq, ?3)",
            params![probe, to_i64(now_ms), to_i64(max_seq)],
        )?;
    }
    ack.next_seq = next_result_seq(conn, probe)?;
    Ok(ack)
}

/// Results of one kind started at or after `since_ms`, oldest first.
pub fn results_since(
    conn: &Connection,
    kind: &str,
    since_ms: u64,
) -> Result<Vec<StoredResult>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT probe, target, start_ms, body FROM results
         WHERE kind = ?1 AND start_ms >= ?2 ORDER BY start_ms, probe, seq",
    )?;
    let rows = st.query_map(params![kind, to_i64(since_ms)], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (probe, target, start, body) = row?;
        let body: ResultBody = serde_json::from_str(&body)
            .map_err(|e| StoreError::Schema(format!("stored result of {probe}: {e}")))?;
        out.push(StoredResult {
            probe,
            target,
            start_ms: to_u64(start),
            body,
        });
    }
    Ok(out)
}
