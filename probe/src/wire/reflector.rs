//! The Session-Reflector test packet (RFC 8762 section 4.3, SSID from RFC 8972
//! section 3), in both modes, followed by optional TLVs.
//!
//! Unauthenticated (44 octets):
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        Sequence Number                        |  0
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                          Timestamp                            |  4
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Error Estimate        |             SSID              | 12
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Receive Timestamp                         | 16
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Session-Sender Sequence Number                | 24
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                  Session-Sender Timestamp                     | 28
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Session-Sender Error Estimate |            MBZ                | 36
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Ses-Sender TTL |                   MBZ                         | 40
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Authenticated (112 octets), one field per 16-octet block, MBZ after each:
//! Sequence Number (0); Timestamp (16), Error Estimate (24), SSID (26);
//! Receive Timestamp (32); Session-Sender Sequence Number (48); Session-Sender
//! Timestamp (64), Session-Sender Error Estimate (72); Session-Sender TTL (80);
//! HMAC (96) over octets 0..96.

use super::auth::{self, HmacKey, HMAC_LEN};
use super::sender::verify_for_mode;
use super::tlv::{self, Tlv, TlvIter};
use super::{check_len, check_room, Error, ErrorEstimate, Mode, Result, Timestamp};
use crate::bytes::{
    get_array, get_u16, get_u32, get_u8, put_bytes, put_u16, put_u32, put_u8, slice, zero,
};

mod field {
    pub const SEQ: usize = 0;

    pub const U_TIMESTAMP: usize = 4;
    pub const U_ERROR_ESTIMATE: usize = 12;
    pub const U_SSID: usize = 14;
    pub const U_RECEIVE_TIMESTAMP: usize = 16;
    pub const U_SENDER_SEQ: usize = 24;
    pub const U_SENDER_TIMESTAMP: usize = 28;
    pub const U_SENDER_ERROR_ESTIMATE: usize = 36;
    pub const U_SENDER_TTL: usize = 40;

    pub const A_TIMESTAMP: usize = 16;
    pub const A_ERROR_ESTIMATE: usize = 24;
    pub const A_SSID: usize = 26;
    pub const A_RECEIVE_TIMESTAMP: usize = 32;
    pub const A_SENDER_SEQ: usize = 48;
    pub const A_SENDER_TIMESTAMP: usize = 64;
    pub const A_SENDER_ERROR_ESTIMATE: usize = 72;
    pub const A_SENDER_TTL: usize = 80;
    pub const A_HMAC: usize = 96;
}

struct Layout {
    timestamp: usize,
    error_estimate: usize,
    ssid: usize,
    receive_timestamp: usize,
    sender_seq: usize,
    sender_timestamp: usize,
    sender_error_estimate: usize,
    sender_ttl: usize,
}

const fn layout(mode: Mode) -> Layout {
    match mode {
        Mode::Unauthenticated => Layout {
            timestamp: field::U_TIMESTAMP,
            error_estimate: field::U_ERROR_ESTIMATE,
            ssid: field::U_SSID,
            receive_timestamp: field::U_RECEIVE_TIMESTAMP,
            sender_seq: field::U_SENDER_SEQ,
            sender_timestamp: field::U_SENDER_TIMESTAMP,
            sender_error_estimate: field::U_SENDER_ERROR_ESTIMATE,
            sender_ttl: field::U_SENDER_TTL,
        },
        Mode::Authenticated => Layout {
            timestamp: field::A_TIMESTAMP,
            error_estimate: field::A_ERROR_ESTIMATE,
            ssid: field::A_SSID,
            receive_timestamp: field::A_RECEIVE_TIMESTAMP,
            sender_seq: field::A_SENDER_SEQ,
            sender_timestamp: field::A_SENDER_TIMESTAMP,
            sender_error_estimate: field::A_SENDER_ERROR_ESTIMATE,
            sender_ttl: field::A_SENDER_TTL,
        },
    }
}

/// Zero-copy view of a Session-Reflector test packet.
#[derive(Debug, Clone)]
pub struct ReflectorPacket<T: AsRef<[u8]>> {
    buffer: T,
    mode: Mode,
}

impl<T: AsRef<[u8]>> ReflectorPacket<T> {
    /// Checks that `buffer` holds at least the base packet of `mode`; octets
    /// after it are the TLV area.
    pub fn new_checked(buffer: T, mode: Mode) -> Result<Self> {
        check_len(buffer.as_ref().len(), mode.base_len())?;
        Ok(ReflectorPacket { buffer, mode })
    }

    /// The buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Layout of this packet.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Octets of the whole packet, TLVs included.
    pub fn len(&self) -> usize {
        self.buffer.as_ref().len()
    }

    /// Never true for a checked packet; here for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn timestamp_at(&self, at: usize) -> Timestamp {
        Timestamp::from_bytes(slice(self.buffer.as_ref(), at..self.len()))
    }

    /// Reflector's Sequence Number.
    pub fn sequence_number(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::SEQ)
    }

    /// Reflector's transmit Timestamp (T3).
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp_at(layout(self.mode).timestamp)
    }

    /// Reflector's Error Estimate; its Z bit says how T2 and T3 are read.
    pub fn error_estimate(&self) -> ErrorEstimate {
        ErrorEstimate::from_bits(get_u16(
            self.buffer.as_ref(),
            layout(self.mode).error_estimate,
        ))
    }

    /// SSID copied from the sender's packet.
    pub fn ssid(&self) -> u16 {
        get_u16(self.buffer.as_ref(), layout(self.mode).ssid)
    }

    /// Receive Timestamp (T2).
    pub fn receive_timestamp(&self) -> Timestamp {
        self.timestamp_at(layout(self.mode).receive_timestamp)
    }

    /// Session-Sender Sequence Number.
    pub fn sender_sequence_number(&self) -> u32 {
        get_u32(self.buffer.as_ref(), layout(self.mode).sender_seq)
    }

    /// Session-Sender Timestamp (T1).
    pub fn sender_timestamp(&self) -> Timestamp {
        self.timestamp_at(layout(self.mode).sender_timestamp)
    }

    /// Session-Sender Error Estimate.
    pub fn sender_error_estimate(&self) -> ErrorEstimate {
        ErrorEstimate::from_bits(get_u16(
            self.buffer.as_ref(),
            layout(self.mode).sender_error_estimate,
        ))
    }

    /// TTL or Hop Limit of the sender's packet as the reflector received it.
    pub fn sender_ttl(&self) -> u8 {
        get_u8(self.buffer.as_ref(), layout(self.mode).sender_ttl)
    }

    /// The HMAC field in authenticated mode.
    pub fn hmac(&self) -> Option<[u8; HMAC_LEN]> {
        match self.mode {
            Mode::Authenticated => Some(get_array(self.buffer.as_ref(), field::A_HMAC)),
            Mode::Unauthenticated => None,
        }
    }

    /// The octets after the base packet.
    pub fn tlv_bytes(&self) -> &[u8] {
        slice(self.buffer.as_ref(), self.mode.base_len()..self.len())
    }

    /// The TLVs after the base packet.
    pub fn tlvs(&self) -> TlvIter<'_> {
        TlvIter::new(self.tlv_bytes())
    }

    /// Checks the base HMAC (authenticated mode) and every HMAC TLV.
    pub fn verify(&self, key: HmacKey<'_>) -> Result<()> {
        let buf = self.buffer.as_ref();
        if self.mode == Mode::Authenticated {
            auth::check_base(buf, key)?;
        }
        tlv::verify_tlv_hmacs(self.tlv_bytes(), get_array(buf, field::SEQ), key)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ReflectorPacket<T> {
    fn put_timestamp(&mut self, at: usize, value: Timestamp) {
        put_bytes(self.buffer.as_mut(), at, &value.to_bytes());
    }

    /// Sets the reflector's Sequence Number.
    pub fn set_sequence_number(&mut self, value: u32) {
        put_u32(self.buffer.as_mut(), field::SEQ, value);
    }

    /// Sets the transmit Timestamp (T3).
    pub fn set_timestamp(&mut self, value: Timestamp) {
        self.put_timestamp(layout(self.mode).timestamp, value);
    }

    /// Sets the reflector's Error Estimate.
    pub fn set_error_estimate(&mut self, value: ErrorEstimate) {
        let at = layout(self.mode).error_estimate;
        put_u16(self.buffer.as_mut(), at, value.to_bits());
    }

    /// Sets the SSID.
    pub fn set_ssid(&mut self, value: u16) {
        let at = layout(self.mode).ssid;
        put_u16(self.buffer.as_mut(), at, value);
    }

    /// Sets the Receive Timestamp (T2).
    pub fn set_receive_timestamp(&mut self, value: Timestamp) {
        self.put_timestamp(layout(self.mode).receive_timestamp, value);
    }

    /// Sets the Session-Sender Sequence Number.
    pub fn set_sender_sequence_number(&mut self, value: u32) {
        let at = layout(self.mode).sender_seq;
        put_u32(self.buffer.as_mut(), at, value);
    }

    /// Sets the Session-Sender Timestamp.
    pub fn set_sender_timestamp(&mut self, value: Timestamp) {
        self.put_timestamp(layout(self.mode).sender_timestamp, value);
    }

    /// Sets the Session-Sender Error Estimate.
    pub fn set_sender_error_estimate(&mut self, value: ErrorEstimate) {
        let at = layout(self.mode).sender_error_estimate;
        put_u16(self.buffer.as_mut(), at, value.to_bits());
    }

    /// Sets the Session-Sender TTL.
    pub fn set_sender_ttl(&mut self, value: u8) {
        let at = layout(self.mode).sender_ttl;
        put_u8(self.buffer.as_mut(), at, value);
    }

    /// Recomputes the base HMAC (authenticated mode); a no-op otherwise.
    pub fn fill_hmac(&mut self, key: HmacKey<'_>) -> Result<()> {
        match self.mode {
            Mode::Authenticated => auth::seal_base(self.buffer.as_mut(), key),
            Mode::Unauthenticated => Ok(()),
        }
    }
}

/// A Session-Reflector test packet, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReflectorRepr {
    /// Base layout.
    pub mode: Mode,
    /// Reflector's Sequence Number.
    pub sequence_number: u32,
    /// Transmit Timestamp (T3).
    pub timestamp: Timestamp,
    /// Reflector's Error Estimate (format of T2 and T3).
    pub error_estimate: ErrorEstimate,
    /// SSID copied from the sender's packet.
    pub ssid: u16,
    /// Receive Timestamp (T2).
    pub receive_timestamp: Timestamp,
    /// Session-Sender Sequence Number.
    pub sender_sequence_number: u32,
    /// Session-Sender Timestamp (T1).
    pub sender_timestamp: Timestamp,
    /// Session-Sender Error Estimate.
    pub sender_error_estimate: ErrorEstimate,
    /// TTL or Hop Limit of the sender's packet at the reflector.
    pub sender_ttl: u8,
    /// TLVs after the base packet.
    pub tlvs: Vec<Tlv>,
}

impl ReflectorRepr {
    /// Parses a checked packet. With a key, the base HMAC (authenticated mode)
    /// and any HMAC TLVs must verify; authenticated mode requires a key. TLVs
    /// are parsed strictly ([`Error::BadTlv`] on a malformed area).
    pub fn parse<T: AsRef<[u8]>>(
        packet: &ReflectorPacket<T>,
        key: Option<HmacKey<'_>>,
    ) -> Result<Self> {
        verify_for_mode(packet.mode, key, |key| packet.verify(key))?;
        Ok(ReflectorRepr {
            mode: packet.mode,
            sequence_number: packet.sequence_number(),
            timestamp: packet.timestamp(),
            error_estimate: packet.error_estimate(),
            ssid: packet.ssid(),
            receive_timestamp: packet.receive_timestamp(),
            sender_sequence_number: packet.sender_sequence_number(),
            sender_timestamp: packet.sender_timestamp(),
            sender_error_estimate: packet.sender_error_estimate(),
            sender_ttl: packet.sender_ttl(),
            tlvs: tlv::parse_tlvs(packet.tlv_bytes())?,
        })
    }

    /// Octets [`Self::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        self.mode.base_len() + tlv::tlvs_len(&self.tlvs)
    }

    /// Writes the packet at the start of `buf` and returns its length. MBZ
    /// fields are zeroed; with a key, the base HMAC (authenticated mode) and
    /// every HMAC TLV are computed. Authenticated mode requires a key.
    pub fn emit(&self, buf: &mut [u8], key: Option<HmacKey<'_>>) -> Result<usize> {
        if self.mode == Mode::Authenticated && key.is_none() {
            return Err(Error::MissingKey);
        }
        let len = self.buffer_len();
        check_room(buf.len(), len)?;
        let base = self.mode.base_len();
        let out = buf.get_mut(..len).unwrap_or(&mut []);
        zero(out, 0..base);
        let mut packet = ReflectorPacket {
            buffer: &mut *out,
            mode: self.mode,
        };
        packet.set_sequence_number(self.sequence_number);
        packet.set_timestamp(self.timestamp);
        packet.set_error_estimate(self.error_estimate);
        packet.set_ssid(self.ssid);
        packet.set_receive_timestamp(self.receive_timestamp);
        packet.set_sender_sequence_number(self.sender_sequence_number);
        packet.set_sender_timestamp(self.sender_timestamp);
        packet.set_sender_error_estimate(self.sender_error_estimate);
        packet.set_sender_ttl(self.sender_ttl);
        let area = out.get_mut(base..).unwrap_or(&mut []);
        tlv::emit_tlvs(&self.tlvs, area, self.sequence_number.to_be_bytes(), key)?;
        if let (Mode::Authenticated, Some(key)) = (self.mode, key) {
            auth::seal_base(out, key)?;
        }
        Ok(len)
    }
}
