//! Which received messages answer which of our probes. Pure: raw sockets show
//! every ICMP message on the host, so a reply counts only when its identifier
//! (a random one per run on raw sockets, the kernel's on datagram sockets),
//! its sequence, the run's token in the payload and the target all match.
//! Everything else is counted as unrelated or malformed, never trusted.

use std::net::IpAddr;

use super::packet::{self, Family, Message, PacketError, QuotedProbe};
use super::socket::{ProbeProtocol, SocketKind};

/// First destination port of UDP traceroute probes (the classic one); probe
/// `seq` goes to `UDP_BASE_PORT + seq`.
pub const UDP_BASE_PORT: u16 = 33434;
/// Octets of the run token at the start of every echo payload.
pub const TOKEN_LEN: usize = 8;

/// What identifies this run's probes.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub family: Family,
    pub kind: SocketKind,
    pub protocol: ProbeProtocol,
    pub target: IpAddr,
    /// Echo identifier; on datagram sockets the kernel's (0: unknown, not checked).
    pub id: u16,
    /// Source port of UDP probes.
    pub udp_port: u16,
    pub token: [u8; TOKEN_LEN],
    /// Highest sequence number sent in this run.
    pub max_seq: u16,
}

/// What a received message is to this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The target answered probe `seq` (echo reply, or port unreachable
    /// for UDP probes).
    Reached { seq: u16 },
    /// A router reported probe `seq` expired (time exceeded).
    Expired { seq: u16 },
    /// Probe `seq` was reported undeliverable (other than the target's
    /// closed port) by whoever sent the error.
    Unreachable { seq: u16, code: u8 },
    /// Our own request, seen by a raw socket on its way out (loopback).
    Looped,
    /// Someone else's message.
    Unrelated,
}

impl Matcher {
    /// Echo payload of `size` octets: the token, then zeros (a shorter
    /// payload carries a cut token, and replies are matched without it).
    pub fn payload(&self, size: usize) -> Vec<u8> {
        let mut p = vec![0u8; size];
        let n = size.min(TOKEN_LEN);
        p[..n].copy_from_slice(&self.token[..n]);
        p
    }

    fn known_seq(&self, seq: u16) -> bool {
        seq <= self.max_seq
    }

    fn id_ok(&self, id: u16) -> bool {
        self.id == 0 && self.kind == SocketKind::Dgram || id == self.id
    }

    /// A message read from the ICMP socket (`from`: who sent it).
    pub fn message(&self, bytes: &[u8], from: IpAddr) -> Result<Answer, PacketError> {
        let icmp = match (self.family, self.kind) {
            (Family::V4, SocketKind::Raw) => packet::strip_ipv4(bytes)?.1,
            _ => bytes,
        };
        Ok(match packet::parse(self.family, icmp)? {
            Message::EchoReply(echo) => {
                let token_ok = echo.payload.len() < TOKEN_LEN
                    || echo.payload.get(..TOKEN_LEN) == Some(&self.token[..]);
                let ours = self.protocol == ProbeProtocol::IcmpEcho
                    && from == self.target
                    && self.id_ok(echo.id)
                    && token_ok
                    && self.known_seq(echo.seq);
                if ours {
                    Answer::Reached { seq: echo.seq }
                } else {
                    Answer::Unrelated
                }
            }
            Message::TimeExceeded { quote, .. } => match self.quoted_seq(quote) {
                Some(seq) => Answer::Expired { seq },
                None => Answer::Unrelated,
            },
            Message::Unreachable { code, port, quote } => match self.quoted_seq(quote) {
                Some(seq) if port && from == self.target && self.protocol == ProbeProtocol::Udp => {
                    Answer::Reached { seq }
                }
                Some(seq) => Answer::Unreachable { seq, code },
                None => Answer::Unrelated,
            },
            Message::EchoRequest(echo)
                if self.protocol == ProbeProtocol::IcmpEcho
                    && self.id_ok(echo.id)
                    && echo.payload.get(..TOKEN_LEN) == Some(&self.token[..]) =>
            {
                Answer::Looped
            }
            Message::EchoRequest(_) | Message::Other { .. } => Answer::Unrelated,
        })
    }

    fn quoted_seq(&self, quote: packet::Quote) -> Option<u16> {
        if quote.dst != self.target {
            return None;
        }
        let seq = match (self.protocol, quote.probe) {
            (ProbeProtocol::IcmpEcho, QuotedProbe::Echo { id, seq }) if self.id_ok(id) => seq,
            (ProbeProtocol::Udp, QuotedProbe::Udp { src_port, dst_port })
                if src_port == self.udp_port =>
            {
                dst_port.checked_sub(UDP_BASE_PORT)?
            }
            _ => return None,
        };
        self.known_seq(seq).then_some(seq)
    }

    /// An error from the error queue (datagram sockets): the kernel has
    /// matched it to our socket; `probe` is the start of the probe as sent,
    /// `dest` where it went, `offender` who reported it.
    pub fn queued_error(
        &self,
        icmp_type: u8,
        code: u8,
        probe: &[u8],
        dest: Option<std::net::SocketAddr>,
        offender: Option<IpAddr>,
    ) -> Result<Answer, PacketError> {
        if dest.map(|d| d.ip()) != Some(self.target) {
            return Ok(Answer::Unrelated);
        }
        let seq = match self.protocol {
            ProbeProtocol::IcmpEcho => packet::echo_header(probe)?.seq,
            ProbeProtocol::Udp => {
                let port = dest.map_or(0, |d| d.port());
                match port.checked_sub(UDP_BASE_PORT) {
                    Some(seq) => seq,
                    None => return Ok(Answer::Unrelated),
                }
            }
        };
        if !self.known_seq(seq) {
            return Ok(Answer::Unrelated);
        }
        let types = self.family.types();
        Ok(if icmp_type == types.time_exceeded {
            Answer::Expired { seq }
        } else if icmp_type == types.unreachable
            && code == types.port_unreachable
            && offender == Some(self.target)
            && self.protocol == ProbeProtocol::Udp
        {
            Answer::Reached { seq }
        } else if icmp_type == types.unreachable {
            Answer::Unreachable { seq, code }
        } else {
            Answer::Unrelated
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddr};

    const TARGET: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
    const ROUTER: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);

    fn matcher(protocol: ProbeProtocol) -> Matcher {
        Matcher {
            family: Family::V4,
            kind: SocketKind::Raw,
            protocol,
            target: TARGET.into(),
            id: 0xbeef,
            udp_port: 40000,
            token: *b"tok-1234",
            max_seq: 9,
        }
    }

    fn with_ip(icmp: &[u8], src: Ipv4Addr) -> Vec<u8> {
        let mut b = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0];
        b.extend_from_slice(&src.octets());
        b.extend_from_slice(&TARGET.octets());
        b.extend_from_slice(icmp);
        b
    }

    fn reply(id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
        let mut r = packet::echo_request(Family::V4, id, seq, payload).unwrap();
        r[0] = 0;
        r[2] = 0;
        r[3] = 0;
        let sum = pnet_packet::icmp::IcmpPacket::new(&r)
            .map(|p| pnet_packet::icmp::checksum(&p))
            .unwrap();
        r[2..4].copy_from_slice(&sum.to_be_bytes());
        r
    }

    #[test]
    fn echo_replies_match_on_id_seq_token_and_source() {
        let m = matcher(ProbeProtocol::IcmpEcho);
        let payload = m.payload(56);
        let ok = with_ip(&reply(0xbeef, 3, &payload), TARGET);
        assert_eq!(
            m.message(&ok, TARGET.into()),
            Ok(Answer::Reached { seq: 3 })
        );
        // Another run: other id, or same id and another token.
        let other_id = with_ip(&reply(0xbeee, 3, &payload), TARGET);
        assert_eq!(m.message(&other_id, TARGET.into()), Ok(Answer::Unrelated));
        let mut other_token = payload.clone();
        other_token[0] ^= 1;
        let other = with_ip(&reply(0xbeef, 3, &other_token), TARGET);
        assert_eq!(m.message(&other, TARGET.into()), Ok(Answer::Unrelated));
        // A sequence never sent, or a reply from elsewhere.
        let unsent = with_ip(&reply(0xbeef, 10, &payload), TARGET);
        assert_eq!(m.message(&unsent, TARGET.into()), Ok(Answer::Unrelated));
        assert_eq!(m.message(&ok, ROUTER.into()), Ok(Answer::Unrelated));
        // Our own request looped back is not a reply.
        let req = with_ip(
            &packet::echo_request(Family::V4, 0xbeef, 3, &payload).unwrap(),
            TARGET,
        );
        assert_eq!(m.message(&req, TARGET.into()), Ok(Answer::Looped));
        let theirs = with_ip(
            &packet::echo_request(Family::V4, 0x1111, 3, &payload).unwrap(),
            TARGET,
        );
        assert_eq!(m.message(&theirs, TARGET.into()), Ok(Answer::Unrelated));
        // Garbage is an error value.
        assert!(m.message(&ok[..22], TARGET.into()).is_err());
    }

    fn error_quoting(icmp_type: u8, code: u8, proto: u8, transport: [u8; 8]) -> Vec<u8> {
        let mut b = vec![icmp_type, code, 0, 0, 0, 0, 0, 0];
        b.extend_from_slice(&[0x45, 0, 0, 28, 0, 0, 0, 0, 1, proto, 0, 0]);
        b.extend_from_slice(&[127, 0, 0, 1]);
        b.extend_from_slice(&TARGET.octets());
        b.extend_from_slice(&transport);
        let sum = pnet_packet::icmp::IcmpPacket::new(&b)
            .map(|p| pnet_packet::icmp::checksum(&p))
            .unwrap();
        b[2..4].copy_from_slice(&sum.to_be_bytes());
        b
    }

    #[test]
    fn errors_match_on_the_quoted_probe() {
        let m = matcher(ProbeProtocol::IcmpEcho);
        let te = error_quoting(11, 0, 1, [8, 0, 0, 0, 0xbe, 0xef, 0, 4]);
        assert_eq!(
            m.message(&with_ip(&te, ROUTER), ROUTER.into()),
            Ok(Answer::Expired { seq: 4 })
        );
        let foreign = error_quoting(11, 0, 1, [8, 0, 0, 0, 0x12, 0x34, 0, 4]);
        assert_eq!(
            m.message(&with_ip(&foreign, ROUTER), ROUTER.into()),
            Ok(Answer::Unrelated)
        );
        let u = matcher(ProbeProtocol::Udp);
        let port = |dst: u16| {
            let [a, b] = dst.to_be_bytes();
            [0x9c, 0x40, a, b, 0, 8, 0, 0]
        };
        let te = error_quoting(11, 0, 17, port(UDP_BASE_PORT + 2));
        assert_eq!(
            u.message(&with_ip(&te, ROUTER), ROUTER.into()),
            Ok(Answer::Expired { seq: 2 })
        );
        let done = error_quoting(3, 3, 17, port(UDP_BASE_PORT + 5));
        assert_eq!(
            u.message(&with_ip(&done, TARGET), TARGET.into()),
            Ok(Answer::Reached { seq: 5 })
        );
        let host = error_quoting(3, 1, 17, port(UDP_BASE_PORT + 5));
        assert_eq!(
            u.message(&with_ip(&host, ROUTER), ROUTER.into()),
            Ok(Answer::Unreachable { seq: 5, code: 1 })
        );
        // Another process's UDP probe (other source port).
        let mut other = port(UDP_BASE_PORT + 2);
        other[1] = 0x41;
        let te = error_quoting(11, 0, 17, other);
        assert_eq!(
            u.message(&with_ip(&te, ROUTER), ROUTER.into()),
            Ok(Answer::Unrelated)
        );
    }

    #[test]
    fn queued_errors_match_on_destination_and_sequence() {
        let mut m = matcher(ProbeProtocol::IcmpEcho);
        m.kind = SocketKind::Dgram;
        let probe = packet::echo_request(Family::V4, 0xbeef, 7, b"x").unwrap();
        let dest = Some(SocketAddr::from((TARGET, 0)));
        assert_eq!(
            m.queued_error(11, 0, &probe, dest, Some(ROUTER.into())),
            Ok(Answer::Expired { seq: 7 })
        );
        let elsewhere = Some(SocketAddr::from((ROUTER, 0)));
        assert_eq!(
            m.queued_error(11, 0, &probe, elsewhere, Some(ROUTER.into())),
            Ok(Answer::Unrelated)
        );
        assert!(m.queued_error(11, 0, &probe[..5], dest, None).is_err());
        let mut u = matcher(ProbeProtocol::Udp);
        u.kind = SocketKind::Dgram;
        let dest = Some(SocketAddr::from((TARGET, UDP_BASE_PORT + 1)));
        assert_eq!(
            u.queued_error(3, 3, b"", dest, Some(TARGET.into())),
            Ok(Answer::Reached { seq: 1 })
        );
    }
}
