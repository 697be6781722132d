//! What a reflector says of its clock and its stamps in the RFC 8972
//! Timestamp Information TLV of its replies (when the sender asked with
//! `--timestamp-info`): the sync source behind its receive and transmit
//! timestamps and how it took them. A reflector that does not know the TLV
//! flags it unrecognized, or echoes it unfilled (zero octets); both are
//! counted, not trusted.

use serde::Serialize;

use crate::wire::{self, tlv_type, Mode, ReflectorPacket, Tlv, TlvBody, TlvIter};

/// The reflector's clock as its replies report it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReflectorClock {
    /// The latest filled report (null: none yet).
    pub sync_source_in: Option<&'static str>,
    pub timestamp_in: Option<&'static str>,
    pub sync_source_out: Option<&'static str>,
    pub timestamp_out: Option<&'static str>,
    /// Replies whose TLV came back filled.
    pub reported: u64,
    /// Replies whose TLV was flagged (U, M, I), unfilled or missing.
    pub not_reported: u64,
}

fn sync_source_name(code: u8) -> Option<&'static str> {
    match code {
        wire::sync_source::NTP => Some("ntp"),
        wire::sync_source::PTP => Some("ptp"),
        wire::sync_source::SSU_BITS => Some("ssu-bits"),
        wire::sync_source::GNSS => Some("gnss"),
        wire::sync_source::LOCAL_FREE_RUNNING => Some("local-free-running"),
        _ => None,
    }
}

fn method_name(code: u8) -> Option<&'static str> {
    match code {
        wire::timestamp_method::HW_ASSIST => Some("hw-assist"),
        wire::timestamp_method::SW_LOCAL => Some("sw-local"),
        wire::timestamp_method::CONTROL_PLANE => Some("control-plane"),
        _ => None,
    }
}

impl ReflectorClock {
    /// Notes one reply (only replies that parse are looked at).
    pub fn note(&mut self, data: &[u8], mode: Mode) {
        let Ok(p) = ReflectorPacket::new_checked(data, mode) else {
            return;
        };
        let info = TlvIter::new(p.tlv_bytes())
            .map_while(Result::ok)
            .filter(|(_, t)| {
                t.tlv_type() == tlv_type::TIMESTAMP_INFO && t.flags().bits() & 0xe0 == 0
            })
            .find_map(|(_, t)| match Tlv::parse(&t).body {
                TlvBody::TimestampInfo(i) => Some(i),
                _ => None,
            });
        let named = info.and_then(|i| {
            Some((
                sync_source_name(i.sync_src_in)?,
                method_name(i.timestamp_in)?,
                sync_source_name(i.sync_src_out)?,
                method_name(i.timestamp_out)?,
            ))
        });
        match named {
            Some((sin, tin, sout, tout)) => {
                self.sync_source_in = Some(sin);
                self.timestamp_in = Some(tin);
                self.sync_source_out = Some(sout);
                self.timestamp_out = Some(tout);
                self.reported += 1;
            }
            None => self.not_reported += 1,
        }
    }
}
