//! HMAC-SHA-256 truncated to 128 bits, as STAMP authenticated mode (RFC 8762
//! sections 4.2.2 and 4.3.2) and the HMAC TLV (RFC 8972 section 4.8) use it.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{check_len, Error, Result};
use crate::bytes::{put_bytes, slice};

/// Octets of a STAMP HMAC (HMAC-SHA-256 truncated to 128 bits).
pub const HMAC_LEN: usize = 16;

/// A borrowed HMAC key. Its `Debug` output never shows the key.
#[derive(Clone, Copy)]
pub struct HmacKey<'a>(&'a [u8]);

impl<'a> HmacKey<'a> {
    /// Wraps key material; how keys are distributed is outside STAMP.
    pub const fn new(key: &'a [u8]) -> Self {
        HmacKey(key)
    }
}

impl core::fmt::Debug for HmacKey<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "HmacKey({} octets, redacted)", self.0.len())
    }
}

/// Octets of an authenticated base packet that its HMAC covers: the first six
/// 16-octet blocks, sender and reflector alike (RFC 8762 sections 4.2.2, 4.3.2).
pub(crate) const BASE_COVERED: core::ops::Range<usize> = 0..96;
/// Where the HMAC sits in an authenticated base packet.
pub(crate) const BASE_HMAC: core::ops::Range<usize> = 96..112;

/// Writes the base-packet HMAC of an authenticated packet in `buf`.
pub(crate) fn seal_base(buf: &mut [u8], key: HmacKey<'_>) -> Result<()> {
    let mac = tag(key, &[slice(buf, BASE_COVERED)])?;
    put_bytes(buf, BASE_HMAC.start, &mac);
    Ok(())
}

/// Checks the base-packet HMAC of an authenticated packet in `buf`.
pub(crate) fn check_base(buf: &[u8], key: HmacKey<'_>) -> Result<()> {
    check_len(buf.len(), BASE_HMAC.end)?;
    verify(key, &[slice(buf, BASE_COVERED)], slice(buf, BASE_HMAC))
}

/// HMAC-SHA-256-128 over the concatenation of `parts`.
pub(crate) fn tag(key: HmacKey<'_>, parts: &[&[u8]]) -> Result<[u8; HMAC_LEN]> {
    // HMAC takes keys of any length, so this error cannot occur; it is mapped
    // rather than unwrapped all the same.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.0).map_err(|_| Error::AuthFailed)?;
    for part in parts {
        mac.update(part);
    }
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; HMAC_LEN];
    if let Some(head) = full.get(..HMAC_LEN) {
        out.copy_from_slice(head);
    }
    Ok(out)
}

/// Checks `received` against the HMAC of `parts` in constant time.
pub(crate) fn verify(key: HmacKey<'_>, parts: &[&[u8]], received: &[u8]) -> Result<()> {
    let expected = tag(key, parts)?;
    if bool::from(expected.as_slice().ct_eq(received)) {
        Ok(())
    } else {
        Err(Error::AuthFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_rfc4231_case_2_truncated() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let t = tag(
            HmacKey::new(b"Jefe"),
            &[b"what do ya ", b"want for nothing?"],
        );
        let expected = [
            0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95,
            0x75, 0xc7,
        ];
        assert_eq!(t, Ok(expected));
        assert_eq!(
            verify(
                HmacKey::new(b"Jefe"),
                &[b"what do ya want for nothing?"],
                &expected
            ),
            Ok(())
        );
        let mut flipped = expected;
        flipped[15] ^= 1;
        assert_eq!(
            verify(
                HmacKey::new(b"Jefe"),
                &[b"what do ya want for nothing?"],
                &flipped
            ),
            Err(Error::AuthFailed)
        );
    }

    #[test]
    fn debug_hides_the_key() {
        let shown = format!("{:?}", HmacKey::new(b"secret"));
        assert!(!shown.contains("secret"));
    }
}
