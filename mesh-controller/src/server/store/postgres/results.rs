//! Results that are not STAMP windows (bandwidth tests, pings, traces):
//! one row each, idempotent on (probe, seq) across controllers (one
//! `INSERT … ON CONFLICT DO NOTHING RETURNING seq` per batch).

use super::link::Stmts;
use crate::server::store::{to_i64, to_u64, StoreError, StoredResult};
use postgres::Client;
use protocol::api::{ResultBody, ResultUpload, UploadAck};
use std::collections::HashSet;

/// The result sequence number expected next from `probe`.
pub fn next_result_seq(c: &mut Client, stmts: &mut Stmts, probe: &str) -> Result<u64, StoreError> {
    let st = stmts.get(c, "SELECT last_result_seq FROM probes WHERE id = $1")?;
    let last: Option<i64> = c.query_opt(&st, &[&probe])?.map(|r| r.get(0));
    Ok(to_u64(last.unwrap_or(0)).saturating_add(1))
}

/// Stores one probe's results in one transaction.
pub fn ingest_results(
    c: &mut Client,
    stmts: &mut Stmts,
    probe: &str,
    results: &[ResultUpload],
    now_ms: u64,
) -> Result<UploadAck, StoreError> {
    let mut seqs = Vec::with_capacity(results.len());
    let mut kinds = Vec::with_capacity(results.len());
    let mut targets = Vec::with_capacity(results.len());
    let mut starts = Vec::with_capacity(results.len());
    let mut bodies = Vec::with_capacity(results.len());
    let mut order: Vec<usize> = (0..results.len()).collect();
    order.sort_by_key(|&i| results[i].seq);
    for &i in &order {
        let r = &results[i];
        seqs.push(to_i64(r.seq));
        kinds.push(r.body.kind());
        targets.push(r.target.as_str());
        starts.push(to_i64(r.start_unix_ms));
        bodies.push(
            serde_json::to_string(&r.body)
                .map_err(|e| StoreError::Schema(format!("result {}: {e}", r.seq)))?,
        );
    }
    let mut tx = c.transaction()?;
    let st = stmts.get(
        &mut tx,
        "INSERT INTO results (probe, seq, kind, target, start_ms, received_ms, body)
         SELECT $1, s, k, t, st, $6, b
         FROM unnest($2::bigint[], $3::text[], $4::text[], $5::bigint[], $7::text[])
              AS u(s, k, t, st, b)
         ON CONFLICT DO NOTHING RETURNING seq",
    )?;
    let inserted: HashSet<i64> = tx
        .query(
            &st,
            &[
                &probe,
                &seqs,
                &kinds,
                &targets,
                &starts,
                &to_i64(now_ms),
                &bodies,
            ],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut ack = UploadAck::default();
    let mut claimed = HashSet::new();
    for r in results {
        if inserted.contains(&to_i64(r.seq)) && claimed.insert(r.seq) {
            ack.accepted.push(r.seq);
        } else {
            ack.duplicate.push(r.seq);
        }
    }
    if let Some(max) = ack.accepted.iter().max() {
        let st = stmts.get(
            &mut tx,
            "INSERT INTO probes (id, last_upload_ms, last_result_seq) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET last_upload_ms = excluded.last_upload_ms,
                 last_result_seq = GREATEST(probes.last_result_seq, excluded.last_result_seq)",
        )?;
        tx.execute(&st, &[&probe, &to_i64(now_ms), &to_i64(*max)])?;
    }
    let st = stmts.get(&mut tx, "SELECT last_result_seq FROM probes WHERE id = $1")?;
    let last: Option<i64> = tx.query_opt(&st, &[&probe])?.map(|r| r.get(0));
    tx.commit()?;
    ack.next_seq = to_u64(last.unwrap_or(0)).saturating_add(1);
    Ok(ack)
}

/// Results of one kind started at or after `since_ms`, oldest first.
pub fn results_since(
    c: &mut Client,
    stmts: &mut Stmts,
    kind: &str,
    since_ms: u64,
) -> Result<Vec<StoredResult>, StoreError> {
    let st = stmts.get(
        c,
        "SELECT probe, target, start_ms, body FROM results
         WHERE kind = $1 AND start_ms >= $2 ORDER BY start_ms, probe COLLATE \"C\", seq",
    )?;
    let mut out = Vec::new();
    for r in c.query(&st, &[&kind, &to_i64(since_ms)])? {
        let probe: String = r.get(0);
        let body: ResultBody = serde_json::from_str(r.get(3))
            .map_err(|e| StoreError::Schema(format!("stored result of {probe}: {e}")))?;
        out.push(StoredResult {
            probe,
            target: r.get(1),
            start_ms: to_u64(r.get(2)),
            body,
        });
    }
    Ok(out)
}
