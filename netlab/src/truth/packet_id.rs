//! What identifies one packet on both sides of the emulated WAN: the forwarder
//! changes the TTL (hop limit) and with it the IPv4 header checksum, nothing
//! else, so addresses, protocol, ports and the upper-layer payload name the
//! same packet where it leaves one site and where it enters another.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::wire::{self, Ipv4Packet};
use crate::wire6::Ipv6Packet;

/// Octets of a UDP payload kept as they are ([`PacketId::head`]): enough for
/// a tool's sequence number (STAMP's reflected sender sequence number sits at
/// 24..28, irtt's at 12..16).
pub const HEAD_LEN: usize = 32;

const UDP_HEADER: usize = 8;

/// A packet's identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PacketId {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Upper-layer protocol (17 UDP).
    pub proto: u8,
    /// UDP ports; 0 for other protocols.
    pub sport: u16,
    pub dport: u16,
    /// FNV-1a 64 of the upper-layer data: the UDP payload, or for other
    /// protocols the whole upper-layer segment.
    pub hash: u64,
    /// The first [`HEAD_LEN`] octets of a UDP payload, hex.
    pub head: String,
}

/// FNV-1a, 64 bits: a stable hash (the same in every process and release),
/// which std's hasher does not promise.
pub fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// The octets `head` holds (None when it is not hex).
pub fn unhex(head: &str) -> Option<Vec<u8>> {
    if !head.len().is_multiple_of(2) {
        return None;
    }
    (0..head.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(head.get(i..i + 2)?, 16).ok())
        .collect()
}

fn identify(src: IpAddr, dst: IpAddr, proto: u8, upper: &[u8]) -> PacketId {
    let udp = (proto == wire::PROTO_UDP)
        .then(|| upper.get(..UDP_HEADER).zip(upper.get(UDP_HEADER..)))
        .flatten();
    match udp {
        Some((h, payload)) => PacketId {
            src,
            dst,
            proto,
            sport: u16::from_be_bytes([h[0], h[1]]),
            dport: u16::from_be_bytes([h[2], h[3]]),
            hash: fnv1a(payload),
            head: hex(&payload[..payload.len().min(HEAD_LEN)]),
        },
        None => PacketId {
            src,
            dst,
            proto,
            sport: 0,
            dport: 0,
            hash: fnv1a(upper),
            head: String::new(),
        },
    }
}

/// The identity of an IPv4 or IPv6 packet as a TUN device carries it (no
/// link-layer header); None for anything else or a malformed packet.
pub fn packet_id(packet: &[u8]) -> Option<PacketId> {
    match wire::ip_version(packet)? {
        4 => {
            let p = Ipv4Packet::new_checked(packet).ok()?;
            Some(identify(
                p.src().into(),
                p.dst().into(),
                p.protocol(),
                p.payload(),
            ))
        }
        6 => {
            let p = Ipv6Packet::new_checked(packet).ok()?;
            let upper = p.upper_layer()?;
            let data = p.packet().get(upper.offset..)?;
            Some(identify(
                p.src().into(),
                p.dst().into(),
                upper.protocol,
                data,
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4/UDP packet from 198.18.0.1:5000 to 198.18.0.2:862.
    fn udp4(ttl: u8, payload: &[u8]) -> Vec<u8> {
        let total = 20 + 8 + payload.len();
        let mut p = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            1,
            0,
            0,
            ttl,
            17,
            0,
            0,
        ];
        p.extend_from_slice(&[198, 18, 0, 1, 198, 18, 0, 2]);
        let ulen = 8 + payload.len();
        p.extend_from_slice(&[0x13, 0x88, 0x03, 0x5e, (ulen >> 8) as u8, ulen as u8, 0, 0]);
        p.extend_from_slice(payload);
        let mut v = Ipv4Packet::new_checked(p).unwrap();
        v.fill_checksum();
        v.packet().to_vec()
    }

    #[test]
    fn a_packet_keeps_its_identity_across_a_hop() {
        let before = udp4(64, b"seq 1 and some data");
        let mut after = Ipv4Packet::new_checked(before.clone()).unwrap();
        after.decrement_ttl();
        let (a, b) = (
            packet_id(&before).unwrap(),
            packet_id(after.packet()).unwrap(),
        );
        assert_ne!(before, after.packet());
        assert_eq!(a, b);
        assert_eq!((a.sport, a.dport, a.proto), (5000, 862, 17));
        assert_eq!(a.src.to_string(), "198.18.0.1");
        assert_eq!(unhex(&a.head).unwrap(), b"seq 1 and some data");
    }

    #[test]
    fn different_payloads_are_different_packets() {
        let a = packet_id(&udp4(64, b"seq 1")).unwrap();
        let b = packet_id(&udp4(64, b"seq 2")).unwrap();
        assert_ne!(a.hash, b.hash);
        assert_ne!(a, b);
    }

    #[test]
    fn head_is_cut_at_its_length() {
        let id = packet_id(&udp4(64, &[7u8; 100])).unwrap();
        assert_eq!(unhex(&id.head).unwrap(), [7u8; HEAD_LEN]);
    }

    #[test]
    fn ipv6_udp_is_identified() {
        let payload = b"hello";
        let mut p = vec![0x60, 0, 0, 0, 0, 13, 17, 64];
        let src: std::net::Ipv6Addr = "2001:2::1".parse().unwrap();
        let dst: std::net::Ipv6Addr = "2001:2::2".parse().unwrap();
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&dst.octets());
        p.extend_from_slice(&[0, 1, 0, 2, 0, 13, 0, 0]);
        p.extend_from_slice(payload);
        let id = packet_id(&p).unwrap();
        assert_eq!((id.src, id.dst), (src.into(), dst.into()));
        assert_eq!((id.sport, id.dport), (1, 2));
        assert_eq!(id.hash, fnv1a(payload));
    }

    #[test]
    fn garbage_is_none_not_a_panic() {
        for p in [
            &[][..],
            &[0x45],
            &[0x60, 0, 0],
            &[0x10; 40],
            &udp4(64, b"x")[..25],
        ] {
            assert_eq!(packet_id(p), None, "{p:?}");
        }
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }

    #[test]
    fn fnv1a_is_the_published_function() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
