//! Byte-exact fixtures (checksums computed by hand), malformed input, and
//! properties: arbitrary octets never panic, build then parse gives back
//! what was built.
#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;
use std::net::Ipv6Addr;

/// The ICMP checksum of `b` as pnet computes it: an implementation
/// independent of ours, so the fixtures below check ours too.
fn pnet_checksum(b: &[u8]) -> Option<u16> {
    pnet_packet::icmp::IcmpPacket::new(b).map(|p| pnet_packet::icmp::checksum(&p))
}

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const C: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 1);

const ECHO_REQUEST_V4: [u8; 12] = [
    0x08, 0x00, 0x21, 0x04, 0x12, 0x34, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64,
];
const ECHO_REPLY_V4: [u8; 12] = [
    0x00, 0x00, 0x29, 0x04, 0x12, 0x34, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64,
];
const ECHO_REQUEST_V6: [u8; 12] = [
    0x80, 0x00, 0x00, 0x00, 0x12, 0x34, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64,
];
const ECHO_REPLY_V6: [u8; 12] = [
    0x81, 0x00, 0xab, 0xcd, 0x12, 0x34, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64,
];
/// Time exceeded quoting 198.18.0.1 -> 198.18.2.1, ICMP echo request id 0x1234 seq 2.
const TIME_EXCEEDED_ICMP: [u8; 36] = [
    0x0b, 0x00, 0xce, 0x86, 0x00, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x40, 0x00,
    0x01, 0x01, 0x00, 0x00, 0xc6, 0x12, 0x00, 0x01, 0xc6, 0x12, 0x02, 0x01, 0x08, 0x00, 0xf7, 0xfd,
    0x12, 0x34, 0x00, 0x02,
];
/// Time exceeded quoting a UDP datagram 33333 -> 33434.
const TIME_EXCEEDED_UDP: [u8; 36] = [
    0x0b, 0x00, 0xdb, 0xc2, 0x00, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00, 0x24, 0x00, 0x00, 0x40, 0x00,
    0x01, 0x11, 0x00, 0x00, 0xc6, 0x12, 0x00, 0x01, 0xc6, 0x12, 0x02, 0x01, 0x82, 0x35, 0x82, 0x9a,
    0x00, 0x10, 0x00, 0x00,
];
/// Port unreachable quoting a UDP datagram 33333 -> 33435.
const PORT_UNREACHABLE: [u8; 36] = [
    0x03, 0x03, 0xa6, 0xbe, 0x00, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00, 0x24, 0x00, 0x00, 0x40, 0x00,
    0x3e, 0x11, 0x00, 0x00, 0xc6, 0x12, 0x00, 0x01, 0xc6, 0x12, 0x02, 0x01, 0x82, 0x35, 0x82, 0x9b,
    0x00, 0x10, 0x00, 0x00,
];

fn v6(last: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last)
}

/// An ICMPv6 error: type, code, unused, then an IPv6 header 2001:db8::1 ->
/// 2001:db8::2 with `next` and the transport octets.
fn v6_error(icmp_type: u8, code: u8, next: u8, transport: &[u8]) -> Vec<u8> {
    let mut b = vec![icmp_type, code, 0x12, 0x34, 0, 0, 0, 0];
    b.extend_from_slice(&[0x60, 0, 0, 0, 0, transport.len() as u8, next, 1]);
    b.extend_from_slice(&v6(1).octets());
    b.extend_from_slice(&v6(2).octets());
    b.extend_from_slice(transport);
    b
}

#[test]
fn builds_echo_requests_byte_exact() {
    assert_eq!(
        echo_request(Family::V4, 0x1234, 1, b"abcd").unwrap(),
        ECHO_REQUEST_V4
    );
    assert_eq!(
        echo_request(Family::V6, 0x1234, 1, b"abcd").unwrap(),
        ECHO_REQUEST_V6
    );
    assert_eq!(
        echo_request(Family::V4, 0, 0, &vec![0; MAX_PAYLOAD + 1]),
        Err(PacketError::TooLarge(MAX_PAYLOAD + 1))
    );
}

#[test]
fn parses_echo_messages() {
    let want = Echo {
        id: 0x1234,
        seq: 1,
        payload: b"abcd",
    };
    assert_eq!(parse_icmpv4(&ECHO_REPLY_V4), Ok(Message::EchoReply(want)));
    assert_eq!(
        parse_icmpv4(&ECHO_REQUEST_V4),
        Ok(Message::EchoRequest(want))
    );
    assert_eq!(parse_icmpv6(&ECHO_REPLY_V6), Ok(Message::EchoReply(want)));
    assert_eq!(
        parse_icmpv6(&ECHO_REQUEST_V6),
        Ok(Message::EchoRequest(want))
    );
}

#[test]
fn parses_time_exceeded_quoting_icmp_and_udp() {
    assert_eq!(
        parse_icmpv4(&TIME_EXCEEDED_ICMP),
        Ok(Message::TimeExceeded {
            code: 0,
            quote: Quote {
                src: A.into(),
                dst: C.into(),
                probe: QuotedProbe::Echo { id: 0x1234, seq: 2 }
            }
        })
    );
    assert_eq!(
        parse_icmpv4(&TIME_EXCEEDED_UDP),
        Ok(Message::TimeExceeded {
            code: 0,
            quote: Quote {
                src: A.into(),
                dst: C.into(),
                probe: QuotedProbe::Udp {
                    src_port: 33333,
                    dst_port: 33434
                }
            }
        })
    );
    let v6_echo = v6_error(3, 0, 58, &[0x80, 0, 0, 0, 0x12, 0x34, 0, 5]);
    assert_eq!(
        parse_icmpv6(&v6_echo),
        Ok(Message::TimeExceeded {
            code: 0,
            quote: Quote {
                src: v6(1).into(),
                dst: v6(2).into(),
                probe: QuotedProbe::Echo { id: 0x1234, seq: 5 }
            }
        })
    );
}

#[test]
fn parses_port_unreachable() {
    let quote = Quote {
        src: A.into(),
        dst: C.into(),
        probe: QuotedProbe::Udp {
            src_port: 33333,
            dst_port: 33435,
        },
    };
    assert_eq!(
        parse_icmpv4(&PORT_UNREACHABLE),
        Ok(Message::Unreachable {
            code: 3,
            port: true,
            quote
        })
    );
    let b = v6_error(1, 4, 17, &[0x82, 0x35, 0x82, 0x9b, 0, 8, 0, 0]);
    assert!(matches!(
        parse_icmpv6(&b),
        Ok(Message::Unreachable {
            code: 4,
            port: true,
            quote: Quote {
                probe: QuotedProbe::Udp {
                    src_port: 33333,
                    dst_port: 33435
                },
                ..
            }
        })
    ));
    // Host unreachable (v6 code 3) is not the port being closed.
    let b = v6_error(1, 3, 17, &[0x82, 0x35, 0x82, 0x9b, 0, 8, 0, 0]);
    assert!(matches!(
        parse_icmpv6(&b),
        Ok(Message::Unreachable { port: false, .. })
    ));
}

#[test]
fn strips_the_ipv4_header_of_raw_input() {
    let mut raw = vec![
        0x45, 0, 0, 32, 0, 0, 0, 0, 63, 1, 0, 0, 198, 18, 2, 1, 198, 18, 0, 1,
    ];
    raw.extend_from_slice(&ECHO_REPLY_V4);
    let (info, rest) = strip_ipv4(&raw).unwrap();
    assert_eq!((info.src, info.dst, info.ttl), (C, A, 63));
    assert_eq!(rest, ECHO_REPLY_V4);
    raw[9] = 17;
    assert_eq!(strip_ipv4(&raw), Err(PacketError::NotIcmp(17)));
    raw[0] = 0x44; // header length 16
    assert_eq!(strip_ipv4(&raw), Err(PacketError::HeaderLength(16)));
    raw[0] = 0x4f; // 60 octets of header in a 32-octet packet
    assert!(matches!(
        strip_ipv4(&raw),
        Err(PacketError::Truncated { need: 60, .. })
    ));
    raw[0] = 0x65;
    assert!(matches!(
        strip_ipv4(&raw),
        Err(PacketError::Version { version: 6, .. })
    ));
}

#[test]
fn truncated_and_malformed_input_is_an_error() {
    // Every proper prefix of a fixture fails (the error quotes are cut, the
    // checksums no longer match, or the header is short).
    for fixture in [
        &ECHO_REPLY_V4[..],
        &TIME_EXCEEDED_ICMP,
        &TIME_EXCEEDED_UDP,
        &PORT_UNREACHABLE,
    ] {
        for n in 0..fixture.len() {
            assert!(parse_icmpv4(&fixture[..n]).is_err(), "{n} of {fixture:?}");
        }
    }
    let v6_echo = v6_error(3, 0, 58, &[0x80, 0, 0, 0, 0x12, 0x34, 0, 5]);
    for n in 0..v6_echo.len() {
        assert!(parse_icmpv6(&v6_echo[..n]).is_err(), "{n}");
    }
    for n in 0..ICMP_HEADER_LEN {
        assert!(parse_icmpv6(&ECHO_REPLY_V6[..n]).is_err(), "{n}");
    }
    // A flipped bit breaks the checksum.
    let mut bad = ECHO_REPLY_V4;
    bad[7] ^= 1;
    assert!(matches!(
        parse_icmpv4(&bad),
        Err(PacketError::Checksum { .. })
    ));
    // A quote that is not IPv4.
    let mut bad = TIME_EXCEEDED_ICMP;
    bad[8] = 0x65;
    let sum = pnet_checksum(&bad).unwrap();
    bad[2..4].copy_from_slice(&sum.to_be_bytes());
    assert!(matches!(
        parse_icmpv4(&bad),
        Err(PacketError::Version { .. })
    ));
    // Other types are reported as such, not as errors.
    let mut other = [13u8, 0, 0, 0, 0, 0, 0, 0];
    let sum = pnet_checksum(&other).unwrap();
    other[2..4].copy_from_slice(&sum.to_be_bytes());
    assert_eq!(
        parse_icmpv4(&other),
        Ok(Message::Other {
            icmp_type: 13,
            code: 0
        })
    );
}

proptest! {
    #[test]
    fn arbitrary_octets_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_icmpv4(&bytes);
        let _ = parse_icmpv6(&bytes);
        let _ = strip_ipv4(&bytes);
        // Also as error messages with arbitrary quotes.
        for t in [3u8, 11] {
            let mut b = vec![t, 3, 0, 0, 0, 0, 0, 0];
            b.extend_from_slice(&bytes);
            let sum = pnet_checksum(&b).unwrap_or(0);
            b[2..4].copy_from_slice(&sum.to_be_bytes());
            let _ = parse_icmpv4(&b);
        }
        for t in [1u8, 3] {
            let mut b = vec![t, 4, 0, 0, 0, 0, 0, 0];
            b.extend_from_slice(&bytes);
            let _ = parse_icmpv6(&b);
        }
    }

    #[test]
    fn build_then_parse_round_trips(
        id in any::<u16>(),
        seq in any::<u16>(),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let v4 = echo_request(Family::V4, id, seq, &payload).unwrap();
        prop_assert_eq!(
            parse(Family::V4, &v4),
            Ok(Message::EchoRequest(Echo { id, seq, payload: &payload }))
        );
        let v6 = echo_request(Family::V6, id, seq, &payload).unwrap();
        prop_assert_eq!(
            parse(Family::V6, &v6),
            Ok(Message::EchoRequest(Echo { id, seq, payload: &payload }))
        );
        // The same message answered (type 0, checksum fixed) parses as a reply.
        let mut reply = v4.clone();
        reply[0] = 0;
        let sum = pnet_checksum(&reply).unwrap();
        reply[2..4].copy_from_slice(&sum.to_be_bytes());
        prop_assert_eq!(
            parse_icmpv4(&reply),
            Ok(Message::EchoReply(Echo { id, seq, payload: &payload }))
        );
    }
}

#[test]
fn the_view_reads_and_writes_the_fields_where_the_layout_says() {
    let p = IcmpPacket::new_checked(&ECHO_REPLY_V4[..], Family::V4).unwrap();
    assert_eq!((p.msg_type(), p.msg_code(), p.checksum()), (0, 0, 0x2904));
    assert_eq!((p.echo_ident(), p.echo_seq_no()), (0x1234, 1));
    assert_eq!(p.data(), b"abcd");
    assert_eq!(p.compute_checksum(), p.checksum());
    let mut buf = [0u8; 12];
    let mut w = IcmpPacket::new_checked(&mut buf[..], Family::V4).unwrap();
    w.set_msg_type(8);
    w.set_echo_ident(0x1234);
    w.set_echo_seq_no(1);
    w.data_mut().copy_from_slice(b"abcd");
    w.fill_checksum();
    assert_eq!(buf, ECHO_REQUEST_V4);
    // Only type, code and checksum are promised by the length check.
    for n in 0..4 {
        assert!(matches!(
            IcmpPacket::new_checked(&ECHO_REPLY_V4[..n], Family::V6),
            Err(PacketError::Truncated {
                what: "ICMPv6 message",
                need: 4,
                ..
            })
        ));
    }
    let short = IcmpPacket::new_checked(&ECHO_REPLY_V4[..5], Family::V4).unwrap();
    assert_eq!((short.echo_seq_no(), short.data()), (0, &[][..]));
}

#[test]
fn a_short_message_of_another_type_is_still_that_type() {
    let mut b = [13u8, 0, 0, 0];
    let sum = pnet_checksum(&b).unwrap();
    b[2..4].copy_from_slice(&sum.to_be_bytes());
    assert_eq!(
        parse_icmpv4(&b),
        Ok(Message::Other {
            icmp_type: 13,
            code: 0
        })
    );
}

#[test]
fn errors_emit_a_quote_that_parses_back() {
    let v4 = Quote {
        src: A.into(),
        dst: C.into(),
        probe: QuotedProbe::Udp {
            src_port: 33333,
            dst_port: 33435,
        },
    };
    let v6 = Quote {
        src: v6(1).into(),
        dst: v6(2).into(),
        probe: QuotedProbe::Echo { id: 7, seq: 9 },
    };
    for (family, message) in [
        (Family::V4, Message::TimeExceeded { code: 0, quote: v4 }),
        (
            Family::V4,
            Message::Unreachable {
                code: 3,
                port: true,
                quote: v4,
            },
        ),
        (Family::V6, Message::TimeExceeded { code: 0, quote: v6 }),
        (
            Family::V6,
            Message::Unreachable {
                code: 1,
                port: false,
                quote: Quote {
                    probe: QuotedProbe::Other { protocol: 6 },
                    ..v6
                },
            },
        ),
        (
            Family::V4,
            Message::Other {
                icmp_type: 13,
                code: 0,
            },
        ),
    ] {
        let mut buf = vec![0u8; message.buffer_len(family)];
        message
            .emit(&mut IcmpPacket::new_checked(&mut buf[..], family).unwrap())
            .unwrap();
        assert_eq!(parse(family, &buf), Ok(message), "{family:?}");
    }
    // The IPv4 quote's header checksum is right (pnet's IPv4 checksum).
    let message = Message::TimeExceeded { code: 0, quote: v4 };
    let mut buf = vec![0u8; message.buffer_len(Family::V4)];
    message
        .emit(&mut IcmpPacket::new_unchecked(&mut buf[..], Family::V4))
        .unwrap();
    let quoted = pnet_packet::ipv4::Ipv4Packet::new(&buf[8..]).unwrap();
    assert_eq!(quoted.get_checksum(), pnet_packet::ipv4::checksum(&quoted));
}

#[test]
fn what_cannot_be_written_is_an_error() {
    let quote = Quote {
        src: v6(1).into(),
        dst: v6(2).into(),
        probe: QuotedProbe::Echo { id: 1, seq: 2 },
    };
    let mut buf = [0u8; 64];
    let mut p = IcmpPacket::new_unchecked(&mut buf[..], Family::V4);
    assert!(matches!(
        Message::TimeExceeded { code: 0, quote }.emit(&mut p),
        Err(PacketError::Unrepresentable(_))
    ));
    let udp_without_ports = Quote {
        src: A.into(),
        dst: C.into(),
        probe: QuotedProbe::Other { protocol: 17 },
    };
    assert!(matches!(
        Message::TimeExceeded {
            code: 0,
            quote: udp_without_ports
        }
        .emit(&mut p),
        Err(PacketError::Unrepresentable(_))
    ));
    let echo = Message::EchoRequest(Echo {
        id: 1,
        seq: 2,
        payload: &[0; 60],
    });
    assert!(matches!(
        echo.emit(&mut p),
        Err(PacketError::Truncated { need: 68, .. })
    ));
}

proptest! {
    #[test]
    fn whatever_parses_emits_back_to_the_same_message(
        bytes in proptest::collection::vec(any::<u8>(), 0..120),
        t in prop_oneof![Just(0u8), Just(3), Just(8), Just(11), Just(13)],
        t6 in prop_oneof![Just(1u8), Just(3), Just(128), Just(129), Just(2)],
    ) {
        let mut b4 = vec![t, 3, 0, 0, 0, 0, 0, 0];
        b4.extend_from_slice(&bytes);
        let sum = pnet_checksum(&b4).unwrap_or(0);
        b4[2..4].copy_from_slice(&sum.to_be_bytes());
        let mut b6 = vec![t6, 4, 0, 0, 0, 0, 0, 0];
        b6.extend_from_slice(&bytes);
        for (family, b) in [(Family::V4, &b4), (Family::V6, &b6), (Family::V4, &bytes), (Family::V6, &bytes)] {
            if let Ok(message) = parse(family, b) {
                let mut out = vec![0u8; message.buffer_len(family)];
                message.emit(&mut IcmpPacket::new_unchecked(&mut out[..], family)).unwrap();
                prop_assert_eq!(parse(family, &out), Ok(message));
            }
        }
    }
}
