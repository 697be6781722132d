//! Our reflector (the real binary, 127.0.0.1) against Session-Sender packets
//! written field by field from the RFC 8762 layout, as another STAMP
//! implementation would send them, unauthenticated; replies are read back
//! field by field too.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::UdpSocket;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::Reflector;

const NTP_UNIX: u64 = 2_208_988_800;

fn ntp_now() -> [u8; 8] {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let secs = (now.as_secs() + NTP_UNIX) as u32;
    let frac = ((u64::from(now.subsec_nanos()) << 32) / 1_000_000_000) as u32;
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&secs.to_be_bytes());
    out[4..].copy_from_slice(&frac.to_be_bytes());
    out
}

fn ntp_to_secs(b: &[u8]) -> f64 {
    let secs = u32::from_be_bytes(b[..4].try_into().unwrap());
    let frac = u32::from_be_bytes(b[4..8].try_into().unwrap());
    f64::from(secs) - NTP_UNIX as f64 + f64::from(frac) / 4_294_967_296.0
}

/// RFC 8762 section 4.2.1 (with the RFC 8972 SSID), padded with zeros (MBZ /
/// bare padding) to `len` octets.
fn sender_packet(seq: u32, ssid: u16, len: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(len);
    p.extend_from_slice(&seq.to_be_bytes()); // Sequence Number
    p.extend_from_slice(&ntp_now()); // Timestamp
    p.extend_from_slice(&[0x00, 0x01]); // Error Estimate: S=0 Z=0 Scale=0 Mult=1
    p.extend_from_slice(&ssid.to_be_bytes()); // SSID
    p.resize(len.max(16), 0); // MBZ
    p.truncate(len);
    p
}

fn socket() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    s
}

fn exchange(s: &UdpSocket, r: &Reflector, packet: &[u8]) -> Option<Vec<u8>> {
    s.send_to(packet, r.addr).unwrap();
    let mut buf = vec![0u8; 65_536];
    match s.recv_from(&mut buf) {
        Ok((n, from)) => {
            assert_eq!(from, r.addr);
            Some(buf[..n].to_vec())
        }
        Err(_) => None,
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

#[test]
fn replies_follow_the_rfc_layout_and_number_per_session() {
    let r = Reflector::start(&[]);
    let s = socket();
    let ttl = 64;
    s.set_ttl(ttl).unwrap();
    let mut last_t3 = 0.0;
    for i in 0..5u32 {
        let req = sender_packet(1000 + i, 0xabcd, 44);
        let reply = exchange(&s, &r, &req).expect("reply");
        assert_eq!(reply.len(), 44);
        // RFC 8762 4.3.1: Sequence Number, Timestamp, Error Estimate, SSID,
        // Receive Timestamp, Session-Sender Sequence Number, Timestamp, Error
        // Estimate, MBZ, Session-Sender TTL, MBZ.
        assert_eq!(u32_at(&reply, 0), i, "reflector's own numbers from 0");
        let t3 = ntp_to_secs(&reply[4..12]);
        assert_eq!(&reply[14..16], &0xabcdu16.to_be_bytes(), "SSID");
        let t2 = ntp_to_secs(&reply[16..24]);
        assert_eq!(u32_at(&reply, 24), 1000 + i, "sender sequence number");
        assert_eq!(&reply[28..36], &req[4..12], "sender timestamp");
        assert_eq!(&reply[36..38], &req[12..14], "sender error estimate");
        assert_eq!(&reply[38..40], &[0, 0], "MBZ");
        assert_eq!(u32::from(reply[40]), ttl, "TTL as received");
        assert_eq!(&reply[41..44], &[0, 0, 0], "MBZ");
        let t1 = ntp_to_secs(&req[4..12]);
        assert!(
            t2 >= t1 - 1e-6 && t3 >= t2 && t3 - t1 < 1.0,
            "t1 {t1} t2 {t2} t3 {t3}"
        );
        assert!(t3 > last_t3);
        last_t3 = t3;
        // Error Estimate: S only when synchronized; the scale/multiplier non-zero.
        assert_ne!(&reply[12..14], &[0, 0]);
    }
    // Another SSID from the same address is another session.
    let other = exchange(&s, &r, &sender_packet(7, 1, 44)).unwrap();
    assert_eq!(u32_at(&other, 0), 0);
    let c = r.stop();
    assert_eq!(c["reflected"], 6);
    assert_eq!(c["sessions_created"], 2);
}

#[test]
fn sizes_twamp_light_and_malformed() {
    let r = Reflector::start(&[]);
    let s = socket();
    // TWAMP-light style: 20 octets (Sequence Number, Timestamp, Error
    // Estimate, padding) get the 44-octet base reply.
    let light = sender_packet(3, 0, 20);
    let reply = exchange(&s, &r, &light).expect("reply to 20 octets");
    assert_eq!(reply.len(), 44);
    assert_eq!(u32_at(&reply, 24), 3);
    assert_eq!(&reply[28..36], &light[4..12]);
    // Large: an RFC 8972 Extra Padding TLV (flags, type 1, length) filling
    // the packet to 1,000 octets; same size back, padding echoed.
    let mut big = sender_packet(4, 0, 44);
    big.extend_from_slice(&[0x00, 0x01]);
    big.extend_from_slice(&(1000u16 - 48).to_be_bytes());
    big.extend((48..1000).map(|i| i as u8));
    assert_eq!(big.len(), 1000);
    let reply = exchange(&s, &r, &big).expect("reply to 1000 octets");
    assert_eq!(reply.len(), 1000);
    assert_eq!(&reply[44..], &big[44..], "Extra Padding echoed");
    // Octets after the base that are not well-formed TLVs: echoed, with the
    // M flag on the TLV whose length runs past the end.
    let mut odd = sender_packet(5, 0, 44);
    odd.extend_from_slice(&[0x00, 0x01, 0x00, 0x20, 1, 2, 3, 4]);
    let reply = exchange(&s, &r, &odd).expect("reply");
    assert_eq!(reply.len(), odd.len());
    assert_eq!(reply[44], 0x40, "M flag");
    assert_eq!(&reply[45..], &odd[45..]);
    // Malformed: too short to be a test packet; no reply, counted.
    for len in [0, 1, 13] {
        assert_eq!(exchange(&s, &r, &vec![0x55; len]), None, "{len} octets");
    }
    let c = r.stop();
    assert_eq!(c["malformed"], 3);
    assert_eq!(c["reflected"], 3);
    assert_eq!(c["short_requests"], 1);
}
