//! Feeds arbitrary octets to the ICMP and ICMPv6 parsers: as messages, as
//! raw IPv4 packets, and as the quote inside time-exceeded and
//! destination-unreachable errors (with a valid checksum, so the quote is
//! reached). None may panic; an echo request that parses rebuilds exactly.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pnet_packet::icmp::{checksum, IcmpPacket};
use probe::icmp::packet::{
    echo_header, echo_request, parse_icmpv4, parse_icmpv6, strip_ipv4, Family, Message,
};

/// `data` as the quote of an ICMP error of `icmp_type`/`code`, checksummed.
fn v4_error(icmp_type: u8, code: u8, data: &[u8]) -> Vec<u8> {
    let mut b = vec![icmp_type, code, 0, 0, 0, 0, 0, 0];
    b.extend_from_slice(data);
    if let Some(sum) = IcmpPacket::new(&b).map(|p| checksum(&p)) {
        b[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    b
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
    for (t, code) in [(11u8, 0u8), (3, 3), (3, 1)] {
        let _ = parse_icmpv4(&v4_error(t, code, data));
    }
    for (t, code) in [(3u8, 0u8), (1, 4), (1, 3)] {
        let mut b = vec![t, code, 0, 0, 0, 0, 0, 0];
        b.extend_from_slice(data);
        let _ = parse_icmpv6(&b);
    }
});
