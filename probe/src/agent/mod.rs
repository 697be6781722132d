//! `probe agent`: the probe under a controller. It runs the reflector (its own
//! thread), says hello to the controller and gets its assignment (targets and
//! measurement settings), runs one STAMP session per target (a thread each,
//! randomized send times), cuts each session's results into windows of
//! `window_s`, numbers them per probe and uploads them.
//!
//! Nothing measured is lost on the way: a spool writer thread puts every window
//! (as soon as a session cuts it, whatever the uploads are doing) in the on-disk
//! [`Spool`] (fsynced) before any upload is tried; a window leaves it only once the
//! controller acknowledged it (stored now, or stored before: ingest is
//! idempotent on (probe, seq)). While the controller is unreachable (or
//! answers 5xx) windows accumulate and are replayed in sequence order with a
//! jittered exponential backoff. A 401 or 403 is not retried: the agent exits
//! with an error, since repeating a wrong token will not fix it.
//!
//! Target-list changes are followed by polling `GET /v1/targets?generation=N`:
//! sessions start and stop without a restart (a changed setting restarts all).
//! SIGTERM or SIGINT: every session stops and cuts its last (short) window,
//! which is spooled; one upload pass follows, then the agent exits 0 and
//! prints a one-line JSON summary on stdout.
//!
//! Beside the sessions, when the controller asks for them: bandwidth tests in
//! the controller's tournament rounds (`bw_tasks`), echo windows to hosts
//! without a probe and traces of every peer (`icmp_tasks`). Their results
//! take the same road as windows through a spool of their own (`results`).
//!
//! Where each part lives: `run` starts and ends the agent (reflector thread,
//! bandwidth server, runtime), `hello` is the first call, `main_loop` the
//! running agent, `sessions` the STAMP session threads, `spool_writer` the
//! thread that spools every window, `upload` and `outbox` the road to the
//! controller, `summary` the exit line, `log` the stderr lines.

mod bw_tasks;
pub mod config_file;
mod hello;
mod icmp_tasks;
mod log;
mod main_loop;
mod outbox;
pub mod results;
mod run;
mod sessions;
pub mod spool;
mod spool_writer;
mod summary;
mod upload;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use protocol::client::ClientError;

pub use run::run;
pub use spool::Spool;
pub use summary::{summary_json, Summary};

/// How to run; see the module documentation.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// `http://host:port` of the controller.
    pub controller: String,
    pub id: String,
    pub token: String,
    /// Where the reflector listens.
    pub listen: SocketAddr,
    /// Tell the controller where the reflector listens (when given explicitly).
    pub announce_listen: bool,
    pub spool_dir: PathBuf,
    pub spool_max_bytes: u64,
    /// An error the operator states for the local clock (e.g. PTP).
    pub clock_error: Option<Duration>,
    /// HMAC key for authenticated STAMP (reflector and sessions).
    pub auth_key: Option<Vec<u8>>,
    /// Period of `GET /v1/targets`.
    pub poll: Duration,
    /// Backoff bounds for retries.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Bandwidth-test server (TCP) address; None: off. The reflector's
    /// own address means the same port number as its UDP socket got.
    pub bw_listen: Option<SocketAddr>,
    /// How an https controller is checked (CA file, key pin).
    pub tls: protocol::tls::TlsOptions,
}

/// The agent's client for its options: with the TLS options when any are
/// given (else an https controller is checked against the system's roots).
pub(crate) fn client_for(
    opts: &AgentOptions,
    timeout: std::time::Duration,
) -> Result<protocol::client::Client, AgentError> {
    let client = protocol::client::Client::new(&opts.controller, opts.token.clone())
        .map_err(|e| AgentError::Setup(e.to_string()))?
        .with_timeout(timeout);
    if opts.tls == protocol::tls::TlsOptions::default() {
        return Ok(client);
    }
    client.with_tls(&opts.tls).map_err(|e| match e {
        ClientError::Tls(f) => AgentError::Setup(f.to_string()),
        e => AgentError::Setup(e.to_string()),
    })
}

impl AgentOptions {
    /// The address sessions, pings, traces and bandwidth tests leave from:
    /// the reflector's, when it is a specific one. On a host with an address
    /// per carrier, that is the carrier this probe stands for.
    fn source(&self) -> Option<IpAddr> {
        (!self.listen.ip().is_unspecified()).then(|| self.listen.ip())
    }
}

/// Why the agent stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("the controller refused this probe (not retried): {0}")]
    Refused(ClientError),
    /// The controller's certificate was refused (wrong CA, expired, wrong
    /// name, pin): asking again will not help.
    #[error("cannot trust the controller (not retried): {0}")]
    Untrusted(protocol::tls::TlsFailure),
    #[error("cannot start: {0}")]
    Setup(String),
    #[error("spool: {0}")]
    Spool(std::io::Error),
}

/// A 401 or 403: the controller refuses this probe, and repeating a wrong
/// token will not fix it ([`AgentError::Refused`], never retried); or its
/// certificate is refused ([`AgentError::Untrusted`]).
fn is_refusal(e: &ClientError) -> bool {
    matches!(e.status(), Some(401 | 403)) || matches!(e, ClientError::Tls(_))
}

impl AgentError {
    /// The error a final refusal stops the agent with.
    fn refused(e: ClientError) -> AgentError {
        match e {
            ClientError::Tls(f) => AgentError::Untrusted(f),
            e => AgentError::Refused(e),
        }
    }
}
