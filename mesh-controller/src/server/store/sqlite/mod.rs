//! The SQLite backend (bundled) in WAL mode with `synchronous = FULL`.
//!
//! FULL, not NORMAL: a probe deletes a window from its spool once the
//! controller acknowledges it, so an acknowledged window must survive a power
//! cut, not just a crash of the process (NORMAL in WAL mode may lose the last
//! commits on power loss). The fsync per commit is shared by every batch that
//! arrived meanwhile: the writer thread commits them together (group commit).
//!
//! [`Db`] is the writer (one read-write connection), [`Reader`] a read-only
//! connection; both implement the store's traits (`store::StoreWrite`,
//! `store::StoreRead`), and [`Sqlite`] hands them to `store::Store`.

mod alerts;
mod backfill;
mod events;
mod leases;
pub mod migrations;
mod results;
mod retention;
mod rollups;
mod traits;

use super::clock_detail;
use super::{
    decode, now_ms, to_i64, to_u64, Medians, Merged, NewWindow, ProbeRow, RetentionStats,
    StoreError,
};
use crate::history::Levels;
use protocol::api::{Hello, ResultUpload, UploadAck};
use protocol::window::Window;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Backend(e.to_string())
    }
}

/// The SQLite store at a path, as `store::Store` runs it.
#[derive(Debug, Clone)]
pub struct Sqlite {
    path: PathBuf,
}

impl Sqlite {
    pub fn new(path: &Path) -> Sqlite {
        Sqlite {
            path: path.to_path_buf(),
        }
    }
}

impl super::Connector for Sqlite {
    fn writer(&self) -> Result<Box<dyn super::StoreWrite>, StoreError> {
        Ok(Box::new(Db::open(&self.path)?))
    }

    fn reader(&self) -> Result<Box<dyn super::StoreRead>, StoreError> {
        Ok(Box::new(Reader(open_reader(&self.path)?)))
    }
}

/// A read-only connection.
#[derive(Debug)]
pub struct Reader(Connection);

impl Reader {
    /// Opens a read-only connection to an existing database, as it is.
    pub fn open(path: &Path) -> Result<Reader, StoreError> {
        Ok(Reader(open_reader(path)?))
    }

    pub fn conn(&self) -> &Connection {
        &self.0
    }
}

/// Opens a connection with the pragmas every connection needs.
/// Most of the database file mapped into memory per connection (SQLite's
/// largest by default, just under 2 GiB).
const MMAP_BYTES: i64 = 0x7fff_0000;

fn connect(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // Pages read through a memory map, not copied in by read(2): the route
    // table reads tens of thousands of rollup rows.
    conn.pragma_update(None, "mmap_size", MMAP_BYTES)?;
    if !read_only {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
    }
    Ok(conn)
}

/// Opens a read-only connection to an existing database.
pub fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    connect(path, true)
}

/// Opens a read-only connection for reading measurements (`report --db`,
/// `suggest --db`): the schema must be this build's, and rolled up, which a
/// read-only reader cannot do itself.
pub fn open_for_reports(path: &Path) -> Result<Reader, StoreError> {
    let conn = connect(path, true)?;
    let have = migrations::current(&conn)?;
    if have < migrations::latest() {
        return Err(StoreError::Schema(format!(
            "schema version {have} is older than this build's {}: run `mesh-controller serve` on it once to migrate it",
            migrations::latest()
        )));
    }
    let pending: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'rollups_backfill'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if pending.is_some() {
        return Err(StoreError::Schema(
            "its windows from before rollups are not rolled up yet: run `mesh-controller serve` on it once".to_string(),
        ));
    }
    Ok(Reader(conn))
}

/// The synchronous store over one read-write connection.
#[derive(Debug)]
pub struct Db {
    conn: Connection,
    /// Rollup bucket lengths in force.
    levels: Levels,
    /// Each probe's boot id, as its last hello said: two probes on one boot
    /// read one kernel clock.
    boots: HashMap<String, String>,
}

impl Db {
    /// Opens (creating if needed) and migrates the database.
    pub fn open(path: &Path) -> Result<Db, StoreError> {
        let mut conn = connect(path, false)?;
        migrations::migrate_to(&mut conn, migrations::latest(), to_i64(now_ms()))?;
        let mut boots = HashMap::new();
        {
            let mut st =
                conn.prepare("SELECT id, boot_id FROM probes WHERE boot_id IS NOT NULL")?;
            let rows =
                st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (id, boot) = row?;
                boots.insert(id, boot);
            }
        }
        Ok(Db {
            conn,
            levels: Levels::default(),
            boots,
        })
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// A transaction on the read-write connection.
    pub fn transaction(&mut self) -> Result<rusqlite::Transaction<'_>, StoreError> {
        Ok(self.conn.transaction()?)
    }

    /// Sets the rollup bucket lengths for what is ingested from now on.
    pub fn set_levels(&mut self, levels: Levels) {
        self.levels = levels;
    }

    /// Records a hello: version, boot id, clock, time.
    pub fn hello(&mut self, hello: &Hello, now_ms: u64) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO probes (id, version, boot_id, clock_synchronized, clock_error_us, last_hello_ms, clock_detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (id) DO UPDATE SET version = ?2, boot_id = ?3,
                 clock_synchronized = ?4, clock_error_us = ?5, last_hello_ms = ?6, clock_detail = ?7",
            params![
                hello.probe,
                hello.version,
                hello.boot_id,
                hello.clock.synchronized,
                to_i64(hello.clock.error_us),
                to_i64(now_ms),
                clock_detail::encode(&hello.clock)
            ],
        )?;
        match &hello.boot_id {
            Some(b) => self.boots.insert(hello.probe.clone(), b.clone()),
            None => self.boots.remove(&hello.probe),
        };
        Ok(())
    }

    /// Stores one probe's batch in one transaction: all or nothing.
    pub fn ingest(
        &mut self,
        probe: &str,
        windows: &[NewWindow],
        now_ms: u64,
    ) -> Result<UploadAck, StoreError> {
        let tx = self.conn.transaction()?;
        let mut rolled = Vec::new();
        let ack = ingest_in(&tx, probe, windows, now_ms, &self.boots, &mut rolled)?;
        rollups::add(&tx, self.levels, &rolled)?;
        tx.commit()?;
        Ok(ack)
    }

    /// Stores several batches in one transaction (one fsync), each batch in a
    /// savepoint: a batch that fails is rolled back alone.
    pub fn ingest_many(
        &mut self,
        batches: &[(&str, &[NewWindow])],
        now_ms: u64,
    ) -> Result<Vec<Result<UploadAck, StoreError>>, StoreError> {
        let mut tx = self.conn.transaction()?;
        let mut out = Vec::with_capacity(batches.len());
        let mut rolled = Vec::new();
        for (probe, windows) in batches {
            let sp = tx.savepoint()?;
            let mut mine = Vec::new();
            match ingest_in(&sp, probe, windows, now_ms, &self.boots, &mut mine) {
                Ok(ack) => {
                    sp.commit()?;
                    rolled.append(&mut mine);
                    out.push(Ok(ack));
                }
                Err(e) => {
                    drop(sp); // rolls back this batch only
                    out.push(Err(e));
                }
            }
        }
        // The rollups of every batch stored, in the same transaction.
        rollups::add(&tx, self.levels, &rolled)?;
        tx.commit()?;
        Ok(out)
    }

    /// Stores one probe's results in one transaction: all or nothing.
    pub fn ingest_results(
        &mut self,
        probe: &str,
        results: &[ResultUpload],
        now_ms: u64,
    ) -> Result<UploadAck, StoreError> {
        let tx = self.conn.transaction()?;
        let ack = results::ingest_results_in(&tx, probe, results, now_ms)?;
        tx.commit()?;
        Ok(ack)
    }

    /// Merges raw windows older than `raw` into coarse ones and drops coarse
    /// ones older than `coarse`, in one transaction; results (bandwidth,
    /// pings, traces) are kept as long as coarse windows.
    pub fn retain(
        &mut self,
        now_ms: u64,
        retention: &crate::server::config::Retention,
    ) -> Result<RetentionStats, StoreError> {
        let mut stats = retention::retain(&mut self.conn, now_ms, retention)?;
        let ago =
            |d: Duration| now_ms.saturating_sub(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let cutoff = ago(retention.coarse);
        self.conn
            .execute("DELETE FROM results WHERE start_ms < ?1", [to_i64(cutoff)])?;
        stats.rollups_dropped = rollups::retain(&self.conn, ago(retention.raw), cutoff)?;
        Ok(stats)
    }
}

/// The sequence number expected next from `probe`.
pub fn next_seq(conn: &Connection, probe: &str) -> Result<u64, StoreError> {
    let last: Option<i64> = conn
        .query_row("SELECT last_seq FROM probes WHERE id = ?1", [probe], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(to_u64(last.unwrap_or(0)).saturating_add(1))
}

fn is_merged(conn: &Connection, probe: &str, seq: i64) -> Result<bool, StoreError> {
    let hi: Option<i64> = conn
        .query_row(
            "SELECT hi FROM merged_seqs WHERE probe = ?1 AND lo <= ?2 ORDER BY lo DESC LIMIT 1",
            params![probe, seq],
            |r| r.get(0),
        )
        .optional()?;
    Ok(hi.is_some_and(|hi| hi >= seq))
}

/// Stores one batch; the rollups of the windows it accepted (with clock
/// facts dropped where both probes share a boot) go to `rolled`.
fn ingest_in(
    conn: &Connection,
    probe: &str,
    windows: &[NewWindow],
    now_ms: u64,
    boots: &HashMap<String, String>,
    rolled: &mut Vec<crate::server::store::rollups::RollupInput>,
) -> Result<UploadAck, StoreError> {
    let mut ack = UploadAck::default();
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO windows
         (probe, seq, target, start_ms, duration_ms, received_ms, ssid, timestamping, sent, replies, window,
          sender, reflector, forward_p50_us, reverse_p50_us, rtt_p50_us)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?;
    let mut max_seq = 0u64;
    for w in windows {
        let seq = to_i64(w.seq);
        if is_merged(conn, probe, seq)? {
            ack.duplicate.push(w.seq);
            continue;
        }
        let n = insert.execute(params![
            probe,
            seq,
            w.target,
            to_i64(w.start_ms),
            to_i64(w.duration_ms),
            to_i64(now_ms),
            w.ssid,
            w.timestamping.map(|t| t.as_str()),
            to_i64(w.sent),
            to_i64(w.replies),
            w.json,
            w.pair.as_ref().map(|p| p.0.as_str()),
            w.pair.as_ref().map(|p| p.1.as_str()),
            w.medians.forward_us.map(to_i64),
            w.medians.reverse_us.map(to_i64),
            w.medians.rtt_us.map(to_i64),
        ])?;
        if n == 1 {
            ack.accepted.push(w.seq);
            max_seq = max_seq.max(w.seq);
            if let (Some((sender, reflector)), Some(r)) = (&w.pair, &w.rollup) {
                let same_boot = matches!(
                    (boots.get(probe), boots.get(&w.target)),
                    (Some(a), Some(b)) if a == b
                );
                rolled.push(crate::server::store::rollups::RollupInput {
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
        } else {
            ack.duplicate.push(w.seq);
        }
    }
    if !ack.accepted.is_empty() {
        conn.execute(
            "INSERT INTO probes (id, last_upload_ms, last_seq) VALUES (?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET last_upload_ms = ?2, last_seq = MAX(last_seq, ?3)",
            params![probe, to_i64(now_ms), to_i64(max_seq)],
        )?;
    }
    ack.next_seq = next_seq(conn, probe)?;
    Ok(ack)
}

/// Sets one count of a [`ProbeRow`].
type SetCount = fn(&mut ProbeRow, u64);

/// Every probe the database knows, with window counts.
pub fn probe_rows(conn: &Connection) -> Result<HashMap<String, ProbeRow>, StoreError> {
    let mut out: HashMap<String, ProbeRow> = HashMap::new();
    let mut st = conn.prepare(
        "SELECT id, version, boot_id, clock_synchronized, clock_error_us, last_hello_ms, last_upload_ms, last_seq, last_result_seq, clock_detail FROM probes",
    )?;
    let rows = st.query_map([], |r| {
        let sync: Option<bool> = r.get(3)?;
        let err: Option<i64> = r.get(4)?;
        let detail: Option<String> = r.get(9)?;
        Ok(ProbeRow {
            id: r.get(0)?,
            version: r.get(1)?,
            boot_id: r.get(2)?,
            clock: clock_detail::from_columns(sync, err, detail.as_deref()),
            last_hello_ms: r.get::<_, Option<i64>>(5)?.map(to_u64),
            last_upload_ms: r.get::<_, Option<i64>>(6)?.map(to_u64),
            last_seq: to_u64(r.get(7)?),
            windows: 0,
            windows_merged: 0,
            results: 0,
            last_result_seq: to_u64(r.get(8)?),
        })
    })?;
    for row in rows {
        let row = row?;
        out.insert(row.id.clone(), row);
    }
    let counts: [(&str, SetCount); 3] = [
        (
            "SELECT probe, COUNT(*) FROM windows GROUP BY probe",
            |r, n| r.windows = n,
        ),
        (
            "SELECT probe, SUM(windows) FROM coarse_windows GROUP BY probe",
            |r, n| r.windows_merged = n,
        ),
        (
            "SELECT probe, COUNT(*) FROM results GROUP BY probe",
            |r, n| r.results = n,
        ),
    ];
    for (sql, set) in counts {
        let mut st = conn.prepare(sql)?;
        for r in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            let (probe, n) = r?;
            let row = out.entry(probe.clone()).or_insert_with(|| ProbeRow {
                id: probe,
                ..ProbeRow::default()
            });
            set(row, to_u64(n));
        }
    }
    Ok(out)
}

/// All windows (raw and coarse) that started at or after `since_ms`, merged
/// per session (probe, target). Holds one merged window per session (about
/// half a megabyte each): for checks and tests, not for whole meshes (see
/// [`for_each_window`]).
pub fn merged_since(
    conn: &Connection,
    since_ms: u64,
) -> Result<HashMap<(String, String), Merged>, StoreError> {
    let mut out: HashMap<(String, String), Merged> = HashMap::new();
    let mut add = |probe: String, target: String, json: String, n: u64| -> Result<(), StoreError> {
        let w = decode(&json)?;
        match out.entry((probe, target)) {
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
    };
    let since = to_i64(since_ms);
    let mut st = conn.prepare_cached(
        "SELECT probe, target, window, windows FROM coarse_windows WHERE bucket_ms >= ?1",
    )?;
    let mut rows = st.query([since])?;
    while let Some(r) = rows.next()? {
        add(r.get(0)?, r.get(1)?, r.get(2)?, to_u64(r.get(3)?))?;
    }
    let mut st =
        conn.prepare_cached("SELECT probe, target, window FROM windows WHERE start_ms >= ?1")?;
    let mut rows = st.query([since])?;
    while let Some(r) = rows.next()? {
        add(r.get(0)?, r.get(1)?, r.get(2)?, 1)?;
    }
    Ok(out)
}

/// Every session (probe, target) with windows (raw or coarse) that started at
/// or after `since_ms`, sorted.
pub fn sessions_since(
    conn: &Connection,
    since_ms: u64,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT DISTINCT probe, target FROM windows WHERE start_ms >= ?1
         UNION SELECT DISTINCT probe, target FROM coarse_windows WHERE bucket_ms >= ?1
         ORDER BY 1, 2",
    )?;
    let rows = st.query_map([to_i64(since_ms)], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Calls `f` with each window of one session that started at or after
/// `since_ms` (coarse rows first), and how many uploaded windows it holds.
/// Only one decoded window is alive at a time.
pub fn for_each_window(
    conn: &Connection,
    probe: &str,
    target: &str,
    since_ms: u64,
    mut f: impl FnMut(&Window, u64),
) -> Result<(), StoreError> {
    let since = to_i64(since_ms);
    let mut st = conn.prepare_cached(
        "SELECT window, windows FROM coarse_windows
         WHERE probe = ?1 AND target = ?2 AND bucket_ms >= ?3",
    )?;
    let mut rows = st.query(params![probe, target, since])?;
    while let Some(r) = rows.next()? {
        f(&decode(&r.get::<_, String>(0)?)?, to_u64(r.get(1)?));
    }
    let mut st = conn.prepare_cached(
        "SELECT window FROM windows WHERE probe = ?1 AND target = ?2 AND start_ms >= ?3",
    )?;
    let mut rows = st.query(params![probe, target, since])?;
    while let Some(r) = rows.next()? {
        f(&decode(&r.get::<_, String>(0)?)?, 1);
    }
    Ok(())
}

/// Counts for checks and tests: raw rows, and windows inside coarse rows.
pub fn totals(conn: &Connection) -> Result<(u64, u64), StoreError> {
    let raw: i64 = conn.query_row("SELECT COUNT(*) FROM windows", [], |r| r.get(0))?;
    let coarse: i64 = conn.query_row(
        "SELECT COALESCE(SUM(windows), 0) FROM coarse_windows",
        [],
        |r| r.get(0),
    )?;
    Ok((to_u64(raw), to_u64(coarse)))
}
