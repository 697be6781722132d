//! The control protocol of a bandwidth test, pure: framed, versioned
//! messages encoded to and decoded from octets, no sockets. Every length is
//! bounded and checked before use, so malformed input is an error value.
//!
//! Frame: `version (1) | type (1) | payload length (2, big endian) | payload`.
//! A control connection opens with the client's [`Message::Hello`]; a data
//! connection (TCP) opens with [`Message::Data`] carrying the test's cookie.

/// The protocol version this build speaks.
pub const VERSION: u8 = 1;
/// Octets of a frame header.
pub const HEADER_LEN: usize = 4;
/// The longest payload accepted (the largest message is far shorter).
pub const MAX_PAYLOAD: usize = 512;
/// Magic the client's hello carries.
pub const HELLO_MAGIC: [u8; 4] = *b"HMBW";
/// Octets of the server's challenge nonce.
pub const NONCE_LEN: usize = 16;
/// Octets of a test cookie.
pub const COOKIE_LEN: usize = 16;
/// Octets of an HMAC-SHA-256 tag.
pub const MAC_LEN: usize = 32;
/// Longest refusal text.
pub const MAX_TEXT: usize = 200;

/// Transport of a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
}

/// What the client asks for (before the server's limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub protocol: Protocol,
    /// The server sends, the client receives.
    pub reverse: bool,
    /// Parallel TCP streams (1 for UDP).
    pub streams: u16,
    pub duration_ms: u32,
    /// UDP target rate in bits/s (0 for TCP).
    pub udp_rate_bps: u64,
    /// UDP payload octets per datagram (0 for TCP).
    pub udp_payload: u16,
}

/// Why the server refused a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefuseReason {
    /// The client did not prove the key.
    Auth,
    /// The client's address is outside the allow list.
    Forbidden,
    /// The parameters make no sense (zero streams, zero duration).
    BadParams,
    /// The server could not set the test up.
    Internal,
}

/// UDP figures of the receiving side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UdpFigures {
    /// Datagrams the sender sent (as it reported them).
    pub sent: u64,
    /// Distinct datagrams received.
    pub received: u64,
    pub duplicates: u64,
    /// Datagrams that arrived after a later one.
    pub reordered: u64,
    /// RFC 3550 interarrival jitter, nanoseconds (kernel receive stamps,
    /// see [`super::arrivals::Arrivals::jitter_ns`]).
    pub jitter_ns: u64,
}

/// What one side measured or did, sent over control at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Payload octets received (0 when this side only sent).
    pub bytes: u64,
    /// The receiving interval, first to last octet, nanoseconds.
    pub interval_ns: u64,
    /// TCP retransmissions of the sending sockets (when this side sent).
    pub retransmits: Option<u64>,
    /// UDP figures (when this side received UDP), or the sent count (when it sent).
    pub udp: Option<UdpFigures>,
}

/// One control or data-connection message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Client -> server, first on a control connection.
    Hello,
    /// Server -> client: the nonce to prove the key over.
    Challenge {
        nonce: [u8; NONCE_LEN],
        auth_required: bool,
    },
    /// Client -> server: the test, with HMAC over nonce and params when
    /// the client has a key (empty otherwise).
    Request { params: Params, mac: Vec<u8> },
    /// Server -> client: the test as it will run (limits applied).
    Accept {
        cookie: [u8; COOKIE_LEN],
        /// Server's UDP data port (0 for TCP).
        udp_port: u16,
        params: Params,
    },
    /// Server -> client: another test runs; retry after this many seconds.
    Busy { retry_after_s: u32 },
    /// Server -> client, then the connection closes.
    Refused { reason: RefuseReason, text: String },
    /// Client -> server, first on a TCP data connection.
    Data {
        cookie: [u8; COOKIE_LEN],
        stream: u16,
    },
    /// Client -> server: the client's part is over (its sending figures).
    Finish(Outcome),
    /// Server -> client: the server's figures.
    Result(Outcome),
}

/// Why octets are not a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("incomplete frame: {need} more octets needed")]
    Incomplete { need: usize },
    #[error("unsupported protocol version {0}")]
    Version(u8),
    #[error("unknown message type {0}")]
    UnknownType(u8),
    #[error("payload of {0} octets is over the limit")]
    TooLong(usize),
    #[error("malformed {0} message")]
    Malformed(&'static str),
}

mod kind {
    pub const HELLO: u8 = 1;
    pub const CHALLENGE: u8 = 2;
    pub const REQUEST: u8 = 3;
    pub const ACCEPT: u8 = 4;
    pub const BUSY: u8 = 5;
    pub const REFUSED: u8 = 6;
    pub const DATA: u8 = 7;
    pub const FINISH: u8 = 8;
    pub const RESULT: u8 = 9;
}

/// The octets of `params` the MAC covers (after the nonce).
pub fn params_bytes(params: &Params) -> Vec<u8> {
    let mut out = Vec::with_capacity(20);
    put_params(&mut out, params);
    out
}

fn put_params(out: &mut Vec<u8>, p: &Params) {
    out.push(match p.protocol {
        Protocol::Tcp => 0,
        Protocol::Udp => 1,
    });
    out.push(u8::from(p.reverse));
    out.extend_from_slice(&p.streams.to_be_bytes());
    out.extend_from_slice(&p.duration_ms.to_be_bytes());
    out.extend_from_slice(&p.udp_rate_bps.to_be_bytes());
    out.extend_from_slice(&p.udp_payload.to_be_bytes());
}

fn put_outcome(out: &mut Vec<u8>, o: &Outcome) {
    let flags = u8::from(o.retransmits.is_some()) | (u8::from(o.udp.is_some()) << 1);
    out.push(flags);
    out.extend_from_slice(&o.bytes.to_be_bytes());
    out.extend_from_slice(&o.interval_ns.to_be_bytes());
    out.extend_from_slice(&o.retransmits.unwrap_or(0).to_be_bytes());
    let u = o.udp.unwrap_or_default();
    for v in [u.sent, u.received, u.duplicates, u.reordered, u.jitter_ns] {
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// Appends the frame of `msg` to `out`. Texts longer than [`MAX_TEXT`] and
/// MACs longer than [`MAC_LEN`] are cut, so every frame decodes.
pub fn encode(msg: &Message, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[VERSION, 0, 0, 0]);
    let kind = match msg {
        Message::Hello => {
            out.extend_from_slice(&HELLO_MAGIC);
            kind::HELLO
        }
        Message::Challenge {
            nonce,
            auth_required,
        } => {
            out.extend_from_slice(nonce);
            out.push(u8::from(*auth_required));
            kind::CHALLENGE
        }
        Message::Request { params, mac } => {
            put_params(out, params);
            let mac = mac.get(..MAC_LEN).unwrap_or(mac);
            out.push(mac.len() as u8);
            out.extend_from_slice(mac);
            kind::REQUEST
        }
        Message::Accept {
            cookie,
            udp_port,
            params,
        } => {
            out.extend_from_slice(cookie);
            out.extend_from_slice(&udp_port.to_be_bytes());
            put_params(out, params);
            kind::ACCEPT
        }
        Message::Busy { retry_after_s } => {
            out.extend_from_slice(&retry_after_s.to_be_bytes());
            kind::BUSY
        }
        Message::Refused { reason, text } => {
            out.push(match reason {
                RefuseReason::Auth => 1,
                RefuseReason::Forbidden => 2,
                RefuseReason::BadParams => 3,
                RefuseReason::Internal => 4,
            });
            let mut end = text.len().min(MAX_TEXT);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            let text = text.get(..end).unwrap_or("");
            out.push(text.len() as u8);
            out.extend_from_slice(text.as_bytes());
            kind::REFUSED
        }
        Message::Data { cookie, stream } => {
            out.extend_from_slice(cookie);
            out.extend_from_slice(&stream.to_be_bytes());
            kind::DATA
        }
        Message::Finish(o) => {
            put_outcome(out, o);
            kind::FINISH
        }
        Message::Result(o) => {
            put_outcome(out, o);
            kind::RESULT
        }
    };
    let len = (out.len() - start - HEADER_LEN) as u16;
    if let Some(h) = out.get_mut(start + 1..start + HEADER_LEN) {
        h[0] = kind;
        h[1..3].copy_from_slice(&len.to_be_bytes());
    }
}

/// Checks a frame header: the payload length to read next.
pub fn decode_header(header: &[u8; HEADER_LEN]) -> Result<(u8, usize), ProtoError> {
    if header[0] != VERSION {
        return Err(ProtoError::Version(header[0]));
    }
    let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    if len > MAX_PAYLOAD {
        return Err(ProtoError::TooLong(len));
    }
    if !(kind::HELLO..=kind::RESULT).contains(&header[1]) {
        return Err(ProtoError::UnknownType(header[1]));
    }
    Ok((header[1], len))
}

/// Decodes one frame at the start of `buf`: the message and the octets used.
pub fn decode(buf: &[u8]) -> Result<(Message, usize), ProtoError> {
    let header: [u8; HEADER_LEN] = match buf.get(..HEADER_LEN) {
        Some(h) => h.try_into().map_err(|_| ProtoError::Malformed("header"))?,
        None => {
            return Err(ProtoError::Incomplete {
                need: HEADER_LEN - buf.len(),
            })
        }
    };
    let (kind, len) = decode_header(&header)?;
    let payload = buf
        .get(HEADER_LEN..HEADER_LEN + len)
        .ok_or_else(|| ProtoError::Incomplete {
            need: (HEADER_LEN + len).saturating_sub(buf.len()),
        })?;
    Ok((decode_payload(kind, payload)?, HEADER_LEN + len))
}

/// A cursor over a payload; every read is checked.
struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        if self.buf.len() < n {
            return Err(ProtoError::Malformed(self.what));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], ProtoError> {
        self.take(N)?
            .try_into()
            .map_err(|_| ProtoError::Malformed(self.what))
    }
    fn u8(&mut self) -> Result<u8, ProtoError> {
        Ok(self.array::<1>()?[0])
    }
    fn bool(&mut self) -> Result<bool, ProtoError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(ProtoError::Malformed(self.what)),
        }
    }
    fn u16(&mut self) -> Result<u16, ProtoError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, ProtoError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, ProtoError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn end(&self) -> Result<(), ProtoError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(ProtoError::Malformed(self.what))
        }
    }
    fn params(&mut self) -> Result<Params, ProtoError> {
        let protocol = match self.u8()? {
            0 => Protocol::Tcp,
            1 => Protocol::Udp,
            _ => return Err(ProtoError::Malformed(self.what)),
        };
        Ok(Params {
            protocol,
            reverse: self.bool()?,
            streams: self.u16()?,
            duration_ms: self.u32()?,
            udp_rate_bps: self.u64()?,
            udp_payload: self.u16()?,
        })
    }
    fn outcome(&mut self) -> Result<Outcome, ProtoError> {
        let flags = self.u8()?;
        if flags & !0b11 != 0 {
            return Err(ProtoError::Malformed(self.what));
        }
        let bytes = self.u64()?;
        let interval_ns = self.u64()?;
        let retransmits = self.u64()?;
        let udp = UdpFigures {
            sent: self.u64()?,
            received: self.u64()?,
            duplicates: self.u64()?,
            reordered: self.u64()?,
            jitter_ns: self.u64()?,
        };
        Ok(Outcome {
            bytes,
            interval_ns,
            retransmits: (flags & 1 != 0).then_some(retransmits),
            udp: (flags & 2 != 0).then_some(udp),
        })
    }
}

fn decode_payload(kind: u8, payload: &[u8]) -> Result<Message, ProtoError> {
    let what = match kind {
        kind::HELLO => "hello",
        kind::CHALLENGE => "challenge",
        kind::REQUEST => "request",
        kind::ACCEPT => "accept",
        kind::BUSY => "busy",
        kind::REFUSED => "refused",
        kind::DATA => "data",
        kind::FINISH => "finish",
        kind::RESULT => "result",
        other => return Err(ProtoError::UnknownType(other)),
    };
    let mut r = Reader { buf: payload, what };
    let msg = match kind {
        kind::HELLO => {
            if r.array::<4>()? != HELLO_MAGIC {
                return Err(ProtoError::Malformed(what));
            }
            Message::Hello
        }
        kind::CHALLENGE => Message::Challenge {
            nonce: r.array()?,
            auth_required: r.bool()?,
        },
        kind::REQUEST => {
            let params = r.params()?;
            let n = usize::from(r.u8()?);
            if n > MAC_LEN {
                return Err(ProtoError::Malformed(what));
            }
            Message::Request {
                params,
                mac: r.take(n)?.to_vec(),
            }
        }
        kind::ACCEPT => Message::Accept {
            cookie: r.array()?,
            udp_port: r.u16()?,
            params: r.params()?,
        },
        kind::BUSY => Message::Busy {
            retry_after_s: r.u32()?,
        },
        kind::REFUSED => {
            let reason = match r.u8()? {
                1 => RefuseReason::Auth,
                2 => RefuseReason::Forbidden,
                3 => RefuseReason::BadParams,
                4 => RefuseReason::Internal,
                _ => return Err(ProtoError::Malformed(what)),
            };
            let n = usize::from(r.u8()?);
            if n > MAX_TEXT {
                return Err(ProtoError::Malformed(what));
            }
            let text = std::str::from_utf8(r.take(n)?)
                .map_err(|_| ProtoError::Malformed(what))?
                .to_owned();
            Message::Refused { reason, text }
        }
        kind::DATA => Message::Data {
            cookie: r.array()?,
            stream: r.u16()?,
        },
        kind::FINISH => Message::Finish(r.outcome()?),
        _ => Message::Result(r.outcome()?),
    };
    r.end()?;
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(msg: &Message) -> Vec<u8> {
        let mut out = Vec::new();
        encode(msg, &mut out);
        out
    }

    fn params() -> Params {
        Params {
            protocol: Protocol::Udp,
            reverse: true,
            streams: 1,
            duration_ms: 1000,
            udp_rate_bps: 50_000_000,
            udp_payload: 1472,
        }
    }

    #[test]
    fn request_round_trips_with_its_mac() {
        let msg = Message::Request {
            params: params(),
            mac: vec![7; MAC_LEN],
        };
        let f = frame(&msg);
        assert_eq!(decode(&f), Ok((msg, f.len())));
    }

    #[test]
    fn every_truncation_is_incomplete_never_a_panic() {
        let f = frame(&Message::Result(Outcome {
            bytes: 1,
            interval_ns: 2,
            retransmits: Some(3),
            udp: None,
        }));
        for n in 0..f.len() {
            assert!(
                matches!(decode(&f[..n]), Err(ProtoError::Incomplete { .. })),
                "{n}"
            );
        }
    }

    #[test]
    fn malformed_frames_are_errors() {
        let good = frame(&Message::Hello);
        let mut bad_version = good.clone();
        bad_version[0] = 2;
        assert_eq!(decode(&bad_version), Err(ProtoError::Version(2)));
        let mut bad_type = good.clone();
        bad_type[1] = 42;
        assert_eq!(decode(&bad_type), Err(ProtoError::UnknownType(42)));
        let mut bad_magic = good.clone();
        bad_magic[4] = b'X';
        assert_eq!(decode(&bad_magic), Err(ProtoError::Malformed("hello")));
        assert_eq!(
            decode(&[VERSION, 1, 0xff, 0xff]),
            Err(ProtoError::TooLong(65535))
        );
        // A payload longer than its message: trailing octets refused.
        assert_eq!(
            decode(&[VERSION, 1, 0, 5, b'H', b'M', b'B', b'W', 0]),
            Err(ProtoError::Malformed("hello"))
        );
        // A boolean that is neither 0 nor 1.
        let mut f = frame(&Message::Challenge {
            nonce: [0; NONCE_LEN],
            auth_required: true,
        });
        if let Some(last) = f.last_mut() {
            *last = 2;
        }
        assert_eq!(decode(&f), Err(ProtoError::Malformed("challenge")));
        // A MAC length over the limit.
        let mut f = frame(&Message::Request {
            params: params(),
            mac: Vec::new(),
        });
        let at = f.len() - 1;
        f[at] = 33;
        assert_eq!(decode(&f), Err(ProtoError::Malformed("request")));
        // Refusal text that is not UTF-8.
        assert_eq!(
            decode(&[VERSION, 6, 0, 4, 1, 2, 0xff, 0xfe]),
            Err(ProtoError::Malformed("refused"))
        );
    }

    #[test]
    fn long_text_and_mac_are_cut_so_they_decode() {
        let f = frame(&Message::Refused {
            reason: RefuseReason::Forbidden,
            text: "é".repeat(150),
        });
        let Ok((Message::Refused { text, .. }, _)) = decode(&f) else {
            panic!("refusal did not decode");
        };
        assert_eq!(text, "é".repeat(100));
    }

    fn arb_params() -> impl Strategy<Value = Params> {
        (
            any::<bool>(),
            any::<bool>(),
            any::<u16>(),
            any::<u32>(),
            any::<u64>(),
            any::<u16>(),
        )
            .prop_map(
                |(udp, reverse, streams, duration_ms, rate, payload)| Params {
                    protocol: if udp { Protocol::Udp } else { Protocol::Tcp },
                    reverse,
                    streams,
                    duration_ms,
                    udp_rate_bps: rate,
                    udp_payload: payload,
                },
            )
    }

    fn arb_outcome() -> impl Strategy<Value = Outcome> {
        (
            any::<u64>(),
            any::<u64>(),
            proptest::option::of(any::<u64>()),
            proptest::option::of(any::<[u64; 5]>()),
        )
            .prop_map(|(bytes, interval_ns, retransmits, udp)| Outcome {
                bytes,
                interval_ns,
                retransmits,
                udp: udp.map(|u| UdpFigures {
                    sent: u[0],
                    received: u[1],
                    duplicates: u[2],
                    reordered: u[3],
                    jitter_ns: u[4],
                }),
            })
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        prop_oneof![
            Just(Message::Hello),
            (any::<[u8; NONCE_LEN]>(), any::<bool>()).prop_map(|(nonce, auth_required)| {
                Message::Challenge {
                    nonce,
                    auth_required,
                }
            }),
            (
                arb_params(),
                proptest::collection::vec(any::<u8>(), 0..=MAC_LEN)
            )
                .prop_map(|(params, mac)| Message::Request { params, mac }),
            (any::<[u8; COOKIE_LEN]>(), any::<u16>(), arb_params()).prop_map(
                |(cookie, udp_port, params)| Message::Accept {
                    cookie,
                    udp_port,
                    params
                }
            ),
            any::<u32>().prop_map(|retry_after_s| Message::Busy { retry_after_s }),
            (0u8..4, "[a-z é]{0,60}").prop_map(|(r, text)| Message::Refused {
                reason: [
                    RefuseReason::Auth,
                    RefuseReason::Forbidden,
                    RefuseReason::BadParams,
                    RefuseReason::Internal
                ][usize::from(r)],
                text,
            }),
            (any::<[u8; COOKIE_LEN]>(), any::<u16>())
                .prop_map(|(cookie, stream)| Message::Data { cookie, stream }),
            arb_outcome().prop_map(Message::Finish),
            arb_outcome().prop_map(Message::Result),
        ]
    }

    proptest! {
        #[test]
        fn every_message_round_trips(msg in arb_message(), tail in proptest::collection::vec(any::<u8>(), 0..8)) {
            let mut f = frame(&msg);
            let len = f.len();
            f.extend_from_slice(&tail);
            prop_assert_eq!(decode(&f), Ok((msg, len)));
        }

        #[test]
        fn arbitrary_octets_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = decode(&buf);
        }

        #[test]
        fn corrupted_frames_never_panic(msg in arb_message(), at in any::<usize>(), v in any::<u8>()) {
            let mut f = frame(&msg);
            let i = at % f.len();
            f[i] = v;
            let _ = decode(&f);
        }
    }
}
