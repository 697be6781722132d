//! The STAMP wire codec (RFC 8762, with the RFC 8972 SSID and TLVs), kept pure so
//! the session logic and the fuzzers can drive it without sockets or clocks.
//!
//! Shape follows smoltcp: each format has a zero-copy view (`*Packet<T>`) whose
//! `new_checked` checks the length once, after which no accessor can panic, and a
//! `*Repr` with `parse`, `emit` and `buffer_len`. Malformed input is an [`Error`]
//! value, never a panic.
//!
//! | format | view | repr |
//! | --- | --- | --- |
//! | Session-Sender test packet | [`SenderPacket`] | [`SenderRepr`] |
//! | Session-Reflector test packet | [`ReflectorPacket`] | [`ReflectorRepr`] |
//! | one TLV | [`TlvPacket`] | [`Tlv`] |
//!
//! [`reflect`] builds a reflected packet from a received one in place of a
//! stateful reflector's packet handling; the caller supplies every value that
//! needs a clock or a socket.

mod auth;
mod error_estimate;
mod reflect;
mod reflector;
mod sender;
mod timestamp;
mod tlv;

pub use auth::{HmacKey, HMAC_LEN};
pub use error_estimate::ErrorEstimate;
pub use reflect::{reflect, reply_len, ReflectParams, TWAMP_LIGHT_MIN_LEN};
pub use reflector::{ReflectorPacket, ReflectorRepr};
pub use sender::{SenderPacket, SenderRepr};
pub use timestamp::{Timestamp, TimestampFormat, NTP_UNIX_OFFSET};
pub use tlv::{
    parse_tlvs, sync_source, timestamp_method, tlv_type, ClassOfService, FollowUpTelemetry,
    TimestampInfo, Tlv, TlvBody, TlvFlags, TlvIter, TlvPacket, TLV_HEADER_LEN,
};

/// Well-known UDP port for STAMP (RFC 8762 section 4.1).
pub const STAMP_PORT: u16 = 862;

/// Octets of the unauthenticated base packet, sender and reflector alike.
pub const UNAUTH_BASE_LEN: usize = 44;
/// Octets of the authenticated base packet, sender and reflector alike.
pub const AUTH_BASE_LEN: usize = 112;

/// Errors of the STAMP codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input is shorter than the fixed part of its format.
    #[error("packet truncated: {len} octets, at least {min} needed")]
    Truncated { len: usize, min: usize },
    /// The output buffer cannot hold what is to be emitted.
    #[error("buffer too small: {len} octets, {needed} needed")]
    BufferTooSmall { len: usize, needed: usize },
    /// A value is too long for its 16-bit length field.
    #[error("value too long for a 16-bit length field")]
    BadLength,
    /// A TLV header is cut short or its Length runs past the end of the packet.
    #[error("malformed TLV at octet {offset} of the TLV area")]
    BadTlv { offset: usize },
    /// An HMAC (base packet or HMAC TLV) does not verify.
    #[error("HMAC verification failed")]
    AuthFailed,
    /// Authenticated mode needs a key and none was given.
    #[error("authenticated mode needs an HMAC key")]
    MissingKey,
    /// A timestamp cannot be represented in, or read from, the wire format.
    #[error("timestamp out of range for its format")]
    BadTimestamp,
    /// A field value does not fit its wire width.
    #[error("field value out of range")]
    BadValue,
}

/// Result of the STAMP codec.
pub type Result<T> = core::result::Result<T, Error>;

/// Which base layout a test packet uses (RFC 8762 sections 4.2 and 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// 44-octet base packet, no HMAC.
    Unauthenticated,
    /// 112-octet base packet ending in a 16-octet HMAC-SHA-256-128.
    Authenticated,
}

impl Mode {
    /// Octets of the base packet in this mode; TLVs start right after it.
    pub const fn base_len(self) -> usize {
        match self {
            Mode::Unauthenticated => UNAUTH_BASE_LEN,
            Mode::Authenticated => AUTH_BASE_LEN,
        }
    }
}

pub(crate) fn check_len(len: usize, min: usize) -> Result<()> {
    if len < min {
        Err(Error::Truncated { len, min })
    } else {
        Ok(())
    }
}

pub(crate) fn check_room(len: usize, needed: usize) -> Result<()> {
    if len < needed {
        Err(Error::BufferTooSmall { len, needed })
    } else {
        Ok(())
    }
}
