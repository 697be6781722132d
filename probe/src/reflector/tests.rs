//! The reflector's rules, driven without sockets: time, receive metadata and
//! TX timestamps are passed in.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::clock::ClockStatus;
use crate::timestamping::{SendTicket, Timestamp, TsSource};
use crate::wire::{
    self, timestamp_method, ClassOfService, ErrorEstimate, FollowUpTelemetry, HmacKey, Mode,
    ReflectorPacket, ReflectorRepr, SenderRepr, TimestampFormat, Tlv, TlvBody,
};

const KEY: &[u8] = b"reflector-test-key";

fn unsynced() -> ClockStatus {
    ClockStatus::from_kernel(
        libc::TIME_ERROR,
        libc::STA_UNSYNC,
        Duration::from_secs(16),
        Duration::ZERO,
    )
}

fn core(policy: Policy) -> Core {
    Core::new(policy, &unsynced())
}

fn from(port: u16) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1], port))
}

fn request(mode: Mode, seq: u32, ssid: u16, tlvs: Vec<Tlv>) -> Vec<u8> {
    let repr = SenderRepr {
        mode,
        sequence_number: seq,
        timestamp: wire::Timestamp {
            seconds: 0xe000_0000 + seq,
            fraction: 7,
        },
        error_estimate: ErrorEstimate::new(false, false, 5, 9).unwrap(),
        ssid,
        tlvs,
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    let key = (mode == Mode::Authenticated).then(|| HmacKey::new(KEY));
    repr.emit(&mut buf, key).unwrap();
    buf
}

struct Rx {
    from: SocketAddr,
    ts: Timestamp,
    ttl: Option<u8>,
    tos: Option<u8>,
}

impl Default for Rx {
    fn default() -> Self {
        Rx {
            from: from(5000),
            ts: Duration::from_secs(1_700_000_000),
            ttl: Some(61),
            tos: None,
        }
    }
}

fn handle(core: &mut Core, data: &[u8], rx: &Rx, now: Instant, out: &mut [u8]) -> Decision {
    let d = Datagram {
        data,
        truncated: false,
        from: rx.from,
        rx_ts: rx.ts,
        rx_source: TsSource::Kernel,
        ttl: rx.ttl,
        tos: rx.tos,
    };
    core.handle(&d, now, rx.ts + Duration::from_micros(3), out, |_| None)
}

fn reply_of(decision: Decision) -> Reply {
    match decision {
        Decision::Reply(r) => r,
        other => panic!("expected a reply, got {other:?}"),
    }
}

fn ticket(user_ts: Timestamp) -> SendTicket {
    SendTicket {
        key: Some(1),
        user_ts,
        len: 44,
    }
}

#[test]
fn stateful_numbers_per_sender_and_ssid() {
    let mut c = core(Policy::default());
    let mut out = vec![0u8; 2048];
    let t = Instant::now();
    let mut seqs = Vec::new();
    for (port, ssid) in [(1, 0), (1, 0), (1, 9), (2, 0), (1, 0), (1, 9)] {
        let rx = Rx {
            from: from(port),
            ..Rx::default()
        };
        let r = reply_of(handle(
            &mut c,
            &request(Mode::Unauthenticated, 77, ssid, vec![]),
            &rx,
            t,
            &mut out,
        ));
        c.sent(&r, ticket(rx.ts));
        let p = ReflectorPacket::new_checked(&out[..r.len], Mode::Unauthenticated).unwrap();
        assert_eq!(p.ssid(), ssid);
        seqs.push(p.sequence_number());
    }
    assert_eq!(seqs, [0, 1, 0, 0, 2, 1]);
    assert_eq!(c.sessions(), 3);
    assert_eq!(c.stats().sessions_created, 3);
}

#[test]
fn reply_carries_the_request_and_the_receive_facts() {
    let mut c = core(Policy::default());
    let mut out = vec![0u8; 2048];
    let req = request(Mode::Unauthenticated, 42, 3, vec![]);
    let rx = Rx::default();
    let r = reply_of(handle(&mut c, &req, &rx, Instant::now(), &mut out));
    assert_eq!(r.len, 44);
    let repr = ReflectorRepr::parse(
        &ReflectorPacket::new_checked(&out[..r.len], Mode::Unauthenticated).unwrap(),
        None,
    )
    .unwrap();
    assert_eq!(repr.sender_sequence_number, 42);
    assert_eq!(repr.sender_timestamp.seconds, 0xe000_0000 + 42);
    assert_eq!(
        repr.sender_error_estimate,
        ErrorEstimate::new(false, false, 5, 9).unwrap()
    );
    assert_eq!(repr.sender_ttl, 61);
    assert_eq!(
        repr.receive_timestamp
            .to_duration(TimestampFormat::Ntp)
            .unwrap(),
        rx.ts
    );
    let t3 = repr.timestamp.to_duration(TimestampFormat::Ntp).unwrap();
    assert!(t3 >= rx.ts);
    // Unsynchronized clock: no S bit, the kernel's 16 s announced.
    assert!(!repr.error_estimate.synchronized());
    assert!(repr.error_estimate.error() >= Duration::from_secs(16));
}

#[test]
fn stated_clock_error_sets_the_s_bit() {
    let mut c = Core::new(
        Policy::default(),
        &unsynced().with_stated_error(Duration::from_micros(2)),
    );
    let mut out = vec![0u8; 64];
    let r = reply_of(handle(
        &mut c,
        &request(Mode::Unauthenticated, 1, 0, vec![]),
        &Rx::default(),
        Instant::now(),
        &mut out,
    ));
    let p = ReflectorPacket::new_checked(&out[..r.len], Mode::Unauthenticated).unwrap();
    assert!(p.error_estimate().synchronized());
    let e = p.error_estimate().error();
    assert!(
        e >= Duration::from_micros(2) && e < Duration::from_micros(3),
        "{e:?}"
    );
}

#[test]
fn sizes_follow_the_request_and_short_ones_get_the_base() {
    let mut c = core(Policy::default());
    let mut out = vec![0u8; 65_536];
    let t = Instant::now();
    for (len, expect) in [
        (14, Some(44)),
        (20, Some(44)),
        (43, Some(44)),
        (44, Some(44)),
        (1000, Some(1000)),
        (13, None),
        (0, None),
    ] {
        let mut req = vec![0u8; len];
        if len >= 4 {
            req[..4].copy_from_slice(&9u32.to_be_bytes());
        }
        match (handle(&mut c, &req, &Rx::default(), t, &mut out), expect) {
            (Decision::Reply(r), Some(n)) => assert_eq!(r.len, n, "request of {len}"),
            (Decision::Drop(Drop::Malformed), None) => {}
            (other, _) => panic!("request of {len}: {other:?}"),
        }
    }
    assert_eq!(c.stats().malformed, 2);
    assert_eq!(c.stats().short_requests, 3);
}

#[test]
fn allow_list_and_rate_limit_drop_and_count() {
    let mut c = core(Policy {
        allow: vec!["192.0.2.0/30".parse().unwrap()],
        max_pps: 8, // a bucket of 2
        ..Policy::default()
    });
    let mut out = vec![0u8; 64];
    let t = Instant::now();
    let req = request(Mode::Unauthenticated, 0, 0, vec![]);
    let outside = Rx {
        from: SocketAddr::from(([192, 0, 2, 9], 1)),
        ..Rx::default()
    };
    assert_eq!(
        handle(&mut c, &req, &outside, t, &mut out),
        Decision::Drop(Drop::Denied)
    );
    let inside = Rx::default();
    let decisions: Vec<_> = (0..4)
        .map(|_| handle(&mut c, &req, &inside, t, &mut out))
        .collect();
    assert!(matches!(decisions[0], Decision::Reply(_)));
    assert!(matches!(decisions[1], Decision::Reply(_)));
    assert_eq!(decisions[2], Decision::Drop(Drop::RateLimited));
    // A quarter second later the bucket has refilled.
    let later = t + Duration::from_millis(250);
    assert!(matches!(
        handle(&mut c, &req, &inside, later, &mut out),
        Decision::Reply(_)
    ));
    let s = c.stats();
    assert_eq!((s.denied, s.rate_limited, s.received), (1, 2, 6));
    assert_eq!(c.sessions(), 1, "refused packets create no session");
}

#[test]
fn authenticated_mode_refuses_what_does_not_verify() {
    let mut c = core(Policy {
        key: Some(KEY.to_vec()),
        ..Policy::default()
    });
    let mut out = vec![0u8; 512];
    let t = Instant::now();
    let good = request(Mode::Authenticated, 5, 1, vec![]);
    let r = reply_of(handle(&mut c, &good, &Rx::default(), t, &mut out));
    assert_eq!(r.len, 112);
    let p = ReflectorPacket::new_checked(&out[..r.len], Mode::Authenticated).unwrap();
    p.verify(HmacKey::new(KEY)).unwrap();
    assert_eq!(p.sender_sequence_number(), 5);

    let mut bad = good.clone();
    bad[100] ^= 1; // inside the HMAC
    let unauth = request(Mode::Unauthenticated, 5, 1, vec![]);
    for req in [&bad, &unauth] {
        assert_eq!(
            handle(
                &mut c,
                req,
                &Rx {
                    from: from(7),
                    ..Rx::default()
                },
                t,
                &mut out
            ),
            Decision::Drop(Drop::AuthFailed)
        );
    }
    assert_eq!(c.stats().auth_failed, 2);
    assert_eq!(c.sessions(), 1, "no session for refused packets");
}

#[test]
fn session_cap_bounds_state() {
    let mut c = core(Policy {
        max_sessions: 2,
        ..Policy::default()
    });
    let mut out = vec![0u8; 64];
    let t = Instant::now();
    let req = request(Mode::Unauthenticated, 0, 0, vec![]);
    for port in 1..=3 {
        let rx = Rx {
            from: from(port),
            ..Rx::default()
        };
        let d = handle(&mut c, &req, &rx, t, &mut out);
        assert_eq!(
            matches!(d, Decision::Reply(_)),
            port <= 2,
            "port {port}: {d:?}"
        );
    }
    assert_eq!(c.stats().session_cap, 1);
    c.expire(t + Duration::from_secs(301));
    assert_eq!((c.sessions(), c.stats().sessions_expired), (0, 2));
}

fn follow_up_in(buf: &[u8]) -> Option<FollowUpTelemetry> {
    let p = ReflectorPacket::new_checked(buf, Mode::Unauthenticated).ok()?;
    let repr = ReflectorRepr::parse(&p, None).ok()?;
    repr.tlvs.iter().find_map(|t| match t.body {
        TlvBody::FollowUpTelemetry(f) => Some(f),
        _ => None,
    })
}

#[test]
fn follow_up_telemetry_reports_the_previous_reply() {
    let mut c = core(Policy::default());
    let mut out = vec![0u8; 128];
    let t = Instant::now();
    let fut = || {
        vec![Tlv::new(TlvBody::FollowUpTelemetry(
            FollowUpTelemetry::default(),
        ))]
    };
    let rx = Rx::default();

    let first = reply_of(handle(
        &mut c,
        &request(Mode::Unauthenticated, 0, 0, fut()),
        &rx,
        t,
        &mut out,
    ));
    assert!(first.tx_stamp, "asked: stamp this reply");
    assert_eq!(
        follow_up_in(&out[..first.len]),
        Some(FollowUpTelemetry::default()),
        "nothing before"
    );
    let user_ts = Duration::from_secs(1_700_000_100);
    c.sent(&first, ticket(user_ts));

    // The kernel stamp of the first reply is found: it goes in, SW local.
    let kernel_ts = user_ts + Duration::from_micros(4);
    let d = Datagram {
        data: &request(Mode::Unauthenticated, 1, 0, fut()),
        truncated: false,
        from: rx.from,
        rx_ts: rx.ts,
        rx_source: TsSource::Kernel,
        ttl: None,
        tos: None,
    };
    let second = reply_of(c.handle(&d, t, rx.ts, &mut out, |tk| {
        assert_eq!(tk.user_ts, user_ts);
        Some((kernel_ts, TsSource::Kernel))
    }));
    let f = follow_up_in(&out[..second.len]).unwrap();
    assert_eq!(f.sequence_number, 0);
    assert_eq!(
        f.timestamp.to_duration(TimestampFormat::Ntp).unwrap(),
        kernel_ts
    );
    assert_eq!(f.timestamp_mode, timestamp_method::SW_LOCAL);
    c.sent(&second, ticket(user_ts + Duration::from_millis(10)));

    // No kernel stamp: the user-space reading, labelled control plane.
    let third = reply_of(c.handle(&d, t, rx.ts, &mut out, |_| None));
    let f = follow_up_in(&out[..third.len]).unwrap();
    assert_eq!(f.sequence_number, 1);
    assert_eq!(f.timestamp_mode, timestamp_method::CONTROL_PLANE);
    assert_eq!(
        (c.stats().follow_up_kernel, c.stats().follow_up_user),
        (1, 1)
    );
}

#[test]
fn class_of_service_reports_what_arrived_and_sets_the_reply_dscp() {
    let mut c = core(Policy::default());
    let mut out = vec![0u8; 128];
    let cos = vec![Tlv::new(TlvBody::ClassOfService(ClassOfService {
        dscp1: 46,
        ..ClassOfService::default()
    }))];
    let rx = Rx {
        tos: Some((10 << 2) | 1),
        ..Rx::default()
    };
    let r = reply_of(handle(
        &mut c,
        &request(Mode::Unauthenticated, 0, 0, cos),
        &rx,
        Instant::now(),
        &mut out,
    ));
    assert_eq!(r.tos, Some(46 << 2));
    let p = ReflectorPacket::new_checked(&out[..r.len], Mode::Unauthenticated).unwrap();
    let repr = ReflectorRepr::parse(&p, None).unwrap();
    assert_eq!(
        repr.tlvs[0].body,
        TlvBody::ClassOfService(ClassOfService {
            dscp1: 46,
            dscp2: 10,
            ecn: 1,
            rp: 0
        })
    );
}

proptest! {
    /// Any datagram: no panic, and a reply is never longer than
    /// max(request, 44), never for fewer than 14 octets.
    #[test]
    fn never_panics_never_amplifies(data in proptest::collection::vec(any::<u8>(), 0..300), auth in any::<bool>()) {
        let mut c = core(Policy {
            key: auth.then(|| KEY.to_vec()),
            ..Policy::default()
        });
        let mut out = vec![0u8; 65_536];
        match handle(&mut c, &data, &Rx::default(), Instant::now(), &mut out) {
            Decision::Reply(r) => {
                prop_assert!(data.len() >= 14);
                prop_assert_eq!(r.len, data.len().max(44));
                prop_assert!(!auth || data.len() >= 112);
            }
            Decision::Drop(_) => {}
        }
    }
}
