//! A test clock: an offset and a drift added to every timestamp this process
//! takes (user-space reads and kernel stamps alike), so lab tests can put two
//! probes on clocks that disagree, as real hosts do, while every namespace of
//! the lab shares one kernel clock.
//!
//! It is a test knob (`--test-clock-offset`, `--test-clock-drift`): a probe
//! running one says so in its hello, and stops claiming its kernel's boot id
//! (its clock is no longer the kernel's), so the controller neither trusts
//! it as a shared clock nor mistakes its data for a real host's.
//!
//! A stamp `t` (true time) reads `t + offset + drift · (t − t₀)`, where `t₀`
//! is when the knob was installed: the offset is exact at start and grows by
//! `drift` parts per billion of elapsed time after.

use std::sync::OnceLock;

use protocol::api::TestClock;

use crate::timestamping::Timestamp;

static INSTALLED: OnceLock<Skew> = OnceLock::new();

/// A test clock anchored at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skew {
    pub settings: TestClock,
    /// Nanoseconds since the epoch when the offset was exactly `offset_ns`.
    pub anchor_ns: i128,
}

impl Skew {
    /// What a clock so skewed reads at true time `ts` (never before the
    /// epoch).
    pub fn apply(&self, ts: Timestamp) -> Timestamp {
        let t = i128::try_from(ts.as_nanos()).unwrap_or(i128::MAX / 4);
        let elapsed = t - self.anchor_ns;
        let drift = elapsed * i128::from(self.settings.drift_ppb) / 1_000_000_000;
        let skewed = t + i128::from(self.settings.offset_ns) + drift;
        let ns = u128::try_from(skewed.max(0)).unwrap_or(0);
        let secs = u64::try_from(ns / 1_000_000_000).unwrap_or(u64::MAX);
        // ns % 1e9 < 1e9 fits in u32.
        let nanos = u32::try_from(ns % 1_000_000_000).unwrap_or(0);
        Timestamp::new(secs, nanos)
    }
}

/// Installs the test clock for the rest of the process; `false` when one
/// was already installed (the first stays). A zero offset and drift installs
/// nothing.
pub fn install(settings: TestClock, now: Timestamp) -> bool {
    if settings == TestClock::default() {
        return INSTALLED.get().is_none();
    }
    let anchor_ns = i128::try_from(now.as_nanos()).unwrap_or(0);
    INSTALLED
        .set(Skew {
            settings,
            anchor_ns,
        })
        .is_ok()
}

/// The installed test clock's settings, if any.
pub fn installed() -> Option<TestClock> {
    INSTALLED.get().map(|s| s.settings)
}

/// `ts` as the process's clock reads it: skewed when a test clock is
/// installed, unchanged otherwise.
#[inline]
pub fn apply(ts: Timestamp) -> Timestamp {
    match INSTALLED.get() {
        Some(skew) => skew.apply(ts),
        None => ts,
    }
}

/// Parses a signed duration for `--test-clock-offset` ("2.5ms", "-300us").
pub fn parse_offset(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let (negative, magnitude) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let d = crate::units::parse_duration(magnitude)?;
    let ns = i64::try_from(d.as_nanos())
        .ok()
        .filter(|&ns| ns <= 3_600_000_000_000)
        .ok_or_else(|| format!("{text:?}: a test clock offset is at most an hour"))?;
    Ok(if negative { -ns } else { ns })
}

/// Parses a drift for `--test-clock-drift` ("20ppm", "-500ppb"), in parts
/// per billion.
pub fn parse_drift(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let (number, scale) = if let Some(n) = t.strip_suffix("ppm") {
        (n, 1_000.0)
    } else if let Some(n) = t.strip_suffix("ppb") {
        (n, 1.0)
    } else {
        return Err(format!("{text:?}: give the drift in ppm or ppb (20ppm)"));
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number with ppm or ppb"))?;
    let ppb = value * scale;
    if !ppb.is_finite() || ppb.abs() > 1_000_000.0 {
        return Err(format!("{text:?}: a test clock drift is at most 1000ppm"));
    }
    // Bounded to ±1e6 above, so the cast is exact enough.
    #[allow(clippy::cast_possible_truncation)]
    Ok(ppb.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const T0: Duration = Duration::from_secs(1_700_000_000);

    fn skew(offset_ns: i64, drift_ppb: i64) -> Skew {
        Skew {
            settings: TestClock {
                offset_ns,
                drift_ppb,
            },
            anchor_ns: i128::try_from(T0.as_nanos()).unwrap(),
        }
    }

    #[test]
    fn offsets_shift_every_stamp_and_differences_survive() {
        let s = skew(2_500_000, 0);
        let (a, b) = (
            T0 + Duration::from_millis(3),
            T0 + Duration::from_millis(17),
        );
        assert_eq!(s.apply(a), a + Duration::from_micros(2_500));
        assert_eq!(
            s.apply(b) - s.apply(a),
            b - a,
            "intervals on one clock keep"
        );
        let behind = skew(-2_500_000, 0);
        assert_eq!(behind.apply(a), a - Duration::from_micros(2_500));
    }

    #[test]
    fn drift_grows_with_elapsed_time() {
        let s = skew(0, 20_000); // 20 ppm
        assert_eq!(s.apply(T0), T0);
        let later = T0 + Duration::from_secs(10);
        assert_eq!(s.apply(later), later + Duration::from_micros(200));
    }

    #[test]
    fn never_before_the_epoch() {
        let s = skew(-5_000_000_000, 0);
        assert_eq!(s.apply(Duration::from_secs(1)), Duration::ZERO);
    }

    #[test]
    fn parses_signed_offsets_and_drifts() {
        assert_eq!(parse_offset("2.5ms"), Ok(2_500_000));
        assert_eq!(parse_offset("-300us"), Ok(-300_000));
        assert_eq!(parse_offset("+1s"), Ok(1_000_000_000));
        assert!(parse_offset("2h").is_err());
        assert!(parse_offset("2").is_err());
        assert_eq!(parse_drift("20ppm"), Ok(20_000));
        assert_eq!(parse_drift("-500ppb"), Ok(-500));
        assert!(parse_drift("20").is_err());
        assert!(parse_drift("2000ppm").is_err());
    }
}
