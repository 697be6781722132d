//! Windows and probe rows read back. Rows are streamed (`query_raw`) into
//! the callers' callbacks one at a time, never collected first: a session's
//! windows or a day of medians can be large.

use super::link::Stmts;
use crate::history::Rollup;
use crate::server::store::clock_detail;
use crate::server::store::{
    decode, to_i64, to_u64, Medians, Merged, ProbeRow, StoreError, WindowMedians,
};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, Row, Statement};
use protocol::window::Window;
use std::collections::HashMap;

/// Streams the rows of a prepared statement into `f`; an error from `f`
/// ends the reading.
pub fn stream(
    c: &mut Client,
    st: &Statement,
    params: &[&(dyn ToSql + Sync)],
    f: &mut dyn FnMut(&Row) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut rows = c.query_raw(st, params.iter().copied())?;
    while let Some(row) = rows.next()? {
        f(&row)?;
    }
    Ok(())
}

/// The sequence number expected next from `probe`.
pub fn next_seq(c: &mut Client, stmts: &mut Stmts, probe: &str) -> Result<u64, StoreError> {
    let st = stmts.get(c, "SELECT last_seq FROM probes WHERE id = $1")?;
    let last: Option<i64> = c.query_opt(&st, &[&probe])?.map(|r| r.get(0));
    Ok(to_u64(last.unwrap_or(0)).saturating_add(1))
}

/// Every probe the database knows, with its counts (windows from the
/// probe row's counter; retained windows and results counted).
pub fn probe_rows(
    c: &mut Client,
    stmts: &mut Stmts,
) -> Result<HashMap<String, ProbeRow>, StoreError> {
    let st = stmts.get(
        c,
        "SELECT id, version, boot_id, clock_synchronized, clock_error_us, last_hello_ms,
                last_upload_ms, last_seq, last_result_seq, windows, clock_detail FROM probes",
    )?;
    let mut out: HashMap<String, ProbeRow> = HashMap::new();
    for r in c.query(&st, &[])? {
        let sync: Option<bool> = r.get(3);
        let err: Option<i64> = r.get(4);
        let detail: Option<String> = r.get(10);
        let row = ProbeRow {
            id: r.get(0),
            version: r.get(1),
            boot_id: r.get(2),
            clock: clock_detail::from_columns(sync, err, detail.as_deref()),
            last_hello_ms: r.get::<_, Option<i64>>(5).map(to_u64),
            last_upload_ms: r.get::<_, Option<i64>>(6).map(to_u64),
            last_seq: to_u64(r.get(7)),
            windows: to_u64(r.get(9)),
            windows_merged: 0,
            results: 0,
            last_result_seq: to_u64(r.get(8)),
        };
        out.insert(row.id.clone(), row);
    }
    let st = stmts.get(
        c,
        "SELECT probe, SUM(windows)::bigint, 0::bigint FROM coarse_windows GROUP BY probe
         UNION ALL SELECT probe, 0::bigint, COUNT(*) FROM results GROUP BY probe",
    )?;
    for r in c.query(&st, &[])? {
        let probe: String = r.get(0);
        let row = out.entry(probe.clone()).or_insert_with(|| ProbeRow {
            id: probe,
            ..ProbeRow::default()
        });
        row.windows_merged += to_u64(r.get(1));
        row.results += to_u64(r.get(2));
    }
    Ok(out)
}

/// Raw rows, and windows inside retained rows.
pub fn totals(c: &mut Client, stmts: &mut Stmts) -> Result<(u64, u64), StoreError> {
    let st = stmts.get(
        c,
        "SELECT (SELECT COALESCE(SUM(windows), 0)::bigint FROM probes),
                (SELECT COALESCE(SUM(windows), 0)::bigint FROM coarse_windows)",
    )?;
    let r = c.query_one(&st, &[])?;
    Ok((to_u64(r.get(0)), to_u64(r.get(1))))
}

/// All windows (raw and retained) from `since_ms` on, merged per session.
pub fn merged_since(
    c: &mut Client,
    stmts: &mut Stmts,
    since_ms: u64,
) -> Result<HashMap<(String, String), Merged>, StoreError> {
    let mut out: HashMap<(String, String), Merged> = HashMap::new();
    let st = stmts.get(
        c,
        "SELECT probe, target, json, windows FROM coarse_windows WHERE bucket_ms >= $1
         UNION ALL
         SELECT probe, target, json, 1 FROM windows WHERE start_ms >= $1",
    )?;
    stream(c, &st, &[&to_i64(since_ms)], &mut |r| {
        let w = decode(r.try_get(2)?)?;
        let n = to_u64(r.try_get(3)?);
        let key: (String, String) = (r.try_get(0)?, r.try_get(1)?);
        match out.entry(key) {
            std::collections::hash_map::Entry::Occupied(mut e) => {
                let m = e.get_mut();
                m.window.merge(&w);
                m.windows += n;
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(Merged {
                    window: w,
                    windows: n,
                });
            }
        }
        Ok(())
    })?;
    Ok(out)
}

/// Every session with windows from `since_ms` on, sorted.
pub fn sessions_since(
    c: &mut Client,
    stmts: &mut Stmts,
    since_ms: u64,
) -> Result<Vec<(String, String)>, StoreError> {
    let st = stmts.get(
        c,
        "SELECT probe, target FROM (
             SELECT DISTINCT probe, target FROM windows WHERE start_ms >= $1
             UNION SELECT DISTINCT probe, target FROM coarse_windows WHERE bucket_ms >= $1
         ) s ORDER BY probe COLLATE \"C\", target COLLATE \"C\"",
    )?;
    Ok(c.query(&st, &[&to_i64(since_ms)])?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// Each window of one session from `since_ms` on (retained rows first).
pub fn for_each_window(
    c: &mut Client,
    stmts: &mut Stmts,
    probe: &str,
    target: &str,
    since_ms: u64,
    f: &mut dyn FnMut(&Window, u64),
) -> Result<(), StoreError> {
    let st = stmts.get(
        c,
        "SELECT json, windows FROM coarse_windows
         WHERE probe = $1 AND target = $2 AND bucket_ms >= $3",
    )?;
    let since = to_i64(since_ms);
    stream(c, &st, &[&probe, &target, &since], &mut |r| {
        f(&decode(r.try_get(0)?)?, to_u64(r.try_get(1)?));
        Ok(())
    })?;
    let st = stmts.get(
        c,
        "SELECT json FROM windows WHERE probe = $1 AND target = $2 AND start_ms >= $3",
    )?;
    stream(c, &st, &[&probe, &target, &since], &mut |r| {
        f(&decode(r.try_get(0)?)?, 1);
        Ok(())
    })
}

/// Each raw window and retained row of one session in `[since, until)`.
pub fn for_each_session_rollup(
    c: &mut Client,
    stmts: &mut Stmts,
    probe: &str,
    target: &str,
    since: u64,
    until: u64,
    f: &mut dyn FnMut(u64, u64, Rollup),
) -> Result<(), StoreError> {
    let (since, until) = (to_i64(since), to_i64(until));
    let st = stmts.get(
        c,
        "SELECT bucket_ms, bucket_len_ms, json, windows FROM coarse_windows
         WHERE probe = $1 AND target = $2 AND bucket_ms >= $3 AND bucket_ms < $4",
    )?;
    stream(c, &st, &[&probe, &target, &since, &until], &mut |r| {
        let mut rollup = Rollup::of_window(&decode(r.try_get(2)?)?);
        rollup.windows = to_u64(r.try_get(3)?);
        f(to_u64(r.try_get(0)?), to_u64(r.try_get(1)?), rollup);
        Ok(())
    })?;
    let st = stmts.get(
        c,
        "SELECT start_ms, json FROM windows
         WHERE probe = $1 AND target = $2 AND start_ms >= $3 AND start_ms < $4",
    )?;
    stream(c, &st, &[&probe, &target, &since, &until], &mut |r| {
        let w = decode(r.try_get(1)?)?;
        f(to_u64(r.try_get(0)?), 0, Rollup::of_window(&w));
        Ok(())
    })
}

/// The medians of raw windows with endpoints from `since` on.
pub fn for_each_window_medians(
    c: &mut Client,
    stmts: &mut Stmts,
    since: u64,
    f: &mut dyn FnMut(WindowMedians<'_>),
) -> Result<(), StoreError> {
    let st = stmts.get(
        c,
        "SELECT sender, reflector, start_ms, forward_p50_us, reverse_p50_us, rtt_p50_us
         FROM windows WHERE start_ms >= $1 AND sender IS NOT NULL",
    )?;
    stream(c, &st, &[&to_i64(since)], &mut |r| {
        let us = |v: Option<i64>| v.map(to_u64);
        f(WindowMedians {
            sender: r.try_get(0)?,
            reflector: r.try_get(1)?,
            start_ms: to_u64(r.try_get(2)?),
            medians: Medians {
                forward_us: us(r.try_get(3)?),
                reverse_us: us(r.try_get(4)?),
                rtt_us: us(r.try_get(5)?),
            },
        });
        Ok(())
    })
}
