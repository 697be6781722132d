//! hubmesh probe: STAMP (RFC 8762) sender and reflector with kernel timestamps,
//! clock-error bounds and per-direction metrics.

pub mod wire;

pub mod agent;
pub mod bw;
pub(crate) mod bytes;
pub mod clock;
pub mod flood;
pub mod icmp;
pub mod reflector;
pub mod sender;
pub mod session;
pub mod signals;
pub mod timestamping;
pub mod units;
