//! Feeds arbitrary octets to the ICMP and ICMPv6 parsers: as messages, as
//! raw IPv4 packets, and as the quote inside time-exceeded and
//! destination-unreachable errors (with a valid checksum, so the quote is
//! reached). None may panic; an echo request that parses rebuilds exactly,
//! and every message that parses emits back to octets that parse to it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pnet_packet::icmp::{checksum as pnet_checksum, IcmpPacket as PnetIcmpPacket};
use probe::icmp::packet::{
    echo_header, echo_request, parse, parse_icmpv4, parse_icmpv6, strip_ipv4, Family, IcmpPacket,
    Message, PacketError,
};

/// `data` as the quote of an ICMP error of `icmp_type`/`code`, checksummed.
fn v4_error(icmp_type: u8, code: u8, data: &[u8]) -> Vec<u8> {
    let mut b = vec![icmp_type, code, 0, 0, 0, 0, 0, 0];
    b.extend_from_slice(data);
    // pnet's checksum: independent of the code under test.
    if let Some(sum) = PnetIcmpPacket::new(&b).map(|p| pnet_checksum(&p)) {
        b[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    b
}

/// Emits `message` and parses the result: it must be `message` again.
fn round_trip(family: Family, message: Message<'_>) {
    let mut out = vec![0u8; message.buffer_len(family)];
    match message.emit(&mut IcmpPacket::new_unchecked(&mut out[..], family)) {
        Ok(()) => assert_eq!(parse(family, &out), Ok(message)),
        // More echo payload than an IPv4 datagram holds: refused, rightly.
        Err(PacketError::TooLarge(_)) => {}
        Err(e) => panic!("{message:?} parses but does not emit: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(Message::EchoRequest(echo)) = parse_icmpv4(data) {
        if data.get(1) == Some(&0) {
            let again = echo_request(Family::V4, echo.id, echo.seq, echo.payload);
            assert_eq!(again.as_deref(), Ok(data));
        }
    }
    if let Ok(Message::EchoRequest(echo)) = parse_icmpv6(data) {
        let again = echo_request(Family::V6, echo.id, echo.seq, echo.payload);
        assert_eq!(again.map(|b| b.len()), Ok(data.len()));
    }
    if let Ok((_, rest)) = strip_ipv4(data) {
        let _ = parse_icmpv4(rest);
    }
    let _ = echo_header(data);
    for family in [Family::V4, Family::V6] {
        if let Ok(message) = parse(family, data) {
            round_trip(family, message);
        }
    }
    for (t, code) in [(11u8, 0u8), (3, 3), (3, 1)] {
        if let Ok(message) = parse_icmpv4(&v4_error(t, code, data)) {
            round_trip(Family::V4, message);
        }
    }
    for (t, code) in [(3u8, 0u8), (1, 4), (1, 3)] {
        let mut b = vec![t, code, 0, 0, 0, 0, 0, 0];
        b.extend_from_slice(data);
        if let Ok(message) = parse_icmpv6(&b) {
            round_trip(Family::V6, message);
        }
    }
});
