//! IPv6 and ICMPv6 packet handling for the forwarder, beside `wire` (IPv4): a
//! zero-copy view of an IPv6 packet (checked once, after which no accessor can
//! panic), the hop-limit rewrite (IPv6 has no header checksum), the walk over
//! extension headers to the upper-layer protocol, and the ICMPv6 messages
//! (RFC 4443) the emulated routers send: time exceeded, port unreachable and
//! echo replies.
//!
//! Shaped after smoltcp's `wire` module: field offsets are named constants,
//! malformed input is an error value, never a panic.

use std::net::Ipv6Addr;

/// Why a buffer is not an IPv6 packet the forwarder can handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Wire6Error {
    #[error("packet shorter than an IPv6 header ({0} bytes)")]
    Truncated(usize),
    #[error("IP version {0}, not 6")]
    Version(u8),
    #[error("IPv6 payload length {payload} does not fit the {available} bytes received")]
    PayloadLen { payload: usize, available: usize },
}

mod field {
    pub const VER_TC_FLOW: std::ops::Range<usize> = 0..4;
    pub const PAYLOAD_LEN: std::ops::Range<usize> = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: std::ops::Range<usize> = 8..24;
    pub const DST: std::ops::Range<usize> = 24..40;
    pub const HEADER_LEN: usize = 40;
}

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = field::HEADER_LEN;
/// Next-header number of ICMPv6.
pub const PROTO_ICMPV6: u8 = 58;
/// Next-header number of UDP.
pub const PROTO_UDP: u8 = 17;
/// Extension headers walked to find the upper layer (RFC 8200 4.1).
const EXT_HOP_BY_HOP: u8 = 0;
const EXT_ROUTING: u8 = 43;
const EXT_FRAGMENT: u8 = 44;
const EXT_AUTH: u8 = 51;
const EXT_DEST_OPTS: u8 = 60;
/// Most extension headers walked before giving up on a packet.
const MAX_EXT_HEADERS: usize = 8;
/// ICMPv6 types (RFC 4443) the emulated routers send or answer.
pub const ICMP6_DEST_UNREACHABLE: u8 = 1;
/// Code of destination unreachable: port unreachable.
pub const ICMP6_PORT_UNREACHABLE: u8 = 4;
/// Time exceeded; code 0: hop limit exceeded in transit.
pub const ICMP6_TIME_EXCEEDED: u8 = 3;
pub const ICMP6_ECHO_REQUEST: u8 = 128;
pub const ICMP6_ECHO_REPLY: u8 = 129;
/// Hop limit of the ICMPv6 messages the emulated routers originate.
pub const ROUTER_HOP_LIMIT: u8 = 64;
/// Length of the ICMPv6 header before an error's quoted packet.
const ICMP_HEADER: usize = 8;
/// An ICMPv6 error must fit the minimum MTU (RFC 4443 2.4 (c)).
const MIN_MTU: usize = 1280;

/// Where the upper-layer data of a packet starts, past its extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpperLayer {
    /// Upper-layer protocol (next header of the last extension header).
    pub protocol: u8,
    /// Offset of its header in the packet.
    pub offset: usize,
    /// Not a fragment at all (no fragment header).
    pub unfragmented: bool,
    /// A fragment other than the first: no upper-layer header in it.
    pub later_fragment: bool,
}

/// A read (and, over a mutable buffer, write) view of an IPv6 packet.
#[derive(Debug, Clone)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Checks version and payload length once; afterwards every accessor is in
    /// bounds. Bytes past the payload length (padding) are ignored. A payload
    /// length of 0 is taken as it stands (no jumbograms here).
    pub fn new_checked(buffer: T) -> Result<Self, Wire6Error> {
        let b = buffer.as_ref();
        if b.len() < field::HEADER_LEN {
            return Err(Wire6Error::Truncated(b.len()));
        }
        let version = b[0] >> 4;
        if version != 6 {
            return Err(Wire6Error::Version(version));
        }
        let payload = usize::from(u16::from_be_bytes([b[4], b[5]]));
        if field::HEADER_LEN + payload > b.len() {
            return Err(Wire6Error::PayloadLen {
                payload,
                available: b.len(),
            });
        }
        Ok(Ipv6Packet { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn addr_at(&self, r: std::ops::Range<usize>) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.b()[r]);
        Ipv6Addr::from(a)
    }

    /// Traffic class (DSCP << 2 | ECN).
    pub fn traffic_class(&self) -> u8 {
        let w = &self.b()[field::VER_TC_FLOW];
        (w[0] << 4) | (w[1] >> 4)
    }
    pub fn payload_len(&self) -> usize {
        let b = &self.b()[field::PAYLOAD_LEN];
        usize::from(u16::from_be_bytes([b[0], b[1]]))
    }
    pub fn next_header(&self) -> u8 {
        self.b()[field::NEXT_HEADER]
    }
    pub fn hop_limit(&self) -> u8 {
        self.b()[field::HOP_LIMIT]
    }
    pub fn src(&self) -> Ipv6Addr {
        self.addr_at(field::SRC)
    }
    pub fn dst(&self) -> Ipv6Addr {
        self.addr_at(field::DST)
    }
    /// The data after the fixed header, up to the payload length.
    pub fn payload(&self) -> &[u8] {
        &self.b()[field::HEADER_LEN..field::HEADER_LEN + self.payload_len()]
    }
    /// The packet itself: header and payload, without trailing padding.
    pub fn packet(&self) -> &[u8] {
        &self.b()[..field::HEADER_LEN + self.payload_len()]
    }

    /// Walks the extension headers to the upper layer. None when they are
    /// truncated, more than [`MAX_EXT_HEADERS`], or of a kind not walked.
    pub fn upper_layer(&self) -> Option<UpperLayer> {
        let p = self.packet();
        let mut next = self.next_header();
        let mut offset = field::HEADER_LEN;
        let mut unfragmented = true;
        let mut later_fragment = false;
        for _ in 0..MAX_EXT_HEADERS {
            let len = match next {
                EXT_HOP_BY_HOP | EXT_ROUTING | EXT_DEST_OPTS => {
                    (usize::from(*p.get(offset + 1)?) + 1) * 8
                }
                EXT_FRAGMENT => {
                    let off = p.get(offset + 2..offset + 4)?;
                    unfragmented = false;
                    later_fragment |= u16::from_be_bytes([off[0], off[1]]) >> 3 != 0;
                    8
                }
                EXT_AUTH => (usize::from(*p.get(offset + 1)?) + 2) * 4,
                protocol => {
                    return Some(UpperLayer {
                        protocol,
                        offset,
                        unfragmented,
                        later_fragment,
                    })
                }
            };
            next = *p.get(offset)?;
            offset = offset.checked_add(len).filter(|&o| o <= p.len())?;
        }
        None
    }

    /// The upper-layer data (ICMPv6 message, UDP datagram) of an
    /// unfragmented or first-fragment packet, with its protocol.
    pub fn upper(&self) -> Option<(u8, &[u8])> {
        let u = self.upper_layer().filter(|u| !u.later_fragment)?;
        Some((u.protocol, self.packet().get(u.offset..)?))
    }

    /// Whether no ICMPv6 error may be sent about this packet (RFC 4443 2.4
    /// (e)): it is an ICMPv6 error message (or its headers cannot be walked
    /// to tell), a later fragment, or from an address no answer can go to.
    pub fn is_no_error_about(&self) -> bool {
        let src = self.src();
        if src.is_unspecified() || src.is_multicast() || self.dst().is_multicast() {
            return true;
        }
        match self.upper_layer() {
            None => true,
            Some(u) if u.later_fragment => true,
            Some(u) if u.protocol == PROTO_ICMPV6 => {
                // Types below 128 are errors; one too short to tell counts too.
                self.packet().get(u.offset).is_none_or(|&t| t < 128)
            }
            Some(_) => false,
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Lowers the hop limit by one; returns the new value (0 stays 0).
    pub fn decrement_hop_limit(&mut self) -> u8 {
        let b = self.buffer.as_mut();
        let h = b[field::HOP_LIMIT].saturating_sub(1);
        b[field::HOP_LIMIT] = h;
        h
    }
}

/// The ICMPv6 checksum (RFC 4443 2.3) of `message` from `src` to `dst`: the
/// Internet checksum over the pseudo-header (RFC 8200 8.1) and the message.
/// Over a message whose checksum field is filled, it is 0.
pub fn icmp6_checksum(src: Ipv6Addr, dst: Ipv6Addr, message: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut add = |data: &[u8]| {
        let mut chunks = data.chunks_exact(2);
        for c in &mut chunks {
            sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u64::from(u16::from_be_bytes([*last, 0]));
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(message.len() as u32).to_be_bytes());
    add(&[0, 0, 0, PROTO_ICMPV6]);
    add(message);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// How much of `original` an ICMPv6 error quotes: as much as fits the
/// minimum MTU.
fn quoted_len<T: AsRef<[u8]>>(original: &Ipv6Packet<T>) -> usize {
    original
        .packet()
        .len()
        .min(MIN_MTU - field::HEADER_LEN - ICMP_HEADER)
}

/// The length of the ICMPv6 error [`write_icmp6_error`] makes for `original`.
pub fn icmp6_error_len<T: AsRef<[u8]>>(original: &Ipv6Packet<T>) -> usize {
    field::HEADER_LEN + ICMP_HEADER + quoted_len(original)
}

/// Writes an ICMPv6 error message (`icmp_type`, `code`) from router address
/// `from` back to the source of `original` into `out` (cleared first): a
/// fresh IPv6 header, the ICMPv6 header (the 4 octets after the checksum
/// zero), then as much of the original packet, as received, as keeps the
/// message within 1280 octets. The checksum is filled.
pub fn write_icmp6_error<T: AsRef<[u8]>>(
    original: &Ipv6Packet<T>,
    icmp_type: u8,
    code: u8,
    from: Ipv6Addr,
    out: &mut Vec<u8>,
) {
    let quoted = quoted_len(original);
    let dst = original.src();
    write_header(out, ICMP_HEADER + quoted, from, dst);
    let icmp = &mut out[field::HEADER_LEN..];
    icmp[0] = icmp_type;
    icmp[1] = code;
    icmp[ICMP_HEADER..].copy_from_slice(&original.packet()[..quoted]);
    let sum = icmp6_checksum(from, dst, icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
}

/// An ICMPv6 time exceeded (hop limit exceeded in transit), as
/// [`write_icmp6_error`].
pub fn write_time_exceeded6<T: AsRef<[u8]>>(
    original: &Ipv6Packet<T>,
    from: Ipv6Addr,
    out: &mut Vec<u8>,
) {
    write_icmp6_error(original, ICMP6_TIME_EXCEEDED, 0, from, out);
}

/// A fresh IPv6 header (traffic class and flow label 0, hop limit
/// [`ROUTER_HOP_LIMIT`], next header ICMPv6) for a payload of `payload`
/// bytes, into `out` resized to header and payload.
fn write_header(out: &mut Vec<u8>, payload: usize, src: Ipv6Addr, dst: Ipv6Addr) {
    out.clear();
    out.resize(field::HEADER_LEN + payload, 0);
    out[0] = 0x60;
    out[field::PAYLOAD_LEN].copy_from_slice(&(payload as u16).to_be_bytes());
    out[field::NEXT_HEADER] = PROTO_ICMPV6;
    out[field::HOP_LIMIT] = ROUTER_HOP_LIMIT;
    out[field::SRC].copy_from_slice(&src.octets());
    out[field::DST].copy_from_slice(&dst.octets());
}

/// The ICMPv6 echo request in `p`, if it is one: unfragmented, at least the
/// 8-octet echo header.
pub fn echo_request6<T: AsRef<[u8]>>(p: &Ipv6Packet<T>) -> Option<&[u8]> {
    let u = p.upper_layer()?;
    let msg = p.packet().get(u.offset..)?;
    (u.protocol == PROTO_ICMPV6
        && u.unfragmented
        && msg.len() >= ICMP_HEADER
        && msg[0] == ICMP6_ECHO_REQUEST)
        .then_some(msg)
}

/// Writes the echo reply a router at `request`'s destination sends to
/// `request`'s echo message `echo` (from [`echo_request6`]): same
/// identifier, sequence and data, back to the requester, no extension
/// headers.
pub fn write_echo_reply6<T: AsRef<[u8]>>(request: &Ipv6Packet<T>, echo: &[u8], out: &mut Vec<u8>) {
    let (src, dst) = (request.dst(), request.src());
    write_header(out, echo.len(), src, dst);
    let icmp = &mut out[field::HEADER_LEN..];
    icmp.copy_from_slice(echo);
    icmp[0] = ICMP6_ECHO_REPLY;
    icmp[1] = 0;
    icmp[2..4].copy_from_slice(&[0, 0]);
    let sum = icmp6_checksum(src, dst, icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const A: &str = "2001:2::1";
    const C: &str = "2001:2:0:2::1";

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// A UDP-in-IPv6 packet (UDP checksum left 0: nothing here reads it).
    fn udp_packet(hop_limit: u8, payload: &[u8]) -> Vec<u8> {
        let plen = 8 + payload.len();
        let mut p = vec![0u8; 40 + plen];
        p[0] = 0x6b; // traffic class 0xb8 (EF)
        p[1] = 0x80;
        p[4..6].copy_from_slice(&(plen as u16).to_be_bytes());
        p[6] = PROTO_UDP;
        p[7] = hop_limit;
        p[8..24].copy_from_slice(&ip(A).octets());
        p[24..40].copy_from_slice(&ip(C).octets());
        p[40..42].copy_from_slice(&40000u16.to_be_bytes());
        p[42..44].copy_from_slice(&33434u16.to_be_bytes());
        p[44..46].copy_from_slice(&(plen as u16).to_be_bytes());
        p[48..].copy_from_slice(payload);
        p
    }

    fn echo_request(data: &[u8]) -> Vec<u8> {
        let mut p = udp_packet(64, data);
        p[6] = PROTO_ICMPV6;
        p[40..48].copy_from_slice(&[ICMP6_ECHO_REQUEST, 0, 0, 0, 0x12, 0x34, 0, 7]);
        let sum = icmp6_checksum(ip(A), ip(C), &p[40..]);
        p[42..44].copy_from_slice(&sum.to_be_bytes());
        p
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(
            Ipv6Packet::new_checked(&[0x60u8; 39][..]).unwrap_err(),
            Wire6Error::Truncated(39)
        );
        let mut p = udp_packet(5, b"abc");
        p[0] = 0x45;
        assert_eq!(
            Ipv6Packet::new_checked(&p[..]).unwrap_err(),
            Wire6Error::Version(4)
        );
        let mut p = udp_packet(5, b"abc");
        p[4..6].copy_from_slice(&100u16.to_be_bytes());
        assert_eq!(
            Ipv6Packet::new_checked(&p[..]).unwrap_err(),
            Wire6Error::PayloadLen {
                payload: 100,
                available: 51
            }
        );
    }

    #[test]
    fn reads_fields_and_ignores_padding() {
        let mut p = udp_packet(7, b"hello");
        p.extend_from_slice(&[0xee; 6]);
        let v = Ipv6Packet::new_checked(&p[..]).unwrap();
        assert_eq!(v.hop_limit(), 7);
        assert_eq!(v.next_header(), PROTO_UDP);
        assert_eq!(v.traffic_class(), 0xb8);
        assert_eq!(v.src(), ip(A));
        assert_eq!(v.dst(), ip(C));
        assert_eq!(v.payload_len(), 13);
        assert_eq!(v.packet().len(), 53);
        let u = v.upper_layer().unwrap();
        assert_eq!(
            (u.protocol, u.offset, u.unfragmented),
            (PROTO_UDP, 40, true)
        );
        assert!(!v.is_no_error_about());
    }

    #[test]
    fn walks_extension_headers() {
        // Hop-by-hop (8 octets) then a first fragment header, then UDP.
        let udp = udp_packet(9, b"xy");
        let mut p = udp[..40].to_vec();
        p[6] = EXT_HOP_BY_HOP;
        p.extend_from_slice(&[EXT_FRAGMENT, 0, 0, 0, 0, 0, 0, 0]);
        p.extend_from_slice(&[PROTO_UDP, 0, 0, 1, 0, 0, 0, 9]); // offset 0, M=1
        p.extend_from_slice(&udp[40..]);
        let plen = (p.len() - 40) as u16;
        p[4..6].copy_from_slice(&plen.to_be_bytes());
        let v = Ipv6Packet::new_checked(&p[..]).unwrap();
        let u = v.upper_layer().unwrap();
        assert_eq!(u.protocol, PROTO_UDP);
        assert_eq!(u.offset, 56);
        assert!(!u.unfragmented && !u.later_fragment);
        assert!(!v.is_no_error_about());
        // A later fragment: no upper layer, no error about it.
        p[50..52].copy_from_slice(&(185u16 << 3).to_be_bytes());
        let v = Ipv6Packet::new_checked(&p[..]).unwrap();
        assert!(v.upper_layer().unwrap().later_fragment);
        assert!(v.upper().is_none());
        assert!(v.is_no_error_about());
        // An extension header running past the packet.
        p[41] = 200;
        assert!(Ipv6Packet::new_checked(&p[..])
            .unwrap()
            .upper_layer()
            .is_none());
    }

    #[test]
    fn checksum_verifies_over_the_filled_message() {
        let p = echo_request(b"ping-data");
        assert_eq!(icmp6_checksum(ip(A), ip(C), &p[40..]), 0);
        // Another source address breaks it: the pseudo-header counts.
        assert_ne!(icmp6_checksum(ip(C), ip(C), &p[40..]), 0);
    }

    #[test]
    fn hop_limit_decrement() {
        let mut p = udp_packet(2, b"");
        let mut v = Ipv6Packet::new_checked(&mut p[..]).unwrap();
        assert_eq!(v.decrement_hop_limit(), 1);
        assert_eq!(v.decrement_hop_limit(), 0);
        assert_eq!(v.decrement_hop_limit(), 0);
    }

    #[test]
    fn time_exceeded_quotes_the_packet() {
        let p = udp_packet(1, b"0123456789abcdef");
        let orig = Ipv6Packet::new_checked(&p[..]).unwrap();
        let router = ip("2001:2:0:8000::2");
        let mut out = Vec::new();
        write_time_exceeded6(&orig, router, &mut out);
        assert_eq!(out.len(), 40 + 8 + p.len());
        assert_eq!(out.len(), icmp6_error_len(&orig));
        let te = Ipv6Packet::new_checked(&out[..]).unwrap();
        assert_eq!(te.src(), router);
        assert_eq!(te.dst(), ip(A));
        assert_eq!(te.hop_limit(), ROUTER_HOP_LIMIT);
        assert_eq!(te.next_header(), PROTO_ICMPV6);
        let icmp = te.payload();
        assert_eq!((icmp[0], icmp[1]), (ICMP6_TIME_EXCEEDED, 0));
        assert_eq!(icmp6_checksum(router, ip(A), icmp), 0);
        assert_eq!(&icmp[8..], &p[..]);
        assert!(te.is_no_error_about());
        // A large original is cut to fit 1280 octets.
        let big = udp_packet(1, &[7u8; 1400]);
        let orig = Ipv6Packet::new_checked(&big[..]).unwrap();
        write_time_exceeded6(&orig, router, &mut out);
        assert_eq!(out.len(), 1280);
        assert!(Ipv6Packet::new_checked(&out[..]).is_ok());
    }

    #[test]
    fn echo_reply_mirrors_the_request() {
        let p = echo_request(b"ping-data");
        let req = Ipv6Packet::new_checked(&p[..]).unwrap();
        let echo = echo_request6(&req).unwrap();
        let mut out = Vec::new();
        write_echo_reply6(&req, echo, &mut out);
        let rep = Ipv6Packet::new_checked(&out[..]).unwrap();
        assert_eq!((rep.src(), rep.dst()), (req.dst(), req.src()));
        assert_eq!(rep.payload()[0], ICMP6_ECHO_REPLY);
        assert_eq!(icmp6_checksum(rep.src(), rep.dst(), rep.payload()), 0);
        assert_eq!(&rep.payload()[4..], &req.payload()[4..]);
        assert!(echo_request6(&rep).is_none());
        assert!(!rep.is_no_error_about(), "an echo reply is no error");
        // UDP is no echo request.
        let u = udp_packet(9, b"");
        assert!(echo_request6(&Ipv6Packet::new_checked(&u[..]).unwrap()).is_none());
    }

    #[test]
    fn no_error_about_multicast_or_unspecified() {
        let mut p = udp_packet(1, b"");
        p[24] = 0xff; // ff..: multicast destination (MLD, neighbour discovery)
        assert!(Ipv6Packet::new_checked(&p[..]).unwrap().is_no_error_about());
        let mut p = udp_packet(1, b"");
        p[8..24].fill(0);
        assert!(Ipv6Packet::new_checked(&p[..]).unwrap().is_no_error_about());
    }

    proptest! {
        #[test]
        fn parser_never_panics(data in prop::collection::vec(any::<u8>(), 0..120)) {
            let mut data = data;
            if let Some(b) = data.first_mut() {
                *b = (*b & 0x0f) | 0x60;
            }
            if let Ok(v) = Ipv6Packet::new_checked(&data[..]) {
                let _ = (v.src(), v.dst(), v.hop_limit(), v.payload(), v.upper_layer(),
                    v.upper(), v.is_no_error_about(), v.traffic_class());
                let mut out = Vec::new();
                write_time_exceeded6(&v, Ipv6Addr::LOCALHOST, &mut out);
                let te = Ipv6Packet::new_checked(&out[..]).unwrap();
                prop_assert_eq!(icmp6_checksum(te.src(), te.dst(), te.payload()), 0);
                if let Some(echo) = echo_request6(&v) {
                    write_echo_reply6(&v, echo, &mut out);
                    prop_assert!(Ipv6Packet::new_checked(&out[..]).is_ok());
                }
            }
        }
    }
}
