//! The STAMP sender without sockets or clocks, so a whole session (loss,
//! reordering and duplicates included) can be driven by tests with made-up
//! datagrams and no waiting: when each packet is due and what it carries,
//! which reply answers which packet (T3 corrected by the next reply's
//! Follow-Up Telemetry), what the Class of Service TLV reported, when packets
//! count as lost and when a window is cut. As in smoltcp, time comes in as
//! arguments: the monotonic `now` for schedules, the wall clock for what goes
//! on the wire and into the tracker. [`super::run`] drives it with a socket.
//!
//! One turn of the driving loop: [`Core::next`] (send what is due, or learn
//! that the session is over), [`Core::receive`] for each datagram read,
//! [`Core::poll`] (loss expiry, window cuts), then wait until
//! [`Core::poll_at`] or a datagram arrives. [`Core::finish`] settles the rest.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::packet::PacketBuilder;
use super::packet_log::PacketRecord;
use super::reflector_clock::ReflectorClock;
use super::schedule::Pacer;
use super::{ClassOfServiceReport, ReflectorType, SenderCounters, StampConfig};
use crate::clock::{clock_sample, ClockSide};
use crate::session::{
    ReflectorKind, Reply, ReplyOutcome, SessionReport, Tracker, Window, WindowReport,
};
use crate::timestamping::{Received, Timestamp, TsSource};
use crate::wire::{
    self, tlv_type, ErrorEstimate, HmacKey, Mode, ReflectorPacket, TimestampFormat, Tlv, TlvBody,
    TlvIter,
};

/// Default loss timeout, unless 3 x the largest RTT seen is longer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Shortest window cut.
pub const MIN_WINDOW: Duration = Duration::from_millis(100);
/// Longest wait for replies on their way once the session was stopped.
const STOP_WAIT: Duration = Duration::from_secs(1);

/// One window cut from a running session.
#[derive(Debug, Clone)]
pub struct WindowCut {
    /// When the window began (sender's CLOCK_REALTIME).
    pub start: Timestamp,
    pub duration: Duration,
    pub window: Window,
}

/// What the sender knows of the two clocks when the session starts.
#[derive(Debug, Clone)]
pub struct Clocks {
    /// Our side of every one-way measurement.
    pub local: ClockSide,
    /// The reflector's boot id when it reads our kernel clock (one-way
    /// error 0); None for two clocks.
    pub remote_boot_id: Option<String>,
    /// What our packets announce in their Error Estimate field.
    pub error_estimate: ErrorEstimate,
}

/// What [`Core::new`] needs beyond the configuration.
#[derive(Debug)]
pub struct Setup {
    pub builder: PacketBuilder,
    pub pacer: Pacer,
    pub clocks: Clocks,
    /// Cut windows of this length (at least [`MIN_WINDOW`]); None: one
    /// window for the whole session.
    pub window: Option<Duration>,
}

/// A packet due now, written at the start of the buffer given to
/// [`Core::next`]. Send it, then report with [`Core::sent`] or
/// [`Core::send_failed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    pub seq: u32,
    /// Octets of the packet.
    pub len: usize,
    pub to: SocketAddr,
    /// The wall-clock time the packet carries; T1 unless the kernel stamps
    /// the send.
    pub t1_user: Timestamp,
}

/// What the driving loop does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Send this packet now.
    Transmit(Transmit),
    /// Nothing due: receive, [`Core::poll`], wait until [`Core::poll_at`].
    Wait,
    /// Every packet is answered or has had its time: [`Core::finish`].
    Finished,
}

/// What a finished session leaves.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The report of the last window (the whole session when not cut).
    pub report: SessionReport,
    pub counters: SenderCounters,
    pub class_of_service: Option<ClassOfServiceReport>,
    /// What the reflector reported of its clock, when asked.
    pub reflector_clock: Option<ReflectorClock>,
    /// The loss timeout at the end.
    pub timeout: Duration,
    /// Notes from the session itself (an interruption).
    pub notes: Vec<String>,
    /// The last, shorter window, when cutting windows.
    pub last_cut: Option<WindowCut>,
    /// Every answered packet, when asked for.
    pub packets: Vec<PacketRecord>,
}

/// A packet sent: T1, its source, and when (monotonic) it left.
#[derive(Debug, Clone, Copy)]
struct Sent {
    t1: Timestamp,
    source: TsSource,
    at: Instant,
}

/// A reply waiting for the next one, whose Follow-Up Telemetry may carry its
/// accurate T3.
#[derive(Debug, Clone, Copy)]
struct Pending {
    reply: Reply,
    arrived: Instant,
}

/// The sender of one STAMP session; see the module documentation.
#[derive(Debug)]
pub struct Core {
    target: SocketAddr,
    ssid: u16,
    mode: Mode,
    key: Option<Vec<u8>>,
    follow_up: bool,
    count: Option<u64>,
    send_until: Option<Instant>,
    timeout_setting: Option<Duration>,
    builder: PacketBuilder,
    pacer: Pacer,
    error_estimate: ErrorEstimate,
    local_side: ClockSide,
    remote_boot_id: Option<String>,

    tracker: Tracker,
    sent: HashMap<u32, Sent>,
    pending: Option<Pending>,
    counters: SenderCounters,
    cos: Option<ClassOfServiceReport>,
    /// What the reflector reports of its clock, when asked.
    reflector_clock: Option<ReflectorClock>,
    max_rtt: Duration,
    notes: Vec<String>,
    /// Answered packets, when [`StampConfig::record_packets`] asks for them.
    packet_log: Option<Vec<PacketRecord>>,

    seq: u32,
    packets: u64,
    sending: bool,
    stop: bool,
    next_send: Instant,
    drain_until: Option<Instant>,
    next_expire: Instant,
    window: Option<Duration>,
    next_cut: Option<Instant>,
    window_start: Timestamp,
}

fn from_wire(ts: wire::Timestamp, format: TimestampFormat) -> Option<Timestamp> {
    ts.to_duration(format).ok()
}

impl Core {
    /// A session of `config` starting at `now` (monotonic) and `realtime`
    /// (wall clock); the first packet is due at once.
    pub fn new(config: &StampConfig, setup: Setup, now: Instant, realtime: Timestamp) -> Core {
        let mode = if config.key.is_some() {
            Mode::Authenticated
        } else {
            Mode::Unauthenticated
        };
        let kind = match config.reflector {
            ReflectorType::Stateful => ReflectorKind::Stateful { first_seq: Some(0) },
            ReflectorType::Stateless => ReflectorKind::Stateless,
        };
        Core {
            target: config.target,
            ssid: config.ssid,
            mode,
            key: config.key.clone(),
            follow_up: config.follow_up,
            count: config.count,
            send_until: config.duration.map(|d| now + d),
            timeout_setting: config.timeout,
            builder: setup.builder,
            pacer: setup.pacer,
            error_estimate: setup.clocks.error_estimate,
            local_side: setup.clocks.local,
            remote_boot_id: setup.clocks.remote_boot_id,
            tracker: Tracker::with_reflector(kind),
            sent: HashMap::new(),
            pending: None,
            counters: SenderCounters::default(),
            cos: config.dscp.map(|dscp| ClassOfServiceReport {
                dscp,
                ..ClassOfServiceReport::default()
            }),
            max_rtt: Duration::ZERO,
            notes: Vec::new(),
            packet_log: config.record_packets.then(Vec::new),
            reflector_clock: config.timestamp_info.then(ReflectorClock::default),
            seq: 0,
            packets: 0,
            sending: true,
            stop: false,
            next_send: now,
            drain_until: None,
            next_expire: now,
            window: setup.window,
            next_cut: setup.window.map(|len| now + len.max(MIN_WINDOW)),
            window_start: realtime,
        }
    }

    /// Octets of each packet: the buffer [`Core::next`] needs.
    pub fn packet_len(&self) -> usize {
        self.builder.len()
    }

    /// The loss timeout: the configured one, else [`DEFAULT_TIMEOUT`] or
    /// 3 x the largest RTT seen, whichever is longer.
    pub fn timeout(&self) -> Duration {
        self.timeout_setting
            .unwrap_or_else(|| DEFAULT_TIMEOUT.max(self.max_rtt.saturating_mul(3)))
    }

    /// Packets handed out by [`Core::next`] so far.
    pub fn packets_sent(&self) -> u64 {
        self.packets
    }

    pub fn counters(&self) -> &SenderCounters {
        &self.counters
    }

    /// The window being filled.
    pub fn window(&self) -> &Window {
        self.tracker.window()
    }

    /// Packets sent and neither answered nor expired.
    pub fn in_flight(&self) -> usize {
        self.tracker.in_flight()
    }

    /// Stop sending (SIGINT/SIGTERM): replies on their way get a short wait.
    pub fn stop(&mut self) {
        self.stop = true;
    }

    /// Writes the packet due at `now` into `buf` (at least
    /// [`Core::packet_len`] octets), stamped with `realtime`; or says there
    /// is nothing to send, or that the session is over.
    pub fn next(&mut self, now: Instant, realtime: Timestamp, buf: &mut [u8]) -> Next {
        if self.sending {
            let done = self.count.is_some_and(|c| self.packets >= c)
                || self.send_until.is_some_and(|t| now >= t)
                || self.stop;
            if done {
                self.sending = false;
                let mut wait = self.timeout();
                if self.stop {
                    wait = wait.min(STOP_WAIT);
                    self.notes.push(format!(
                        "interrupted after {} packets: replies not back {} ms later count as lost",
                        self.packets,
                        wait.as_millis()
                    ));
                }
                self.drain_until = Some(now + wait);
            } else if now >= self.next_send {
                let seq = self.seq;
                self.seq = seq.wrapping_add(1);
                self.packets += 1;
                self.next_send += self.pacer.next_gap();
                let t1_wire = wire::Timestamp::from_duration(TimestampFormat::Ntp, realtime)
                    .unwrap_or_default();
                let key = self.key.as_deref().map(HmacKey::new);
                return match self
                    .builder
                    .write(buf, seq, t1_wire, self.error_estimate, key)
                {
                    Ok(len) => Next::Transmit(Transmit {
                        seq,
                        len,
                        to: self.target,
                        t1_user: realtime,
                    }),
                    Err(_) => {
                        self.counters.send_errors += 1;
                        Next::Wait
                    }
                };
            }
        }
        if !self.sending {
            if self.pending.is_some() && self.tracker.in_flight() == 1 {
                // The last reply: no later one will bring its follow-up.
                self.flush_pending();
            }
            let all_done = self.tracker.in_flight() == 0 && self.pending.is_none();
            if all_done || self.drain_until.is_some_and(|t| now >= t) {
                return Next::Finished;
            }
        }
        Next::Wait
    }

    /// `tx` left at `t1` (from `source`); `now` is when the send returned.
    pub fn sent(&mut self, tx: &Transmit, t1: Timestamp, source: TsSource, now: Instant) {
        match source {
            TsSource::User => self.counters.t1_user += 1,
            _ => self.counters.t1_kernel += 1,
        }
        self.record_sent(tx.seq, t1, source, now);
    }

    /// `tx` could not be sent. It still counts as sent: a packet the network
    /// never saw is lost.
    pub fn send_failed(&mut self, tx: &Transmit, now: Instant) {
        self.counters.send_errors += 1;
        self.record_sent(tx.seq, tx.t1_user, TsSource::User, now);
    }

    fn record_sent(&mut self, seq: u32, t1: Timestamp, source: TsSource, at: Instant) {
        self.tracker.sent(seq, t1);
        self.sent.insert(seq, Sent { t1, source, at });
    }

    /// A datagram arrived: `data` with what the socket said about it (T4 is
    /// its timestamp). Anything but a well-formed reply of this session from
    /// the target counts as a bad reply.
    pub fn receive(&mut self, data: &[u8], got: &Received, now: Instant) {
        if got.from != self.target || got.truncated {
            self.counters.bad_replies += 1;
            return;
        }
        self.on_reply(data, got.ts, got.ts_source, now);
        if let Some(cos) = self.cos.as_mut() {
            note_class_of_service(cos, data, self.mode, got.tos);
        }
        if let Some(clock) = self.reflector_clock.as_mut() {
            clock.note(data, self.mode);
        }
    }

    /// Housekeeping at `now`: declares lost what has had its timeout, and
    /// cuts the window when one is due.
    pub fn poll(&mut self, now: Instant, realtime: Timestamp) -> Option<WindowCut> {
        if now >= self.next_expire {
            let timeout = self.timeout();
            self.flush_stale_pending(now, timeout);
            self.tracker.expire(realtime, timeout);
            // Loss needs no faster verdict than a fraction of its own
            // timeout; waking less often keeps a full mesh of sessions cheap.
            self.next_expire =
                now + (timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
        }
        let (Some(len), Some(at)) = (self.window, self.next_cut.as_mut()) else {
            return None;
        };
        if now < *at {
            return None;
        }
        let len = len.max(MIN_WINDOW);
        *at += len;
        if *at < now {
            *at = now + len;
        }
        Some(self.cut(realtime))
    }

    fn cut(&mut self, end: Timestamp) -> WindowCut {
        let cut = WindowCut {
            start: self.window_start,
            duration: end.saturating_sub(self.window_start),
            window: self.tracker.take_window(),
        };
        self.window_start = end;
        cut
    }

    /// The next time [`Core::next`] or [`Core::poll`] has something to do,
    /// unless a datagram arrives first.
    pub fn poll_at(&self) -> Instant {
        let mut wake = self.next_expire;
        if let Some(at) = self.next_cut {
            wake = wake.min(at);
        }
        if self.sending {
            wake = wake.min(self.next_send);
        }
        if let Some(t) = self.drain_until {
            wake = wake.min(t);
        }
        wake
    }

    /// Ends the session at `realtime`: a reply still waiting for its
    /// follow-up goes in as it is, and everything still open has had its
    /// timeout (or the session was stopped), so every fate is settled, gaps
    /// in the reflector's numbers included.
    pub fn finish(mut self, realtime: Timestamp) -> Outcome {
        self.flush_pending();
        let timeout = self.timeout();
        self.tracker
            .expire(realtime.saturating_add(timeout), timeout);
        let report = self.tracker.window().report(&self.target.to_string());
        let last_cut = self.window.map(|_| self.cut(realtime));
        Outcome {
            report,
            counters: self.counters,
            class_of_service: self.cos,
            reflector_clock: self.reflector_clock,
            timeout,
            notes: self.notes,
            last_cut,
            packets: self.packet_log.unwrap_or_default(),
        }
    }

    fn on_reply(&mut self, data: &[u8], t4: Timestamp, t4_source: TsSource, now: Instant) {
        let Ok(p) = ReflectorPacket::new_checked(data, self.mode) else {
            self.counters.bad_replies += 1;
            return;
        };
        if let Some(key) = self.key.as_deref().map(HmacKey::new) {
            // A malformed TLV area (such as 1-3 padding octets no TLV can
            // hold) ends the walk after the base HMAC and every HMAC TLV
            // before it verified.
            if !matches!(p.verify(key), Ok(()) | Err(wire::Error::BadTlv { .. })) {
                self.counters.bad_replies += 1;
                return;
            }
        }
        if p.ssid() != self.ssid {
            self.counters.bad_replies += 1;
            return;
        }
        let ee = p.error_estimate();
        let format = ee.timestamp_format();
        let (Some(t2), Some(t3)) = (
            from_wire(p.receive_timestamp(), format),
            from_wire(p.timestamp(), format),
        ) else {
            self.counters.bad_replies += 1;
            return;
        };
        let sender_seq = p.sender_sequence_number();
        let (t1, t1_source) = match self.sent.get(&sender_seq) {
            Some(sent) => (sent.t1, sent.source),
            None => (
                from_wire(p.sender_timestamp(), TimestampFormat::Ntp).unwrap_or_default(),
                TsSource::User,
            ),
        };
        let remote = ClockSide {
            synchronized: ee.synchronized(),
            error: ee.error(),
            boot_id: self.remote_boot_id.clone(),
        };
        let reply = Reply {
            sender_seq,
            reflector_seq: p.sequence_number(),
            t1,
            t2,
            t3,
            t4,
            clock: clock_sample(&self.local_side, &remote),
            ts_source: t1_source.min(t4_source),
        };
        let follow_up = follow_up_of(p.tlv_bytes(), format);
        if let Some(mut pending) = self.pending.take() {
            if let Some((seq, ts)) = follow_up {
                let r = &mut pending.reply;
                if seq == r.reflector_seq && ts >= r.t2 {
                    r.t3 = ts;
                    self.counters.t3_from_follow_up += 1;
                }
            }
            self.feed(pending.reply);
        }
        // Duplicates (their packet answered already) need no follow-up.
        let answered = !self.sent.contains_key(&reply.sender_seq);
        if self.follow_up && !answered {
            self.pending = Some(Pending {
                reply,
                arrived: now,
            });
        } else {
            self.feed(reply);
        }
    }

    fn feed(&mut self, reply: Reply) {
        if let ReplyOutcome::Fresh(sample) = self.tracker.reply(&reply) {
            self.sent.remove(&reply.sender_seq);
            if let Some(log) = self.packet_log.as_mut() {
                log.push(PacketRecord::of(&reply));
            }
            if let Ok(rtt) = u64::try_from(sample.rtt_ns) {
                self.max_rtt = self.max_rtt.max(Duration::from_nanos(rtt));
            }
        }
    }

    /// A pending reply whose successor is not coming soon goes in with the
    /// reflector's estimate of T3, well before its packet could time out.
    fn flush_stale_pending(&mut self, now: Instant, timeout: Duration) {
        if self
            .pending
            .is_some_and(|p| now.saturating_duration_since(p.arrived) >= timeout / 4)
        {
            self.flush_pending();
        }
        // Forget send times long past any use.
        let keep = timeout.saturating_mul(2);
        self.sent
            .retain(|_, sent| now.saturating_duration_since(sent.at) < keep);
    }

    fn flush_pending(&mut self) {
        if let Some(p) = self.pending.take() {
            self.feed(p.reply);
        }
    }
}

/// Counts what a reply's Class of Service TLV and IP header say about the
/// DSCP on each path. Only replies that parse are looked at.
fn note_class_of_service(
    cos: &mut ClassOfServiceReport,
    data: &[u8],
    mode: Mode,
    reply_tos: Option<u8>,
) {
    let Ok(p) = ReflectorPacket::new_checked(data, mode) else {
        return;
    };
    let reported = TlvIter::new(p.tlv_bytes())
        .map_while(Result::ok)
        .filter(|(_, t)| t.tlv_type() == tlv_type::CLASS_OF_SERVICE && t.flags().bits() & 0xe0 == 0)
        .find_map(|(_, t)| match Tlv::parse(&t).body {
            TlvBody::ClassOfService(c) => Some(c),
            _ => None,
        });
    match reported {
        Some(c) => {
            if c.dscp2 == cos.dscp {
                cos.forward_kept += 1;
            } else {
                cos.forward_changed += 1;
            }
            cos.last_forward_dscp = Some(c.dscp2);
            cos.last_forward_ecn = Some(c.ecn);
        }
        None => cos.not_reported += 1,
    }
    if let Some(tos) = reply_tos {
        let dscp = tos >> 2;
        if dscp == cos.dscp {
            cos.reverse_kept += 1;
        } else {
            cos.reverse_changed += 1;
        }
        cos.last_reverse_dscp = Some(dscp);
    }
}

/// The Follow-Up Telemetry of a reply, if the reflector filled it with a
/// kernel or hardware timestamp: (reflector sequence number, timestamp).
fn follow_up_of(area: &[u8], format: TimestampFormat) -> Option<(u32, Timestamp)> {
    for (_, packet) in TlvIter::new(area).map_while(Result::ok) {
        if packet.tlv_type() != tlv_type::FOLLOW_UP_TELEMETRY || packet.flags().bits() & 0xe0 != 0 {
            continue;
        }
        if let TlvBody::FollowUpTelemetry(f) = Tlv::parse(&packet).body {
            let accurate = matches!(
                f.timestamp_mode,
                wire::timestamp_method::HW_ASSIST | wire::timestamp_method::SW_LOCAL
            );
            if accurate && f.timestamp != wire::Timestamp::default() {
                return from_wire(f.timestamp, format).map(|ts| (f.sequence_number, ts));
            }
        }
    }
    None
}
