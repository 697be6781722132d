//! ICMP and ICMPv6 messages as ping and traceroute see them: echo requests
//! built, echo replies and errors (time exceeded, destination unreachable)
//! parsed together with the probe they quote. Pure (no sockets, no clock).
//!
//! Shaped like the STAMP codec (smoltcp's way): [`IcmpPacket`] is a
//! zero-copy view whose `new_checked` checks the length once, with the field
//! offsets named in `mod field` and bounds-checked reads, so no accessor can
//! panic; [`Message`] is the repr, with `parse`, `emit` and `buffer_len`.
//! Malformed input is an error value, never a panic. The IP headers that
//! come with ICMP (a raw socket's, an error's quote) have views of their own
//! in `ip_header`. The functions at the end ([`parse`], [`echo_request`],
//! [`strip_ipv4`], ...) are the byte-slice entry points the socket code uses.
//!
//! ```text
//!  0       1       2               4               6               8
//! +-------+-------+---------------+---------------+---------------+--------
//! | type  | code  |   checksum    |  identifier   |   sequence    | payload   (echo)
//! +-------+-------+---------------+---------------+---------------+--------
//! | type  | code  |   checksum    |            unused             | quote     (errors)
//! +-------+-------+---------------+-------------------------------+--------
//! ```

use std::net::{IpAddr, Ipv4Addr};

use super::ip_header::{Ipv4Header, Ipv6Header};
use crate::bytes::{get_u16, get_u8, put_bytes, put_u16, put_u8};

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    /// Echo request and reply.
    pub const ECHO_IDENT: usize = 4;
    pub const ECHO_SEQ_NO: usize = 6;
    /// After the 8-octet header: an echo's payload, an error's quote.
    pub const DATA: usize = 8;
    /// Type, code and checksum: what every ICMP and ICMPv6 message has.
    pub const COMMON_END: usize = 4;

    /// In a quoted UDP header.
    pub const UDP_SRC_PORT: usize = 0;
    pub const UDP_DST_PORT: usize = 2;
    pub const UDP_LENGTH: usize = 4;
}

/// Octets of an echo header (type, code, checksum, identifier, sequence), and
/// of the fixed part of an error message before its quote.
pub const ICMP_HEADER_LEN: usize = field::DATA;
/// Octets of an IPv4 header without options.
pub const IPV4_HEADER_LEN: usize = 20;
/// Octets of the fixed IPv6 header.
pub const IPV6_HEADER_LEN: usize = 40;
/// Largest echo payload that fits an IPv4 datagram (65535 - 20 - 8).
pub const MAX_PAYLOAD: usize = 65_507;
/// Octets of a transport header quoted in an error (at least 8 are quoted).
const QUOTED_TRANSPORT_LEN: usize = 8;

/// Protocol numbers.
const PROTOCOL_ICMP: u8 = 1;
const PROTOCOL_UDP: u8 = 17;
const PROTOCOL_ICMPV6: u8 = 58;

/// IP version of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

/// The message types ping and traceroute use, numbered per family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageTypes {
    pub echo_reply: u8,
    pub echo_request: u8,
    pub time_exceeded: u8,
    pub unreachable: u8,
    /// The code of "port unreachable" among the unreachable messages.
    pub port_unreachable: u8,
}

impl Family {
    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// ICMP (RFC 792) or ICMPv6 (RFC 4443) numbers.
    pub const fn types(self) -> MessageTypes {
        match self {
            Family::V4 => MessageTypes {
                echo_reply: 0,
                echo_request: 8,
                time_exceeded: 11,
                unreachable: 3,
                port_unreachable: 3,
            },
            Family::V6 => MessageTypes {
                echo_reply: 129,
                echo_request: 128,
                time_exceeded: 3,
                unreachable: 1,
                port_unreachable: 4,
            },
        }
    }

    /// The protocol number ICMP of this family travels under.
    const fn icmp_protocol(self) -> u8 {
        match self {
            Family::V4 => PROTOCOL_ICMP,
            Family::V6 => PROTOCOL_ICMPV6,
        }
    }

    fn message_what(self) -> &'static str {
        match self {
            Family::V4 => "ICMP message",
            Family::V6 => "ICMPv6 message",
        }
    }

    fn echo_what(self) -> &'static str {
        match self {
            Family::V4 => "ICMP echo",
            Family::V6 => "ICMPv6 echo",
        }
    }
}

/// Why octets are not a message we can read, or a repr cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("{what}: {got} octets, at least {need} needed")]
    Truncated {
        what: &'static str,
        need: usize,
        got: usize,
    },
    #[error("{what}: IP version {version}")]
    Version { what: &'static str, version: u8 },
    #[error("IPv4 header length {0} octets is invalid")]
    HeaderLength(usize),
    #[error("IPv4 packet carries protocol {0}, not ICMP")]
    NotIcmp(u8),
    #[error("ICMP checksum {got:#06x}, expected {want:#06x}")]
    Checksum { got: u16, want: u16 },
    #[error("echo payload of {0} octets is larger than {MAX_PAYLOAD}")]
    TooLarge(usize),
    #[error("cannot emit {0}")]
    Unrepresentable(&'static str),
}

impl PacketError {
    /// `Truncated` unless `got` octets hold `need`.
    pub(super) fn need(what: &'static str, got: usize, need: usize) -> Result<(), PacketError> {
        if got < need {
            Err(PacketError::Truncated { what, need, got })
        } else {
            Ok(())
        }
    }

    /// The same error, said of `what` (a header read as part of something).
    fn about(self, what: &'static str) -> PacketError {
        match self {
            PacketError::Truncated { need, got, .. } => PacketError::Truncated { what, need, got },
            PacketError::Version { version, .. } => PacketError::Version { what, version },
            other => other,
        }
    }
}

/// RFC 1071 Internet checksum of `data`, the 16-bit word at `skip` (where
/// the checksum itself goes) taken as zero.
pub(super) fn checksum(data: &[u8], skip: usize) -> u16 {
    let mut sum: u64 = 0;
    for (i, pair) in data.chunks(2).enumerate() {
        if i * 2 == skip {
            continue;
        }
        let word = match *pair {
            [a, b] => u16::from_be_bytes([a, b]),
            [a] => u16::from_be_bytes([a, 0]),
            _ => 0,
        };
        sum += u64::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Zero-copy view of an ICMP or ICMPv6 message.
///
/// `new_checked` guarantees the type, code and checksum every message has;
/// the message types that read the next four octets (echo: identifier and
/// sequence; errors: the quote after them) check for them in
/// [`Message::parse`]. Reads are bounds-checked either way.
#[derive(Debug, Clone)]
pub struct IcmpPacket<T: AsRef<[u8]>> {
    buffer: T,
    family: Family,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    /// A view without checks, for writing into a buffer of the right size.
    pub fn new_unchecked(buffer: T, family: Family) -> Self {
        IcmpPacket { buffer, family }
    }

    /// Checks that `buffer` holds type, code and checksum.
    pub fn new_checked(buffer: T, family: Family) -> Result<Self, PacketError> {
        let packet = IcmpPacket::new_unchecked(buffer, family);
        PacketError::need(family.message_what(), packet.len(), field::COMMON_END)?;
        Ok(packet)
    }

    /// The buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn family(&self) -> Family {
        self.family
    }

    /// Octets of the whole message.
    pub fn len(&self) -> usize {
        self.buffer.as_ref().len()
    }

    /// Never true for a checked packet; here for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn msg_type(&self) -> u8 {
        get_u8(self.buffer.as_ref(), field::TYPE)
    }

    pub fn msg_code(&self) -> u8 {
        get_u8(self.buffer.as_ref(), field::CODE)
    }

    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The checksum the message should carry (ICMP over IPv4; ICMPv6's also
    /// covers a pseudo-header with addresses the kernel picks).
    pub fn compute_checksum(&self) -> u16 {
        checksum(self.buffer.as_ref(), field::CHECKSUM)
    }

    pub fn echo_ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_IDENT)
    }

    pub fn echo_seq_no(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_SEQ_NO)
    }

    /// The octets after the 8-octet header: an echo's payload, an error's
    /// quote (empty when the message is shorter).
    pub fn data(&self) -> &[u8] {
        self.buffer.as_ref().get(field::DATA..).unwrap_or_default()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    pub fn set_msg_type(&mut self, value: u8) {
        put_u8(self.buffer.as_mut(), field::TYPE, value);
    }

    pub fn set_msg_code(&mut self, value: u8) {
        put_u8(self.buffer.as_mut(), field::CODE, value);
    }

    pub fn set_checksum(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    pub fn set_echo_ident(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::ECHO_IDENT, value);
    }

    pub fn set_echo_seq_no(&mut self, value: u16) {
        put_u16(self.buffer.as_mut(), field::ECHO_SEQ_NO, value);
    }

    /// The octets after the 8-octet header, to write an echo's payload or an
    /// error's quote into.
    pub fn data_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(field::DATA..)
            .unwrap_or_default()
    }

    /// Sets the checksum: computed for ICMP; zero for ICMPv6, whose checksum
    /// the kernel fills in.
    pub fn fill_checksum(&mut self) {
        let sum = match self.family {
            Family::V4 => self.compute_checksum(),
            Family::V6 => 0,
        };
        self.set_checksum(sum);
    }
}

/// An echo request or reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Echo<'a> {
    pub id: u16,
    pub seq: u16,
    pub payload: &'a [u8],
}

/// What the quoted (offending) packet of an ICMP error was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotedProbe {
    /// An echo request (ICMP traceroute).
    Echo { id: u16, seq: u16 },
    /// A UDP datagram (classic traceroute).
    Udp { src_port: u16, dst_port: u16 },
    /// Anything else; the protocol number (IPv6: the first next-header).
    Other { protocol: u8 },
}

/// The quote of an ICMP error: the offending packet's addresses and the
/// start of its transport header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub probe: QuotedProbe,
}

/// One ICMP or ICMPv6 message: the repr of [`IcmpPacket`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    EchoReply(Echo<'a>),
    /// Seen on raw sockets: our own requests looped back, or anyone's.
    EchoRequest(Echo<'a>),
    /// Hop limit reached on the way (traceroute's answer from a router).
    TimeExceeded {
        code: u8,
        quote: Quote,
    },
    /// Destination unreachable; `port` for "port unreachable" (the end of
    /// a UDP traceroute).
    Unreachable {
        code: u8,
        port: bool,
        quote: Quote,
    },
    /// Any other type: ignored by ping and traceroute.
    Other {
        icmp_type: u8,
        code: u8,
    },
}

impl<'a> Message<'a> {
    /// Parses a checked message. An ICMP (IPv4) checksum is verified: raw
    /// sockets hand us packets the kernel has not checked; the kernel has
    /// verified ICMPv6's.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &IcmpPacket<&'a T>,
    ) -> Result<Message<'a>, PacketError> {
        let family = packet.family;
        let bytes: &'a [u8] = packet.buffer.as_ref();
        if family == Family::V4 {
            let want = packet.compute_checksum();
            if packet.checksum() != want {
                return Err(PacketError::Checksum {
                    got: packet.checksum(),
                    want,
                });
            }
        }
        let types = family.types();
        let (icmp_type, code) = (packet.msg_type(), packet.msg_code());
        let quote = || Quote::parse(family, bytes.get(field::DATA..).unwrap_or_default());
        Ok(match icmp_type {
            t if t == types.echo_reply || t == types.echo_request => {
                let echo = Echo::parse(bytes, family.echo_what())?;
                if t == types.echo_reply {
                    Message::EchoReply(echo)
                } else {
                    Message::EchoRequest(echo)
                }
            }
            t if t == types.time_exceeded => Message::TimeExceeded {
                code,
                quote: quote()?,
            },
            t if t == types.unreachable => Message::Unreachable {
                code,
                port: code == types.port_unreachable,
                quote: quote()?,
            },
            other => Message::Other {
                icmp_type: other,
                code,
            },
        })
    }

    /// Octets [`Message::emit`] writes for `family`.
    pub fn buffer_len(&self, family: Family) -> usize {
        match self {
            Message::EchoReply(echo) | Message::EchoRequest(echo) => {
                ICMP_HEADER_LEN + echo.payload.len()
            }
            Message::TimeExceeded { .. } | Message::Unreachable { .. } => {
                ICMP_HEADER_LEN + Quote::buffer_len(family)
            }
            Message::Other { .. } => ICMP_HEADER_LEN,
        }
    }

    /// Writes the message at the start of `packet` (of at least
    /// [`Message::buffer_len`] octets) with its checksum (see
    /// [`IcmpPacket::fill_checksum`]). An error's quote is written as the
    /// IP header and the 8 transport octets it was read from; the header
    /// fields a quote does not keep (TTL, length) are made up.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut IcmpPacket<T>,
    ) -> Result<(), PacketError> {
        let family = packet.family;
        let len = self.buffer_len(family);
        PacketError::need("ICMP output buffer", packet.len(), len)?;
        if let Message::EchoReply(echo) | Message::EchoRequest(echo) = self {
            if echo.payload.len() > MAX_PAYLOAD {
                return Err(PacketError::TooLarge(echo.payload.len()));
            }
        }
        let types = family.types();
        let out = packet.buffer.as_mut().get_mut(..len).unwrap_or_default();
        out.fill(0);
        let mut message = IcmpPacket::new_unchecked(out, family);
        match *self {
            Message::EchoReply(echo) | Message::EchoRequest(echo) => {
                let echo_type = match self {
                    Message::EchoReply(_) => types.echo_reply,
                    _ => types.echo_request,
                };
                message.set_msg_type(echo_type);
                message.set_echo_ident(echo.id);
                message.set_echo_seq_no(echo.seq);
                put_bytes(message.data_mut(), 0, echo.payload);
            }
            Message::TimeExceeded { code, quote } => {
                message.set_msg_type(types.time_exceeded);
                message.set_msg_code(code);
                quote.emit(family, message.data_mut())?;
            }
            Message::Unreachable { code, quote, .. } => {
                message.set_msg_type(types.unreachable);
                message.set_msg_code(code);
                quote.emit(family, message.data_mut())?;
            }
            Message::Other { icmp_type, code } => {
                message.set_msg_type(icmp_type);
                message.set_msg_code(code);
            }
        }
        message.fill_checksum();
        Ok(())
    }
}

impl<'a> Echo<'a> {
    /// Identifier, sequence and payload of an echo message (the layout is
    /// the same in both families), without checking type or checksum.
    fn parse(bytes: &'a [u8], what: &'static str) -> Result<Echo<'a>, PacketError> {
        PacketError::need(what, bytes.len(), ICMP_HEADER_LEN)?;
        let packet = IcmpPacket::new_unchecked(bytes, Family::V4);
        Ok(Echo {
            id: packet.echo_ident(),
            seq: packet.echo_seq_no(),
            payload: bytes.get(field::DATA..).unwrap_or_default(),
        })
    }
}

impl Quote {
    /// The quote of an ICMP error: an IP header of `family` and at least 8
    /// octets after it (ICMPv6: the fixed header; extension headers are not
    /// followed, a probe never carries them).
    fn parse(family: Family, quoted: &[u8]) -> Result<Quote, PacketError> {
        let (src, dst, protocol, transport) = match family {
            Family::V4 => {
                let ip =
                    Ipv4Header::new_checked(quoted).map_err(|e| e.about("quoted IPv4 packet"))?;
                (
                    IpAddr::V4(ip.src_addr()),
                    IpAddr::V4(ip.dst_addr()),
                    ip.protocol(),
                    ip.payload(),
                )
            }
            Family::V6 => {
                let ip =
                    Ipv6Header::new_checked(quoted).map_err(|e| e.about("quoted IPv6 packet"))?;
                (
                    IpAddr::V6(ip.src_addr()),
                    IpAddr::V6(ip.dst_addr()),
                    ip.next_header(),
                    ip.payload(),
                )
            }
        };
        Ok(Quote {
            src,
            dst,
            probe: QuotedProbe::parse(family, protocol, transport)?,
        })
    }

    /// Octets [`Quote::emit`] writes.
    fn buffer_len(family: Family) -> usize {
        let header = match family {
            Family::V4 => IPV4_HEADER_LEN,
            Family::V6 => IPV6_HEADER_LEN,
        };
        header + QUOTED_TRANSPORT_LEN
    }

    /// Writes the quote: an IP header (TTL 1) and 8 transport octets.
    fn emit(&self, family: Family, buf: &mut [u8]) -> Result<(), PacketError> {
        let (protocol, transport) = self.probe.emit(family)?;
        let header_len = match (family, self.src, self.dst) {
            (Family::V4, IpAddr::V4(src), IpAddr::V4(dst)) => {
                let total = (IPV4_HEADER_LEN + QUOTED_TRANSPORT_LEN) as u16;
                Ipv4Header::new_unchecked(&mut *buf).fill(total, 1, protocol, src, dst);
                IPV4_HEADER_LEN
            }
            (Family::V6, IpAddr::V6(src), IpAddr::V6(dst)) => {
                let payload = QUOTED_TRANSPORT_LEN as u16;
                Ipv6Header::new_unchecked(&mut *buf).fill(payload, protocol, 1, src, dst);
                IPV6_HEADER_LEN
            }
            _ => {
                return Err(PacketError::Unrepresentable(
                    "a quote of the other IP family",
                ))
            }
        };
        put_bytes(buf, header_len, &transport);
        Ok(())
    }
}

impl QuotedProbe {
    fn parse(family: Family, protocol: u8, transport: &[u8]) -> Result<QuotedProbe, PacketError> {
        if protocol == family.icmp_protocol() {
            let echo = Echo::parse(transport, "quoted echo request")?;
            // The type sits in the first octet, present since the length was checked.
            if transport.first() == Some(&family.types().echo_request) {
                return Ok(QuotedProbe::Echo {
                    id: echo.id,
                    seq: echo.seq,
                });
            }
            return Ok(QuotedProbe::Other { protocol });
        }
        if protocol == PROTOCOL_UDP {
            PacketError::need("quoted UDP header", transport.len(), QUOTED_TRANSPORT_LEN)?;
            return Ok(QuotedProbe::Udp {
                src_port: get_u16(transport, field::UDP_SRC_PORT),
                dst_port: get_u16(transport, field::UDP_DST_PORT),
            });
        }
        Ok(QuotedProbe::Other { protocol })
    }

    /// The protocol number and the first 8 octets of the quoted transport
    /// header (what [`QuotedProbe::parse`] reads back as `self`).
    fn emit(&self, family: Family) -> Result<(u8, [u8; QUOTED_TRANSPORT_LEN]), PacketError> {
        let mut transport = [0u8; QUOTED_TRANSPORT_LEN];
        let protocol = match *self {
            QuotedProbe::Echo { id, seq } => {
                let mut echo = IcmpPacket::new_unchecked(&mut transport[..], family);
                echo.set_msg_type(family.types().echo_request);
                echo.set_echo_ident(id);
                echo.set_echo_seq_no(seq);
                family.icmp_protocol()
            }
            QuotedProbe::Udp { src_port, dst_port } => {
                put_u16(&mut transport, field::UDP_SRC_PORT, src_port);
                put_u16(&mut transport, field::UDP_DST_PORT, dst_port);
                put_u16(
                    &mut transport,
                    field::UDP_LENGTH,
                    QUOTED_TRANSPORT_LEN as u16,
                );
                PROTOCOL_UDP
            }
            // Eight zero octets: not an echo request (type 0 is none), and
            // not UDP, whose ports would be read back.
            QuotedProbe::Other { protocol } if protocol == PROTOCOL_UDP => {
                return Err(PacketError::Unrepresentable(
                    "a UDP quote without its ports",
                ));
            }
            QuotedProbe::Other { protocol } => protocol,
        };
        Ok((protocol, transport))
    }
}

/// Builds an echo request. IPv4 carries its checksum; for ICMPv6 the kernel
/// computes it (it covers a pseudo-header with addresses the kernel picks).
pub fn echo_request(
    family: Family,
    id: u16,
    seq: u16,
    payload: &[u8],
) -> Result<Vec<u8>, PacketError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(PacketError::TooLarge(payload.len()));
    }
    let message = Message::EchoRequest(Echo { id, seq, payload });
    let mut buf = vec![0u8; message.buffer_len(family)];
    message.emit(&mut IcmpPacket::new_unchecked(&mut buf[..], family))?;
    Ok(buf)
}

/// The header fields of a received IPv4 packet that matter here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Info {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
}

/// Splits what a raw IPv4 ICMP socket delivers (IP header, then the ICMP
/// message) into the header fields and the message.
pub fn strip_ipv4(bytes: &[u8]) -> Result<(Ipv4Info, &[u8]), PacketError> {
    let ip = Ipv4Header::new_checked(bytes)?;
    if ip.protocol() != PROTOCOL_ICMP {
        return Err(PacketError::NotIcmp(ip.protocol()));
    }
    let info = Ipv4Info {
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        ttl: ip.ttl(),
    };
    // The slice goes to the end of what was received; a total length that
    // disagrees is the sender's problem, not ours.
    Ok((info, ip.payload()))
}

/// Parses an ICMP (IPv4) message, without IP header; see [`Message::parse`].
pub fn parse_icmpv4(bytes: &[u8]) -> Result<Message<'_>, PacketError> {
    parse(Family::V4, bytes)
}

/// Parses an ICMPv6 message (sockets deliver it without the IPv6 header);
/// see [`Message::parse`].
pub fn parse_icmpv6(bytes: &[u8]) -> Result<Message<'_>, PacketError> {
    parse(Family::V6, bytes)
}

/// Parses a message of either family.
pub fn parse(family: Family, bytes: &[u8]) -> Result<Message<'_>, PacketError> {
    Message::parse(&IcmpPacket::new_checked(bytes, family)?)
}

/// Identifier and sequence of an echo header (either family), without
/// checking type or checksum: what an error queue returns of our own probe,
/// possibly cut short by the router's quote.
pub fn echo_header(bytes: &[u8]) -> Result<Echo<'_>, PacketError> {
    Echo::parse(bytes, "echo header")
}

#[cfg(test)]
#[path = "packet_tests.rs"]
mod tests;
