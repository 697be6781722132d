//! Feeds arbitrary octets to what `netlab truth` does with the packets it
//! records (any packet a lab's sites send or receive): the packet identity
//! over IPv4 and IPv6 headers, and, read as text, the recorder's JSON lines,
//! their pairing into transits and the sequence-number readers the
//! comparison matches tools' packets by. None may panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use netlab::truth::{compare, packet_id, parse_lines, transits};
use std::net::SocketAddr;

fuzz_target!(|data: &[u8]| {
    if let Some(id) = packet_id(data) {
        assert!(id.head.len() <= 2 * netlab::truth::packet_id::HEAD_LEN);
        assert!(id.head.len() <= 2 * data.len());
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(records) = parse_lines(text) else {
        return;
    };
    let (pairs, _) = transits(&records);
    let there: SocketAddr = ([198, 18, 0, 1], 862).into();
    for t in &pairs {
        let _ = t.wan_ns();
        let _ = compare::stamp_forward(there)(t);
        let _ = compare::stamp_reverse(there)(t);
        let _ = compare::irtt_forward(there)(t);
        let _ = compare::irtt_reverse(there)(t);
    }
});
