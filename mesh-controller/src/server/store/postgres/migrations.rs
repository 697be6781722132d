//! Schema migrations: numbered, applied in order in one transaction under an
//! advisory lock (two controllers starting at once do not both migrate),
//! recorded in `schema_migrations`.
//!
//! Windows are partitioned by day on `start_ms` (see `partitions`): ingest
//! writes only today's few partitions and their indexes, and retention drops
//! whole days once merged instead of deleting row by row. A unique key of a
//! partitioned table must hold the partition column, but a window is the
//! same window by (probe, seq) whatever start it is sent with (as on
//! SQLite, and the conformance suite holds every backend to it), so the key
//! lives in a narrow table of its own, `window_seqs` (probe, seq, start_ms),
//! written in the same statement as the window; `merged_seqs` keeps the
//! sequence numbers merged away (whose keys retention deletes) duplicates.

use super::lock;
use crate::server::store::StoreError;
use postgres::Client;

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
        name: "windows by day, retention, results, rollups, alerts, events",
        sql: "
CREATE TABLE probes (
    id text PRIMARY KEY,
    version text,
    boot_id text,
    clock_synchronized boolean,
    clock_error_us bigint,
    last_hello_ms bigint,
    last_upload_ms bigint,
    last_seq bigint NOT NULL DEFAULT 0,
    last_result_seq bigint NOT NULL DEFAULT 0,
    -- Raw windows stored: added to by ingest, taken from by retention, so
    -- reading the counts never scans the windows.
    windows bigint NOT NULL DEFAULT 0
);
-- One row per uploaded window; `json` is the probe's Window as JSON
-- (`window` is a keyword in PostgreSQL).
CREATE TABLE windows (
    probe text NOT NULL,
    seq bigint NOT NULL,
    target text NOT NULL,
    start_ms bigint NOT NULL,
    duration_ms bigint NOT NULL,
    received_ms bigint NOT NULL,
    ssid integer,
    timestamping text,
    sent bigint NOT NULL,
    replies bigint NOT NULL,
    json text NOT NULL,
    sender text,
    reflector text,
    forward_p50_us bigint,
    reverse_p50_us bigint,
    rtt_p50_us bigint
) PARTITION BY RANGE (start_ms);
-- The idempotency key of the raw windows, across every day (see above).
CREATE TABLE window_seqs (
    probe text NOT NULL,
    seq bigint NOT NULL,
    start_ms bigint NOT NULL,
    PRIMARY KEY (probe, seq)
);
CREATE INDEX window_seqs_by_start ON window_seqs USING brin (start_ms);
CREATE INDEX windows_by_session ON windows (probe, target, start_ms);
-- Windows arrive in about time order: a block range index is nearly free
-- to keep up and narrows `start_ms >= x` inside a day.
CREATE INDEX windows_by_start ON windows USING brin (start_ms);
CREATE TABLE coarse_windows (
    probe text NOT NULL,
    target text NOT NULL,
    bucket_ms bigint NOT NULL,
    bucket_len_ms bigint NOT NULL,
    windows bigint NOT NULL,
    duration_ms bigint NOT NULL,
    sent bigint NOT NULL,
    replies bigint NOT NULL,
    json text NOT NULL,
    PRIMARY KEY (probe, target, bucket_ms)
);
CREATE INDEX coarse_by_bucket ON coarse_windows (bucket_ms);
-- Sequence numbers whose raw rows were merged away, as closed ranges.
CREATE TABLE merged_seqs (
    probe text NOT NULL,
    lo bigint NOT NULL,
    hi bigint NOT NULL,
    PRIMARY KEY (probe, lo)
);
CREATE TABLE results (
    probe text NOT NULL,
    seq bigint NOT NULL,
    kind text NOT NULL,
    target text NOT NULL,
    start_ms bigint NOT NULL,
    received_ms bigint NOT NULL,
    body text NOT NULL,
    PRIMARY KEY (probe, seq)
);
CREATE INDEX results_by_kind ON results (kind, start_ms);
-- Windows merged per (level, sender, reflector, bucket): `data` is the
-- rollup record (history::rollup). A row with windows = 0 is a placeholder
-- taken to lock the key; it never outlives its transaction empty.
CREATE TABLE rollups (
    level_ms bigint NOT NULL,
    sender text NOT NULL,
    reflector text NOT NULL,
    bucket_ms bigint NOT NULL,
    windows bigint NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (level_ms, sender, reflector, bucket_ms)
);
CREATE INDEX rollups_by_bucket ON rollups (level_ms, bucket_ms);
CREATE TABLE rollup_directions (
    sender text NOT NULL,
    reflector text NOT NULL,
    first_ms bigint NOT NULL,
    last_ms bigint NOT NULL,
    PRIMARY KEY (sender, reflector)
);
CREATE TABLE alert_states (
    fingerprint text PRIMARY KEY,
    labels text NOT NULL,
    state text NOT NULL,
    since_ms bigint NOT NULL,
    good_since_ms bigint,
    updated_ms bigint NOT NULL
);
CREATE TABLE alert_episodes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fingerprint text NOT NULL,
    labels text NOT NULL,
    annotations text NOT NULL,
    pending_since_ms bigint NOT NULL,
    fired_ms bigint NOT NULL,
    resolved_ms bigint,
    value double precision,
    threshold double precision
);
CREATE INDEX alert_episodes_by_resolved ON alert_episodes (resolved_ms);
CREATE INDEX alert_episodes_by_fingerprint ON alert_episodes (fingerprint, fired_ms);
CREATE TABLE deliveries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    episode bigint NOT NULL,
    receiver text NOT NULL,
    status text NOT NULL,
    body text NOT NULL,
    created_ms bigint NOT NULL,
    next_ms bigint NOT NULL,
    attempts bigint NOT NULL DEFAULT 0,
    delivered_ms bigint,
    given_up_ms bigint,
    last_error text
);
CREATE INDEX deliveries_open ON deliveries (receiver, id)
    WHERE delivered_ms IS NULL AND given_up_ms IS NULL;
CREATE TABLE events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind text NOT NULL,
    from_ep text NOT NULL,
    to_ep text NOT NULL,
    at_ms bigint NOT NULL,
    detected_ms bigint NOT NULL,
    detail text NOT NULL,
    linked bigint,
    key text NOT NULL UNIQUE
);
CREATE INDEX events_by_time ON events (at_ms);
",
    },
    Migration {
        version: 2,
        name: "duties: leases and bandwidth slots given",
        sql: "
CREATE TABLE leases (
    duty text PRIMARY KEY,
    holder text NOT NULL,
    until_ms bigint NOT NULL
);
CREATE TABLE bw_slots (
    probe text NOT NULL,
    slot bigint NOT NULL,
    given_ms bigint NOT NULL,
    PRIMARY KEY (probe, slot)
);
",
    },
    Migration {
        version: 3,
        name: "clock truth: a probe's clock source and test clock",
        sql: "
ALTER TABLE probes ADD COLUMN clock_detail text;
",
    },
];

/// The schema version this build writes.
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// The database's schema version (0 when it has none).
pub fn current(c: &mut Client) -> Result<i64, StoreError> {
    let exists: bool = c
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])?
        .get(0);
    if !exists {
        return Ok(0);
    }
    Ok(c.query_one(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        &[],
    )?
    .get(0))
}

/// Brings the schema up to this build's; returns the versions applied.
pub fn migrate(c: &mut Client, now_ms: i64) -> Result<Vec<i64>, StoreError> {
    let mut tx = c.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lock::MIGRATE])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version bigint PRIMARY KEY,
            name text NOT NULL,
            applied_unix_ms bigint NOT NULL
        )",
    )?;
    let have: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )?
        .get(0);
    if have > latest() {
        return Err(StoreError::Schema(format!(
            "the database has schema version {have}, newer than this build's {}: use a newer mesh-controller",
            latest()
        )));
    }
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version > have) {
        tx.batch_execute(m.sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_unix_ms) VALUES ($1, $2, $3)",
            &[&m.version, &m.name, &now_ms],
        )?;
        applied.push(m.version);
    }
    tx.commit()?;
    Ok(applied)
}
