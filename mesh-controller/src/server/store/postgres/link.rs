//! One connection to the server, as readers and the writer hold it: made
//! again on the next call after it broke, with its prepared statements
//! (prepared once per connection, so a hot statement costs one round trip),
//! and the driver's errors sorted into "unreachable now" and the rest.

use crate::server::store::StoreError;
use postgres::{Client, GenericClient, NoTls, Statement};
use std::collections::HashMap;

/// Statements prepared on the current connection, by their text.
#[derive(Debug, Default)]
pub struct Stmts(HashMap<&'static str, Statement>);

impl Stmts {
    /// The statement for `sql`, prepared on first use.
    pub fn get(
        &mut self,
        c: &mut impl GenericClient,
        sql: &'static str,
    ) -> Result<Statement, StoreError> {
        if let Some(s) = self.0.get(sql) {
            return Ok(s.clone());
        }
        let s = c.prepare(sql)?;
        self.0.insert(sql, s.clone());
        Ok(s)
    }
}

/// A connection that reconnects on the next call after it broke.
pub struct Link {
    config: postgres::Config,
    client: Option<Client>,
    stmts: Stmts,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("connected", &self.client.is_some())
            .finish_non_exhaustive()
    }
}

impl Link {
    /// Connects now (an unreachable server is an error at once).
    pub fn connect(config: &postgres::Config) -> Result<Link, StoreError> {
        let mut link = Link {
            config: config.clone(),
            client: None,
            stmts: Stmts::default(),
        };
        link.ensure()?;
        Ok(link)
    }

    fn ensure(&mut self) -> Result<(), StoreError> {
        if self.client.as_ref().is_some_and(|c| c.is_closed()) {
            self.drop_client();
        }
        if self.client.is_none() {
            self.client = Some(self.config.connect(NoTls)?);
            self.stmts = Stmts::default();
        }
        Ok(())
    }

    fn drop_client(&mut self) {
        self.stmts = Stmts::default();
        if let Some(c) = self.client.take() {
            park_drop(c);
        }
    }

    /// Runs `f` on the connection (connecting first if needed); when it
    /// fails because the server cannot be reached, the connection is
    /// dropped so that the next call connects again.
    pub fn run<T>(
        &mut self,
        f: impl FnOnce(&mut Client, &mut Stmts) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.ensure()?;
        let Some(client) = self.client.as_mut() else {
            return Err(StoreError::Unavailable("not connected".to_string()));
        };
        let out = f(client, &mut self.stmts);
        if matches!(out, Err(StoreError::Unavailable(_))) {
            self.drop_client();
        }
        out
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            park_drop(c);
        }
    }
}

/// Drops a client on a thread of its own: its runtime must not be dropped
/// on an async worker (the last `Store` handle may go on one), and closing
/// a connection to a server that vanished should not hold up the caller.
fn park_drop(c: Client) {
    let spawned = std::thread::Builder::new()
        .name("pg-close".to_string())
        .spawn(move || drop(c));
    // Without a thread, leak it rather than risk a panic where it is.
    if let Err(e) = spawned {
        std::mem::forget(e);
    }
}

/// What a driver error means for the caller: "unreachable right now" (the
/// connection is gone, refused or timed out; the API answers 503) or
/// anything else.
impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> StoreError {
        let text = describe(&e);
        if unreachable(&e) {
            StoreError::Unavailable(text)
        } else {
            StoreError::Backend(text)
        }
    }
}

/// Serialization failures and deadlocks: the transaction may simply be
/// run again.
pub fn is_retryable(e: &StoreError) -> bool {
    matches!(e, StoreError::Backend(m) if m.starts_with("40P01") || m.starts_with("40001"))
}

fn unreachable(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        // Class 08: connection exception; 57P01-03: shut down, crashed,
        // not accepting connections yet.
        return code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.downcast_ref::<std::io::Error>().is_some() {
            return true;
        }
        source = s.source();
    }
    // Kind::Timeout carries no cause.
    e.to_string().starts_with("timeout")
}

/// One line: the driver's words and, for server errors, the server's.
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => match std::error::Error::source(e) {
            Some(s) => format!("{e}: {s}"),
            None => e.to_string(),
        },
    }
    .replace('\n', " ")
}
