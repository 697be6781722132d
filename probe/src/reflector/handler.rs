//! The reflector's per-datagram decision, without sockets or clocks (the
//! caller passes the time, the receive metadata and a way to look up TX
//! timestamps), so every rule here is testable directly.
//!
//! Order of checks, cheapest first, so floods cost as little as possible:
//! allow list, per-source rate, length, session room, then [`wire::reflect`]
//! (which verifies the HMAC in authenticated mode) and only then a session is
//! created or advanced. Unauthenticated or refused packets never create state.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::cidr::Cidr;
use super::rate::{Admission, RateLimiter};
use super::sessions::{Lookup, PreviousReply, SessionKey, SessionTable};
use super::stats::Stats;
use crate::clock::ClockStatus;
use crate::timestamping::{SendTicket, Timestamp, TsSource};
use crate::wire::{
    self, sync_source, timestamp_method, tlv_type, ErrorEstimate, FollowUpTelemetry, HmacKey, Mode,
    ReflectParams, SenderPacket, TimestampFormat, TlvIter, TWAMP_LIGHT_MIN_LEN,
};
use protocol::api::ClockSource;

/// How the reflector behaves; see `probe reflect --help`.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Authenticated mode with this key; unauthenticated mode without.
    pub key: Option<Vec<u8>>,
    /// Sources allowed; empty allows every source.
    pub allow: Vec<Cidr>,
    /// Packets per second per source address; 0 disables the limit.
    pub max_pps: u64,
    /// Sessions (and rate-limited sources) tracked at most.
    pub max_sessions: usize,
    /// A session unused this long is forgotten.
    pub session_idle: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            key: None,
            allow: Vec::new(),
            max_pps: 10_000,
            max_sessions: 100_000,
            session_idle: Duration::from_secs(300),
        }
    }
}

/// One received datagram and what the kernel said about it.
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    pub data: &'a [u8],
    /// The datagram was longer than the buffer it was read into.
    pub truncated: bool,
    pub from: SocketAddr,
    /// T2.
    pub rx_ts: Timestamp,
    pub rx_source: TsSource,
    pub ttl: Option<u8>,
    pub tos: Option<u8>,
}

/// Why a datagram got no reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    Malformed,
    Denied,
    RateLimited,
    AuthFailed,
    SessionCap,
}

/// A reply written into the output buffer, to be sent to the datagram's
/// source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub len: usize,
    /// TOS byte for the reply: DSCP1 of a Class of Service TLV (RP = 0).
    pub tos: Option<u8>,
    /// The sender asked for Follow-Up Telemetry: take a kernel TX timestamp
    /// of this reply, the next one reports it.
    pub tx_stamp: bool,
    pub session: SessionKey,
    pub sequence_number: u32,
}

/// What to do with a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Reply(Reply),
    Drop(Drop),
}

/// The reflector's state: sessions, rate limiter, counters and the values
/// every reply carries. See the module documentation.
#[derive(Debug)]
pub struct Core {
    policy: Policy,
    mode: Mode,
    sessions: SessionTable,
    limiter: RateLimiter,
    params: ReflectParams,
    stats: Stats,
}

/// STAMP timestamps here are NTP format (Z = 0), the RFC 8762 default.
const FORMAT: TimestampFormat = TimestampFormat::Ntp;

fn to_wire(ts: Timestamp) -> wire::Timestamp {
    wire::Timestamp::from_duration(FORMAT, ts).unwrap_or_default()
}

/// RFC 8972's sync source for what keeps a clock in time. TSI has no code
/// for an operator's statement: it is announced as NTP (a time service),
/// and the Error Estimate carries the stated bound.
pub fn sync_source_of(source: ClockSource) -> u8 {
    match source {
        ClockSource::Ntp | ClockSource::Stated => sync_source::NTP,
        ClockSource::Ptp => sync_source::PTP,
        ClockSource::Gnss => sync_source::GNSS,
        ClockSource::FreeRunning => sync_source::LOCAL_FREE_RUNNING,
    }
}

/// RFC 8972 timestamping method of a timestamp from `source`: kernel stamps
/// are "software, local"; a stamp read in the application (user space) is
/// reported as "control plane".
pub fn method_of(source: TsSource) -> u8 {
    match source {
        TsSource::Hardware => timestamp_method::HW_ASSIST,
        TsSource::Kernel => timestamp_method::SW_LOCAL,
        TsSource::User => timestamp_method::CONTROL_PLANE,
    }
}

/// What the request asks of the reply through its TLVs.
#[derive(Debug, Clone, Copy, Default)]
struct Asks {
    follow_up: bool,
    dscp1: Option<u8>,
}

fn scan_tlvs(area: &[u8]) -> Asks {
    let mut asks = Asks::default();
    for (_, tlv) in TlvIter::new(area).map_while(Result::ok) {
        match tlv.tlv_type() {
            tlv_type::FOLLOW_UP_TELEMETRY => asks.follow_up = true,
            tlv_type::CLASS_OF_SERVICE if tlv.value().len() == 4 => {
                asks.dscp1 = tlv.value().first().map(|b| b >> 2);
            }
            _ => {}
        }
    }
    asks
}

impl Core {
    pub fn new(policy: Policy, clock: &ClockStatus) -> Core {
        let mode = if policy.key.is_some() {
            Mode::Authenticated
        } else {
            Mode::Unauthenticated
        };
        let sessions = SessionTable::new(policy.max_sessions, policy.session_idle);
        let limiter = RateLimiter::new(policy.max_pps, policy.max_sessions);
        let mut core = Core {
            policy,
            mode,
            sessions,
            limiter,
            params: ReflectParams::default(),
            stats: Stats::default(),
        };
        core.set_clock(clock);
        core
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Takes a fresh reading of the local clock for the Error Estimate (S bit
    /// only when synchronized) and the Timestamp Information TLV.
    pub fn set_clock(&mut self, clock: &ClockStatus) {
        self.params.error_estimate =
            ErrorEstimate::from_error(clock.error(), clock.is_synchronized(), false);
        let sync = sync_source_of(clock.source());
        self.params.timestamp_info.sync_src_in = sync;
        self.params.timestamp_info.sync_src_out = sync;
    }

    /// Decides what to do with `d`, writing a reply into `out` (which must
    /// hold the largest datagram accepted). `now` is monotonic time for rate
    /// limits and session ages; `t3` the wall-clock transmit time to put in
    /// the reply; `tx_lookup` finds the TX timestamp of an earlier send.
    pub fn handle(
        &mut self,
        d: &Datagram<'_>,
        now: Instant,
        t3: Timestamp,
        out: &mut [u8],
        mut tx_lookup: impl FnMut(&SendTicket) -> Option<(Timestamp, TsSource)>,
    ) -> Decision {
        self.stats.received += 1;
        self.stats.count_rx(d.rx_source);
        let verdict = self.decide(d, now, t3, out, &mut tx_lookup);
        match verdict {
            Decision::Drop(Drop::Malformed) => self.stats.malformed += 1,
            Decision::Drop(Drop::Denied) => self.stats.denied += 1,
            Decision::Drop(Drop::RateLimited) => self.stats.rate_limited += 1,
            Decision::Drop(Drop::AuthFailed) => self.stats.auth_failed += 1,
            Decision::Drop(Drop::SessionCap) => self.stats.session_cap += 1,
            Decision::Reply(_) => {}
        }
        verdict
    }

    fn decide(
        &mut self,
        d: &Datagram<'_>,
        now: Instant,
        t3: Timestamp,
        out: &mut [u8],
        tx_lookup: &mut dyn FnMut(&SendTicket) -> Option<(Timestamp, TsSource)>,
    ) -> Decision {
        let ip = d.from.ip();
        if !self.policy.allow.is_empty() && !self.policy.allow.iter().any(|c| c.contains(ip)) {
            return Decision::Drop(Drop::Denied);
        }
        if self.limiter.admit(ip, now) != Admission::Admit {
            return Decision::Drop(Drop::RateLimited);
        }
        let len = d.data.len();
        if d.truncated || len < TWAMP_LIGHT_MIN_LEN {
            return Decision::Drop(Drop::Malformed);
        }
        if self.mode == Mode::Authenticated && len < self.mode.base_len() {
            return Decision::Drop(Drop::AuthFailed); // cannot carry an HMAC
        }
        let (ssid, asks) = match SenderPacket::new_checked(d.data, self.mode) {
            Ok(p) => (p.ssid(), scan_tlvs(p.tlv_bytes())),
            Err(_) => (0, Asks::default()), // TWAMP-light: no SSID, no TLVs
        };
        let key = SessionKey { peer: d.from, ssid };
        let table_full = self.sessions.len() >= self.policy.max_sessions;
        // One hash lookup per packet for a known session: the borrow lives
        // across `reflect` (other fields of `self`), and a new session is
        // created only once the request proved acceptable.
        let mut existing = self.sessions.get_mut(&key);
        if existing.is_none() && table_full {
            return Decision::Drop(Drop::SessionCap);
        }
        let seq = existing.as_ref().map_or(0, |s| s.next_seq);
        let previous = existing.as_mut().and_then(|s| s.previous.as_mut());
        let follow_up = match previous {
            Some(prev) if asks.follow_up => {
                if prev.tx.is_none() {
                    prev.tx = tx_lookup(&prev.ticket);
                }
                let (ts, source) = prev.tx.unwrap_or((prev.ticket.user_ts, TsSource::User));
                if source == TsSource::User {
                    self.stats.follow_up_user += 1;
                } else {
                    self.stats.follow_up_kernel += 1;
                }
                Some(FollowUpTelemetry {
                    sequence_number: prev.sequence_number,
                    timestamp: to_wire(ts),
                    timestamp_mode: method_of(source),
                })
            }
            _ => None,
        };
        let tos = d.tos.unwrap_or(0);
        let p = &mut self.params;
        p.sequence_number = seq;
        p.receive_timestamp = to_wire(d.rx_ts);
        p.transmit_timestamp = to_wire(t3);
        p.received_ttl = d.ttl.unwrap_or(0);
        p.received_dscp = tos >> 2;
        p.received_ecn = tos & 0x3;
        p.reverse_path = 0;
        p.timestamp_info.timestamp_in = method_of(d.rx_source);
        p.timestamp_info.timestamp_out = method_of(TsSource::User);
        p.follow_up = follow_up;
        let key_bytes = self.policy.key.as_deref().map(HmacKey::new);
        let reply_len = match wire::reflect(d.data, self.mode, key_bytes, p, out) {
            Ok(n) => n,
            Err(wire::Error::AuthFailed) => return Decision::Drop(Drop::AuthFailed),
            Err(_) => return Decision::Drop(Drop::Malformed),
        };
        // Until `sent` brings the real send ticket (only asked for when the
        // sender wants follow-ups), T3 stands in for the previous reply's
        // user-space send time.
        let previous = PreviousReply {
            sequence_number: seq,
            ticket: SendTicket {
                key: None,
                user_ts: t3,
                len: reply_len,
            },
            tx: None,
        };
        let session = match existing {
            Some(s) => s,
            None => match self.sessions.get_or_create(key, now) {
                Lookup::Found(s) => s,
                Lookup::Created(s) => {
                    self.stats.sessions_created += 1;
                    s
                }
                Lookup::Full => return Decision::Drop(Drop::SessionCap),
            },
        };
        session.next_seq = seq.wrapping_add(1);
        session.last_seen = now;
        session.previous = Some(previous);
        if len < self.mode.base_len() {
            self.stats.short_requests += 1;
        }
        Decision::Reply(Reply {
            len: reply_len,
            tos: asks.dscp1.map(|dscp| dscp << 2),
            tx_stamp: asks.follow_up,
            session: key,
            sequence_number: seq,
        })
    }

    /// The reply went out. When it was sent for a sender that wants
    /// follow-ups, its ticket (for the kernel TX timestamp) is kept for the
    /// next reply's Follow-Up Telemetry.
    pub fn sent(&mut self, reply: &Reply, ticket: SendTicket) {
        self.stats.reflected += 1;
        if !reply.tx_stamp {
            return;
        }
        if let Some(s) = self.sessions.get_mut(&reply.session) {
            s.previous = Some(PreviousReply {
                sequence_number: reply.sequence_number,
                ticket,
                tx: None,
            });
        }
    }

    /// The reply could not be sent (the sender will see a reverse loss).
    pub fn send_failed(&mut self) {
        self.stats.send_errors += 1;
    }

    pub fn recv_failed(&mut self) {
        self.stats.recv_errors += 1;
    }

    /// Forgets idle sessions and refilled rate buckets.
    pub fn expire(&mut self, now: Instant) {
        self.stats.sessions_expired += self.sessions.expire(now) as u64;
        self.limiter.forget_idle(now);
    }
}
