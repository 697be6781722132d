//! The sender's loop: send on schedule, read TX stamps back, match replies,
//! feed the tracker, stop on count, duration or the stop flag, then wait out
//! the timeout for the last replies.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::packet::{PacketBuilder, PacketError, PacketSpec};
use super::schedule::Pacer;
use super::{
    ClassOfServiceReport, ReflectorType, SameClock, SenderCounters, StampConfig, StampResult,
};
use crate::clock::{boot_id, ClockSide, ClockStatus};
use crate::session::{ReflectorKind, Reply, ReplyOutcome, Tracker, Window, WindowReport};
use crate::timestamping::{realtime_now, SocketOptions, Timestamp, TimestampedSocket, TsSource};
use crate::wire::{
    self, tlv_type, ErrorEstimate, HmacKey, Mode, ReflectorPacket, TimestampFormat, Tlv, TlvBody,
    TlvIter,
};

/// How long to wait for a TX timestamp from the error queue after a send.
const TX_WAIT: Duration = Duration::from_millis(20);
/// Default loss timeout, unless 3 x the largest RTT seen is longer.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Largest datagram read.
const BUFFER: usize = 65_536;
/// Shortest window [`run_windowed`] cuts.
const MIN_WINDOW: Duration = Duration::from_millis(100);

/// Why a session could not run.
#[derive(Debug, thiserror::Error)]
pub enum StampError {
    #[error(transparent)]
    Packet(#[from] PacketError),
    #[error("cannot open a socket for {target}: {source}")]
    Socket {
        target: SocketAddr,
        source: io::Error,
    },
    #[error("cannot read the clock status: {0}")]
    Clock(io::Error),
    #[error("--count 0 and no --duration: nothing to send")]
    NothingToSend,
}

/// A reply waiting for the next one, whose Follow-Up Telemetry may carry its
/// accurate T3.
#[derive(Debug, Clone, Copy)]
struct Pending {
    reply: Reply,
    arrived: Instant,
}

struct Session<'a> {
    config: &'a StampConfig,
    socket: TimestampedSocket,
    tracker: Tracker,
    /// Sender sequence number -> (T1, its source).
    sent: HashMap<u32, (Timestamp, TsSource, Instant)>,
    pending: Option<Pending>,
    counters: SenderCounters,
    cos: Option<ClassOfServiceReport>,
    local_side: ClockSide,
    remote_boot_id: Option<String>,
    mode: Mode,
    max_rtt: Duration,
}

fn unspecified_for(target: SocketAddr) -> SocketAddr {
    match target {
        SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        SocketAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Waits until the socket is readable or `wait` passes.
fn wait_readable(socket: &TimestampedSocket, wait: Duration) {
    let mut pfd = libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = wait.as_micros().div_ceil(1000).min(1000) as libc::c_int;
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut pfd, 1, ms) };
}

fn from_wire(ts: wire::Timestamp, format: TimestampFormat) -> Option<Timestamp> {
    ts.to_duration(format).ok()
}

/// One window cut from a running session (see [`run_windowed`]).
#[derive(Debug, Clone)]
pub struct WindowCut {
    /// When the window began (sender's CLOCK_REALTIME).
    pub start: Timestamp,
    pub duration: Duration,
    pub window: Window,
}

/// Where [`run_windowed`] hands its windows.
pub type WindowSink<'a> = &'a mut dyn FnMut(WindowCut);

/// Runs one session; see the module documentation of [`super`].
pub fn run(config: &StampConfig, stop: &AtomicBool) -> Result<StampResult, StampError> {
    run_windowed(config, stop, None)
}

/// [`run`], cutting the results into windows of `cut.0` and handing each to
/// `cut.1` (the agent's way); the last window, cut when the session ends (on
/// `stop`, after the short wait for replies on the way), is shorter. Packets
/// in flight at a cut count in the window where their fate is decided.
pub fn run_windowed(
    config: &StampConfig,
    stop: &AtomicBool,
    mut cut: Option<(Duration, WindowSink<'_>)>,
) -> Result<StampResult, StampError> {
    if config.count == Some(0) && config.duration.is_none() {
        return Err(StampError::NothingToSend);
    }
    let mode = if config.key.is_some() {
        Mode::Authenticated
    } else {
        Mode::Unauthenticated
    };
    let mut builder = PacketBuilder::new(&PacketSpec {
        mode,
        ssid: config.ssid,
        size: config.size,
        dscp: config.dscp,
        follow_up: config.follow_up,
    })?;
    let mut notes = builder.notes.clone();

    let socket_err = |source| StampError::Socket {
        target: config.target,
        source,
    };
    let options = SocketOptions {
        kernel_timestamps: config.kernel_timestamps,
        ..SocketOptions::default()
    };
    let local = match config.source {
        Some(ip) if ip.is_ipv4() == config.target.is_ipv4() => SocketAddr::new(ip, 0),
        _ => unspecified_for(config.target),
    };
    let socket = TimestampedSocket::bind_with(local, &options).map_err(socket_err)?;
    if let Some(dscp) = config.dscp {
        socket.set_tos(dscp << 2).map_err(socket_err)?;
    }
    socket.set_nonblocking(true).map_err(socket_err)?;
    notes.extend(socket.capabilities().notes.iter().cloned());

    let mut local_clock = ClockStatus::read().map_err(StampError::Clock)?;
    if let Some(error) = config.clock_error {
        local_clock = local_clock.with_stated_error(error);
    }
    let local_boot = boot_id();
    let same_clock = match config.same_clock {
        SameClock::Yes => Some("stated (--same-host)"),
        SameClock::No => None,
        SameClock::Auto if is_loopback(config.target.ip()) => Some("loopback target"),
        SameClock::Auto => None,
    };
    let ee = ErrorEstimate::from_error(local_clock.error(), local_clock.synchronized, false);
    let kind = match config.reflector {
        ReflectorType::Stateful => ReflectorKind::Stateful { first_seq: Some(0) },
        ReflectorType::Stateless => ReflectorKind::Stateless,
    };
    let mut s = Session {
        config,
        socket,
        tracker: Tracker::with_reflector(kind),
        sent: HashMap::new(),
        pending: None,
        counters: SenderCounters::default(),
        cos: config.dscp.map(|dscp| ClassOfServiceReport {
            dscp,
            ..ClassOfServiceReport::default()
        }),
        local_side: local_clock.side(local_boot.clone()),
        // Without a boot id the shared clock still holds: use a marker both
        // sides share.
        remote_boot_id: same_clock.map(|_| local_boot.unwrap_or_else(|| "same-host".to_owned())),
        mode,
        max_rtt: Duration::ZERO,
    };
    if s.remote_boot_id.is_some() && s.local_side.boot_id.is_none() {
        s.local_side.boot_id = Some("same-host".to_owned());
    }

    let key = config.key.clone();
    let key = key.as_deref().map(HmacKey::new);
    let mut pacer = Pacer::new(config.interval, config.schedule);
    let mut out = vec![0u8; builder.len()];
    let mut rx = vec![0u8; BUFFER];
    let start = Instant::now();
    let send_until = config.duration.map(|d| start + d);
    let mut next_send = start;
    let mut seq: u32 = 0;
    let mut sent: u64 = 0;
    let mut sending = true;
    let mut drain_until: Option<Instant> = None;
    let mut next_expire = start;
    let mut window_start = realtime_now();
    let mut next_cut = cut.as_ref().map(|(len, _)| start + (*len).max(MIN_WINDOW));

    loop {
        let now = Instant::now();
        let timeout = s.timeout();
        if sending {
            let done = config.count.is_some_and(|c| sent >= c)
                || send_until.is_some_and(|t| now >= t)
                || stop.load(Ordering::Relaxed);
            if done {
                sending = false;
                let mut wait = timeout;
                if stop.load(Ordering::Relaxed) {
                    // Interrupted: a short wait for replies on the way.
                    wait = wait.min(Duration::from_secs(1));
                    notes.push(format!(
                        "interrupted after {sent} packets: replies not back {} ms later count as lost",
                        wait.as_millis()
                    ));
                }
                drain_until = Some(now + wait);
            } else if now >= next_send {
                s.send_one(&mut builder, &mut out, seq, ee, key);
                seq = seq.wrapping_add(1);
                sent += 1;
                next_send += pacer.next_gap();
                continue;
            }
        }
        if !sending {
            if s.pending.is_some() && s.tracker.in_flight() == 1 {
                // The last reply: no later one will bring its follow-up.
                s.flush_pending();
            }
            let all_done = s.tracker.in_flight() == 0 && s.pending.is_none();
            if all_done || drain_until.is_some_and(|t| now >= t) {
                break;
            }
        }
        // Read what arrived, then sleep until the next thing to do.
        s.receive_all(&mut rx, key);
        let now = Instant::now();
        if now >= next_expire {
            s.flush_stale_pending(now, timeout);
            s.tracker.expire(realtime_now(), timeout);
            // Loss needs no faster verdict than a fraction of its own
            // timeout; waking less often keeps a full mesh of sessions cheap.
            next_expire =
                now + (timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
        }
        if let (Some((len, sink)), Some(at)) = (cut.as_mut(), next_cut.as_mut()) {
            if now >= *at {
                let end = realtime_now();
                sink(WindowCut {
                    start: window_start,
                    duration: end.saturating_sub(window_start),
                    window: s.tracker.take_window(),
                });
                window_start = end;
                *at += (*len).max(MIN_WINDOW);
                if *at < now {
                    *at = now + (*len).max(MIN_WINDOW);
                }
            }
        }
        let mut wake = next_expire;
        if let Some(at) = next_cut {
            wake = wake.min(at);
        }
        if sending {
            wake = wake.min(next_send);
        }
        if let Some(t) = drain_until {
            wake = wake.min(t);
        }
        let wait = wake.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            wait_readable(&s.socket, wait);
        }
    }
    s.receive_all(&mut rx, key);
    s.flush_pending();
    let timeout = s.timeout();
    // Everything still open has had its timeout (or the session was stopped):
    // settle every fate, gaps in the reflector's numbers included.
    s.tracker
        .expire(realtime_now().saturating_add(timeout), timeout);
    let target = config.target.to_string();
    let report = s.tracker.window().report(&target);
    if let Some((_, sink)) = cut.as_mut() {
        let end = realtime_now();
        sink(WindowCut {
            start: window_start,
            duration: end.saturating_sub(window_start),
            window: s.tracker.take_window(),
        });
    }
    Ok(StampResult {
        report,
        counters: s.counters,
        class_of_service: s.cos,
        packet_size: builder.len(),
        authenticated: mode == Mode::Authenticated,
        same_clock,
        local_clock,
        schedule: config.schedule,
        interval: config.interval,
        timeout,
        notes,
    })
}

impl Session<'_> {
    fn timeout(&self) -> Duration {
        self.config
            .timeout
            .unwrap_or_else(|| DEFAULT_TIMEOUT.max(self.max_rtt.saturating_mul(3)))
    }

    fn send_one(
        &mut self,
        builder: &mut PacketBuilder,
        out: &mut [u8],
        seq: u32,
        ee: ErrorEstimate,
        key: Option<HmacKey<'_>>,
    ) {
        let t1_user = realtime_now();
        let t1_wire =
            wire::Timestamp::from_duration(TimestampFormat::Ntp, t1_user).unwrap_or_default();
        let len = match builder.write(out, seq, t1_wire, ee, key) {
            Ok(n) => n,
            Err(_) => {
                self.counters.send_errors += 1;
                return;
            }
        };
        let packet = out.get(..len).unwrap_or(&[]);
        let ticket = match self.socket.send_to(packet, self.config.target, None) {
            Ok(t) => t,
            Err(_) => {
                self.counters.send_errors += 1;
                // Counted as sent: a packet the network never saw is lost.
                self.tracker.sent(seq, t1_user);
                self.sent
                    .insert(seq, (t1_user, TsSource::User, Instant::now()));
                return;
            }
        };
        let (t1, source) = self.socket.tx_timestamp(&ticket, TX_WAIT);
        match source {
            TsSource::User => self.counters.t1_user += 1,
            _ => self.counters.t1_kernel += 1,
        }
        self.tracker.sent(seq, t1);
        self.sent.insert(seq, (t1, source, Instant::now()));
    }

    fn receive_all(&mut self, rx: &mut [u8], key: Option<HmacKey<'_>>) {
        loop {
            let got = match self.socket.recv(rx) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return, // WouldBlock, or an ICMP error: nothing to read
            };
            if got.from != self.config.target || got.truncated {
                self.counters.bad_replies += 1;
                continue;
            }
            let data = rx.get(..got.len).unwrap_or(&[]);
            self.on_reply(data, got.ts, got.ts_source, key);
            if let Some(cos) = self.cos.as_mut() {
                note_class_of_service(cos, data, self.mode, got.tos);
            }
        }
    }

    fn on_reply(
        &mut self,
        data: &[u8],
        t4: Timestamp,
        t4_source: TsSource,
        key: Option<HmacKey<'_>>,
    ) {
        let Ok(p) = ReflectorPacket::new_checked(data, self.mode) else {
            self.counters.bad_replies += 1;
            return;
        };
        if let Some(key) = key {
            // A malformed TLV area (such as 1-3 padding octets no TLV can
            // hold) ends the walk after the base HMAC and every HMAC TLV
            // before it verified.
            if !matches!(p.verify(key), Ok(()) | Err(wire::Error::BadTlv { .. })) {
                self.counters.bad_replies += 1;
                return;
            }
        }
        if p.ssid() != self.config.ssid {
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
            Some(&(t1, source, _)) => (t1, source),
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
            clock: crate::clock::clock_sample(&self.local_side, &remote),
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
        if self.config.follow_up && !self.tracker_knows_answered(&reply) {
            self.pending = Some(Pending {
                reply,
                arrived: Instant::now(),
            });
        } else {
            self.feed(reply);
        }
    }

    /// Duplicates need no follow-up: feed them at once.
    fn tracker_knows_answered(&self, reply: &Reply) -> bool {
        !self.sent.contains_key(&reply.sender_seq)
    }

    fn feed(&mut self, reply: Reply) {
        if let ReplyOutcome::Fresh(sample) = self.tracker.reply(&reply) {
            self.sent.remove(&reply.sender_seq);
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
            .retain(|_, &mut (_, _, at)| now.saturating_duration_since(at) < keep);
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
