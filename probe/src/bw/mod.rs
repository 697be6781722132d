//! Bandwidth tests (`probe bw`), iperf-like: TCP with parallel streams or
//! paced UDP, forward (client sends) or reverse (server sends). The server
//! side runs inside `probe reflect` and `probe agent`, one test at a time,
//! authenticated like the rest of the probe, never an amplifier: it sends
//! only in reverse mode, to the address that opened the test, bounded by the
//! requested duration and hard [`Limits`].
//!
//! Throughput is always what the receiving side received over the interval
//! from its first to its last octet; the receiver's figures travel back over
//! the control connection when the server receives.
//!
//! The pieces: [`protocol`] (the control codec, pure), [`auth`] (the key
//! proof), [`control`] (framed reads with deadlines), [`datagram`],
//! [`arrivals`], [`jitter`] and [`pacer`] (UDP, pure), [`tcp`] and [`udp`] (the data
//! loops), [`server`], [`client`] and [`report`].

pub mod arrivals;
pub mod auth;
pub mod client;
pub mod control;
pub mod datagram;
pub mod jitter;
pub mod pacer;
pub mod protocol;
pub mod rate;
pub mod report;
pub mod server;
pub mod tcp;
pub mod udp;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use client::run_client;
pub use rate::parse_rate;
pub use server::{spawn_server, BwServerConfig, BwServerHandle, Limits, ServerStats};

/// One test, as the client asks for it.
#[derive(Debug, Clone)]
pub struct BwRequest {
    /// The server's control address (TCP).
    pub target: SocketAddr,
    /// Parallel TCP streams (UDP uses one socket).
    pub streams: u32,
    pub duration: Duration,
    /// The server sends, the client receives.
    pub reverse: bool,
    /// UDP at this rate (bits/s) instead of TCP.
    pub udp_rate_bps: Option<u64>,
    /// Prove this key to the server (HMAC-SHA-256 challenge-response).
    pub auth_key: Option<Vec<u8>>,
    /// Local address to bind the client's sockets to.
    pub bind: Option<IpAddr>,
}

impl BwRequest {
    /// A forward TCP test of one stream for 10 s.
    pub fn new(target: SocketAddr) -> BwRequest {
        BwRequest {
            target,
            streams: 1,
            duration: Duration::from_secs(10),
            reverse: false,
            udp_rate_bps: None,
            auth_key: None,
            bind: None,
        }
    }
}

/// Who sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Client to server.
    Forward,
    /// Server to client.
    Reverse,
}

/// The transport of a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BwProtocol {
    Tcp,
    Udp,
}

/// What a test measured (the JSON of `probe bw --format json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BwReport {
    pub target: SocketAddr,
    pub direction: Direction,
    pub protocol: BwProtocol,
    /// Streams as run (after the server's limits).
    pub streams: u32,
    /// Duration as run (after the server's limits), seconds.
    pub duration_s: f64,
    /// Received octets x 8 / receiving interval, Mbit/s (10^6).
    pub throughput_mbit: f64,
    /// TCP: retransmissions of the sending sockets (`tcpi_total_retrans`).
    pub retransmits: Option<u64>,
    /// UDP: datagrams sent but not received, percent.
    pub loss_pct: Option<f64>,
    /// UDP: RFC 3550 interarrival jitter, microseconds, over the receiver's
    /// kernel receive stamps (the user-space clock only where the kernel gave
    /// none): the path's jitter, not the receiving process's wake-up delays.
    pub jitter_us: Option<f64>,
}

/// Why a test did not run or complete.
#[derive(Debug, thiserror::Error)]
pub enum BwError {
    #[error("{0}")]
    Input(String),
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server busy with another test, retry after {retry_after_s} s")]
    Busy { retry_after_s: u64 },
    #[error("authentication refused: {0}")]
    Auth(String),
    #[error("refused by the server: {0}")]
    Refused(String),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl BwError {
    /// Whether the caller's input or configuration is at fault (a bad
    /// argument, a missing or wrong key): exit status 2 in the CLI.
    pub fn is_input(&self) -> bool {
        matches!(self, BwError::Input(_) | BwError::Auth(_))
    }
}

/// UDP payload octets per datagram: a 1500-octet MTU without IP and UDP headers.
pub fn udp_payload_for(ip: IpAddr) -> u16 {
    match ip {
        IpAddr::V4(_) => 1472,
        IpAddr::V6(_) => 1452,
    }
}

/// Rounds to `places` decimals (for the report).
fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}
