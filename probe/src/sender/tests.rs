//! The sender driven without sockets, as trippy tests its tracer: the state
//! machine fed made-up replies at made-up times (loss in each direction,
//! reordering, duplicates, follow-ups, window cuts, a stop), and the socket
//! loop run over an in-memory socket whose network is the reflector's own
//! state machine.

#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use super::machine::{Clocks, Core, Next, Outcome, Setup, Transmit, WindowCut};
use super::packet::{PacketBuilder, PacketSpec};
use super::run::drive;
use super::schedule::{Pacer, Schedule};
use super::StampConfig;
use crate::clock::{ClockSide, ClockStatus};
use crate::reflector::{self, Datagram, Decision, Policy};
use crate::timestamping::{DatagramSocket, Received, SendTicket, Timestamp, TsSource};
use crate::wire::{
    self, timestamp_method, ErrorEstimate, FollowUpTelemetry, Mode, ReflectorRepr, SenderPacket,
    TimestampFormat, Tlv, TlvBody,
};

const TARGET: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(198, 18, 0, 2)),
    862,
);
const INTERVAL: Duration = Duration::from_millis(10);
const TIMEOUT: Duration = Duration::from_millis(100);
/// The wall clock at the start of every test session.
const EPOCH: Timestamp = Duration::from_secs(1_700_000_000);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn wire_ts(t: Timestamp) -> wire::Timestamp {
    wire::Timestamp::from_duration(TimestampFormat::Ntp, t).unwrap()
}

fn config(count: u64, follow_up: bool) -> StampConfig {
    let mut c = StampConfig::new(TARGET);
    c.count = Some(count);
    c.interval = INTERVAL;
    c.schedule = Schedule::Fixed;
    c.timeout = Some(TIMEOUT);
    c.follow_up = follow_up;
    c
}

fn one_clock() -> Clocks {
    let side = ClockSide {
        synchronized: false,
        error: Duration::from_secs(16),
        boot_id: Some("boot".to_owned()),
    };
    Clocks {
        local: side,
        remote_boot_id: Some("boot".to_owned()),
        error_estimate: ErrorEstimate::default(),
    }
}

fn new_core(config: &StampConfig, window: Option<Duration>, start: Instant) -> Core {
    let builder = PacketBuilder::new(&PacketSpec {
        mode: Mode::Unauthenticated,
        ssid: config.ssid,
        size: config.size,
        dscp: config.dscp,
        follow_up: config.follow_up,
        timestamp_info: config.timestamp_info,
    })
    .unwrap();
    let setup = Setup {
        builder,
        pacer: Pacer::seeded(config.interval, config.schedule, 1),
        clocks: one_clock(),
        window,
    };
    Core::new(config, setup, start, EPOCH)
}

/// A session on a made-up clock: `at(t)` is `t` after the start on both the
/// monotonic and the wall clock.
struct Session {
    core: Core,
    start: Instant,
    buf: Vec<u8>,
    /// T1 of each packet sent.
    t1: HashMap<u32, Timestamp>,
}

impl Session {
    fn new(config: &StampConfig, window: Option<Duration>) -> Session {
        let start = Instant::now();
        let core = new_core(config, window, start);
        let buf = vec![0u8; core.packet_len()];
        Session {
            core,
            start,
            buf,
            t1: HashMap::new(),
        }
    }

    fn next(&mut self, t: Duration) -> Next {
        self.core.next(self.start + t, EPOCH + t, &mut self.buf)
    }

    /// The packet due at `t`, sent with a kernel TX stamp at `t`.
    fn send(&mut self, t: Duration) -> Transmit {
        let Next::Transmit(tx) = self.next(t) else {
            panic!("nothing due at {t:?}");
        };
        self.core
            .sent(&tx, EPOCH + t, TsSource::Kernel, self.start + t);
        self.t1.insert(tx.seq, EPOCH + t);
        tx
    }

    /// The reflector's reply to `sender_seq`, numbered `reflector_seq`, with
    /// T2 = T1 + 1 ms, T3 = T2 + `turnaround`, arriving at `t4`.
    fn reply(&mut self, sender_seq: u32, reflector_seq: u32, t4: Duration) {
        self.reply_with(sender_seq, reflector_seq, ms(0), Vec::new(), t4);
    }

    fn reply_with(
        &mut self,
        sender_seq: u32,
        reflector_seq: u32,
        turnaround: Duration,
        tlvs: Vec<Tlv>,
        t4: Duration,
    ) {
        let t1 = self.t1[&sender_seq];
        let t2 = t1 + ms(1);
        let data = reply_packet(sender_seq, reflector_seq, t1, t2, t2 + turnaround, tlvs);
        self.deliver(&data, TARGET, EPOCH + t4, t4);
    }

    fn deliver(&mut self, data: &[u8], from: SocketAddr, ts: Timestamp, t: Duration) {
        let got = Received {
            len: data.len(),
            truncated: false,
            from,
            ts,
            ts_source: TsSource::Kernel,
            ttl: Some(64),
            tos: None,
        };
        self.core.receive(data, &got, self.start + t);
    }

    fn poll(&mut self, t: Duration) -> Option<WindowCut> {
        self.core.poll(self.start + t, EPOCH + t)
    }

    fn finish(self, t: Duration) -> Outcome {
        self.core.finish(EPOCH + t)
    }
}

fn reply_packet(
    sender_seq: u32,
    reflector_seq: u32,
    t1: Timestamp,
    t2: Timestamp,
    t3: Timestamp,
    tlvs: Vec<Tlv>,
) -> Vec<u8> {
    let repr = ReflectorRepr {
        mode: Mode::Unauthenticated,
        sequence_number: reflector_seq,
        timestamp: wire_ts(t3),
        error_estimate: ErrorEstimate::default(),
        ssid: 0,
        receive_timestamp: wire_ts(t2),
        sender_sequence_number: sender_seq,
        sender_timestamp: wire_ts(t1),
        sender_error_estimate: ErrorEstimate::default(),
        sender_ttl: 64,
        tlvs,
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut buf, None).unwrap();
    buf
}

#[test]
fn sends_on_schedule_numbered_and_stamped() {
    let mut s = Session::new(&config(3, false), None);
    let tx = s.send(ms(0));
    assert_eq!((tx.seq, tx.len, tx.to, tx.t1_user), (0, 44, TARGET, EPOCH));
    let p = SenderPacket::new_checked(&s.buf[..tx.len], Mode::Unauthenticated).unwrap();
    assert_eq!(p.sequence_number(), 0);
    assert_eq!(p.timestamp(), wire_ts(EPOCH));
    // Not due before the interval has passed; the loop is told when it is.
    assert_eq!(s.next(ms(5)), Next::Wait);
    assert!(s.poll(ms(5)).is_none());
    assert_eq!(s.core.poll_at(), s.start + INTERVAL);
    assert_eq!(s.send(ms(10)).seq, 1);
    assert_eq!(s.send(ms(20)).seq, 2);
    // The count is reached: no fourth packet, and the replies get the timeout.
    assert_eq!(s.next(ms(30)), Next::Wait);
    assert_eq!(s.core.packets_sent(), 3);
    assert_eq!(s.core.in_flight(), 3);
    assert_eq!(s.next(ms(29) + TIMEOUT), Next::Wait);
    assert_eq!(s.next(ms(30) + TIMEOUT), Next::Finished);
    assert_eq!(s.core.counters().t1_kernel, 3);
}

/// Eight packets, 10 ms apart, through a path that does everything once.
fn eventful_session() -> Session {
    let mut s = Session::new(&config(8, false), None);
    for k in 0..8 {
        s.send(ms(10 * k));
    }
    // Stateful reflector: it numbers what it receives.
    s.reply(0, 0, ms(5));
    // 1 and 2 swap places on the way back.
    s.reply(2, 2, ms(25));
    s.reply(1, 1, ms(26));
    // 3 never reaches the reflector: 4 gets its number 3 ...
    s.reply(4, 3, ms(45));
    // ... and its reply is duplicated on the way back.
    s.reply(4, 3, ms(46));
    // 5 reaches it (number 4), its reply is lost.
    // 6 reaches it twice: numbers 5 and 6, both replies come back.
    s.reply(6, 5, ms(65));
    s.reply(6, 6, ms(66));
    s.reply(7, 7, ms(75));
    s
}

#[test]
fn loss_reordering_and_duplicates_are_counted_per_direction() {
    let mut s = eventful_session();
    assert_eq!(s.core.in_flight(), 2);
    assert_eq!(s.next(ms(80)), Next::Wait);
    // Before the timeout nothing is lost yet; after it, 3 and 5 are.
    s.poll(ms(100));
    assert_eq!(s.core.window().counters.round_trip_lost, 0);
    s.poll(ms(200));
    assert_eq!(s.core.in_flight(), 0);
    assert_eq!(s.next(ms(200)), Next::Finished);

    let outcome = s.finish(ms(200));
    let w = &outcome.report;
    assert_eq!((w.sent, w.received), (8, 6));
    assert_eq!(w.loss.round_trip_lost, 2);
    assert_eq!(
        w.loss.forward_lost,
        Some(1),
        "3 never reached the reflector"
    );
    assert_eq!(w.loss.reverse_lost, Some(1), "the reply to 5 was lost");
    assert_eq!((w.duplicates, w.reordered, w.reverse_reordered), (2, 1, 1));
    assert_eq!(outcome.counters.bad_replies, 0);
    assert_eq!(outcome.counters.t1_kernel, 8);
}

#[test]
fn window_counters_split_duplicates_and_reordering_by_direction() {
    let mut s = eventful_session();
    s.poll(ms(200));
    let c = s.core.window().counters;
    assert_eq!(c.received, 6);
    assert_eq!(c.duplicates, 2);
    assert_eq!(c.reverse_duplicates, 1, "the same reflector number twice");
    assert_eq!(
        c.forward_duplicates, 1,
        "two reflector numbers for one packet"
    );
    assert_eq!(c.reordered, 1, "1 after 2, sender numbers");
    assert_eq!(c.reverse_reordered, 1, "1 after 2, reflector numbers");
    assert_eq!(c.round_trip_lost, 2);
    assert_eq!(c.reverse_lost, 1);
    assert_eq!(c.late, 0);
    assert_eq!(c.unmatched, 0);
}

#[test]
fn a_reply_after_the_timeout_is_late_and_stays_lost() {
    let mut s = Session::new(&config(1, false), None);
    s.send(ms(0));
    s.poll(ms(150));
    s.reply(0, 0, ms(160));
    let c = s.core.window().counters;
    assert_eq!((c.received, c.round_trip_lost, c.late), (0, 1, 1));
    // It reached the reflector: the loss was on the way back.
    assert_eq!(s.finish(ms(160)).report.loss.reverse_lost, Some(1));
}

#[test]
fn follow_up_telemetry_replaces_t3_of_the_previous_reply() {
    let mut s = Session::new(&config(2, true), None);
    s.send(ms(0));
    s.send(ms(10));
    // The reflector's estimate of T3 is T2; the packet really left 2 ms
    // later, as the next reply's Follow-Up Telemetry says.
    s.reply(0, 0, ms(4));
    let accurate = s.t1[&0] + ms(3);
    let fut = Tlv::new(TlvBody::FollowUpTelemetry(FollowUpTelemetry {
        sequence_number: 0,
        timestamp: wire_ts(accurate),
        timestamp_mode: timestamp_method::SW_LOCAL,
    }));
    s.reply_with(1, 1, ms(2), vec![fut], ms(14));
    // The last reply waits for a follow-up no one will send: the session
    // ends with it in as it is.
    assert_eq!(s.next(ms(20)), Next::Finished);
    let outcome = s.finish(ms(20));
    assert_eq!(outcome.counters.t3_from_follow_up, 1);
    assert_eq!(outcome.report.received, 2);
    // Reverse delay 1 ms for both: T4 - accurate T3 (not T4 - T2 = 3 ms).
    let extremes = outcome.report.one_way_us;
    assert_eq!(extremes.reverse_max, Some(1_000));
    assert_eq!(extremes.reverse_min, Some(1_000));
}

#[test]
fn strays_truncations_and_garbage_are_bad_replies() {
    let mut s = Session::new(&config(1, false), None);
    s.send(ms(0));
    let good = reply_packet(0, 0, EPOCH, EPOCH + ms(1), EPOCH + ms(1), Vec::new());
    let elsewhere = SocketAddr::from(([198, 18, 0, 3], 862));
    s.deliver(&good, elsewhere, EPOCH + ms(2), ms(2));
    s.deliver(&good[..20], TARGET, EPOCH + ms(2), ms(2));
    let mut other_ssid = good.clone();
    other_ssid[15] = 9;
    s.deliver(&other_ssid, TARGET, EPOCH + ms(2), ms(2));
    let truncated = Received {
        len: good.len(),
        truncated: true,
        from: TARGET,
        ts: EPOCH + ms(2),
        ts_source: TsSource::Kernel,
        ttl: None,
        tos: None,
    };
    s.core.receive(&good, &truncated, s.start + ms(2));
    assert_eq!(s.core.counters().bad_replies, 4);
    assert_eq!(s.core.window().counters.received, 0);
    s.reply(0, 0, ms(3));
    assert_eq!(s.core.window().counters.received, 1);
}

#[test]
fn windows_are_cut_on_time_and_a_loss_counts_where_it_is_decided() {
    let mut config = config(2, false);
    config.timeout = Some(ms(150));
    let mut s = Session::new(&config, Some(ms(100)));
    s.send(ms(0));
    s.send(ms(10));
    s.reply(0, 0, ms(5));
    assert!(s.poll(ms(50)).is_none());
    let first = s.poll(ms(100)).unwrap();
    assert_eq!((first.start, first.duration), (EPOCH, ms(100)));
    let c = first.window.counters;
    assert_eq!((c.sent, c.received, c.round_trip_lost), (2, 1, 0));
    // Packet 1 times out in the second window.
    let second = s.poll(ms(200)).unwrap();
    assert_eq!((second.start, second.duration), (EPOCH + ms(100), ms(100)));
    let c = second.window.counters;
    assert_eq!((c.sent, c.received, c.round_trip_lost), (0, 0, 1));
    // The last window is shorter and comes with the outcome.
    let last = s.finish(ms(230)).last_cut.unwrap();
    assert_eq!((last.start, last.duration), (EPOCH + ms(200), ms(30)));
}

#[test]
fn stop_gives_replies_a_short_wait_and_says_so() {
    let mut config = config(1000, false);
    config.timeout = Some(Duration::from_secs(5));
    let mut s = Session::new(&config, None);
    s.send(ms(0));
    s.send(ms(10));
    s.reply(0, 0, ms(12));
    s.core.stop();
    assert_eq!(s.next(ms(15)), Next::Wait);
    assert!(s.poll(ms(15)).is_none());
    assert_eq!(s.core.poll_at(), s.start + ms(15) + Duration::from_secs(1));
    assert_eq!(s.next(ms(1015)), Next::Finished);
    let outcome = s.finish(ms(1015));
    assert_eq!(outcome.report.sent, 2);
    assert_eq!(outcome.report.loss.round_trip_lost, 1);
    assert_eq!(outcome.notes.len(), 1);
    assert!(outcome.notes[0].starts_with("interrupted after 2 packets"));
}

#[test]
fn a_failed_send_counts_as_sent_and_lost() {
    let mut s = Session::new(&config(1, false), None);
    let Next::Transmit(tx) = s.next(ms(0)) else {
        panic!("nothing due");
    };
    s.core.send_failed(&tx, s.start);
    assert_eq!(s.core.counters().send_errors, 1);
    assert_eq!(s.core.counters().t1_kernel + s.core.counters().t1_user, 0);
    let outcome = s.finish(ms(0));
    assert_eq!(
        (outcome.report.sent, outcome.report.loss.round_trip_lost),
        (1, 1)
    );
}

#[test]
fn the_timeout_grows_with_the_largest_rtt_seen() {
    let mut config = config(1, false);
    config.timeout = None;
    let mut s = Session::new(&config, None);
    assert_eq!(s.core.timeout(), Duration::from_secs(1));
    s.send(ms(0));
    s.reply(0, 0, ms(500));
    assert_eq!(s.core.timeout(), ms(1500));
}

/// An in-memory network: what the sender sends goes through the reflector's
/// state machine; every `lose`-th reply never comes back.
struct Loopback {
    reflector: RefCell<reflector::Core>,
    replies: RefCell<VecDeque<Vec<u8>>>,
    lose: u32,
    requests: RefCell<u32>,
}

impl DatagramSocket for Loopback {
    fn send_datagram(&self, data: &[u8], to: SocketAddr) -> io::Result<SendTicket> {
        assert_eq!(to, TARGET);
        let now = crate::timestamping::realtime_now();
        let d = Datagram {
            data,
            truncated: false,
            from: SocketAddr::from(([198, 18, 0, 1], 40000)),
            rx_ts: now,
            rx_source: TsSource::User,
            ttl: Some(64),
            tos: None,
        };
        let mut out = vec![0u8; 2048];
        let decision =
            self.reflector
                .borrow_mut()
                .handle(&d, Instant::now(), now, &mut out, |_| None);
        let mut n = self.requests.borrow_mut();
        *n += 1;
        if let Decision::Reply(r) = decision {
            if !n.is_multiple_of(self.lose) {
                out.truncate(r.len);
                self.replies.borrow_mut().push_back(out);
            }
        }
        Ok(SendTicket {
            key: None,
            user_ts: now,
            len: data.len(),
        })
    }

    fn recv_datagram(&self, buf: &mut [u8]) -> io::Result<Received> {
        let Some(reply) = self.replies.borrow_mut().pop_front() else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        buf[..reply.len()].copy_from_slice(&reply);
        Ok(Received {
            len: reply.len(),
            truncated: false,
            from: TARGET,
            ts: crate::timestamping::realtime_now(),
            ts_source: TsSource::User,
            ttl: Some(64),
            tos: None,
        })
    }
}

#[test]
fn the_loop_runs_a_session_over_an_in_memory_reflector() {
    let clock = ClockStatus::from_kernel(
        libc::TIME_ERROR,
        libc::STA_UNSYNC,
        Duration::from_secs(16),
        Duration::ZERO,
    );
    let socket = Loopback {
        reflector: RefCell::new(reflector::Core::new(Policy::default(), &clock)),
        replies: RefCell::new(VecDeque::new()),
        lose: 4,
        requests: RefCell::new(0),
    };
    let mut config = config(20, true);
    config.interval = ms(1);
    config.timeout = Some(ms(50));
    let mut core = new_core(&config, None, Instant::now());
    let mut cuts = 0;
    drive(
        &socket,
        &mut core,
        &AtomicBool::new(false),
        &mut |_| cuts += 1,
        &mut |pause| std::thread::sleep(pause.min(ms(1))),
    );
    let outcome = core.finish(crate::timestamping::realtime_now());
    assert_eq!(cuts, 0);
    let r = &outcome.report;
    assert_eq!((r.sent, r.received), (20, 15), "every 4th reply lost");
    // The 20th reply is lost after the last one received: no later number
    // reveals that gap, so it counts as forward loss (see `Loss`) and only
    // four of the five show as reverse loss.
    assert_eq!(r.loss.forward_lost, Some(1));
    assert_eq!(r.loss.reverse_lost, Some(4));
    assert_eq!(outcome.counters.t1_user, 20);
    assert_eq!(outcome.counters.bad_replies, 0);
}

#[test]
fn packet_log_keeps_each_answered_packet_once_when_asked() {
    // Not asked: nothing kept.
    let s = eventful_session();
    assert!(s.finish(ms(80) + TIMEOUT).packets.is_empty());

    let mut c = config(8, false);
    c.record_packets = true;
    let mut s = Session::new(&c, None);
    for k in 0..8 {
        s.send(ms(10 * k));
    }
    s.reply(0, 0, ms(5));
    s.reply(2, 2, ms(25));
    s.reply(1, 1, ms(26));
    // A duplicate reply is not a second record.
    s.reply(2, 2, ms(27));
    let packets = s.finish(ms(80) + TIMEOUT).packets;
    let seqs: Vec<u32> = packets.iter().map(|p| p.seq).collect();
    assert_eq!(seqs, [0, 2, 1]);
    // T1 = 20 ms, T2 = T1 + 1 ms, T3 = T2, T4 = 25 ms.
    let p = packets[1];
    assert_eq!(p.forward_ns, 1_000_000);
    assert_eq!(p.reverse_ns, 4_000_000);
    assert_eq!(p.t4_ns - p.t1_ns, 5_000_000);
}

#[test]
fn the_reflector_reports_its_clock_when_asked() {
    // A reflector whose operator states a 2 us error (announced as NTP in
    // the TLV) and a free-running one.
    for (clock, sync) in [
        (
            ClockStatus::from_kernel(libc::TIME_ERROR, libc::STA_UNSYNC, ms(16_000), ms(16_000))
                .with_stated_error(Duration::from_micros(2)),
            "ntp",
        ),
        (
            ClockStatus::from_kernel(libc::TIME_ERROR, libc::STA_UNSYNC, ms(16_000), ms(16_000)),
            "local-free-running",
        ),
    ] {
        let socket = Loopback {
            reflector: RefCell::new(reflector::Core::new(Policy::default(), &clock)),
            replies: RefCell::new(VecDeque::new()),
            lose: u32::MAX,
            requests: RefCell::new(0),
        };
        let mut config = config(5, true);
        config.interval = ms(1);
        config.timeout = Some(ms(50));
        config.timestamp_info = true;
        let mut core = new_core(&config, None, Instant::now());
        drive(
            &socket,
            &mut core,
            &AtomicBool::new(false),
            &mut |_| {},
            &mut |pause| std::thread::sleep(pause.min(ms(1))),
        );
        let outcome = core.finish(crate::timestamping::realtime_now());
        let c = outcome.reflector_clock.expect("asked for");
        assert_eq!((c.reported, c.not_reported), (5, 0), "{c:?}");
        assert_eq!(c.sync_source_in, Some(sync));
        assert_eq!(c.sync_source_out, Some(sync));
        // The loopback hands the reflector user-space stamps.
        assert_eq!(c.timestamp_in, Some("control-plane"));
    }
}
