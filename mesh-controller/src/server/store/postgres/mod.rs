//! The PostgreSQL backend: several controllers (replicas) may write one
//! database at once, so every write is correct under concurrency, not only
//! under the one writer thread of a process.
//!
//! Driver: the synchronous `postgres` crate, the blocking face of
//! tokio-postgres (the same wire code, binary parameters, `query_raw` row
//! streaming). The store's traits are synchronous by design and `Store`
//! already runs them on its own writer thread and on `spawn_blocking`
//! readers with a pool of them (READERS_KEPT), so a second pool
//! (deadpool-postgres) or an async driver (sqlx) would add a layer without
//! adding concurrency: each connection here is owned by one thread at a time.
//! A `postgres::Client` drives a small runtime of its own, which is allowed on
//! those threads (they are not runtime workers); it must not be dropped on
//! an async worker, so [`link::Link`] drops it on a thread of its own.
//!
//! What is where: `link` (connection, reconnection, prepared statements,
//! errors), `migrations` (schema), `partitions` (daily window partitions),
//! `ingest` (bulk, idempotent window ingest), `rollups`, `retention`,
//! `results`, `alerts`, `events`, `reads` (windows read back), `traits` (the
//! store's traits over [`Reader`] and [`Db`]).
//!
//! Outage: connection errors become `StoreError::Unavailable`, the broken
//! connection is dropped, and the next call connects again (connect timeout
//! [`CONNECT_TIMEOUT`] unless the URL sets one), so nothing hangs and nothing
//! needs restarting. The URL is never echoed (it may hold a password).

mod alerts;
mod events;
mod ingest;
mod leases;
mod link;
pub mod migrations;
mod partitions;
mod reads;
mod results;
mod retention;
mod rollups;
mod traits;

use super::StoreError;
use crate::history::Levels;
use link::Link;
use std::cell::RefCell;
use std::time::Duration;

/// How long connecting may take before the database counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long data sent may go unacknowledged before the connection is given
/// up (`TCP_USER_TIMEOUT`): a server that vanished mid-query.
pub const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest any statement may run or wait for a lock (the server cancels
/// it, the call fails and is retried): no writer waits forever behind a
/// stuck replica.
pub const STATEMENT_TIMEOUT: &str = "300s";

/// Advisory lock keys (one namespace per database): migrating, creating
/// partitions, and retention against ingest (ingest shares it, retention
/// holds it alone, so a window merged away cannot be stored again meanwhile).
pub(crate) mod lock {
    pub const MIGRATE: i64 = 0x6875_626d_0001;
    pub const PARTITIONS: i64 = 0x6875_626d_0002;
    pub const RETAIN: i64 = 0x6875_626d_0003;
}

/// The PostgreSQL store at a URL, as `store::Store` runs it.
#[derive(Clone)]
pub struct Postgres {
    config: postgres::Config,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the config: it may hold a password.
        f.debug_struct("Postgres").finish_non_exhaustive()
    }
}

impl Postgres {
    /// Parses a `postgres://` URL (without echoing it in errors).
    pub fn new(url: &str) -> Result<Postgres, StoreError> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|_| StoreError::Backend("the postgres:// URL does not parse".to_string()))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        // A peer that vanished without closing (a cut cable) is noticed:
        // idle, after 30 s and three unanswered probes 10 s apart; with
        // data in flight, after TCP_USER_TIMEOUT.
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        config.keepalives_interval(Duration::from_secs(10));
        config.keepalives_retries(3);
        config.tcp_user_timeout(TCP_USER_TIMEOUT);
        // A probe drops a window from its spool once it is acknowledged, so
        // a commit is acknowledged only once it is on disk (as SQLite's
        // FULL): whatever the server's default, unless the URL says otherwise.
        let mut options = config.get_options().unwrap_or_default().to_string();
        if !options.contains("synchronous_commit") {
            options = format!("{options} -c synchronous_commit=on");
        }
        if !options.contains("statement_timeout") {
            options = format!("{options} -c statement_timeout={STATEMENT_TIMEOUT}");
        }
        config.options(options.trim());
        if config.get_application_name().is_none() {
            config.application_name("mesh-controller");
        }
        Ok(Postgres { config })
    }
}

impl super::Connector for Postgres {
    fn writer(&self) -> Result<Box<dyn super::StoreWrite>, StoreError> {
        let db = off_runtime(|| Db::open(&self.config))?;
        Ok(Box::new(db))
    }

    fn reader(&self) -> Result<Box<dyn super::StoreRead>, StoreError> {
        let reader = off_runtime(|| Reader::open(&self.config))?;
        Ok(Box::new(reader))
    }
}

/// Runs `f` on a thread of its own: a connection is opened (and the schema
/// migrated) where the caller is, which may be an async worker (`serve`
/// opens the store there), where the driver's own runtime must not block.
fn off_runtime<T: Send>(f: impl FnOnce() -> Result<T, StoreError> + Send) -> Result<T, StoreError> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("pg-connect".to_string())
            .spawn_scoped(s, f)
            .map_err(|e| StoreError::Backend(format!("cannot start a thread: {e}")))?
            .join()
            .unwrap_or_else(|_| Err(StoreError::Backend("connecting panicked".to_string())))
    })
}

/// A reading connection (reconnected when it breaks).
#[derive(Debug)]
pub struct Reader {
    link: RefCell<Link>,
}

impl Reader {
    pub fn open(config: &postgres::Config) -> Result<Reader, StoreError> {
        Ok(Reader {
            link: RefCell::new(Link::connect(config)?),
        })
    }

    fn link(&self) -> &RefCell<Link> {
        &self.link
    }
}

/// Opens a reader for `report --db` and friends: the schema must be this
/// build's (a reader does not migrate).
pub fn open_for_reports(url: &str) -> Result<Reader, StoreError> {
    let pg = Postgres::new(url)?;
    let reader = off_runtime(|| Reader::open(&pg.config))?;
    let have = reader
        .link
        .borrow_mut()
        .run(|c, _| migrations::current(c))?;
    if have < migrations::latest() {
        return Err(StoreError::Schema(format!(
            "schema version {have} is older than this build's {}: run `mesh-controller serve` on it once to migrate it",
            migrations::latest()
        )));
    }
    Ok(reader)
}

/// The writer: one connection, plus what this process caches about the
/// database (partitions known to exist).
#[derive(Debug)]
pub struct Db {
    link: RefCell<Link>,
    levels: Levels,
    partitions: partitions::Known,
}

impl Db {
    /// Connects, creates or migrates the schema (one controller at a time).
    pub fn open(config: &postgres::Config) -> Result<Db, StoreError> {
        let mut link = Link::connect(config)?;
        link.run(|c, _| migrations::migrate(c, super::to_i64(super::now_ms())))?;
        Ok(Db {
            link: RefCell::new(link),
            levels: Levels::default(),
            partitions: partitions::Known::default(),
        })
    }

    fn link(&self) -> &RefCell<Link> {
        &self.link
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_durable_bounded_and_notice_a_vanished_server() {
        let p = Postgres::new("postgres://hubmesh@db.example/hubmesh").unwrap();
        let options = p.config.get_options().unwrap();
        assert!(options.contains("-c synchronous_commit=on"), "{options}");
        assert!(options.contains("-c statement_timeout=300s"), "{options}");
        assert_eq!(p.config.get_tcp_user_timeout(), Some(&TCP_USER_TIMEOUT));
        assert_eq!(p.config.get_keepalives_retries(), Some(3));
        assert_eq!(p.config.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        // What the URL says stands.
        let p = Postgres::new(
            "postgres://hubmesh@db.example/hubmesh?options=-c%20statement_timeout%3D10s&connect_timeout=9",
        )
        .unwrap();
        let options = p.config.get_options().unwrap();
        assert!(options.contains("statement_timeout=10s"), "{options}");
        assert!(!options.contains("300s"), "{options}");
        assert_eq!(
            p.config.get_connect_timeout(),
            Some(&Duration::from_secs(9))
        );
    }
}
