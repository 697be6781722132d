//! ICMP and ICMPv6 messages as ping and traceroute see them: echo requests
//! built, echo replies and errors (time exceeded, destination unreachable)
//! parsed together with the probe they quote. Pure (no sockets, no clock):
//! every length is checked before a field is read, so malformed input is an
//! error value, never a panic. Field access goes through `pnet_packet`'s views.

use std::net::{IpAddr, Ipv4Addr};

use pnet_packet::icmp::{self, IcmpPacket, IcmpTypes};
use pnet_packet::icmpv6::{self, Icmpv6Types};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::Ipv4Packet;
use pnet_packet::ipv6::Ipv6Packet;
use pnet_packet::udp::UdpPacket;

/// Octets of an echo header (type, code, checksum, identifier, sequence), and
/// of the fixed part of an error message before its quote.
pub const ICMP_HEADER_LEN: usize = 8;
/// Octets of an IPv4 header without options.
pub const IPV4_HEADER_LEN: usize = 20;
/// Octets of the fixed IPv6 header.
pub const IPV6_HEADER_LEN: usize = 40;
/// Largest echo payload that fits an IPv4 datagram (65535 - 20 - 8).
pub const MAX_PAYLOAD: usize = 65_507;

/// IPv4 destination unreachable, code "port unreachable".
const V4_PORT_UNREACHABLE: u8 = 3;
/// ICMPv6 destination unreachable, code "port unreachable".
const V6_PORT_UNREACHABLE: u8 = 4;

/// IP version of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

/// Why octets are not a message we can read.
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
}

fn need(what: &'static str, bytes: &[u8], need: usize) -> Result<(), PacketError> {
    if bytes.len() < need {
        Err(PacketError::Truncated {
            what,
            need,
            got: bytes.len(),
        })
    } else {
        Ok(())
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

/// One ICMP or ICMPv6 message.
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
    let mut buf = vec![0u8; ICMP_HEADER_LEN + payload.len()];
    let short = || PacketError::Truncated {
        what: "echo request buffer",
        need: ICMP_HEADER_LEN,
        got: 0,
    };
    match family {
        Family::V4 => {
            let mut p =
                icmp::echo_request::MutableEchoRequestPacket::new(&mut buf).ok_or_else(short)?;
            p.set_icmp_type(IcmpTypes::EchoRequest);
            p.set_icmp_code(icmp::IcmpCode(0));
            p.set_identifier(id);
            p.set_sequence_number(seq);
            p.set_payload(payload);
            let sum = IcmpPacket::new(&buf)
                .map(|p| icmp::checksum(&p))
                .ok_or_else(short)?;
            let mut p = icmp::MutableIcmpPacket::new(&mut buf).ok_or_else(short)?;
            p.set_checksum(sum);
        }
        Family::V6 => {
            let mut p =
                icmpv6::echo_request::MutableEchoRequestPacket::new(&mut buf).ok_or_else(short)?;
            p.set_icmpv6_type(Icmpv6Types::EchoRequest);
            p.set_icmpv6_code(icmpv6::Icmpv6Code(0));
            p.set_identifier(id);
            p.set_sequence_number(seq);
            p.set_payload(payload);
        }
    }
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
    let (ip, header_len) = ipv4_view(bytes, "IPv4 packet")?;
    if ip.get_next_level_protocol() != IpNextHeaderProtocols::Icmp {
        return Err(PacketError::NotIcmp(ip.get_next_level_protocol().0));
    }
    let info = Ipv4Info {
        src: ip.get_source(),
        dst: ip.get_destination(),
        ttl: ip.get_ttl(),
    };
    // The slice goes to the end of what was received; a total length that
    // disagrees is the sender's problem, not ours.
    Ok((info, bytes.get(header_len..).unwrap_or_default()))
}

/// An IPv4 header view whose header length is checked against `bytes`.
fn ipv4_view<'a>(
    bytes: &'a [u8],
    what: &'static str,
) -> Result<(Ipv4Packet<'a>, usize), PacketError> {
    need(what, bytes, IPV4_HEADER_LEN)?;
    let ip = Ipv4Packet::new(bytes).ok_or(PacketError::Truncated {
        what,
        need: IPV4_HEADER_LEN,
        got: bytes.len(),
    })?;
    if ip.get_version() != 4 {
        return Err(PacketError::Version {
            what,
            version: ip.get_version(),
        });
    }
    let header_len = usize::from(ip.get_header_length()) * 4;
    if header_len < IPV4_HEADER_LEN {
        return Err(PacketError::HeaderLength(header_len));
    }
    need(what, bytes, header_len)?;
    Ok((ip, header_len))
}

/// Parses an ICMP (IPv4) message, without IP header. The checksum is
/// verified: raw sockets hand us packets the kernel has not checked.
pub fn parse_icmpv4(bytes: &[u8]) -> Result<Message<'_>, PacketError> {
    need("ICMP message", bytes, 4)?;
    let packet = IcmpPacket::new(bytes).ok_or(PacketError::Truncated {
        what: "ICMP message",
        need: 4,
        got: bytes.len(),
    })?;
    let want = icmp::checksum(&packet);
    if packet.get_checksum() != want {
        return Err(PacketError::Checksum {
            got: packet.get_checksum(),
            want,
        });
    }
    let (icmp_type, code) = (packet.get_icmp_type(), packet.get_icmp_code().0);
    match icmp_type {
        IcmpTypes::EchoReply | IcmpTypes::EchoRequest => {
            let echo = echo_fields(bytes, "ICMP echo")?;
            Ok(if icmp_type == IcmpTypes::EchoReply {
                Message::EchoReply(echo)
            } else {
                Message::EchoRequest(echo)
            })
        }
        IcmpTypes::TimeExceeded => Ok(Message::TimeExceeded {
            code,
            quote: quote_v4(bytes)?,
        }),
        IcmpTypes::DestinationUnreachable => Ok(Message::Unreachable {
            code,
            port: code == V4_PORT_UNREACHABLE,
            quote: quote_v4(bytes)?,
        }),
        other => Ok(Message::Other {
            icmp_type: other.0,
            code,
        }),
    }
}

/// Parses an ICMPv6 message (sockets deliver it without the IPv6 header; the
/// kernel has verified its checksum).
pub fn parse_icmpv6(bytes: &[u8]) -> Result<Message<'_>, PacketError> {
    need("ICMPv6 message", bytes, 4)?;
    let packet = icmpv6::Icmpv6Packet::new(bytes).ok_or(PacketError::Truncated {
        what: "ICMPv6 message",
        need: 4,
        got: bytes.len(),
    })?;
    let (icmp_type, code) = (packet.get_icmpv6_type(), packet.get_icmpv6_code().0);
    match icmp_type {
        Icmpv6Types::EchoReply | Icmpv6Types::EchoRequest => {
            let echo = echo_fields(bytes, "ICMPv6 echo")?;
            Ok(if icmp_type == Icmpv6Types::EchoReply {
                Message::EchoReply(echo)
            } else {
                Message::EchoRequest(echo)
            })
        }
        Icmpv6Types::TimeExceeded => Ok(Message::TimeExceeded {
            code,
            quote: quote_v6(bytes)?,
        }),
        Icmpv6Types::DestinationUnreachable => Ok(Message::Unreachable {
            code,
            port: code == V6_PORT_UNREACHABLE,
            quote: quote_v6(bytes)?,
        }),
        other => Ok(Message::Other {
            icmp_type: other.0,
            code,
        }),
    }
}

/// Parses a message of either family.
pub fn parse(family: Family, bytes: &[u8]) -> Result<Message<'_>, PacketError> {
    match family {
        Family::V4 => parse_icmpv4(bytes),
        Family::V6 => parse_icmpv6(bytes),
    }
}

/// Identifier and sequence of an echo header (either family), without
/// checking type or checksum: what an error queue returns of our own probe,
/// possibly cut short by the router's quote.
pub fn echo_header(bytes: &[u8]) -> Result<Echo<'_>, PacketError> {
    echo_fields(bytes, "echo header")
}

/// Identifier, sequence and payload of an echo message; the layout is the
/// same in both families.
fn echo_fields<'a>(bytes: &'a [u8], what: &'static str) -> Result<Echo<'a>, PacketError> {
    need(what, bytes, ICMP_HEADER_LEN)?;
    let p = icmp::echo_reply::EchoReplyPacket::new(bytes).ok_or(PacketError::Truncated {
        what,
        need: ICMP_HEADER_LEN,
        got: bytes.len(),
    })?;
    Ok(Echo {
        id: p.get_identifier(),
        seq: p.get_sequence_number(),
        payload: bytes.get(ICMP_HEADER_LEN..).unwrap_or_default(),
    })
}

/// The quote of an ICMP error: an IPv4 header and at least 8 octets after it.
fn quote_v4(message: &[u8]) -> Result<Quote, PacketError> {
    let quoted = message.get(ICMP_HEADER_LEN..).unwrap_or_default();
    let (ip, header_len) = ipv4_view(quoted, "quoted IPv4 packet")?;
    let transport = quoted.get(header_len..).unwrap_or_default();
    Ok(Quote {
        src: IpAddr::V4(ip.get_source()),
        dst: IpAddr::V4(ip.get_destination()),
        probe: quoted_probe(
            ip.get_next_level_protocol().0,
            transport,
            IcmpTypes::EchoRequest.0,
        )?,
    })
}

/// The quote of an ICMPv6 error: the IPv6 header and what follows it.
/// Extension headers are not followed: a probe never carries them.
fn quote_v6(message: &[u8]) -> Result<Quote, PacketError> {
    let what = "quoted IPv6 packet";
    let quoted = message.get(ICMP_HEADER_LEN..).unwrap_or_default();
    need(what, quoted, IPV6_HEADER_LEN)?;
    let ip = Ipv6Packet::new(quoted).ok_or(PacketError::Truncated {
        what,
        need: IPV6_HEADER_LEN,
        got: quoted.len(),
    })?;
    if ip.get_version() != 6 {
        return Err(PacketError::Version {
            what,
            version: ip.get_version(),
        });
    }
    let transport = quoted.get(IPV6_HEADER_LEN..).unwrap_or_default();
    Ok(Quote {
        src: IpAddr::V6(ip.get_source()),
        dst: IpAddr::V6(ip.get_destination()),
        probe: quoted_probe(
            ip.get_next_header().0,
            transport,
            Icmpv6Types::EchoRequest.0,
        )?,
    })
}

fn quoted_probe(protocol: u8, transport: &[u8], echo_type: u8) -> Result<QuotedProbe, PacketError> {
    let icmp_protocol = if echo_type == IcmpTypes::EchoRequest.0 {
        IpNextHeaderProtocols::Icmp.0
    } else {
        IpNextHeaderProtocols::Icmpv6.0
    };
    if protocol == icmp_protocol {
        let echo = echo_fields(transport, "quoted echo request")?;
        // The type sits in the first octet, present since the length was checked.
        if transport.first() == Some(&echo_type) {
            return Ok(QuotedProbe::Echo {
                id: echo.id,
                seq: echo.seq,
            });
        }
        return Ok(QuotedProbe::Other { protocol });
    }
    if protocol == IpNextHeaderProtocols::Udp.0 {
        let what = "quoted UDP header";
        need(what, transport, 8)?;
        let udp = UdpPacket::new(transport).ok_or(PacketError::Truncated {
            what,
            need: 8,
            got: transport.len(),
        })?;
        return Ok(QuotedProbe::Udp {
            src_port: udp.get_source(),
            dst_port: udp.get_destination(),
        });
    }
    Ok(QuotedProbe::Other { protocol })
}

#[cfg(test)]
#[path = "packet_tests.rs"]
mod tests;
