//! A probe's clock beyond "synchronized, error": its source and any test
//! clock, kept as one JSON column (`probes.clock_detail`) by both backends,
//! so a new clock fact needs no migration.

use protocol::api::{ClockInfo, ClockSource, TestClock};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Default)]
struct Detail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<ClockSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    test_clock: Option<TestClock>,
}

/// The column's value for a hello's clock (None when there is nothing beyond
/// the two plain columns).
pub fn encode(clock: &ClockInfo) -> Option<String> {
    let d = Detail {
        source: clock.source,
        test_clock: clock.test_clock,
    };
    (d.source.is_some() || d.test_clock.is_some())
        .then(|| serde_json::to_string(&d).ok())
        .flatten()
}

/// A probe row's clock from its three columns (synchronized, error, detail);
/// None before its first hello.
pub fn from_columns(
    synchronized: Option<bool>,
    error_us: Option<i64>,
    detail: Option<&str>,
) -> Option<ClockInfo> {
    synchronized.map(|synchronized| {
        decode(
            ClockInfo {
                synchronized,
                error_us: error_us.map_or(0, |e| u64::try_from(e).unwrap_or(0)),
                ..ClockInfo::default()
            },
            detail,
        )
    })
}

/// `base` with the column's facts added; a value this build cannot read
/// (written by a newer one) adds nothing.
pub fn decode(base: ClockInfo, column: Option<&str>) -> ClockInfo {
    let d: Detail = column
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or_default();
    ClockInfo {
        source: d.source,
        test_clock: d.test_clock,
        ..base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_stays_null_when_empty() {
        let plain = ClockInfo {
            synchronized: true,
            error_us: 40,
            ..ClockInfo::default()
        };
        assert_eq!(encode(&plain), None);
        assert_eq!(decode(plain, None), plain);
        let full = ClockInfo {
            source: Some(ClockSource::Ptp),
            test_clock: Some(TestClock {
                offset_ns: -2_500_000,
                drift_ppb: 20_000,
            }),
            ..plain
        };
        let column = encode(&full);
        assert_eq!(decode(plain, column.as_deref()), full);
        assert_eq!(decode(plain, Some("not json")), plain);
    }
}
