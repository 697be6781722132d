//! The IP headers that come with ICMP: the IPv4 header a raw socket delivers
//! before each message, and the IPv4 or IPv6 header of the packet an ICMP
//! error quotes. Views in the shape of the probe's other packet code:
//! `new_checked` checks once (length, version, IPv4 header length), field
//! offsets are named in `mod field`, reads are bounds-checked. Only what ping
//! and traceroute read, and what emitting an error's quote writes.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::packet::{checksum, PacketError, IPV4_HEADER_LEN, IPV6_HEADER_LEN};
use crate::bytes::{get_array, get_u8, put_bytes, put_u16, put_u8};

mod field {
    /// IPv4: version (4 bits) and header length in 32-bit words (4 bits).
    pub const V4_VER_IHL: usize = 0;
    pub const V4_LENGTH: usize = 2;
    pub const V4_TTL: usize = 8;
    pub const V4_PROTOCOL: usize = 9;
    pub const V4_CHECKSUM: usize = 10;
    pub const V4_SRC_ADDR: usize = 12;
    pub const V4_DST_ADDR: usize = 16;

    /// IPv6: version (4 bits), traffic class, flow label.
    pub const V6_VER_TC_FLOW: usize = 0;
    pub const V6_PAYLOAD_LEN: usize = 4;
    pub const V6_NEXT_HEADER: usize = 6;
    pub const V6_HOP_LIMIT: usize = 7;
    pub const V6_SRC_ADDR: usize = 8;
    pub const V6_DST_ADDR: usize = 24;
}

const WHAT_V4: &str = "IPv4 packet";
const WHAT_V6: &str = "IPv6 packet";

/// Zero-copy view of an IPv4 header and what follows it.
#[derive(Debug, Clone)]
pub struct Ipv4Header<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Header<T> {
    /// A view without checks, for writing a header into a buffer of at
    /// least [`IPV4_HEADER_LEN`] octets.
    pub fn new_unchecked(buffer: T) -> Self {
        Ipv4Header { buffer }
    }

    /// Checks the fixed header, the version, and that the header length it
    /// states is valid and present. The total length field is not checked:
    /// a total that disagrees with what arrived is the sender's problem.
    pub fn new_checked(buffer: T) -> Result<Self, PacketError> {
        let header = Ipv4Header { buffer };
        let len = header.buffer.as_ref().len();
        PacketError::need(WHAT_V4, len, IPV4_HEADER_LEN)?;
        if header.version() != 4 {
            return Err(PacketError::Version {
                what: WHAT_V4,
                version: header.version(),
            });
        }
        let header_len = header.header_len();
        if header_len < IPV4_HEADER_LEN {
            return Err(PacketError::HeaderLength(header_len));
        }
        PacketError::need(WHAT_V4, len, header_len)?;
        Ok(header)
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn version(&self) -> u8 {
        get_u8(self.bytes(), field::V4_VER_IHL) >> 4
    }

    /// Octets of the header, options included.
    pub fn header_len(&self) -> usize {
        usize::from(get_u8(self.bytes(), field::V4_VER_IHL) & 0x0f) * 4
    }

    pub fn ttl(&self) -> u8 {
        get_u8(self.bytes(), field::V4_TTL)
    }

    /// The protocol number of the payload.
    pub fn protocol(&self) -> u8 {
        get_u8(self.bytes(), field::V4_PROTOCOL)
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(get_array::<4>(self.bytes(), field::V4_SRC_ADDR))
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(get_array::<4>(self.bytes(), field::V4_DST_ADDR))
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Ipv4Header<&'a T> {
    /// The octets after the header, to the end of the buffer.
    pub fn payload(&self) -> &'a [u8] {
        let bytes: &'a [u8] = self.buffer.as_ref();
        bytes.get(self.header_len()..).unwrap_or_default()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Header<T> {
    /// Writes an option-less header: version 4, 20 octets, `total_len`,
    /// `ttl`, `protocol`, the addresses, and its checksum; other fields zero.
    pub fn fill(&mut self, total_len: u16, ttl: u8, protocol: u8, src: Ipv4Addr, dst: Ipv4Addr) {
        let buf = self.buffer.as_mut();
        if let Some(header) = buf.get_mut(..IPV4_HEADER_LEN) {
            header.fill(0);
        }
        put_u8(buf, field::V4_VER_IHL, 0x45);
        put_u16(buf, field::V4_LENGTH, total_len);
        put_u8(buf, field::V4_TTL, ttl);
        put_u8(buf, field::V4_PROTOCOL, protocol);
        put_bytes(buf, field::V4_SRC_ADDR, &src.octets());
        put_bytes(buf, field::V4_DST_ADDR, &dst.octets());
        let sum = checksum(
            buf.get(..IPV4_HEADER_LEN).unwrap_or_default(),
            field::V4_CHECKSUM,
        );
        put_u16(buf, field::V4_CHECKSUM, sum);
    }
}

/// Zero-copy view of the fixed IPv6 header and what follows it (extension
/// headers are not followed: a probe never carries them).
#[derive(Debug, Clone)]
pub struct Ipv6Header<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Header<T> {
    /// A view without checks, for writing a header into a buffer of at
    /// least [`IPV6_HEADER_LEN`] octets.
    pub fn new_unchecked(buffer: T) -> Self {
        Ipv6Header { buffer }
    }

    /// Checks the fixed header and the version.
    pub fn new_checked(buffer: T) -> Result<Self, PacketError> {
        let header = Ipv6Header { buffer };
        PacketError::need(WHAT_V6, header.buffer.as_ref().len(), IPV6_HEADER_LEN)?;
        if header.version() != 6 {
            return Err(PacketError::Version {
                what: WHAT_V6,
                version: header.version(),
            });
        }
        Ok(header)
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn version(&self) -> u8 {
        get_u8(self.bytes(), field::V6_VER_TC_FLOW) >> 4
    }

    /// The protocol number of what follows the fixed header.
    pub fn next_header(&self) -> u8 {
        get_u8(self.bytes(), field::V6_NEXT_HEADER)
    }

    pub fn hop_limit(&self) -> u8 {
        get_u8(self.bytes(), field::V6_HOP_LIMIT)
    }

    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(get_array::<16>(self.bytes(), field::V6_SRC_ADDR))
    }

    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(get_array::<16>(self.bytes(), field::V6_DST_ADDR))
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Ipv6Header<&'a T> {
    /// The octets after the fixed header, to the end of the buffer.
    pub fn payload(&self) -> &'a [u8] {
        let bytes: &'a [u8] = self.buffer.as_ref();
        bytes.get(IPV6_HEADER_LEN..).unwrap_or_default()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Header<T> {
    /// Writes a fixed header: version 6, `payload_len`, `next_header`,
    /// `hop_limit`, the addresses; traffic class and flow label zero.
    pub fn fill(
        &mut self,
        payload_len: u16,
        next_header: u8,
        hop_limit: u8,
        src: Ipv6Addr,
        dst: Ipv6Addr,
    ) {
        let buf = self.buffer.as_mut();
        if let Some(header) = buf.get_mut(..IPV6_HEADER_LEN) {
            header.fill(0);
        }
        put_u8(buf, field::V6_VER_TC_FLOW, 0x60);
        put_u16(buf, field::V6_PAYLOAD_LEN, payload_len);
        put_u8(buf, field::V6_NEXT_HEADER, next_header);
        put_u8(buf, field::V6_HOP_LIMIT, hop_limit);
        put_bytes(buf, field::V6_SRC_ADDR, &src.octets());
        put_bytes(buf, field::V6_DST_ADDR, &dst.octets());
    }
}
