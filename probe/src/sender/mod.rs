//! The STAMP Session-Sender behind `probe stamp`: sends numbered, kernel
//! timestamped test packets at randomized times, matches the replies, and
//! hands everything to the session [`Tracker`](crate::session::Tracker), whose
//! window becomes the [`SessionReport`].
//!
//! Timestamps: T1 is the kernel TX timestamp of each packet (read back from
//! the error queue; the packet itself carries the user-space reading taken
//! just before sending), T4 the kernel RX timestamp of the reply. T2 and T3
//! come from the reflector; T3 is replaced by the accurate value the next
//! reply brings in its Follow-Up Telemetry TLV when there is one. The report's
//! `timestamping` is the weakest source behind T1 and T4 of any reply.
//!
//! Shaped like the reflector: [`Core`] is the sender without sockets or
//! clocks (time and datagrams in, packets and window cuts out), so tests drive
//! it directly; [`run`] is the thin socket loop around it.

mod machine;
mod output;
mod packet;
mod packet_log;
mod reflector_clock;
mod run;
mod schedule;
#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

pub use machine::{
    Clocks, Core, Next, Outcome, Setup, Transmit, WindowCut, DEFAULT_TIMEOUT, MIN_WINDOW,
};
pub use output::{render_table, to_json};
pub use packet::{PacketBuilder, PacketError, PacketSpec, MAX_SIZE};
pub use packet_log::{write_jsonl, PacketRecord};
pub use reflector_clock::ReflectorClock;
pub use run::{run, run_windowed, StampError, WindowSink};
pub use schedule::{Pacer, Schedule};

use crate::clock::ClockStatus;
use crate::session::SessionReport;

/// Whether the reflector reads the same kernel clock as we do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SameClock {
    /// When the target is a loopback address.
    #[default]
    Auto,
    Yes,
    No,
}

/// What the reflector does with sequence numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReflectorType {
    /// Numbers its replies per session (RFC 8762 stateful): loss per direction.
    #[default]
    Stateful,
    /// Echoes our numbers: round-trip loss only.
    Stateless,
}

/// One `probe stamp` session.
#[derive(Debug, Clone)]
pub struct StampConfig {
    pub target: SocketAddr,
    /// Packets to send at most (None: until `duration`).
    pub count: Option<u64>,
    /// Time to send for at most (None: until `count`).
    pub duration: Option<Duration>,
    pub interval: Duration,
    pub schedule: Schedule,
    pub size: Option<usize>,
    pub dscp: Option<u8>,
    pub ssid: u16,
    /// Authenticated mode with this key.
    pub key: Option<Vec<u8>>,
    /// A packet is lost after this; None: 1 s, or 3 x the largest RTT seen
    /// if that is longer.
    pub timeout: Option<Duration>,
    pub follow_up: bool,
    pub same_clock: SameClock,
    pub reflector: ReflectorType,
    /// An error the operator states for the local clock (e.g. PTP).
    pub clock_error: Option<Duration>,
    pub kernel_timestamps: bool,
    /// Send from this address (None: the kernel's choice). On a multi-homed
    /// host the source address picks the carrier the packets travel on.
    pub source: Option<IpAddr>,
    /// Keep every answered packet's timestamps ([`StampResult::packets`]);
    /// off by default, as a long session would grow without bound.
    pub record_packets: bool,
    /// Ask the reflector for its clock in an RFC 8972 Timestamp Information
    /// TLV ([`StampResult::reflector_clock`]).
    pub timestamp_info: bool,
}

impl StampConfig {
    /// A session to `target` with the defaults of `probe stamp`.
    pub fn new(target: SocketAddr) -> StampConfig {
        StampConfig {
            target,
            count: None,
            duration: None,
            interval: Duration::from_millis(100),
            schedule: Schedule::Jitter,
            size: None,
            dscp: None,
            ssid: 0,
            key: None,
            timeout: None,
            follow_up: true,
            same_clock: SameClock::Auto,
            reflector: ReflectorType::Stateful,
            clock_error: None,
            kernel_timestamps: true,
            source: None,
            record_packets: false,
            timestamp_info: false,
        }
    }
}

/// Counters of the sender's own, beyond the session report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SenderCounters {
    /// Replies that did not parse, failed authentication or had another SSID.
    pub bad_replies: u64,
    pub send_errors: u64,
    /// Replies whose T3 was replaced by a kernel (or hardware) TX timestamp
    /// from the next reply's Follow-Up Telemetry.
    pub t3_from_follow_up: u64,
    /// T1 from the kernel (or hardware), and from user space.
    pub t1_kernel: u64,
    pub t1_user: u64,
}

/// What the Class of Service TLV (RFC 8972 section 4.4) told, when a DSCP
/// was asked for: the DSCP the reflector received (DSCP2, forward path) and
/// the one our replies arrived with (reverse path, from the IP header).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClassOfServiceReport {
    /// The DSCP we sent with and asked the reflector to reply with.
    pub dscp: u8,
    /// Replies whose DSCP2 equals `dscp`, and those where it differs
    /// (re-marked on the way there).
    pub forward_kept: u64,
    pub forward_changed: u64,
    /// Replies that arrived with `dscp`, and with another one.
    pub reverse_kept: u64,
    pub reverse_changed: u64,
    /// Replies without a usable Class of Service TLV (a reflector that does
    /// not know it sets the U flag).
    pub not_reported: u64,
    /// The last DSCP2 and ECN the reflector reported, and the last reply DSCP.
    pub last_forward_dscp: Option<u8>,
    pub last_forward_ecn: Option<u8>,
    pub last_reverse_dscp: Option<u8>,
}

/// The outcome of a session.
#[derive(Debug, Clone)]
pub struct StampResult {
    pub report: SessionReport,
    pub counters: SenderCounters,
    /// Present when a DSCP was asked for.
    pub class_of_service: Option<ClassOfServiceReport>,
    /// Present when the Timestamp Information TLV was asked for.
    pub reflector_clock: Option<ReflectorClock>,
    pub packet_size: usize,
    pub authenticated: bool,
    /// Both ends read one kernel clock (one-way error bound 0), and why.
    pub same_clock: Option<&'static str>,
    pub local_clock: ClockStatus,
    pub schedule: Schedule,
    pub interval: Duration,
    pub timeout: Duration,
    pub notes: Vec<String>,
    /// Every answered packet in the order answered, when
    /// [`StampConfig::record_packets`] asked for it.
    pub packets: Vec<PacketRecord>,
}
