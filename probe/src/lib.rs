//! hubmesh probe: STAMP (RFC 8762) sender and reflector with kernel timestamps,
//! clock-error bounds and per-direction metrics.

pub mod wire;

pub mod clock;
pub mod session;
pub mod timestamping;
