//! The Session-Sender's test packet: which TLVs go in for what was asked, and
//! padding up to the requested size.
//!
//! Order: Class of Service (when a DSCP is asked for), Timestamp Information
//! (when asked for: the reflector reports its sync source and timestamping
//! methods in it), Follow-Up Telemetry
//! (so the next reply carries the accurate T3 of this one), Extra Padding up
//! to the size, and in authenticated mode an HMAC TLV last, covering the
//! TLVs before it. One to three octets that no TLV can fill are left as zero
//! octets at the end (reflectors echo them).

use crate::wire::{
    self, ClassOfService, ErrorEstimate, FollowUpTelemetry, HmacKey, Mode, SenderRepr, Timestamp,
    TimestampInfo, Tlv, TlvBody, HMAC_LEN, TLV_HEADER_LEN,
};

/// What the packets should carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketSpec {
    pub mode: Mode,
    pub ssid: u16,
    /// Total UDP payload; None: the smallest that holds what is asked.
    pub size: Option<usize>,
    /// DSCP to ask the reflector to use on replies (Class of Service TLV).
    pub dscp: Option<u8>,
    /// Ask for Follow-Up Telemetry.
    pub follow_up: bool,
    /// Ask the reflector how it keeps time and stamps (RFC 8972 Timestamp
    /// Information TLV; the sender's octets are zero, the reflector fills
    /// them).
    pub timestamp_info: bool,
}

/// Why the packet cannot be built as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("--size {size} is below the {min}-octet base packet of this mode")]
    BelowBase { size: usize, min: usize },
    #[error("--size {size} cannot hold the TLVs asked for (Class of Service for --dscp, Timestamp Information for --timestamp-info): at least {min}")]
    NoRoomForCos { size: usize, min: usize },
    #[error("--size {size} is above the largest UDP payload (65507)")]
    TooLarge { size: usize },
    #[error("packet encoding failed: {0}")]
    Encode(wire::Error),
}

/// Largest UDP payload over IPv4.
pub const MAX_SIZE: usize = 65_507;

const COS_LEN: usize = TLV_HEADER_LEN + ClassOfService::LEN;
const FUT_LEN: usize = TLV_HEADER_LEN + FollowUpTelemetry::LEN;
const HMAC_TLV_LEN: usize = TLV_HEADER_LEN + HMAC_LEN;
const TSI_LEN: usize = TLV_HEADER_LEN + TimestampInfo::MIN_LEN;

/// A sender packet ready to be stamped and numbered.
#[derive(Debug, Clone)]
pub struct PacketBuilder {
    repr: SenderRepr,
    /// Zero octets after the TLVs.
    tail: usize,
    /// Follow-Up Telemetry made it in.
    pub follow_up: bool,
    /// Adjustments made to fit the size, for the report.
    pub notes: Vec<String>,
}

impl PacketBuilder {
    pub fn new(spec: &PacketSpec) -> Result<PacketBuilder, PacketError> {
        let base = spec.mode.base_len();
        let auth = spec.mode == Mode::Authenticated;
        let cos = if spec.dscp.is_some() { COS_LEN } else { 0 };
        let tsi = if spec.timestamp_info { TSI_LEN } else { 0 };
        let asked = cos + tsi;
        let mac = |any_tlv: bool| if auth && any_tlv { HMAC_TLV_LEN } else { 0 };
        let with_fut = base + asked + FUT_LEN + mac(true);
        let without_fut = base + asked + mac(asked > 0);
        let size = spec.size.unwrap_or(if spec.follow_up {
            with_fut
        } else {
            without_fut
        });
        if size > MAX_SIZE {
            return Err(PacketError::TooLarge { size });
        }
        if size < base {
            return Err(PacketError::BelowBase { size, min: base });
        }
        if size < without_fut {
            return Err(PacketError::NoRoomForCos {
                size,
                min: without_fut,
            });
        }
        let mut notes = Vec::new();
        let follow_up = spec.follow_up && size >= with_fut;
        if spec.follow_up && !follow_up {
            notes.push(format!(
                "no Follow-Up Telemetry: {size} octets cannot hold it (needs {with_fut}); \
                 T3 is the reflector's estimate before sending"
            ));
        }
        let mut tlvs = Vec::new();
        if let Some(dscp) = spec.dscp {
            tlvs.push(Tlv::new(TlvBody::ClassOfService(ClassOfService {
                dscp1: dscp,
                ..ClassOfService::default()
            })));
        }
        if spec.timestamp_info {
            tlvs.push(Tlv::new(TlvBody::TimestampInfo(TimestampInfo::default())));
        }
        if follow_up {
            tlvs.push(Tlv::new(TlvBody::FollowUpTelemetry(
                FollowUpTelemetry::default(),
            )));
        }
        let used = if follow_up { with_fut } else { without_fut };
        // Padding goes before the HMAC TLV. With no other TLV, an HMAC TLV is
        // added only when there is room for it besides the padding (padding
        // alone needs no integrity).
        let mut mac = auth && !tlvs.is_empty();
        let mut rest = size - used;
        let mut tail = 0;
        if rest >= TLV_HEADER_LEN {
            if auth && tlvs.is_empty() && rest >= TLV_HEADER_LEN + HMAC_TLV_LEN {
                mac = true;
                rest -= HMAC_TLV_LEN;
            }
            tlvs.push(Tlv::new(TlvBody::ExtraPadding(vec![
                0;
                rest - TLV_HEADER_LEN
            ])));
        } else {
            tail = rest;
        }
        if mac {
            tlvs.push(Tlv::new(TlvBody::Hmac([0; HMAC_LEN])));
        }
        let repr = SenderRepr {
            mode: spec.mode,
            sequence_number: 0,
            timestamp: Timestamp::default(),
            error_estimate: ErrorEstimate::default(),
            ssid: spec.ssid,
            tlvs,
        };
        let builder = PacketBuilder {
            repr,
            tail,
            follow_up,
            notes,
        };
        debug_assert_eq!(builder.len(), size);
        Ok(builder)
    }

    /// Octets of each packet.
    pub fn len(&self) -> usize {
        self.repr.buffer_len() + self.tail
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn mode(&self) -> Mode {
        self.repr.mode
    }

    /// Writes packet `seq` sent at `t1` with `error_estimate` into `buf`;
    /// returns its length.
    pub fn write(
        &mut self,
        buf: &mut [u8],
        seq: u32,
        t1: Timestamp,
        error_estimate: ErrorEstimate,
        key: Option<HmacKey<'_>>,
    ) -> Result<usize, PacketError> {
        self.repr.sequence_number = seq;
        self.repr.timestamp = t1;
        self.repr.error_estimate = error_estimate;
        let n = self.repr.emit(buf, key).map_err(PacketError::Encode)?;
        let end = n + self.tail;
        match buf.get_mut(n..end) {
            Some(tail) => tail.fill(0),
            None => {
                return Err(PacketError::Encode(wire::Error::BufferTooSmall {
                    len: buf.len(),
                    needed: end,
                }))
            }
        }
        Ok(end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{SenderPacket, TlvIter};

    fn spec(mode: Mode, size: Option<usize>, dscp: Option<u8>, follow_up: bool) -> PacketSpec {
        PacketSpec {
            mode,
            ssid: 7,
            size,
            dscp,
            follow_up,
            timestamp_info: false,
        }
    }

    fn types(buf: &[u8], mode: Mode) -> Vec<u8> {
        let Ok(p) = SenderPacket::new_checked(buf, mode) else {
            return vec![];
        };
        TlvIter::new(p.tlv_bytes())
            .map_while(Result::ok)
            .map(|(_, t)| t.tlv_type())
            .collect()
    }

    #[test]
    fn default_sizes() -> Result<(), PacketError> {
        assert_eq!(
            PacketBuilder::new(&spec(Mode::Unauthenticated, None, None, false))?.len(),
            44
        );
        assert_eq!(
            PacketBuilder::new(&spec(Mode::Unauthenticated, None, None, true))?.len(),
            64
        );
        assert_eq!(
            PacketBuilder::new(&spec(Mode::Unauthenticated, None, Some(46), true))?.len(),
            72
        );
        assert_eq!(
            PacketBuilder::new(&spec(Mode::Authenticated, None, None, false))?.len(),
            112
        );
        assert_eq!(
            PacketBuilder::new(&spec(Mode::Authenticated, None, None, true))?.len(),
            152
        );
        Ok(())
    }

    #[test]
    fn timestamp_information_takes_eight_octets_before_follow_up() -> Result<(), PacketError> {
        let mut s = spec(Mode::Unauthenticated, None, None, true);
        s.timestamp_info = true;
        let mut b = PacketBuilder::new(&s)?;
        assert_eq!(b.len(), 72);
        let mut buf = vec![0u8; b.len()];
        b.write(
            &mut buf,
            1,
            Timestamp::default(),
            ErrorEstimate::default(),
            None,
        )?;
        assert_eq!(
            types(&buf, Mode::Unauthenticated),
            [
                wire::tlv_type::TIMESTAMP_INFO,
                wire::tlv_type::FOLLOW_UP_TELEMETRY
            ]
        );
        s.size = Some(47);
        assert!(matches!(
            PacketBuilder::new(&s),
            Err(PacketError::NoRoomForCos { min: 52, .. })
        ));
        Ok(())
    }

    #[test]
    fn every_size_is_exact_and_parses() -> Result<(), PacketError> {
        let key = HmacKey::new(b"k");
        for mode in [Mode::Unauthenticated, Mode::Authenticated] {
            for size in mode.base_len()..mode.base_len() + 60 {
                for (dscp, fut) in [(None, false), (None, true), (Some(10), true)] {
                    let Ok(mut b) = PacketBuilder::new(&spec(mode, Some(size), dscp, fut)) else {
                        continue;
                    };
                    let mut buf = [0u8; 512];
                    let n = b.write(
                        &mut buf,
                        3,
                        Timestamp::default(),
                        ErrorEstimate::default(),
                        Some(key),
                    )?;
                    assert_eq!(n, size, "{mode:?} {size} {dscp:?} {fut}");
                    let p =
                        SenderPacket::new_checked(&buf[..n], mode).map_err(PacketError::Encode)?;
                    assert_eq!(p.sequence_number(), 3);
                    assert_eq!(p.ssid(), 7);
                    match p.verify(key) {
                        // 1-3 zero octets after the TLVs are not a TLV.
                        Err(wire::Error::BadTlv { .. }) if b.tail > 0 => {}
                        other => other.map_err(PacketError::Encode)?,
                    }
                    let t = types(&buf[..n], mode);
                    if mode == Mode::Authenticated
                        && t.iter().any(|&ty| ty != wire::tlv_type::EXTRA_PADDING)
                    {
                        assert_eq!(t.last(), Some(&wire::tlv_type::HMAC), "HMAC TLV last");
                    }
                    assert_eq!(
                        t.contains(&wire::tlv_type::FOLLOW_UP_TELEMETRY),
                        b.follow_up
                    );
                }
            }
        }
        Ok(())
    }

    #[test]
    fn too_small_sizes_are_errors() {
        assert!(matches!(
            PacketBuilder::new(&spec(Mode::Unauthenticated, Some(20), None, false)),
            Err(PacketError::BelowBase { .. })
        ));
        assert!(matches!(
            PacketBuilder::new(&spec(Mode::Unauthenticated, Some(50), Some(1), false)),
            Err(PacketError::NoRoomForCos { .. })
        ));
        let b = PacketBuilder::new(&spec(Mode::Unauthenticated, Some(50), None, true));
        assert!(b.is_ok_and(|b| !b.follow_up && !b.notes.is_empty()));
    }
}
