//! STAMP timestamps: the 8 wire octets and their two readings, NTP 64-bit and
//! PTPv2 truncated, selected by the Z bit of the Error Estimate beside them.

use core::time::Duration;

use super::{Error, Result};
use crate::bytes::get_u32;

/// Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
pub const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

const NANOS_PER_SEC: u64 = 1_000_000_000;
const FRAC_PER_SEC: u64 = 1 << 32;

/// How the 8 octets of a timestamp are read (RFC 8762 section 4.2.1, Z bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampFormat {
    /// Z = 0: 32-bit seconds since 1900 and a 32-bit binary fraction of a second.
    Ntp,
    /// Z = 1: low 32 bits of the PTP seconds (epoch 1970) and 32-bit nanoseconds.
    Ptp,
}

/// The 8 octets of a STAMP timestamp as they are on the wire.
///
/// `fraction` is a binary fraction of a second (2^-32 s units) in the NTP format
/// and nanoseconds in the PTP format. Which one applies is not stored here: it is
/// the Z bit of the Error Estimate that travels with the timestamp.
///
/// NTP seconds wrap in 2036. Reading follows the usual pivot: a seconds value
/// below [`NTP_UNIX_OFFSET`] belongs to NTP era 1 (2036-02-07 onwards), so the
/// 32-bit field covers Unix seconds `0..2^32` (1970 to 2106) one to one.
///
/// PTP seconds are taken as given: the PTP timescale is TAI, and converting from
/// a UTC clock (adding the TAI-UTC offset) is the caller's business, as the
/// codec knows no clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Timestamp {
    /// Seconds field (first 4 octets).
    pub seconds: u32,
    /// Fraction or nanoseconds field (last 4 octets).
    pub fraction: u32,
}

impl Timestamp {
    /// Octets of a timestamp on the wire.
    pub const LEN: usize = 8;

    /// Reads a timestamp from the first 8 octets of `bytes` (zero if shorter).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Timestamp {
            seconds: get_u32(bytes, 0),
            fraction: get_u32(bytes, 4),
        }
    }

    /// The 8 wire octets.
    pub fn to_bytes(self) -> [u8; 8] {
        let mut out = [0u8; 8];
        let (secs, frac) = out.split_at_mut(4);
        secs.copy_from_slice(&self.seconds.to_be_bytes());
        frac.copy_from_slice(&self.fraction.to_be_bytes());
        out
    }

    /// Encodes `secs` and `nanos` since the Unix epoch.
    ///
    /// Errors with [`Error::BadTimestamp`] if `nanos` is not below 10^9 or the
    /// time does not fit the format: NTP covers Unix seconds `0..2^32`; PTP keeps
    /// the low 32 bits of the seconds, so it accepts the same range to stay
    /// reversible.
    pub fn from_unix(format: TimestampFormat, secs: u64, nanos: u32) -> Result<Self> {
        if u64::from(nanos) >= NANOS_PER_SEC {
            return Err(Error::BadTimestamp);
        }
        let seconds = u32::try_from(secs).map_err(|_| Error::BadTimestamp)?;
        match format {
            TimestampFormat::Ntp => {
                let ntp = (secs + NTP_UNIX_OFFSET) % FRAC_PER_SEC;
                // Round to the nearest 2^-32 s; below 1 s this never reaches 2^32.
                let frac = (u64::from(nanos) * FRAC_PER_SEC + NANOS_PER_SEC / 2) / NANOS_PER_SEC;
                Ok(Timestamp {
                    seconds: u32::try_from(ntp).map_err(|_| Error::BadTimestamp)?,
                    fraction: u32::try_from(frac).map_err(|_| Error::BadTimestamp)?,
                })
            }
            TimestampFormat::Ptp => Ok(Timestamp {
                seconds,
                fraction: nanos,
            }),
        }
    }

    /// Encodes a time given as a [`Duration`] since the Unix epoch.
    pub fn from_duration(format: TimestampFormat, since_epoch: Duration) -> Result<Self> {
        Self::from_unix(format, since_epoch.as_secs(), since_epoch.subsec_nanos())
    }

    /// Decodes to `(secs, nanos)` since the Unix epoch, nanoseconds rounded to
    /// the nearest (at most 999,999,999).
    ///
    /// Errors with [`Error::BadTimestamp`] for a PTP nanoseconds field of 10^9
    /// or more (not a valid PTP timestamp).
    pub fn to_unix(self, format: TimestampFormat) -> Result<(u64, u32)> {
        match format {
            TimestampFormat::Ntp => {
                let ntp = u64::from(self.seconds);
                let secs = if ntp >= NTP_UNIX_OFFSET {
                    ntp - NTP_UNIX_OFFSET
                } else {
                    ntp + FRAC_PER_SEC - NTP_UNIX_OFFSET
                };
                // A fraction within half a nanosecond of the next second stays
                // in its own second, so every wire value reads back into the
                // range `from_unix` accepts.
                let nanos = ((u64::from(self.fraction) * NANOS_PER_SEC + FRAC_PER_SEC / 2)
                    / FRAC_PER_SEC)
                    .min(NANOS_PER_SEC - 1);
                let nanos = u32::try_from(nanos).map_err(|_| Error::BadTimestamp)?;
                Ok((secs, nanos))
            }
            TimestampFormat::Ptp => {
                if u64::from(self.fraction) >= NANOS_PER_SEC {
                    return Err(Error::BadTimestamp);
                }
                Ok((u64::from(self.seconds), self.fraction))
            }
        }
    }

    /// Decodes to a [`Duration`] since the Unix epoch.
    pub fn to_duration(self, format: TimestampFormat) -> Result<Duration> {
        let (secs, nanos) = self.to_unix(format)?;
        Ok(Duration::new(secs, nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_epoch_in_ntp_is_the_offset() {
        let ts = Timestamp::from_unix(TimestampFormat::Ntp, 0, 0).unwrap_or_default();
        assert_eq!(ts.seconds, 2_208_988_800);
        assert_eq!(ts.fraction, 0);
    }

    #[test]
    fn half_second_is_half_the_fraction_range() {
        let ts = Timestamp::from_unix(TimestampFormat::Ntp, 1, 500_000_000);
        assert_eq!(ts.map(|t| t.fraction), Ok(0x8000_0000));
    }

    #[test]
    fn ntp_era_one_reads_after_2036() {
        // NTP seconds 0 is 2036-02-07T06:28:16Z = Unix 2_085_978_496.
        let ts = Timestamp {
            seconds: 0,
            fraction: 0,
        };
        assert_eq!(ts.to_unix(TimestampFormat::Ntp), Ok((2_085_978_496, 0)));
    }

    #[test]
    fn fraction_just_below_a_second_stays_in_its_second() {
        let ts = Timestamp {
            seconds: 2_208_988_800,
            fraction: u32::MAX,
        };
        assert_eq!(ts.to_unix(TimestampFormat::Ntp), Ok((0, 999_999_999)));
    }

    #[test]
    fn out_of_range_inputs_are_errors() {
        assert_eq!(
            Timestamp::from_unix(TimestampFormat::Ntp, 1 << 32, 0),
            Err(Error::BadTimestamp)
        );
        assert_eq!(
            Timestamp::from_unix(TimestampFormat::Ptp, 0, 1_000_000_000),
            Err(Error::BadTimestamp)
        );
        let bad_ptp = Timestamp {
            seconds: 1,
            fraction: 1_000_000_000,
        };
        assert_eq!(
            bad_ptp.to_unix(TimestampFormat::Ptp),
            Err(Error::BadTimestamp)
        );
    }
}
