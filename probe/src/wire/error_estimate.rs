//! The Error Estimate field (RFC 4656 section 4.1.2, Z bit from RFC 8186): how
//! far a timestamp may be off, and which timestamp format it uses.

use core::time::Duration;

use super::{Error, Result, TimestampFormat};

const S_BIT: u8 = 0x80;
const Z_BIT: u8 = 0x40;
const SCALE_MASK: u8 = 0x3f;
const MAX_SCALE: u8 = 63;
const NANOS_PER_SEC: u128 = 1_000_000_000;

/// The 16-bit Error Estimate: S bit, Z bit, 6-bit Scale, 8-bit Multiplier.
///
/// ```text
///  0                   1
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |S|Z|   Scale   |   Multiplier  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// The error is `Multiplier * 2^(-32) * 2^Scale` seconds. A multiplier of 0 is
/// legal on the wire (it claims a perfect clock); [`ErrorEstimate::from_error`]
/// never produces one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorEstimate {
    synchronized: bool,
    ptp: bool,
    scale: u8,
    multiplier: u8,
}

impl Default for ErrorEstimate {
    /// Unsynchronized NTP-format timestamps with the largest error the field can
    /// state: the honest value when nothing is known about the clock.
    fn default() -> Self {
        ErrorEstimate::MAX_UNSYNCHRONIZED
    }
}

impl ErrorEstimate {
    /// Octets of the field on the wire.
    pub const LEN: usize = 2;

    /// Unsynchronized, NTP format, the largest representable error.
    pub const MAX_UNSYNCHRONIZED: ErrorEstimate = ErrorEstimate {
        synchronized: false,
        ptp: false,
        scale: MAX_SCALE,
        multiplier: u8::MAX,
    };

    /// Builds a field from its parts; the scale must fit 6 bits.
    pub fn new(synchronized: bool, ptp: bool, scale: u8, multiplier: u8) -> Result<Self> {
        if scale > MAX_SCALE {
            return Err(Error::BadValue);
        }
        Ok(ErrorEstimate {
            synchronized,
            ptp,
            scale,
            multiplier,
        })
    }

    /// Reads the 16-bit wire value (every value is valid).
    pub const fn from_bits(bits: u16) -> Self {
        let [hi, lo] = bits.to_be_bytes();
        ErrorEstimate {
            synchronized: hi & S_BIT != 0,
            ptp: hi & Z_BIT != 0,
            scale: hi & SCALE_MASK,
            multiplier: lo,
        }
    }

    /// The 16-bit wire value.
    pub const fn to_bits(self) -> u16 {
        let mut hi = self.scale & SCALE_MASK;
        if self.synchronized {
            hi |= S_BIT;
        }
        if self.ptp {
            hi |= Z_BIT;
        }
        u16::from_be_bytes([hi, self.multiplier])
    }

    /// The smallest representable estimate that is at least `error`, so the
    /// field never claims a better clock than the caller knows it has.
    ///
    /// The multiplier is never 0: a zero error becomes 2^-32 s (about 0.23 ns).
    /// Errors beyond the largest representable value (255 * 2^31 s, about
    /// 17,000 years) saturate to it; that is the only case where the result is
    /// below `error`.
    pub fn from_error(error: Duration, synchronized: bool, ptp: bool) -> Self {
        // Error in units of 2^-32 s, rounded up.
        let nanos = error.as_nanos();
        let units = (nanos << 32).div_ceil(NANOS_PER_SEC).max(1);
        let mut best: Option<(u128, u8, u8)> = None;
        for scale in 0..=MAX_SCALE {
            let step = 1u128 << scale;
            let multiplier = units.div_ceil(step);
            let Ok(multiplier) = u8::try_from(multiplier) else {
                continue;
            };
            let value = u128::from(multiplier) << scale;
            if best.is_none_or(|(v, _, _)| value < v) {
                best = Some((value, scale, multiplier));
            }
        }
        let (scale, multiplier) = match best {
            Some((_, scale, multiplier)) => (scale, multiplier),
            None => (MAX_SCALE, u8::MAX),
        };
        ErrorEstimate {
            synchronized,
            ptp,
            scale,
            multiplier,
        }
    }

    /// The stated error, rounded up to whole nanoseconds.
    pub fn error(self) -> Duration {
        let units = u128::from(self.multiplier) << self.scale;
        let nanos = (units * NANOS_PER_SEC).div_ceil(1u128 << 32);
        let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
        // The remainder is below 10^9, so it fits.
        let subsec = u32::try_from(nanos % NANOS_PER_SEC).unwrap_or(0);
        Duration::new(secs, subsec)
    }

    /// S bit: the clock is synchronized to UTC by an external source.
    pub const fn synchronized(self) -> bool {
        self.synchronized
    }

    /// Z bit: timestamps are in the PTPv2 truncated format.
    pub const fn ptp(self) -> bool {
        self.ptp
    }

    /// The timestamp format the Z bit selects.
    pub const fn timestamp_format(self) -> TimestampFormat {
        if self.ptp {
            TimestampFormat::Ptp
        } else {
            TimestampFormat::Ntp
        }
    }

    /// Scale (6 bits).
    pub const fn scale(self) -> u8 {
        self.scale
    }

    /// Multiplier (8 bits).
    pub const fn multiplier(self) -> u8 {
        self.multiplier
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_every_value() {
        for bits in 0..=u16::MAX {
            assert_eq!(ErrorEstimate::from_bits(bits).to_bits(), bits);
        }
    }

    #[test]
    fn one_second_is_exact() {
        let ee = ErrorEstimate::from_error(Duration::from_secs(1), true, false);
        // 1 s = 2^32 units = 128 * 2^25 = 64 * 2^26 ...; the lowest scale wins ties.
        assert_eq!((ee.scale(), ee.multiplier()), (25, 128));
        assert!(ee.synchronized());
        assert_eq!(ee.error(), Duration::from_secs(1));
    }

    #[test]
    fn zero_error_has_nonzero_multiplier() {
        let ee = ErrorEstimate::from_error(Duration::ZERO, false, false);
        assert_eq!((ee.scale(), ee.multiplier()), (0, 1));
        assert_eq!(ee.error(), Duration::from_nanos(1));
    }

    #[test]
    fn huge_error_saturates() {
        let ee = ErrorEstimate::from_error(Duration::MAX, false, true);
        assert_eq!((ee.scale(), ee.multiplier()), (63, 255));
        assert!(ee.ptp());
        assert_eq!(ee.error(), Duration::from_secs(255 << 31));
    }

    #[test]
    fn scale_above_six_bits_is_rejected() {
        assert_eq!(
            ErrorEstimate::new(false, false, 64, 1),
            Err(Error::BadValue)
        );
    }
}
