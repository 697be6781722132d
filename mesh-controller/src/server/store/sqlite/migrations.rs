//! Schema migrations: numbered, applied in order, each in its own transaction,
//! recorded in `schema_migrations` and in SQLite's `user_version`, so a
//! database from any earlier build opens and is brought up to date.

use super::StoreError;
use rusqlite::{params, Connection};

/// One schema step.
#[derive(Debug)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, oldest first; versions are 1, 2, 3, ... without gaps.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "probes and raw windows",
        sql: "
CREATE TABLE probes (
    id TEXT PRIMARY KEY,
    version TEXT,
    boot_id TEXT,
    clock_synchronized INTEGER,
    clock_error_us INTEGER,
    last_hello_ms INTEGER,
    last_upload_ms INTEGER,
    last_seq INTEGER NOT NULL DEFAULT 0
);
-- One row per uploaded window; `window` is the probe's Window as JSON, with
-- its histograms serialized (V2 + deflate, base64) so any set of rows merges
-- exactly.
CREATE TABLE windows (
    probe TEXT NOT NULL,
    seq INTEGER NOT NULL,
    target TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    ssid INTEGER,
    timestamping TEXT,
    sent INTEGER NOT NULL,
    replies INTEGER NOT NULL,
    window TEXT NOT NULL,
    PRIMARY KEY (probe, seq)
) WITHOUT ROWID;
CREATE INDEX windows_by_start ON windows (start_ms);
",
    },
    Migration {
        version: 2,
        name: "retention: coarse windows and merged sequence ranges",
        sql: "
-- Raw windows past retention, merged per probe, target and bucket.
CREATE TABLE coarse_windows (
    probe TEXT NOT NULL,
    target TEXT NOT NULL,
    bucket_ms INTEGER NOT NULL,
    bucket_len_ms INTEGER NOT NULL,
    windows INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    sent INTEGER NOT NULL,
    replies INTEGER NOT NULL,
    window TEXT NOT NULL,
    PRIMARY KEY (probe, target, bucket_ms)
) WITHOUT ROWID;
CREATE INDEX coarse_by_bucket ON coarse_windows (bucket_ms);
-- Sequence numbers whose raw rows were merged away, as closed ranges, so a
-- replay of one is still recognised as a duplicate.
CREATE TABLE merged_seqs (
    probe TEXT NOT NULL,
    lo INTEGER NOT NULL,
    hi INTEGER NOT NULL,
    PRIMARY KEY (probe, lo)
) WITHOUT ROWID;
",
    },
    Migration {
        version: 3,
        name: "windows by session and time, for merging one session at a time",
        sql: "CREATE INDEX windows_by_session ON windows (probe, target, start_ms);",
    },
    Migration {
        version: 4,
        name: "results: bandwidth tests, pings and traces",
        sql: "
-- One row per uploaded result; `body` is the result's JSON (protocol::api::ResultBody).
CREATE TABLE results (
    probe TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (probe, seq)
) WITHOUT ROWID;
CREATE INDEX results_by_kind ON results (kind, start_ms);
ALTER TABLE probes ADD COLUMN last_result_seq INTEGER NOT NULL DEFAULT 0;
",
    },
    Migration {
        version: 5,
        name: "history: rollups per session direction, window medians by endpoint pair",
        sql: "
-- Windows merged per (level, sender endpoint, reflector endpoint, bucket):
-- `data` is the rollup record (mesh_controller::history::rollup), exactly
-- mergeable counters and sparse histograms. Levels: the fine bucket length
-- (60000 by default) and 3600000 (hours).
CREATE TABLE rollups (
    level_ms INTEGER NOT NULL,
    sender TEXT NOT NULL,
    reflector TEXT NOT NULL,
    bucket_ms INTEGER NOT NULL,
    windows INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (level_ms, sender, reflector, bucket_ms)
) WITHOUT ROWID;
CREATE INDEX rollups_by_bucket ON rollups (level_ms, bucket_ms);
-- First and last window of every session direction rolled up.
CREATE TABLE rollup_directions (
    sender TEXT NOT NULL,
    reflector TEXT NOT NULL,
    first_ms INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    PRIMARY KEY (sender, reflector)
) WITHOUT ROWID;
-- Each raw window's endpoints and medians, for level-shift detection.
ALTER TABLE windows ADD COLUMN sender TEXT;
ALTER TABLE windows ADD COLUMN reflector TEXT;
ALTER TABLE windows ADD COLUMN forward_p50_us INTEGER;
ALTER TABLE windows ADD COLUMN reverse_p50_us INTEGER;
ALTER TABLE windows ADD COLUMN rtt_p50_us INTEGER;
CREATE INDEX windows_by_pair ON windows (sender, reflector, start_ms);
-- Small facts about the store itself (e.g. a pending rollup backfill).
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
INSERT INTO meta (key, value)
    SELECT 'rollups_backfill', 'pending'
    WHERE EXISTS (SELECT 1 FROM windows) OR EXISTS (SELECT 1 FROM coarse_windows);
",
    },
    Migration {
        version: 6,
        name: "monitoring: alert states and episodes, webhook deliveries, events",
        sql: "
-- Alerts not inactive: where each stands (labels: a JSON object).
CREATE TABLE alert_states (
    fingerprint TEXT PRIMARY KEY,
    labels TEXT NOT NULL,
    state TEXT NOT NULL,
    since_ms INTEGER NOT NULL,
    good_since_ms INTEGER,
    updated_ms INTEGER NOT NULL
) WITHOUT ROWID;
-- One row per firing: resolved_ms stays null while it fires.
CREATE TABLE alert_episodes (
    id INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    labels TEXT NOT NULL,
    annotations TEXT NOT NULL,
    pending_since_ms INTEGER NOT NULL,
    fired_ms INTEGER NOT NULL,
    resolved_ms INTEGER,
    value REAL,
    threshold REAL
);
CREATE INDEX alert_episodes_by_resolved ON alert_episodes (resolved_ms);
CREATE INDEX alert_episodes_by_fingerprint ON alert_episodes (fingerprint, fired_ms);
-- Webhook notifications to send, in id order per receiver, with retries.
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    episode INTEGER NOT NULL,
    receiver TEXT NOT NULL,
    status TEXT NOT NULL,
    body TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    next_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    delivered_ms INTEGER,
    given_up_ms INTEGER,
    last_error TEXT
);
CREATE INDEX deliveries_open ON deliveries (delivered_ms, given_up_ms, receiver, id);
-- What changed: level shifts and path changes (detail: JSON), `linked` the
-- event one is attributed to; `key` makes recording an event idempotent.
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    from_ep TEXT NOT NULL,
    to_ep TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    detected_ms INTEGER NOT NULL,
    detail TEXT NOT NULL,
    linked INTEGER,
    key TEXT NOT NULL UNIQUE
);
CREATE INDEX events_by_time ON events (at_ms);
",
    },
    Migration {
        version: 7,
        name: "history: mid (ten-minute) rollup rows",
        sql: "
-- Rollups gain a level of 600000 ms (written beside fine and hourly rows
-- from now on). A store that already has rollups has no mid rows for the
-- past: reads use them only from the first ten minutes after this migration
-- (meta rollups_mid_from, Unix ms); without the key, from the start.
INSERT INTO meta (key, value)
    SELECT 'rollups_mid_from',
           CAST(((CAST(strftime('%s', 'now') AS INTEGER) * 1000) / 600000 + 1) * 600000 AS TEXT)
    WHERE EXISTS (SELECT 1 FROM rollups);
",
    },
    Migration {
        version: 8,
        name: "duties: leases and bandwidth slots given",
        sql: "
-- Duties that must run on one controller at a time (retention, alert
-- evaluation and webhook delivery): who holds each, until when (Unix ms).
CREATE TABLE leases (
    duty TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until_ms INTEGER NOT NULL
);
-- The bandwidth slots each probe was given a test in: a slot is handed
-- out once, whichever controller the probe asks.
CREATE TABLE bw_slots (
    probe TEXT NOT NULL,
    slot INTEGER NOT NULL,
    given_ms INTEGER NOT NULL,
    PRIMARY KEY (probe, slot)
) WITHOUT ROWID;
",
    },
    Migration {
        version: 9,
        name: "clock truth: a probe's clock source and test clock",
        sql: "
-- JSON: what keeps the probe's clock in time and any test clock moving it
-- (protocol ClockDetail); NULL from probes that do not say.
ALTER TABLE probes ADD COLUMN clock_detail TEXT;
",
    },
];

/// The schema version this build writes.
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// The database's schema version (`user_version`).
pub fn current(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Applies the migrations after the database's version, up to `target`.
pub fn migrate_to(conn: &mut Connection, target: i64, now_ms: i64) -> Result<Vec<i64>, StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            applied_unix_ms INTEGER NOT NULL
        );",
    )?;
    let have = current(conn)?;
    if have > latest() {
        return Err(StoreError::Schema(format!(
            "the database has schema version {have}, newer than this build's {}: use a newer mesh-controller",
            latest()
        )));
    }
    let mut applied = Vec::new();
    for m in MIGRATIONS
        .iter()
        .filter(|m| m.version > have && m.version <= target)
    {
        let tx = conn.transaction()?;
        tx.execute_batch(m.sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_unix_ms) VALUES (?1, ?2, ?3)",
            params![m.version, m.name, now_ms],
        )?;
        tx.pragma_update(None, "user_version", m.version)?;
        tx.commit()?;
        applied.push(m.version);
    }
    Ok(applied)
}

/// The applied migrations as recorded: (version, name).
pub fn applied(conn: &Connection) -> Result<Vec<(i64, String)>, StoreError> {
    let mut st = conn.prepare("SELECT version, name FROM schema_migrations ORDER BY version")?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
