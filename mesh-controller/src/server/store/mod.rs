//! The storage seam: what the controller asks of its database, and which
//! backend answers. The rest of the controller sees only [`StoreRead`],
//! [`StoreWrite`] and the async handle [`Store`]; each backend lives in its
//! own folder (`sqlite/` and `postgres/`, each with its schema and
//! migrations) and nothing outside it names the driver.
//!
//! The traits are synchronous on purpose. Reading is mostly arithmetic on
//! rows streamed one at a time into callbacks (rollups merged in place,
//! windows decoded one by one), which belongs on a blocking thread, not on
//! the async runtime; writes are serialised on one writer thread per
//! controller that commits whatever queued up meanwhile as one transaction
//! (group commit). [`Store`] runs reads on `spawn_blocking` over a pool of
//! readers and writes on that thread, so nothing blocks the runtime whatever
//! the backend. PostgreSQL fits the same shape with the blocking `postgres`
//! crate (see `postgres/`): a connection per reader and one for the writer,
//! rows streamed into the same callbacks. Async trait methods would instead
//! force every callback reader to collect rows first, or box streams through
//! every call site.
//!
//! Several controllers may share one PostgreSQL database (replicas): every
//! write is correct under concurrency, and the duties that must run once
//! (`server::duties`) hold leases kept here ([`StoreWrite::lease`]).
//!
//! The backend is chosen by the `--db` value ([`Backend::of`]): a file path
//! is SQLite, a `postgres://` or `postgresql://` URL is PostgreSQL.

pub mod alerts;
pub mod clock_detail;
pub mod events;
pub mod postgres;
pub mod ranges;
pub mod rollups;
pub mod sqlite;
mod writer;

pub use writer::{Store, MAX_QUEUED_WINDOWS};

use crate::history::{Levels, Rollup, Span};
use crate::server::config::Retention;
use protocol::api::{ClockInfo, Hello, ResultBody, ResultUpload, UploadAck};
use protocol::window::Window;
use std::collections::HashMap;
use std::path::Path;

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend's own error (a driver error, I/O), as text.
    #[error("database: {0}")]
    Backend(String),
    /// A backend this build does not have (the `--db` value names it).
    #[error("{0}")]
    Unsupported(String),
    #[error("database schema: {0}")]
    Schema(String),
    #[error("stored window does not decode: {0}")]
    Corrupt(String),
    #[error("the storage thread has stopped")]
    Closed,
    /// The database cannot be reached right now (refused, timed out, the
    /// connection broke): the API answers 503 and agents keep spooling.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Too much already waits to be written: the API answers 503 at once
    /// (the agent keeps the batch spooled) instead of queueing without end.
    #[error("busy: {0}")]
    Busy(String),
}

/// A validated window ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewWindow {
    pub seq: u64,
    pub target: String,
    pub start_ms: u64,
    pub duration_ms: u64,
    pub ssid: Option<u16>,
    pub timestamping: Option<protocol::window::TsSource>,
    pub sent: u64,
    pub replies: u64,
    /// The window as JSON (as uploaded, already decoded once and checked).
    pub json: String,
    /// The session direction's endpoints (sender, reflector), when both
    /// probes are configured: its rollups are kept under them.
    pub pair: Option<(String, String)>,
    /// The window as a rollup record (clock facts as across two clocks; the
    /// store drops them when both probes share a boot id).
    pub rollup: Option<crate::history::Rollup>,
    /// The window's medians.
    pub medians: Medians,
}

/// A window's median forward, reverse and round-trip delay (us), where it has
/// values; what level shifts are found in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Medians {
    pub forward_us: Option<u64>,
    pub reverse_us: Option<u64>,
    pub rtt_us: Option<u64>,
}

impl Medians {
    pub fn of(w: &Window) -> Medians {
        let p50 = |h: &protocol::window::DelayHistogram| {
            (!h.is_empty()).then(|| h.histogram().value_at_quantile(0.5))
        };
        Medians {
            forward_us: p50(&w.forward),
            reverse_us: p50(&w.reverse),
            rtt_us: p50(&w.rtt),
        }
    }
}

impl NewWindow {
    /// A checked upload, with everything the store keeps beside the JSON.
    pub fn new(
        upload: &protocol::api::WindowUpload<Box<serde_json::value::RawValue>>,
        decoded: &Window,
    ) -> NewWindow {
        NewWindow {
            seq: upload.seq,
            target: upload.target.clone(),
            start_ms: upload.start_unix_ms,
            duration_ms: upload.duration_ms,
            ssid: upload.ssid,
            timestamping: upload.timestamping,
            sent: decoded.counters.sent,
            replies: decoded.counters.received,
            json: upload.window.get().to_string(),
            pair: None,
            rollup: Some(crate::history::Rollup::of_window(decoded)),
            medians: Medians::of(decoded),
        }
    }
}

/// A probe's row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbeRow {
    pub id: String,
    pub version: Option<String>,
    pub boot_id: Option<String>,
    pub clock: Option<ClockInfo>,
    pub last_hello_ms: Option<u64>,
    pub last_upload_ms: Option<u64>,
    pub last_seq: u64,
    pub windows: u64,
    pub windows_merged: u64,
    /// Results (bandwidth tests, pings, traces) stored.
    pub results: u64,
    pub last_result_seq: u64,
}

/// Windows of one session (probe -> target), merged.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    pub window: Window,
    /// Stored rows merged (raw rows plus the windows inside coarse rows).
    pub windows: u64,
}

pub(crate) fn to_i64(x: u64) -> i64 {
    i64::try_from(x).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(x: i64) -> u64 {
    u64::try_from(x).unwrap_or(0)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Decodes a stored window.
pub fn decode(json: &str) -> Result<Window, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A stored result.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResult {
    pub probe: String,
    pub target: String,
    pub start_ms: u64,
    pub body: ResultBody,
}

/// What one retention pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionStats {
    /// Raw windows merged into coarse rows (and deleted).
    pub merged: u64,
    /// Coarse rows written (new or updated).
    pub coarse_rows: u64,
    /// Coarse rows dropped for age.
    pub dropped: u64,
    /// Rollup rows dropped for age (fine ones after `raw`, hourly ones after
    /// `coarse`).
    pub rollups_dropped: u64,
}

/// What the backfill did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackfillStats {
    pub raw: u64,
    pub coarse_rows: u64,
    /// Windows whose probes are not (or no longer) configured: left raw.
    pub unresolved: u64,
}

/// Probe id to endpoint name, from a configuration.
pub fn resolver(config: &crate::server::config::Config) -> HashMap<String, String> {
    config
        .probes
        .iter()
        .map(|p| (p.id.clone(), config.endpoint_name(p)))
        .collect()
}

/// A raw window's medians, as level shifts read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowMedians<'a> {
    /// The session direction's endpoints.
    pub sender: &'a str,
    pub reflector: &'a str,
    pub start_ms: u64,
    pub medians: Medians,
}

/// Which backend a `--db` value names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend<'a> {
    /// A file path: the embedded SQLite store.
    Sqlite(&'a Path),
    /// A `postgres://` or `postgresql://` URL.
    Postgres(&'a str),
}

impl<'a> Backend<'a> {
    pub fn of(db: &'a Path) -> Backend<'a> {
        match db.to_str() {
            Some(s) if s.starts_with("postgres://") || s.starts_with("postgresql://") => {
                Backend::Postgres(s)
            }
            _ => Backend::Sqlite(db),
        }
    }
}

/// How to name a `--db` value in messages: the path, or only the scheme of
/// a URL (which may carry a password).
pub fn db_label(db: &Path) -> String {
    match Backend::of(db) {
        Backend::Sqlite(path) => path.display().to_string(),
        Backend::Postgres(_) => "--db postgres://...".to_string(),
    }
}

/// Whether `db` names an SQLite file that does not exist (the read-only
/// commands refuse to create one).
pub fn missing_file(db: &Path) -> bool {
    matches!(Backend::of(db), Backend::Sqlite(p) if !p.is_file())
}

/// Opens the store named by a `--db` value for serving: created and migrated
/// if needed, with its writer thread started.
pub fn open(db: &Path) -> Result<Store, StoreError> {
    match Backend::of(db) {
        Backend::Sqlite(path) => Store::start(sqlite::Sqlite::new(path)),
        Backend::Postgres(url) => Store::start(postgres::Postgres::new(url)?),
    }
}

/// Opens the store named by a `--db` value for reading measurements
/// (`report --db`, `suggest --db`, `series --db`): read-only, and it must
/// be at this build's schema and rolled up, which a reader cannot do itself.
pub fn open_for_reports(db: &Path) -> Result<Box<dyn StoreRead>, StoreError> {
    match Backend::of(db) {
        Backend::Sqlite(path) => Ok(Box::new(sqlite::open_for_reports(path)?)),
        Backend::Postgres(url) => Ok(Box::new(postgres::open_for_reports(url)?)),
    }
}

/// A backend as [`Store`] runs it: one writer (created once, on the
/// writer thread's behalf) and readers made on demand and pooled.
pub trait Connector: Send + Sync + 'static {
    /// Opens (creating and migrating if needed) the store for writing.
    fn writer(&self) -> Result<Box<dyn StoreWrite>, StoreError>;
    /// Opens a reader of the store.
    fn reader(&self) -> Result<Box<dyn StoreRead>, StoreError>;
}

/// Reading the store. Every method reads committed data only; the callbacks
/// get one row at a time (borrowed where the backend can), and an error
/// from a callback that returns one ends the reading.
pub trait StoreRead: Send {
    /// Whether the database answers (for the health check).
    fn ping(&self) -> Result<(), StoreError>;
    /// The window sequence number expected next from `probe`.
    fn next_seq(&self, probe: &str) -> Result<u64, StoreError>;
    /// The result sequence number expected next from `probe`.
    fn next_result_seq(&self, probe: &str) -> Result<u64, StoreError>;
    /// Every probe the database knows, with window and result counts.
    fn probe_rows(&self) -> Result<HashMap<String, ProbeRow>, StoreError>;
    /// Raw rows, and windows inside retained (coarse) rows.
    fn totals(&self) -> Result<(u64, u64), StoreError>;
    /// All windows (raw and retained) that started at or after `since_ms`,
    /// merged per session (probe, target): for checks and tests.
    fn merged_since(&self, since_ms: u64) -> Result<HashMap<(String, String), Merged>, StoreError>;
    /// Every session (probe, target) with windows at or after `since_ms`,
    /// sorted.
    fn sessions_since(&self, since_ms: u64) -> Result<Vec<(String, String)>, StoreError>;
    /// Each window of one session that started at or after `since_ms`
    /// (retained rows first), with how many uploaded windows it holds.
    fn for_each_window(
        &self,
        probe: &str,
        target: &str,
        since_ms: u64,
        f: &mut dyn FnMut(&Window, u64),
    ) -> Result<(), StoreError>;
    /// Each raw window and retained row of one session that started in
    /// `[since_ms, until_ms)`: `f(start, bucket length (0 for a raw window),
    /// rollup)`.
    fn for_each_session_rollup(
        &self,
        probe: &str,
        target: &str,
        since_ms: u64,
        until_ms: u64,
        f: &mut dyn FnMut(u64, u64, Rollup),
    ) -> Result<(), StoreError>;
    /// The medians of every raw window with known endpoints that started at
    /// or after `since_ms`.
    fn for_each_window_medians(
        &self,
        since_ms: u64,
        f: &mut dyn FnMut(WindowMedians<'_>),
    ) -> Result<(), StoreError>;
    /// Every rollup row in the spans of the chosen directions.
    fn for_each_rollup(
        &self,
        spans: &[Span],
        which: rollups::Directions<'_>,
        f: &mut dyn FnMut(rollups::RollupRow<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// From when mid-level rollup rows hold every window (0 unless the store
    /// had rollups before the mid level).
    fn rollups_mid_from(&self) -> Result<u64, StoreError>;
    /// Every session direction ever rolled up, with its first and last
    /// window.
    fn directions_seen(&self) -> Result<Vec<rollups::DirectionSeen>, StoreError>;
    /// Results of one kind started at or after `since_ms`, oldest first.
    fn results_since(&self, kind: &str, since_ms: u64) -> Result<Vec<StoredResult>, StoreError>;
    /// Every alert not inactive, by fingerprint.
    fn alert_states(&self) -> Result<HashMap<String, alerts::StoredState>, StoreError>;
    /// Episodes firing now (when `firing`), and those resolved at or after
    /// `resolved_since` (when given), newest first.
    fn episodes(
        &self,
        firing: bool,
        resolved_since: Option<u64>,
    ) -> Result<Vec<alerts::Episode>, StoreError>;
    /// The oldest notification waiting for each receiver.
    fn next_deliveries(&self) -> Result<Vec<alerts::Delivery>, StoreError>;
    /// Per receiver: (waiting, delivered, given up).
    fn delivery_counts(&self) -> Result<HashMap<String, (u64, u64, u64)>, StoreError>;
    /// Events at or after `since_ms` (of one route, either orientation,
    /// when given), oldest first.
    fn events_since(
        &self,
        since_ms: u64,
        route: Option<(&str, &str)>,
    ) -> Result<Vec<events::Event>, StoreError>;
}

/// Writing the store: one writer at a time (the writer thread). Every
/// method is one transaction, all or nothing.
pub trait StoreWrite: StoreRead {
    /// Sets the rollup bucket lengths for what is ingested from now on.
    fn set_levels(&mut self, levels: Levels);
    /// Records a hello: version, boot id, clock, time.
    fn hello(&mut self, hello: &Hello, now_ms: u64) -> Result<(), StoreError>;
    /// Stores one probe's batch, idempotent on (probe, seq): a window stored
    /// (or merged by retention) before is acknowledged as a duplicate.
    fn ingest(
        &mut self,
        probe: &str,
        windows: &[NewWindow],
        now_ms: u64,
    ) -> Result<UploadAck, StoreError>;
    /// Stores several batches in one transaction; a batch that fails is
    /// rolled back alone.
    fn ingest_many(
        &mut self,
        batches: &[(&str, &[NewWindow])],
        now_ms: u64,
    ) -> Result<Vec<Result<UploadAck, StoreError>>, StoreError>;
    /// Stores one probe's results, idempotent on (probe, seq).
    fn ingest_results(
        &mut self,
        probe: &str,
        results: &[ResultUpload],
        now_ms: u64,
    ) -> Result<UploadAck, StoreError>;
    /// Merges raw windows older than `raw` into retained rows, drops what is
    /// older than `coarse`.
    fn retain(&mut self, now_ms: u64, retention: &Retention) -> Result<RetentionStats, StoreError>;
    /// Whether a store from before rollups still waits to be rolled up.
    fn backfill_pending(&self) -> Result<bool, StoreError>;
    /// Rolls up a store from before rollups, once.
    fn backfill_rollups(
        &mut self,
        levels: Levels,
        endpoint: &dyn Fn(&str) -> Option<String>,
    ) -> Result<BackfillStats, StoreError>;
    /// Writes alert state changes, their episodes and their notifications.
    fn apply_alert_changes(
        &mut self,
        changes: &[alerts::Change],
        now_ms: u64,
    ) -> Result<(), StoreError>;
    /// Marks a notification delivered.
    fn delivered(&mut self, id: i64, now_ms: u64) -> Result<(), StoreError>;
    /// Records a failed attempt: retried at `next_ms`, or given up (None).
    fn delivery_failed(
        &mut self,
        id: i64,
        now_ms: u64,
        error: &str,
        next_ms: Option<u64>,
    ) -> Result<(), StoreError>;
    /// Records an event unless one with its key exists; Some(id) when new.
    fn record_event(
        &mut self,
        e: &events::NewEvent,
        now_ms: u64,
    ) -> Result<Option<i64>, StoreError>;
    /// Links two events to each other.
    fn link_events(&mut self, a: i64, b: i64) -> Result<(), StoreError>;
    /// Takes or renews the lease on `duty` for `holder` until
    /// `now_ms + ttl_ms`: true when `holder` holds it now (it was free,
    /// expired, or already its own), false when another holder's lease runs.
    fn lease(
        &mut self,
        duty: &str,
        holder: &str,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<bool, StoreError>;
    /// Gives up `holder`'s lease on `duty`, if it holds it (a clean stop).
    fn release(&mut self, duty: &str, holder: &str) -> Result<(), StoreError>;
    /// Records that `probe` is given a bandwidth test in `slot`: true the
    /// first time, false when it was given one in that slot before (by any
    /// controller). Records older than `forget_before_slot` are dropped.
    fn claim_bw_slot(
        &mut self,
        probe: &str,
        slot: u64,
        forget_before_slot: u64,
        now_ms: u64,
    ) -> Result<bool, StoreError>;
}
