//! STAMP TLVs (RFC 8972 section 4): the optional extensions that follow the
//! base test packet, kept byte-faithful so a reflector can echo what it does
//! not understand.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |U|M|I|Reserved |     Type      |            Length             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                            Value                              ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Length counts the Value octets only.

use super::auth::{self, HmacKey, HMAC_LEN};
use super::{check_len, check_room, Error, Result, Timestamp};
use crate::bytes::{get_u16, get_u32, get_u8, put_bytes, put_u16, put_u32, put_u8, slice, zero};

/// Octets of a TLV header (flags, type, length).
pub const TLV_HEADER_LEN: usize = 4;

/// TLV types (RFC 8972 section 5.2, "STAMP TLV Types" registry).
pub mod tlv_type {
    /// Extra Padding (RFC 8972 section 4.1).
    pub const EXTRA_PADDING: u8 = 1;
    /// Location (section 4.2); not interpreted here.
    pub const LOCATION: u8 = 2;
    /// Timestamp Information (section 4.3).
    pub const TIMESTAMP_INFO: u8 = 3;
    /// Class of Service (section 4.4).
    pub const CLASS_OF_SERVICE: u8 = 4;
    /// Direct Measurement (section 4.5); not interpreted here.
    pub const DIRECT_MEASUREMENT: u8 = 5;
    /// Access Report (section 4.6); not interpreted here.
    pub const ACCESS_REPORT: u8 = 6;
    /// Follow-Up Telemetry (section 4.7).
    pub const FOLLOW_UP_TELEMETRY: u8 = 7;
    /// HMAC (section 4.8).
    pub const HMAC: u8 = 8;
}

/// Synchronization sources of the Timestamp Information TLV (RFC 8972 section 5.5).
pub mod sync_source {
    /// NTP.
    pub const NTP: u8 = 1;
    /// PTP.
    pub const PTP: u8 = 2;
    /// SSU/BITS.
    pub const SSU_BITS: u8 = 3;
    /// GPS, GLONASS, LORAN-C, BDS or Galileo.
    pub const GNSS: u8 = 4;
    /// Local free-running clock.
    pub const LOCAL_FREE_RUNNING: u8 = 5;
}

/// Timestamping methods of the Timestamp Information and Follow-Up Telemetry
/// TLVs (RFC 8972 section 5.6).
pub mod timestamp_method {
    /// Hardware assisted.
    pub const HW_ASSIST: u8 = 1;
    /// Software, local.
    pub const SW_LOCAL: u8 = 2;
    /// Control plane.
    pub const CONTROL_PLANE: u8 = 3;
}

mod field {
    use core::ops::Range;

    pub const FLAGS: usize = 0;
    pub const TYPE: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const VALUE: usize = 4;

    // Class of Service value: DSCP1(6) DSCP2(6) ECN(2) RP(2) Reserved(16).
    pub const COS_LEN: usize = 4;
    pub const COS_DSCP1_SHIFT: u32 = 26;
    pub const COS_DSCP2_SHIFT: u32 = 20;
    pub const COS_ECN_SHIFT: u32 = 18;
    pub const COS_RP_SHIFT: u32 = 16;

    // Timestamp Information value.
    pub const TSI_SYNC_IN: usize = 0;
    pub const TSI_METHOD_IN: usize = 1;
    pub const TSI_SYNC_OUT: usize = 2;
    pub const TSI_METHOD_OUT: usize = 3;
    pub const TSI_SUB_TLVS: usize = 4;

    // Follow-Up Telemetry value.
    pub const FUT_SEQ: usize = 0;
    pub const FUT_TIMESTAMP: Range<usize> = 4..12;
    pub const FUT_MODE: usize = 12;
    pub const FUT_RESERVED: Range<usize> = 13..16;
    pub const FUT_LEN: usize = 16;
}

/// The flags octet of a TLV.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TlvFlags(u8);

impl TlvFlags {
    /// U: the reflector did not recognize the TLV type.
    pub const UNRECOGNIZED: u8 = 0x80;
    /// M: the TLV is malformed (its length is wrong for its type).
    pub const MALFORMED: u8 = 0x40;
    /// I: the integrity check (HMAC TLV) failed.
    pub const INTEGRITY_FAILED: u8 = 0x20;

    /// Flags from the wire octet; reserved bits are kept.
    pub const fn from_bits(bits: u8) -> Self {
        TlvFlags(bits)
    }

    /// The wire octet.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// U flag.
    pub const fn unrecognized(self) -> bool {
        self.0 & Self::UNRECOGNIZED != 0
    }

    /// M flag.
    pub const fn malformed(self) -> bool {
        self.0 & Self::MALFORMED != 0
    }

    /// I flag.
    pub const fn integrity_failed(self) -> bool {
        self.0 & Self::INTEGRITY_FAILED != 0
    }

    /// These flags with the bits of `mask` set.
    pub const fn with(self, mask: u8) -> Self {
        TlvFlags(self.0 | mask)
    }
}

/// Zero-copy view of one TLV. After [`TlvPacket::new_checked`] the header and
/// the whole value are known to be inside the buffer.
#[derive(Debug, Clone)]
pub struct TlvPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TlvPacket<T> {
    /// Checks that `buffer` holds a header and the value its Length announces.
    /// Octets after the TLV are allowed and ignored.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let buf = buffer.as_ref();
        check_len(buf.len(), TLV_HEADER_LEN)?;
        let total = TLV_HEADER_LEN + usize::from(get_u16(buf, field::LENGTH.start));
        check_len(buf.len(), total)?;
        Ok(TlvPacket { buffer })
    }

    /// The buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Flags octet.
    pub fn flags(&self) -> TlvFlags {
        TlvFlags(get_u8(self.buffer.as_ref(), field::FLAGS))
    }

    /// Type octet.
    pub fn tlv_type(&self) -> u8 {
        get_u8(self.buffer.as_ref(), field::TYPE)
    }

    /// Length field: octets of the value.
    pub fn length(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Octets of header and value together.
    pub fn total_len(&self) -> usize {
        TLV_HEADER_LEN + usize::from(self.length())
    }

    /// The value octets.
    pub fn value(&self) -> &[u8] {
        slice(self.buffer.as_ref(), field::VALUE..self.total_len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TlvPacket<T> {
    /// Sets the flags octet.
    pub fn set_flags(&mut self, flags: TlvFlags) {
        put_u8(self.buffer.as_mut(), field::FLAGS, flags.bits());
    }

    /// The value octets, writable.
    pub fn value_mut(&mut self) -> &mut [u8] {
        let end = self.total_len();
        self.buffer
            .as_mut()
            .get_mut(field::VALUE..end)
            .unwrap_or(&mut [])
    }
}

/// Walks a TLV area. Yields each TLV with its offset in the area; on a header
/// cut short or a Length past the end it yields one [`Error::BadTlv`] and stops.
#[derive(Debug, Clone)]
pub struct TlvIter<'a> {
    area: &'a [u8],
    offset: usize,
    failed: bool,
}

impl<'a> TlvIter<'a> {
    /// Iterator over the TLVs in `area` (the octets after the base packet).
    pub fn new(area: &'a [u8]) -> Self {
        TlvIter {
            area,
            offset: 0,
            failed: false,
        }
    }
}

impl<'a> Iterator for TlvIter<'a> {
    type Item = Result<(usize, TlvPacket<&'a [u8]>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.offset >= self.area.len() {
            return None;
        }
        let offset = self.offset;
        let rest = self.area.get(offset..).unwrap_or(&[]);
        match TlvPacket::new_checked(rest) {
            Ok(packet) => {
                let total = packet.total_len();
                let exact = TlvPacket {
                    buffer: rest.get(..total).unwrap_or(&[]),
                };
                self.offset = offset + total;
                Some(Ok((offset, exact)))
            }
            Err(_) => {
                self.failed = true;
                Some(Err(Error::BadTlv { offset }))
            }
        }
    }
}

/// Class of Service TLV value (RFC 8972 section 4.4).
///
/// ```text
/// |   DSCP1   |   DSCP2   |ECN| RP|           Reserved            |
/// ```
///
/// The sender sets DSCP1 (the DSCP it asks the reflector to use on the reply);
/// the reflector fills DSCP2 and ECN with what it received and RP with its
/// reverse-path report. Values wider than their field are masked on emit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ClassOfService {
    /// DSCP for the reflected packet (6 bits).
    pub dscp1: u8,
    /// DSCP of the test packet as received by the reflector (6 bits).
    pub dscp2: u8,
    /// ECN of the test packet as received by the reflector (2 bits).
    pub ecn: u8,
    /// Reverse Path (2 bits): 0 when DSCP1 was used on the reply.
    pub rp: u8,
}

impl ClassOfService {
    /// Octets of the value.
    pub const LEN: usize = field::COS_LEN;

    fn parse(value: &[u8]) -> Option<Self> {
        if value.len() != Self::LEN {
            return None;
        }
        let word = get_u32(value, 0);
        let bits = |shift: u32, mask: u32| ((word >> shift) & mask) as u8;
        Some(ClassOfService {
            dscp1: bits(field::COS_DSCP1_SHIFT, 0x3f),
            dscp2: bits(field::COS_DSCP2_SHIFT, 0x3f),
            ecn: bits(field::COS_ECN_SHIFT, 0x3),
            rp: bits(field::COS_RP_SHIFT, 0x3),
        })
    }

    pub(crate) fn emit(&self, value: &mut [u8]) {
        let word = (u32::from(self.dscp1 & 0x3f) << field::COS_DSCP1_SHIFT)
            | (u32::from(self.dscp2 & 0x3f) << field::COS_DSCP2_SHIFT)
            | (u32::from(self.ecn & 0x3) << field::COS_ECN_SHIFT)
            | (u32::from(self.rp & 0x3) << field::COS_RP_SHIFT);
        put_u32(value, 0, word);
    }
}

/// Timestamp Information TLV value (RFC 8972 section 4.3): how the reflector
/// took its receive (in) and transmit (out) timestamps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TimestampInfo {
    /// Synchronization source of the ingress clock ([`sync_source`]).
    pub sync_src_in: u8,
    /// Timestamping method at ingress ([`timestamp_method`]).
    pub timestamp_in: u8,
    /// Synchronization source of the egress clock.
    pub sync_src_out: u8,
    /// Timestamping method at egress.
    pub timestamp_out: u8,
    /// Optional sub-TLVs, kept as octets.
    pub sub_tlvs: Vec<u8>,
}

impl TimestampInfo {
    /// Octets of the value without sub-TLVs.
    pub const MIN_LEN: usize = field::TSI_SUB_TLVS;

    fn parse(value: &[u8]) -> Option<Self> {
        if value.len() < Self::MIN_LEN {
            return None;
        }
        Some(TimestampInfo {
            sync_src_in: get_u8(value, field::TSI_SYNC_IN),
            timestamp_in: get_u8(value, field::TSI_METHOD_IN),
            sync_src_out: get_u8(value, field::TSI_SYNC_OUT),
            timestamp_out: get_u8(value, field::TSI_METHOD_OUT),
            sub_tlvs: slice(value, field::TSI_SUB_TLVS..value.len()).to_vec(),
        })
    }

    /// Writes the four fixed octets, leaving any sub-TLV octets alone.
    pub(crate) fn emit_fixed(&self, value: &mut [u8]) {
        put_u8(value, field::TSI_SYNC_IN, self.sync_src_in);
        put_u8(value, field::TSI_METHOD_IN, self.timestamp_in);
        put_u8(value, field::TSI_SYNC_OUT, self.sync_src_out);
        put_u8(value, field::TSI_METHOD_OUT, self.timestamp_out);
    }
}

/// Follow-Up Telemetry TLV value (RFC 8972 section 4.7): the reflector's
/// sequence number and actual transmit timestamp of the packet it reflected
/// before this one in the session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FollowUpTelemetry {
    /// Reflector sequence number of the previous reflected packet.
    pub sequence_number: u32,
    /// Transmit timestamp of that packet (format per this packet's Z bit).
    pub timestamp: Timestamp,
    /// Timestamping method of that timestamp ([`timestamp_method`]).
    pub timestamp_mode: u8,
}

impl FollowUpTelemetry {
    /// Octets of the value.
    pub const LEN: usize = field::FUT_LEN;

    fn parse(value: &[u8]) -> Option<Self> {
        if value.len() != Self::LEN {
            return None;
        }
        Some(FollowUpTelemetry {
            sequence_number: get_u32(value, field::FUT_SEQ),
            timestamp: Timestamp::from_bytes(slice(value, field::FUT_TIMESTAMP)),
            timestamp_mode: get_u8(value, field::FUT_MODE),
        })
    }

    pub(crate) fn emit(&self, value: &mut [u8]) {
        put_u32(value, field::FUT_SEQ, self.sequence_number);
        put_bytes(
            value,
            field::FUT_TIMESTAMP.start,
            &self.timestamp.to_bytes(),
        );
        put_u8(value, field::FUT_MODE, self.timestamp_mode);
        zero(value, field::FUT_RESERVED);
    }
}

/// What a TLV carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TlvBody {
    /// Extra Padding: the octets are kept so an echo is byte-exact.
    ExtraPadding(Vec<u8>),
    /// Timestamp Information.
    TimestampInfo(TimestampInfo),
    /// Class of Service.
    ClassOfService(ClassOfService),
    /// Follow-Up Telemetry.
    FollowUpTelemetry(FollowUpTelemetry),
    /// HMAC over the base packet's Sequence Number and the TLVs before this one.
    Hmac([u8; HMAC_LEN]),
    /// Any other type, or a known type whose length is wrong for it; kept as
    /// octets so it can be echoed.
    Other {
        /// Type octet.
        tlv_type: u8,
        /// Value octets.
        value: Vec<u8>,
    },
}

/// One TLV: flags and body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tlv {
    /// U, M, I and reserved bits.
    pub flags: TlvFlags,
    /// Type and value.
    pub body: TlvBody,
}

impl Tlv {
    /// A TLV with no flags set.
    pub fn new(body: TlvBody) -> Self {
        Tlv {
            flags: TlvFlags::default(),
            body,
        }
    }

    /// Type octet.
    pub fn tlv_type(&self) -> u8 {
        match &self.body {
            TlvBody::ExtraPadding(_) => tlv_type::EXTRA_PADDING,
            TlvBody::TimestampInfo(_) => tlv_type::TIMESTAMP_INFO,
            TlvBody::ClassOfService(_) => tlv_type::CLASS_OF_SERVICE,
            TlvBody::FollowUpTelemetry(_) => tlv_type::FOLLOW_UP_TELEMETRY,
            TlvBody::Hmac(_) => tlv_type::HMAC,
            TlvBody::Other { tlv_type, .. } => *tlv_type,
        }
    }

    /// Octets of the value.
    pub fn value_len(&self) -> usize {
        match &self.body {
            TlvBody::ExtraPadding(pad) => pad.len(),
            TlvBody::TimestampInfo(info) => TimestampInfo::MIN_LEN + info.sub_tlvs.len(),
            TlvBody::ClassOfService(_) => ClassOfService::LEN,
            TlvBody::FollowUpTelemetry(_) => FollowUpTelemetry::LEN,
            TlvBody::Hmac(_) => HMAC_LEN,
            TlvBody::Other { value, .. } => value.len(),
        }
    }

    /// Octets of header and value.
    pub fn buffer_len(&self) -> usize {
        TLV_HEADER_LEN + self.value_len()
    }

    /// Reads a checked TLV. A known type whose length is wrong for it becomes
    /// [`TlvBody::Other`], so nothing is lost.
    pub fn parse<T: AsRef<[u8]>>(packet: &TlvPacket<T>) -> Self {
        let value = packet.value();
        let kind = packet.tlv_type();
        let known = match kind {
            tlv_type::EXTRA_PADDING => Some(TlvBody::ExtraPadding(value.to_vec())),
            tlv_type::TIMESTAMP_INFO => TimestampInfo::parse(value).map(TlvBody::TimestampInfo),
            tlv_type::CLASS_OF_SERVICE => ClassOfService::parse(value).map(TlvBody::ClassOfService),
            tlv_type::FOLLOW_UP_TELEMETRY => {
                FollowUpTelemetry::parse(value).map(TlvBody::FollowUpTelemetry)
            }
            tlv_type::HMAC => <[u8; HMAC_LEN]>::try_from(value).ok().map(TlvBody::Hmac),
            _ => None,
        };
        Tlv {
            flags: packet.flags(),
            body: known.unwrap_or_else(|| TlvBody::Other {
                tlv_type: kind,
                value: value.to_vec(),
            }),
        }
    }

    /// Writes header and value at the start of `buf`; returns the octets
    /// written. An HMAC value is written as stored; the packet `emit`s
    /// ([`super::SenderRepr::emit`], [`super::ReflectorRepr::emit`]) compute it
    /// when given a key.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let value_len = self.value_len();
        let length = u16::try_from(value_len).map_err(|_| Error::BadLength)?;
        let total = TLV_HEADER_LEN + value_len;
        check_room(buf.len(), total)?;
        put_u8(buf, field::FLAGS, self.flags.bits());
        put_u8(buf, field::TYPE, self.tlv_type());
        put_u16(buf, field::LENGTH.start, length);
        let value = buf.get_mut(field::VALUE..total).unwrap_or(&mut []);
        match &self.body {
            TlvBody::ExtraPadding(pad) => put_bytes(value, 0, pad),
            TlvBody::TimestampInfo(info) => {
                info.emit_fixed(value);
                put_bytes(value, field::TSI_SUB_TLVS, &info.sub_tlvs);
            }
            TlvBody::ClassOfService(cos) => cos.emit(value),
            TlvBody::FollowUpTelemetry(fut) => fut.emit(value),
            TlvBody::Hmac(mac) => put_bytes(value, 0, mac),
            TlvBody::Other { value: octets, .. } => put_bytes(value, 0, octets),
        }
        Ok(total)
    }
}

/// Parses a whole TLV area strictly: any malformed header or length is
/// [`Error::BadTlv`].
pub fn parse_tlvs(area: &[u8]) -> Result<Vec<Tlv>> {
    TlvIter::new(area)
        .map(|item| item.map(|(_, packet)| Tlv::parse(&packet)))
        .collect()
}

/// Octets that `tlvs` take on the wire.
pub(crate) fn tlvs_len(tlvs: &[Tlv]) -> usize {
    tlvs.iter().map(Tlv::buffer_len).sum()
}

/// Writes `tlvs` into `area`. With a key, each HMAC TLV gets the HMAC of
/// `seq` (the base packet's Sequence Number octets) and the TLV octets before it.
pub(crate) fn emit_tlvs(
    tlvs: &[Tlv],
    area: &mut [u8],
    seq: [u8; 4],
    key: Option<HmacKey<'_>>,
) -> Result<usize> {
    let mut offset = 0;
    for tlv in tlvs {
        let rest = area.get_mut(offset..).unwrap_or(&mut []);
        let written = tlv.emit(rest)?;
        if let (TlvBody::Hmac(_), Some(key)) = (&tlv.body, key) {
            write_hmac_tlv_value(area, offset, seq, key)?;
        }
        offset += written;
    }
    Ok(offset)
}

/// Computes the HMAC for the HMAC TLV at `offset` of `area` and writes it into
/// that TLV's value.
pub(crate) fn write_hmac_tlv_value(
    area: &mut [u8],
    offset: usize,
    seq: [u8; 4],
    key: HmacKey<'_>,
) -> Result<()> {
    let mac = auth::tag(key, &[&seq, slice(area, 0..offset)])?;
    put_bytes(area, offset + field::VALUE, &mac);
    Ok(())
}

/// Verifies every HMAC TLV in `area` against `seq` and the TLVs before it.
/// An HMAC TLV of the wrong length fails verification.
pub(crate) fn verify_tlv_hmacs(area: &[u8], seq: [u8; 4], key: HmacKey<'_>) -> Result<()> {
    for item in TlvIter::new(area) {
        let (offset, packet) = item?;
        if packet.tlv_type() != tlv_type::HMAC {
            continue;
        }
        if packet.value().len() != HMAC_LEN {
            return Err(Error::AuthFailed);
        }
        auth::verify(key, &[&seq, slice(area, 0..offset)], packet.value())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterator_reports_overrun_once() {
        // A 4-octet TLV, then a header announcing 8 octets with only 2 present.
        let area = [0, 1, 0, 0, 0, 9, 0, 8, 0xaa, 0xbb];
        let mut iter = TlvIter::new(&area);
        assert!(matches!(iter.next(), Some(Ok((0, _)))));
        assert_eq!(
            iter.next().map(|r| r.err()),
            Some(Some(Error::BadTlv { offset: 4 }))
        );
        assert!(iter.next().is_none());
    }

    #[test]
    fn short_header_is_bad_tlv() {
        assert_eq!(parse_tlvs(&[0, 1, 0]), Err(Error::BadTlv { offset: 0 }));
    }

    #[test]
    fn known_type_with_wrong_length_is_kept_as_other() {
        let area = [0, tlv_type::CLASS_OF_SERVICE, 0, 3, 1, 2, 3];
        let tlvs = parse_tlvs(&area);
        assert_eq!(
            tlvs,
            Ok(vec![Tlv::new(TlvBody::Other {
                tlv_type: tlv_type::CLASS_OF_SERVICE,
                value: vec![1, 2, 3]
            })])
        );
    }
}
