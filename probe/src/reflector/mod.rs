//! The STAMP Session-Reflector (RFC 8762 section 4.3, with the RFC 8972 TLVs):
//! stateful per (sender address, SSID), replies as long as the request, kernel
//! timestamps for T2 and Follow-Up Telemetry, refuses what it should not
//! answer. [`Core`] decides per datagram without sockets; [`run`] is the
//! socket loop around it.
//!
//! Never an amplifier: one reply per accepted request, as long as the request
//! (requests of 14 to 43 octets, TWAMP-light style, get the 44-octet base
//! reply), nothing for anything refused, and a per-source packet rate limit.

mod cidr;
mod handler;
mod rate;
mod run;
mod sessions;
mod stats;

pub use cidr::{Cidr, CidrError};
pub use handler::{method_of, Core, Datagram, Decision, Drop, Policy, Reply};
pub use rate::{Admission, RateLimiter};
pub use run::{bind, run, ReflectorError, RunOptions};
pub use sessions::{Lookup, PreviousReply, Session, SessionKey, SessionTable};
pub use stats::Stats;

#[cfg(test)]
mod tests;
