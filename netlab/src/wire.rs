//! IPv4 and ICMP packet handling for the forwarder: a zero-copy view of an IPv4
//! packet (checked once, after which no accessor can panic), the TTL rewrite with
//! an incremental checksum update, and the ICMP time-exceeded message a hop sends
//! back so that traceroute sees the path.
//!
//! Shaped after smoltcp's `wire` module: field offsets are named constants,
//! malformed input is an error value, never a panic.

use std::net::Ipv4Addr;

/// Why a buffer is not an IPv4 packet the forwarder can handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("packet shorter than an IPv4 header ({0} bytes)")]
    Truncated(usize),
    #[error("IP version {0}, not 4")]
    Version(u8),
    #[error("IPv4 header length {0} bytes is out of range")]
    HeaderLen(usize),
    #[error("IPv4 total length {total} does not fit the {available} bytes received")]
    TotalLen { total: usize, available: usize },
}

mod field {
    pub const VER_IHL: usize = 0;
    pub const LENGTH: std::ops::Range<usize> = 2..4;
    pub const IDENT: std::ops::Range<usize> = 4..6;
    pub const FLG_OFF: std::ops::Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: std::ops::Range<usize> = 10..12;
    pub const SRC: std::ops::Range<usize> = 12..16;
    pub const DST: std::ops::Range<usize> = 16..20;
    pub const MIN_HEADER: usize = 20;
}

/// IP protocol number of ICMP.
pub const PROTO_ICMP: u8 = 1;
/// IP protocol number of UDP.
pub const PROTO_UDP: u8 = 17;
/// ICMP types (RFC 792) the emulated routers send or answer.
pub const ICMP_ECHO_REPLY: u8 = 0;
pub const ICMP_DEST_UNREACHABLE: u8 = 3;
/// Code of ICMP destination unreachable: port unreachable.
pub const ICMP_PORT_UNREACHABLE: u8 = 3;
pub const ICMP_ECHO_REQUEST: u8 = 8;
/// Time exceeded; code 0: TTL exceeded in transit.
pub const ICMP_TIME_EXCEEDED: u8 = 11;
/// TTL of the ICMP messages the emulated routers originate.
pub const ROUTER_TTL: u8 = 64;
/// Length of the ICMP header before the quoted datagram.
const ICMP_HEADER: usize = 8;
/// Bytes of the original datagram's data quoted after its header (RFC 792).
const QUOTED_DATA: usize = 8;

/// The IP version nibble of a buffer, if it has a first byte.
pub fn ip_version(buf: &[u8]) -> Option<u8> {
    buf.first().map(|b| b >> 4)
}

/// A read (and, over a mutable buffer, write) view of an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Checks version, header length and total length once; afterwards every
    /// accessor is in bounds. Bytes past the total length (padding) are ignored.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < field::MIN_HEADER {
            return Err(WireError::Truncated(b.len()));
        }
        let version = b[field::VER_IHL] >> 4;
        if version != 4 {
            return Err(WireError::Version(version));
        }
        let ihl = usize::from(b[field::VER_IHL] & 0x0f) * 4;
        if ihl < field::MIN_HEADER || ihl > b.len() {
            return Err(WireError::HeaderLen(ihl));
        }
        let total = usize::from(u16::from_be_bytes([b[2], b[3]]));
        if total < ihl || total > b.len() {
            return Err(WireError::TotalLen {
                total,
                available: b.len(),
            });
        }
        Ok(Ipv4Packet { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn u16_at(&self, r: std::ops::Range<usize>) -> u16 {
        let b = &self.b()[r];
        u16::from_be_bytes([b[0], b[1]])
    }

    fn addr_at(&self, r: std::ops::Range<usize>) -> Ipv4Addr {
        let b = &self.b()[r];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    pub fn header_len(&self) -> usize {
        usize::from(self.b()[field::VER_IHL] & 0x0f) * 4
    }
    /// The IPv4 total length (header and payload).
    pub fn total_len(&self) -> usize {
        usize::from(self.u16_at(field::LENGTH))
    }
    pub fn ident(&self) -> u16 {
        self.u16_at(field::IDENT)
    }
    /// More fragments follow.
    pub fn more_fragments(&self) -> bool {
        self.u16_at(field::FLG_OFF) & 0x2000 != 0
    }
    /// Fragment offset in 8-byte units.
    pub fn frag_offset(&self) -> u16 {
        self.u16_at(field::FLG_OFF) & 0x1fff
    }
    pub fn ttl(&self) -> u8 {
        self.b()[field::TTL]
    }
    pub fn protocol(&self) -> u8 {
        self.b()[field::PROTOCOL]
    }
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }
    pub fn src(&self) -> Ipv4Addr {
        self.addr_at(field::SRC)
    }
    pub fn dst(&self) -> Ipv4Addr {
        self.addr_at(field::DST)
    }
    /// The header checksum is correct.
    pub fn verify_checksum(&self) -> bool {
        checksum(&self.b()[..self.header_len()]) == 0
    }
    /// The data after the header, up to the total length.
    pub fn payload(&self) -> &[u8] {
        &self.b()[self.header_len()..self.total_len()]
    }
    /// The packet itself: header and payload, without trailing padding.
    pub fn packet(&self) -> &[u8] {
        &self.b()[..self.total_len()]
    }

    /// Whether this is an ICMP error message, about which no ICMP error may be
    /// sent (RFC 1122 3.2.2): destination unreachable, source quench, redirect,
    /// time exceeded, parameter problem. Unknown types count as errors too.
    pub fn is_icmp_error(&self) -> bool {
        if self.protocol() != PROTO_ICMP {
            return false;
        }
        match self.payload().first() {
            // Echo reply/request, router advert/solicit, timestamp, info, mask.
            Some(0 | 8 | 9 | 10 | 13..=18) => false,
            Some(_) => true,
            None => false,
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Lowers the TTL by one and patches the header checksum incrementally
    /// (RFC 1624), so a packet with a correct checksum keeps a correct one.
    /// Returns the new TTL; a TTL of 0 stays 0.
    pub fn decrement_ttl(&mut self) -> u8 {
        let old_ttl = self.ttl();
        if old_ttl == 0 {
            return 0;
        }
        let proto = self.protocol();
        let old_word = u16::from_be_bytes([old_ttl, proto]);
        let new_word = u16::from_be_bytes([old_ttl - 1, proto]);
        let sum = update_checksum(self.checksum(), old_word, new_word);
        let b = self.buffer.as_mut();
        b[field::TTL] = old_ttl - 1;
        b[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
        old_ttl - 1
    }

    /// Recomputes the header checksum from scratch.
    pub fn fill_checksum(&mut self) {
        let hl = self.header_len();
        let b = self.buffer.as_mut();
        b[field::CHECKSUM].copy_from_slice(&[0, 0]);
        let sum = checksum(&b[..hl]);
        b[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
    }
}

/// The Internet checksum (RFC 1071) of `data`: the value to store so that the
/// checksum over the whole region, this field included, verifies as 0.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(u16::from_be_bytes([*last, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Incremental checksum update (RFC 1624, eqn. 3): HC' = ~(~HC + ~m + m').
pub fn update_checksum(old_sum: u16, old_word: u16, new_word: u16) -> u16 {
    let mut sum = u32::from(!old_sum) + u32::from(!old_word) + u32::from(new_word);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The length of the ICMP error message [`write_icmp_error`] makes for
/// `original`.
pub fn icmp_error_len<T: AsRef<[u8]>>(original: &Ipv4Packet<T>) -> usize {
    field::MIN_HEADER
        + ICMP_HEADER
        + original.header_len()
        + original.payload().len().min(QUOTED_DATA)
}

/// Writes an ICMP error message (`icmp_type`, `code`) from router address
/// `from` back to the source of `original` into `out` (cleared first): a fresh
/// IPv4 header, the ICMP header, then the original datagram's header and the
/// first 8 bytes of its data, as received. Both checksums are filled.
pub fn write_icmp_error<T: AsRef<[u8]>>(
    original: &Ipv4Packet<T>,
    icmp_type: u8,
    code: u8,
    from: Ipv4Addr,
    ident: u16,
    out: &mut Vec<u8>,
) {
    let total = icmp_error_len(original);
    write_ip_header(out, total, ident, from, original.src());
    let icmp = &mut out[field::MIN_HEADER..];
    icmp[0] = icmp_type;
    icmp[1] = code;
    let quoted = original.header_len() + original.payload().len().min(QUOTED_DATA);
    icmp[ICMP_HEADER..].copy_from_slice(&original.packet()[..quoted]);
    let icmp_sum = checksum(icmp);
    icmp[2..4].copy_from_slice(&icmp_sum.to_be_bytes());
}

/// An ICMP time exceeded (TTL exceeded in transit), as [`write_icmp_error`].
pub fn write_time_exceeded<T: AsRef<[u8]>>(
    original: &Ipv4Packet<T>,
    from: Ipv4Addr,
    ident: u16,
    out: &mut Vec<u8>,
) {
    write_icmp_error(original, ICMP_TIME_EXCEEDED, 0, from, ident, out);
}

/// A fresh 20-byte IPv4 header (no options, DF clear, TTL [`ROUTER_TTL`],
/// protocol ICMP) for a packet of `total` bytes, into `out` resized to `total`.
fn write_ip_header(out: &mut Vec<u8>, total: usize, ident: u16, src: Ipv4Addr, dst: Ipv4Addr) {
    out.clear();
    out.resize(total, 0);
    out[0] = 0x45;
    out[field::LENGTH].copy_from_slice(&(total as u16).to_be_bytes());
    out[field::IDENT].copy_from_slice(&ident.to_be_bytes());
    out[field::TTL] = ROUTER_TTL;
    out[field::PROTOCOL] = PROTO_ICMP;
    out[field::SRC].copy_from_slice(&src.octets());
    out[field::DST].copy_from_slice(&dst.octets());
    let ip_sum = checksum(&out[..field::MIN_HEADER]);
    out[field::CHECKSUM].copy_from_slice(&ip_sum.to_be_bytes());
}

/// Whether `p` is an unfragmented ICMP echo request.
pub fn is_echo_request<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> bool {
    p.protocol() == PROTO_ICMP
        && p.frag_offset() == 0
        && !p.more_fragments()
        && p.payload().len() >= ICMP_HEADER
        && p.payload()[0] == ICMP_ECHO_REQUEST
}

/// Writes the echo reply a router at `request`'s destination sends: same
/// identifier, sequence and data, back to the requester.
pub fn write_echo_reply<T: AsRef<[u8]>>(request: &Ipv4Packet<T>, ident: u16, out: &mut Vec<u8>) {
    let icmp_len = request.payload().len();
    write_ip_header(
        out,
        field::MIN_HEADER + icmp_len,
        ident,
        request.dst(),
        request.src(),
    );
    let icmp = &mut out[field::MIN_HEADER..];
    icmp.copy_from_slice(request.payload());
    icmp[0] = ICMP_ECHO_REPLY;
    icmp[1] = 0;
    icmp[2..4].copy_from_slice(&[0, 0]);
    let sum = checksum(icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A UDP-in-IPv4 packet with a correct header checksum.
    fn udp_packet(ttl: u8, payload: &[u8]) -> Vec<u8> {
        let total = 20 + 8 + payload.len();
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
        p[8] = ttl;
        p[9] = 17;
        p[12..16].copy_from_slice(&[198, 18, 0, 1]);
        p[16..20].copy_from_slice(&[198, 18, 2, 1]);
        p[20..22].copy_from_slice(&33434u16.to_be_bytes());
        p[22..24].copy_from_slice(&33435u16.to_be_bytes());
        p[24..26].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        p[28..].copy_from_slice(payload);
        let mut v = Ipv4Packet::new_checked(&mut p[..]).unwrap();
        v.fill_checksum();
        p
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(
            Ipv4Packet::new_checked(&[0x45u8; 10][..]).unwrap_err(),
            WireError::Truncated(10)
        );
        let mut p = udp_packet(5, b"abc");
        p[0] = 0x60;
        assert_eq!(
            Ipv4Packet::new_checked(&p[..]).unwrap_err(),
            WireError::Version(6)
        );
        let mut p = udp_packet(5, b"abc");
        p[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&p[..]).unwrap_err(),
            WireError::HeaderLen(16)
        );
        let mut p = udp_packet(5, b"abc");
        p[0] = 0x4f; // 60-byte header in a 31-byte packet
        assert_eq!(
            Ipv4Packet::new_checked(&p[..]).unwrap_err(),
            WireError::HeaderLen(60)
        );
        let mut p = udp_packet(5, b"abc");
        p[2..4].copy_from_slice(&100u16.to_be_bytes());
        assert!(matches!(
            Ipv4Packet::new_checked(&p[..]).unwrap_err(),
            WireError::TotalLen { total: 100, .. }
        ));
    }

    #[test]
    fn reads_fields_and_ignores_padding() {
        let mut p = udp_packet(7, b"hello");
        p.extend_from_slice(&[0xee; 6]);
        let v = Ipv4Packet::new_checked(&p[..]).unwrap();
        assert_eq!(v.ttl(), 7);
        assert_eq!(v.protocol(), 17);
        assert_eq!(v.src(), Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(v.dst(), Ipv4Addr::new(198, 18, 2, 1));
        assert_eq!(v.total_len(), 33);
        assert_eq!(v.packet().len(), 33);
        assert_eq!(v.payload().len(), 13);
        assert!(v.verify_checksum());
    }

    #[test]
    fn checksum_known_value() {
        // The example header from RFC 1071's discussion / common references.
        let hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&hdr), 0xb861);
        assert_eq!(checksum(&[0xff]), !0xff00);
    }

    #[test]
    fn time_exceeded_quotes_header_and_eight_bytes() {
        let p = udp_packet(1, b"0123456789abcdef");
        let orig = Ipv4Packet::new_checked(&p[..]).unwrap();
        let mut out = Vec::new();
        let router = Ipv4Addr::new(198, 19, 0, 2);
        write_time_exceeded(&orig, router, 9, &mut out);
        assert_eq!(out.len(), 20 + 8 + 20 + 8);
        assert_eq!(out.len(), icmp_error_len(&orig));
        let te = Ipv4Packet::new_checked(&out[..]).unwrap();
        assert!(te.verify_checksum());
        assert_eq!(te.src(), router);
        assert_eq!(te.dst(), Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(te.ttl(), ROUTER_TTL);
        assert_eq!(te.protocol(), PROTO_ICMP);
        assert!(te.is_icmp_error());
        let icmp = te.payload();
        assert_eq!((icmp[0], icmp[1]), (11, 0));
        assert_eq!(checksum(icmp), 0);
        assert_eq!(&icmp[8..], &p[..28]);
        // A short original is quoted whole.
        let p = udp_packet(1, b"");
        let orig = Ipv4Packet::new_checked(&p[..]).unwrap();
        write_time_exceeded(&orig, router, 9, &mut out);
        assert_eq!(out.len(), 20 + 8 + 28);
    }

    #[test]
    fn echo_reply_mirrors_the_request() {
        let mut p = udp_packet(9, b"ping-data");
        p[9] = PROTO_ICMP;
        p[20..28].copy_from_slice(&[8, 0, 0, 0, 0x12, 0x34, 0, 7]);
        let sum = checksum(&p[20..]);
        p[22..24].copy_from_slice(&sum.to_be_bytes());
        let req = Ipv4Packet::new_checked(&p[..]).unwrap();
        assert!(is_echo_request(&req));
        let mut out = Vec::new();
        write_echo_reply(&req, 5, &mut out);
        let rep = Ipv4Packet::new_checked(&out[..]).unwrap();
        assert!(rep.verify_checksum());
        assert_eq!((rep.src(), rep.dst()), (req.dst(), req.src()));
        assert_eq!(rep.payload()[0], ICMP_ECHO_REPLY);
        assert_eq!(checksum(rep.payload()), 0);
        assert_eq!(&rep.payload()[4..], &req.payload()[4..]);
        assert!(!is_echo_request(&rep));
        // A UDP packet is no echo request.
        assert!(!is_echo_request(
            &Ipv4Packet::new_checked(&udp_packet(9, b"")[..]).unwrap()
        ));
    }

    #[test]
    fn icmp_error_classification() {
        let mut p = udp_packet(3, b"");
        p[9] = PROTO_ICMP;
        p[20] = 8; // echo request
        assert!(!Ipv4Packet::new_checked(&p[..]).unwrap().is_icmp_error());
        p[20] = 3; // unreachable
        assert!(Ipv4Packet::new_checked(&p[..]).unwrap().is_icmp_error());
        p[9] = 17;
        assert!(!Ipv4Packet::new_checked(&p[..]).unwrap().is_icmp_error());
    }

    proptest! {
        #[test]
        fn parser_never_panics(data in prop::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(v) = Ipv4Packet::new_checked(&data[..]) {
                let _ = (v.src(), v.dst(), v.ttl(), v.payload(), v.is_icmp_error(), v.verify_checksum());
                let mut out = Vec::new();
                write_time_exceeded(&v, Ipv4Addr::LOCALHOST, 1, &mut out);
                prop_assert!(Ipv4Packet::new_checked(&out[..]).is_ok());
            }
        }

        #[test]
        fn ttl_decrement_keeps_checksum_valid(ttl in 1u8..=255, payload in prop::collection::vec(any::<u8>(), 0..40), tos in any::<u8>(), id in any::<u16>()) {
            let mut p = udp_packet(ttl, &payload);
            p[1] = tos;
            p[4..6].copy_from_slice(&id.to_be_bytes());
            Ipv4Packet::new_checked(&mut p[..]).unwrap().fill_checksum();
            let mut v = Ipv4Packet::new_checked(&mut p[..]).unwrap();
            prop_assert_eq!(v.decrement_ttl(), ttl - 1);
            prop_assert!(v.verify_checksum());
            let incremental = v.checksum();
            v.fill_checksum();
            // Both forms of zero (0x0000 / 0xffff) verify; compare by verification.
            prop_assert!(v.verify_checksum());
            prop_assert!(incremental == v.checksum() || (incremental ^ v.checksum()) == 0xffff);
        }
    }
}
