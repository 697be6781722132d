//! Building a reflected packet from a received Session-Sender packet: the pure
//! part of a stateful reflector. The caller brings everything that needs a
//! clock, a socket or session state.
//!
//! Rules applied (RFC 8762 section 4.3, RFC 8972 section 4):
//!
//! - The reply is as long as the request (symmetric size, never larger), except
//!   that an unauthenticated request shorter than 44 octets but at least
//!   [`TWAMP_LIGHT_MIN_LEN`] (TWAMP-light senders) gets a 44-octet base reply.
//!   Its SSID is 0: in such packets the octets after the Error Estimate are
//!   TWAMP padding, not an SSID. Authenticated requests must hold the full
//!   112-octet base.
//! - Authenticated mode: the request's base HMAC must verify or the request is
//!   refused with [`Error::AuthFailed`]; the reply's HMAC is computed.
//! - TLVs are copied in order, octet for octet, then: Extra Padding is echoed;
//!   Class of Service gets DSCP2/ECN as received and the caller's RP, DSCP1
//!   kept; Timestamp Information gets the caller's four fields (sub-TLVs
//!   echoed); Follow-Up Telemetry gets the caller's previous-packet values
//!   (zero when there is none); a known type with a length wrong for it gets
//!   the M flag; any other type gets the U flag.
//! - HMAC TLVs are handled when a key is given (else they are unrecognized, U
//!   flag): if one in the request fails to verify, every TLV of the reply gets
//!   the I flag and none is filled; each reply HMAC TLV is recomputed over the
//!   reply's Sequence Number and the TLVs before it.
//! - A TLV whose Length runs past the end gets the M flag and ends the walk; the
//!   rest is echoed as received. One to three trailing octets that cannot hold
//!   a header are echoed as received.

use super::auth::{self, HmacKey, HMAC_LEN};
use super::tlv::{
    self, tlv_type, ClassOfService, FollowUpTelemetry, TimestampInfo, TlvFlags, TLV_HEADER_LEN,
};
use super::{
    check_room, Error, ErrorEstimate, Mode, ReflectorPacket, Result, SenderPacket, Timestamp,
};
use crate::bytes::{get_array, get_u16, get_u32, get_u8, put_bytes, put_u8, slice, zero};

/// Shortest unauthenticated request reflected: Sequence Number, Timestamp and
/// Error Estimate, the sender fields a reply carries back (14 octets).
pub const TWAMP_LIGHT_MIN_LEN: usize = 14;

/// What the reflector knows about a request that the request itself does not
/// carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReflectParams {
    /// The reflector's own Sequence Number for this reply.
    pub sequence_number: u32,
    /// When the request arrived (T2).
    pub receive_timestamp: Timestamp,
    /// When the reply leaves (T3), or the best estimate before sending.
    pub transmit_timestamp: Timestamp,
    /// The reflector's Error Estimate (its Z bit must match T2 and T3).
    pub error_estimate: ErrorEstimate,
    /// TTL or Hop Limit of the request as received.
    pub received_ttl: u8,
    /// DSCP of the request as received (6 bits).
    pub received_dscp: u8,
    /// ECN of the request as received (2 bits).
    pub received_ecn: u8,
    /// RP for the Class of Service TLV: 0 when the reply uses DSCP1.
    pub reverse_path: u8,
    /// Timestamp Information to report; `sub_tlvs` is ignored (the request's
    /// sub-TLVs are echoed).
    pub timestamp_info: TimestampInfo,
    /// The previous reply of this session, for Follow-Up Telemetry.
    pub follow_up: Option<FollowUpTelemetry>,
}

/// Length of the reply to a request of `request_len` octets, or
/// [`Error::Truncated`] if the request is too short to reflect.
pub fn reply_len(request_len: usize, mode: Mode) -> Result<usize> {
    let min = match mode {
        Mode::Unauthenticated => TWAMP_LIGHT_MIN_LEN,
        Mode::Authenticated => mode.base_len(),
    };
    if request_len < min {
        return Err(Error::Truncated {
            len: request_len,
            min,
        });
    }
    Ok(request_len.max(mode.base_len()))
}

/// Writes the reply to `request` at the start of `out` and returns its length
/// ([`reply_len`]). `key` is required in authenticated mode and, in either
/// mode, enables HMAC TLV handling.
pub fn reflect(
    request: &[u8],
    mode: Mode,
    key: Option<HmacKey<'_>>,
    params: &ReflectParams,
    out: &mut [u8],
) -> Result<usize> {
    let len = reply_len(request.len(), mode)?;
    if mode == Mode::Authenticated {
        let key = key.ok_or(Error::MissingKey)?;
        auth::check_base(request, key)?;
    }
    check_room(out.len(), len)?;
    let out = out.get_mut(..len).unwrap_or(&mut []);
    out.fill(0);

    let (sender_seq, sender_ts, sender_ee, ssid) = match SenderPacket::new_checked(request, mode) {
        Ok(p) => (
            p.sequence_number(),
            p.timestamp(),
            p.error_estimate(),
            p.ssid(),
        ),
        // Only a short unauthenticated (TWAMP-light) request gets here.
        Err(_) => (
            get_u32(request, 0),
            Timestamp::from_bytes(slice(request, 4..12)),
            ErrorEstimate::from_bits(get_u16(request, 12)),
            0,
        ),
    };

    let mut reply = ReflectorPacket::new_checked(&mut *out, mode)?;
    reply.set_sequence_number(params.sequence_number);
    reply.set_timestamp(params.transmit_timestamp);
    reply.set_error_estimate(params.error_estimate);
    reply.set_ssid(ssid);
    reply.set_receive_timestamp(params.receive_timestamp);
    reply.set_sender_sequence_number(sender_seq);
    reply.set_sender_timestamp(sender_ts);
    reply.set_sender_error_estimate(sender_ee);
    reply.set_sender_ttl(params.received_ttl);

    let base = mode.base_len();
    if request.len() > base {
        let request_area = slice(request, base..request.len());
        let area = out.get_mut(base..).unwrap_or(&mut []);
        put_bytes(area, 0, request_area);
        let integrity_failed = match key {
            Some(key) => {
                let seq = get_array(request, 0);
                tlv::verify_tlv_hmacs(request_area, seq, key) == Err(Error::AuthFailed)
            }
            None => false,
        };
        fill_tlvs(
            area,
            params,
            key,
            integrity_failed,
            params.sequence_number.to_be_bytes(),
        )?;
    }

    if mode == Mode::Authenticated {
        if let Some(key) = key {
            auth::seal_base(out, key)?;
        }
    }
    Ok(len)
}

/// Walks the copied TLV area of a reply, setting flags and filling values.
fn fill_tlvs(
    area: &mut [u8],
    params: &ReflectParams,
    key: Option<HmacKey<'_>>,
    integrity_failed: bool,
    reply_seq: [u8; 4],
) -> Result<()> {
    let mut offset = 0;
    while offset < area.len() {
        let remaining = area.len() - offset;
        if remaining < TLV_HEADER_LEN {
            break;
        }
        let kind = get_u8(area, offset + 1);
        let length = usize::from(get_u16(area, offset + 2));
        let total = TLV_HEADER_LEN + length;
        if total > remaining {
            set_flags(area, offset, TlvFlags::MALFORMED);
            break;
        }
        let start = offset + TLV_HEADER_LEN;
        let end = offset + total;
        let mut recompute_hmac = false;
        let mut flags = 0;
        if integrity_failed {
            flags |= TlvFlags::INTEGRITY_FAILED;
        }
        match kind {
            tlv_type::EXTRA_PADDING => {}
            tlv_type::CLASS_OF_SERVICE if integrity_failed => {}
            tlv_type::CLASS_OF_SERVICE if length == ClassOfService::LEN => {
                let value = area.get_mut(start..end).unwrap_or(&mut []);
                let dscp1 = get_u8(value, 0) >> 2;
                ClassOfService {
                    dscp1,
                    dscp2: params.received_dscp,
                    ecn: params.received_ecn,
                    rp: params.reverse_path,
                }
                .emit(value);
            }
            tlv_type::TIMESTAMP_INFO if integrity_failed => {}
            tlv_type::TIMESTAMP_INFO if length >= TimestampInfo::MIN_LEN => {
                let value = area.get_mut(start..end).unwrap_or(&mut []);
                params.timestamp_info.emit_fixed(value);
            }
            tlv_type::FOLLOW_UP_TELEMETRY if integrity_failed => {}
            tlv_type::FOLLOW_UP_TELEMETRY if length == FollowUpTelemetry::LEN => {
                let value = area.get_mut(start..end).unwrap_or(&mut []);
                params.follow_up.unwrap_or_default().emit(value);
            }
            tlv_type::HMAC if key.is_none() => flags |= TlvFlags::UNRECOGNIZED,
            tlv_type::HMAC if length == HMAC_LEN => {
                zero(area, start..end);
                recompute_hmac = true;
            }
            tlv_type::CLASS_OF_SERVICE
            | tlv_type::TIMESTAMP_INFO
            | tlv_type::FOLLOW_UP_TELEMETRY
            | tlv_type::HMAC => flags |= TlvFlags::MALFORMED,
            _ => flags |= TlvFlags::UNRECOGNIZED,
        }
        set_flags(area, offset, flags);
        if let (true, Some(key)) = (recompute_hmac, key) {
            tlv::write_hmac_tlv_value(area, offset, reply_seq, key)?;
        }
        offset = end;
    }
    Ok(())
}

fn set_flags(area: &mut [u8], offset: usize, mask: u8) {
    let flags = TlvFlags::from_bits(get_u8(area, offset)).with(mask);
    put_u8(area, offset, flags.bits());
}
