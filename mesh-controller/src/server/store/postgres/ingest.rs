//! Window ingest: a group of batches in one transaction and a fixed number
//! of round trips whatever its size. Every statement is correct with other
//! controllers writing the same database at once:
//!
//! - windows go in with one statement: their keys into `window_seqs` with
//!   `INSERT … SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING RETURNING`,
//!   and the windows whose keys it returned into `windows`; of a window
//!   uploaded twice at once (through two controllers) exactly one insert
//!   returns it, and only returned windows count, feed rollups and are
//!   acknowledged as accepted;
//! - probe counters are added to atomically (`windows = windows + n`);
//! - ingest holds the retention advisory lock shared, retention holds it
//!   alone, so a window merged away meanwhile cannot be stored again;
//! - everything is written in one global order (windows by probe and seq,
//!   then probe rows by id, then rollups by key: see `rollups`), so two
//!   ingests wait for each other at worst, never deadlock (a deadlock the
//!   server detects anyway is retried).
//!
//! A group where one batch fails (a bad value) is run again one batch per
//! savepoint, so only that batch is refused, as on SQLite.

use super::link::{is_retryable, Link, Stmts};
use super::partitions::{self, Known};
use super::{lock, rollups};
use crate::history::Levels;
use crate::server::store::rollups::RollupInput;
use crate::server::store::{to_i64, to_u64, NewWindow, StoreError};
use postgres::{Client, Transaction};
use protocol::api::UploadAck;
use std::collections::{HashMap, HashSet};

type Batch<'a> = (&'a str, &'a [NewWindow]);

/// Attempts at a group before its error is returned (deadlocks, a
/// partition dropped by another controller meanwhile).
const ATTEMPTS: u32 = 3;

const FACTS: &str = "SELECT probe, lo, hi, NULL::text FROM merged_seqs WHERE probe = ANY($1)
     UNION ALL
     SELECT id, 0, 0, boot_id FROM probes WHERE id = ANY($2) AND boot_id IS NOT NULL";

const INSERT: &str = "WITH u AS (
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[],
                              $7::int[], $8::text[], $9::bigint[], $10::bigint[], $11::text[],
                              $12::text[], $13::text[], $14::bigint[], $15::bigint[], $16::bigint[])
              AS u(p, s, t, st, d, ss, ts, se, re, w, sd, rf, f, r, rt)
     ), k AS (
         INSERT INTO window_seqs (probe, seq, start_ms) SELECT p, s, st FROM u
         ON CONFLICT DO NOTHING RETURNING probe, seq
     )
     INSERT INTO windows
     (probe, seq, target, start_ms, duration_ms, received_ms, ssid, timestamping, sent, replies,
      json, sender, reflector, forward_p50_us, reverse_p50_us, rtt_p50_us)
     SELECT p, s, t, st, d, $6, ss, ts, se, re, w, sd, rf, f, r, rt
     FROM u JOIN k ON k.probe = u.p AND k.seq = u.s
     RETURNING probe, seq";

const COUNT: &str = "INSERT INTO probes (id, last_upload_ms, last_seq, windows)
     SELECT id, $2, s, n FROM unnest($1::text[], $3::bigint[], $4::bigint[]) AS u(id, s, n)
     ON CONFLICT (id) DO UPDATE SET last_upload_ms = excluded.last_upload_ms,
         last_seq = GREATEST(probes.last_seq, excluded.last_seq),
         windows = probes.windows + excluded.windows";

const LAST_SEQS: &str = "SELECT id, last_seq FROM probes WHERE id = ANY($1)";

/// Stores batches in one transaction; see the module documentation.
pub fn ingest_many(
    link: &mut Link,
    known: &mut Known,
    levels: Levels,
    batches: &[Batch<'_>],
    now_ms: u64,
) -> Result<Vec<Result<UploadAck, StoreError>>, StoreError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let out = link.run(|c, stmts| {
            let starts = batches
                .iter()
                .flat_map(|(_, ws)| ws.iter().map(|w| to_i64(w.start_ms)));
            partitions::ensure(c, known, starts)?;
            match whole(c, stmts, levels, batches, now_ms) {
                Ok(acks) => Ok(acks.into_iter().map(Ok).collect()),
                Err(e) if !again(&e) && !matches!(e, StoreError::Unavailable(_)) => {
                    one_by_one(c, stmts, levels, batches, now_ms)
                }
                Err(e) => Err(e),
            }
        });
        match out {
            Err(e) if attempt < ATTEMPTS && again(&e) => {
                if partitions::is_missing(&e) {
                    known.clear();
                }
            }
            other => return other,
        }
    }
}

/// Whether the whole group may simply be run again.
fn again(e: &StoreError) -> bool {
    is_retryable(e) || partitions::is_missing(e)
}

fn begin<'a>(c: &'a mut Client) -> Result<Transaction<'a>, StoreError> {
    let mut tx = c.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock_shared($1)", &[&lock::RETAIN])?;
    Ok(tx)
}

/// Every batch at once.
fn whole(
    c: &mut Client,
    stmts: &mut Stmts,
    levels: Levels,
    batches: &[Batch<'_>],
    now_ms: u64,
) -> Result<Vec<UploadAck>, StoreError> {
    let mut tx = begin(c)?;
    let mut rolled = Vec::new();
    let acks = store(&mut tx, stmts, batches, now_ms, &mut rolled)?;
    rollups::add(&mut tx, stmts, levels, &rolled)?;
    tx.commit()?;
    Ok(acks)
}

/// One batch per savepoint: a batch that fails is rolled back alone.
fn one_by_one(
    c: &mut Client,
    stmts: &mut Stmts,
    levels: Levels,
    batches: &[Batch<'_>],
    now_ms: u64,
) -> Result<Vec<Result<UploadAck, StoreError>>, StoreError> {
    let mut tx = begin(c)?;
    let mut rolled = Vec::new();
    let mut out = Vec::with_capacity(batches.len());
    for batch in batches {
        let mut sp = tx.transaction()?;
        let mut mine = Vec::new();
        match store(
            &mut sp,
            stmts,
            std::slice::from_ref(batch),
            now_ms,
            &mut mine,
        ) {
            Ok(mut acks) => {
                sp.commit()?;
                rolled.append(&mut mine);
                out.push(acks.pop().ok_or(StoreError::Closed));
            }
            Err(e @ StoreError::Unavailable(_)) => return Err(e),
            Err(e) => {
                drop(sp); // rolls back this batch only
                out.push(Err(e));
            }
        }
    }
    rollups::add(&mut tx, stmts, levels, &rolled)?;
    tx.commit()?;
    Ok(out)
}

/// A window to insert: (batch, index in it).
type Pick = (usize, usize);

/// Stores batches (the caller holds the transaction); the rollups of the
/// windows accepted (clock facts dropped where both probes share a boot)
/// go to `rolled`.
fn store(
    tx: &mut Transaction<'_>,
    stmts: &mut Stmts,
    batches: &[Batch<'_>],
    now_ms: u64,
    rolled: &mut Vec<RollupInput>,
) -> Result<Vec<UploadAck>, StoreError> {
    let probes: Vec<&str> = sorted_unique(batches.iter().map(|(p, _)| *p));
    let known: Vec<&str> = sorted_unique(
        batches
            .iter()
            .flat_map(|(p, ws)| std::iter::once(*p).chain(ws.iter().map(|w| w.target.as_str()))),
    );
    // Merged sequence ranges of the probes, and the boot ids of every
    // probe involved (read here, not cached: another controller may have
    // had the hello).
    let facts = stmts.get(tx, FACTS)?;
    let mut merged: HashMap<String, Vec<(i64, i64)>> = HashMap::new();
    let mut boots: HashMap<String, String> = HashMap::new();
    for r in tx.query(&facts, &[&probes, &known])? {
        let id: String = r.get(0);
        match r.get::<_, Option<String>>(3) {
            Some(boot) => {
                boots.insert(id, boot);
            }
            None => merged.entry(id).or_default().push((r.get(1), r.get(2))),
        }
    }
    let is_merged = |probe: &str, seq: i64| {
        merged
            .get(probe)
            .is_some_and(|rs| rs.iter().any(|&(lo, hi)| lo <= seq && seq <= hi))
    };

    // What to insert: each (probe, seq) once, in the global order.
    let mut seen: HashSet<(&str, u64)> = HashSet::new();
    let mut picks: Vec<Pick> = Vec::new();
    for (b, (probe, ws)) in batches.iter().enumerate() {
        for (i, w) in ws.iter().enumerate() {
            if !is_merged(probe, to_i64(w.seq)) && seen.insert((probe, w.seq)) {
                picks.push((b, i));
            }
        }
    }
    picks.sort_by(|&(b1, i1), &(b2, i2)| {
        let (w1, w2) = (&batches[b1].1[i1], &batches[b2].1[i2]);
        (batches[b1].0, w1.seq, w1.start_ms).cmp(&(batches[b2].0, w2.seq, w2.start_ms))
    });
    let inserted = insert(tx, stmts, batches, &picks, now_ms)?;

    // The acknowledgements, batch by batch in upload order.
    let mut claimed: HashSet<(&str, u64)> = HashSet::new();
    let mut counts: HashMap<&str, (i64, i64)> = HashMap::new();
    let mut acks = Vec::with_capacity(batches.len());
    for (probe, ws) in batches {
        let mut ack = UploadAck::default();
        for w in ws.iter() {
            let new = inserted.contains(&(probe.to_string(), to_i64(w.seq)))
                && claimed.insert((probe, w.seq));
            if !new {
                ack.duplicate.push(w.seq);
                continue;
            }
            ack.accepted.push(w.seq);
            let c = counts.entry(probe).or_insert((0, 0));
            c.0 = c.0.max(to_i64(w.seq));
            c.1 += 1;
            if let (Some((sender, reflector)), Some(r)) = (&w.pair, &w.rollup) {
                let same_boot = matches!(
                    (boots.get(*probe), boots.get(&w.target)),
                    (Some(a), Some(b)) if a == b
                );
                rolled.push(RollupInput {
                    sender: sender.clone(),
                    reflector: reflector.clone(),
                    start_ms: w.start_ms,
                    rollup: if same_boot {
                        r.clone().same_clock()
                    } else {
                        r.clone()
                    },
                });
            }
        }
        acks.push(ack);
    }

    if !counts.is_empty() {
        let mut ids: Vec<&str> = counts.keys().copied().collect();
        ids.sort_unstable();
        let seqs: Vec<i64> = ids.iter().map(|p| counts[p].0).collect();
        let ns: Vec<i64> = ids.iter().map(|p| counts[p].1).collect();
        let st = stmts.get(tx, COUNT)?;
        tx.execute(&st, &[&ids, &to_i64(now_ms), &seqs, &ns])?;
    }
    let st = stmts.get(tx, LAST_SEQS)?;
    let last: HashMap<String, i64> = tx
        .query(&st, &[&probes])?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    for ((probe, _), ack) in batches.iter().zip(acks.iter_mut()) {
        ack.next_seq = to_u64(last.get(*probe).copied().unwrap_or(0)).saturating_add(1);
    }
    Ok(acks)
}

/// Inserts the picked windows in one statement; returns those inserted.
fn insert(
    tx: &mut Transaction<'_>,
    stmts: &mut Stmts,
    batches: &[Batch<'_>],
    picks: &[Pick],
    now_ms: u64,
) -> Result<HashSet<(String, i64)>, StoreError> {
    if picks.is_empty() {
        return Ok(HashSet::new());
    }
    let n = picks.len();
    let mut probe = Vec::with_capacity(n);
    let mut seq = Vec::with_capacity(n);
    let mut target = Vec::with_capacity(n);
    let mut start = Vec::with_capacity(n);
    let mut duration = Vec::with_capacity(n);
    let mut ssid: Vec<Option<i32>> = Vec::with_capacity(n);
    let mut ts: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut sent = Vec::with_capacity(n);
    let mut replies = Vec::with_capacity(n);
    let mut json = Vec::with_capacity(n);
    let mut sender: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut reflector: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut fwd: Vec<Option<i64>> = Vec::with_capacity(n);
    let mut rev: Vec<Option<i64>> = Vec::with_capacity(n);
    let mut rtt: Vec<Option<i64>> = Vec::with_capacity(n);
    for &(b, i) in picks {
        let (p, ws) = batches[b];
        let w = &ws[i];
        probe.push(p);
        seq.push(to_i64(w.seq));
        target.push(w.target.as_str());
        start.push(to_i64(w.start_ms));
        duration.push(to_i64(w.duration_ms));
        ssid.push(w.ssid.map(i32::from));
        ts.push(w.timestamping.map(|t| t.as_str()));
        sent.push(to_i64(w.sent));
        replies.push(to_i64(w.replies));
        json.push(w.json.as_str());
        sender.push(w.pair.as_ref().map(|p| p.0.as_str()));
        reflector.push(w.pair.as_ref().map(|p| p.1.as_str()));
        fwd.push(w.medians.forward_us.map(to_i64));
        rev.push(w.medians.reverse_us.map(to_i64));
        rtt.push(w.medians.rtt_us.map(to_i64));
    }
    let st = stmts.get(tx, INSERT)?;
    let rows = tx.query(
        &st,
        &[
            &probe,
            &seq,
            &target,
            &start,
            &duration,
            &to_i64(now_ms),
            &ssid,
            &ts,
            &sent,
            &replies,
            &json,
            &sender,
            &reflector,
            &fwd,
            &rev,
            &rtt,
        ],
    )?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

fn sorted_unique<'a>(it: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = it.collect();
    v.sort_unstable();
    v.dedup();
    v
}
