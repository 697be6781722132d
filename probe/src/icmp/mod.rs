//! ICMP ping and traceroute (IPv4 and IPv6): echo requests over unprivileged
//! datagram sockets or raw sockets, traceroute by ICMP echo or UDP, replies
//! matched by identifier and sequence (never another run's), RTTs from kernel
//! receive timestamps, hops named by the site the topology places them at.

mod classify;
pub mod ip_header;
pub mod packet;
mod ping;
pub mod report;
pub mod socket;
mod trace;

use std::io;

pub use packet::{Family, PacketError};
pub use ping::{ping, PingOptions};
pub use report::{Hop, PingReport, TraceReport};
pub use socket::{ProbeProtocol, SocketChoice, SocketKind};
pub use trace::{trace, TraceOptions};

/// Why a ping or traceroute could not run.
#[derive(Debug, thiserror::Error)]
pub enum IcmpError {
    /// Neither a datagram nor a raw ICMP socket could be opened.
    #[error("cannot open an ICMP socket: {0}")]
    NoSocket(String),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Options(String),
    #[error(transparent)]
    Packet(#[from] PacketError),
}
