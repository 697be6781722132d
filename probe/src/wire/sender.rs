//! The Session-Sender test packet (RFC 8762 section 4.2, SSID from RFC 8972
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
//! ~                         MBZ (28 octets)                       ~ 16
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Authenticated (112 octets): Sequence Number (0), MBZ 12 octets (4),
//! Timestamp (16), Error Estimate (24), SSID (26), MBZ 68 octets (28), HMAC 16
//! octets (96) over octets 0..96.

use super::auth::{self, HmacKey, HMAC_LEN};
use super::tlv::{self, Tlv, TlvIter};
use super::{check_len, check_room, ErrorEstimate, Mode, Result, Timestamp};
use crate::bytes::{get_array, get_u16, get_u32, put_bytes, put_u16, put_u32, slice, zero};

mod field {
    use core::ops::Range;

    pub const SEQ: usize = 0;

    pub const U_TIMESTAMP: usize = 4;
    pub const U_ERROR_ESTIMATE: usize = 12;
    pub const U_SSID: usize = 14;
    pub const U_MBZ: Range<usize> = 16..44;

    pub const A_MBZ0: Range<usize> = 4..16;
    pub const A_TIMESTAMP: usize = 16;
    pub const A_ERROR_ESTIMATE: usize = 24;
    pub const A_SSID: usize = 26;
    pub const A_MBZ1: Range<usize> = 28..96;
    pub const A_HMAC: usize = 96;
}

struct Layout {
    timestamp: usize,
    error_estimate: usize,
    ssid: usize,
}

const fn layout(mode: Mode) -> Layout {
    match mode {
        Mode::Unauthenticated => Layout {
            timestamp: field::U_TIMESTAMP,
            error_estimate: field::U_ERROR_ESTIMATE,
            ssid: field::U_SSID,
        },
        Mode::Authenticated => Layout {
            timestamp: field::A_TIMESTAMP,
            error_estimate: field::A_ERROR_ESTIMATE,
            ssid: field::A_SSID,
        },
    }
}

/// Zero-copy view of a Session-Sender test packet.
#[derive(Debug, Clone)]
pub struct SenderPacket<T: AsRef<[u8]>> {
    buffer: T,
    mode: Mode,
}

impl<T: AsRef<[u8]>> SenderPacket<T> {
    /// Checks that `buffer` holds at least the base packet of `mode`; octets
    /// after it are the TLV area.
    pub fn new_checked(buffer: T, mode: Mode) -> Result<Self> {
        check_len(buffer.as_ref().len(), mode.base_len())?;
        Ok(SenderPacket { buffer, mode })
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

    /// Sequence Number.
    pub fn sequence_number(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::SEQ)
    }

    /// Timestamp (read it with [`Self::error_estimate`]'s format).
    pub fn timestamp(&self) -> Timestamp {
        Timestamp::from_bytes(slice(
            self.buffer.as_ref(),
            layout(self.mode).timestamp..self.len(),
        ))
    }

    /// Error Estimate.
    pub fn error_estimate(&self) -> ErrorEstimate {
        ErrorEstimate::from_bits(get_u16(
            self.buffer.as_ref(),
            layout(self.mode).error_estimate,
        ))
    }

    /// STAMP Session Identifier (RFC 8972 section 3).
    pub fn ssid(&self) -> u16 {
        get_u16(self.buffer.as_ref(), layout(self.mode).ssid)
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

    /// Checks the base HMAC (authenticated mode) and every HMAC TLV, in
    /// constant time per comparison.
    pub fn verify(&self, key: HmacKey<'_>) -> Result<()> {
        let buf = self.buffer.as_ref();
        if self.mode == Mode::Authenticated {
            auth::check_base(buf, key)?;
        }
        tlv::verify_tlv_hmacs(self.tlv_bytes(), get_array(buf, field::SEQ), key)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> SenderPacket<T> {
    /// Sets the Sequence Number.
    pub fn set_sequence_number(&mut self, value: u32) {
        put_u32(self.buffer.as_mut(), field::SEQ, value);
    }

    /// Sets the Timestamp.
    pub fn set_timestamp(&mut self, value: Timestamp) {
        let at = layout(self.mode).timestamp;
        put_bytes(self.buffer.as_mut(), at, &value.to_bytes());
    }

    /// Sets the Error Estimate.
    pub fn set_error_estimate(&mut self, value: ErrorEstimate) {
        let at = layout(self.mode).error_estimate;
        put_u16(self.buffer.as_mut(), at, value.to_bits());
    }

    /// Sets the SSID.
    pub fn set_ssid(&mut self, value: u16) {
        let at = layout(self.mode).ssid;
        put_u16(self.buffer.as_mut(), at, value);
    }

    /// Zeroes every MBZ field of the base packet.
    pub fn clear_mbz(&mut self) {
        let buf = self.buffer.as_mut();
        match self.mode {
            Mode::Unauthenticated => zero(buf, field::U_MBZ),
            Mode::Authenticated => {
                zero(buf, field::A_MBZ0);
                zero(buf, field::A_MBZ1);
            }
        }
    }

    /// Recomputes the base HMAC (authenticated mode); a no-op otherwise.
    pub fn fill_hmac(&mut self, key: HmacKey<'_>) -> Result<()> {
        match self.mode {
            Mode::Authenticated => auth::seal_base(self.buffer.as_mut(), key),
            Mode::Unauthenticated => Ok(()),
        }
    }
}

/// A Session-Sender test packet, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SenderRepr {
    /// Base layout.
    pub mode: Mode,
    /// Sequence Number.
    pub sequence_number: u32,
    /// Timestamp (T1).
    pub timestamp: Timestamp,
    /// Error Estimate; its Z bit says how `timestamp` is read.
    pub error_estimate: ErrorEstimate,
    /// STAMP Session Identifier.
    pub ssid: u16,
    /// TLVs after the base packet.
    pub tlvs: Vec<Tlv>,
}

impl SenderRepr {
    /// Parses a checked packet. With a key, the base HMAC (authenticated mode)
    /// and any HMAC TLVs must verify; authenticated mode requires a key. TLVs
    /// are parsed strictly ([`super::Error::BadTlv`] on a malformed area).
    pub fn parse<T: AsRef<[u8]>>(
        packet: &SenderPacket<T>,
        key: Option<HmacKey<'_>>,
    ) -> Result<Self> {
        verify_for_mode(packet.mode, key, |key| packet.verify(key))?;
        Ok(SenderRepr {
            mode: packet.mode,
            sequence_number: packet.sequence_number(),
            timestamp: packet.timestamp(),
            error_estimate: packet.error_estimate(),
            ssid: packet.ssid(),
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
            return Err(super::Error::MissingKey);
        }
        let len = self.buffer_len();
        check_room(buf.len(), len)?;
        let base = self.mode.base_len();
        let out = buf.get_mut(..len).unwrap_or(&mut []);
        zero(out, 0..base);
        let mut packet = SenderPacket {
            buffer: &mut *out,
            mode: self.mode,
        };
        packet.set_sequence_number(self.sequence_number);
        packet.set_timestamp(self.timestamp);
        packet.set_error_estimate(self.error_estimate);
        packet.set_ssid(self.ssid);
        let area = out.get_mut(base..).unwrap_or(&mut []);
        tlv::emit_tlvs(&self.tlvs, area, self.sequence_number.to_be_bytes(), key)?;
        if let (Mode::Authenticated, Some(key)) = (self.mode, key) {
            auth::seal_base(out, key)?;
        }
        Ok(len)
    }
}

/// Runs `verify` when a key is given; authenticated mode without a key is an
/// error.
pub(crate) fn verify_for_mode(
    mode: Mode,
    key: Option<HmacKey<'_>>,
    verify: impl FnOnce(HmacKey<'_>) -> Result<()>,
) -> Result<()> {
    match (mode, key) {
        (_, Some(key)) => verify(key),
        (Mode::Authenticated, None) => Err(super::Error::MissingKey),
        (Mode::Unauthenticated, None) => Ok(()),
    }
}
