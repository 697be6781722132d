//! The result of a session or window as people and the controller read it
//! (JSON, all durations in microseconds).

use serde::{Deserialize, Serialize};

use super::Summary;
use super::Window;
use crate::timestamping::TsSource;

/// Loss percentages and counts; directional ones are null when the reflector's
/// sequence numbers could not be used (stateless reflector).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossReport {
    pub round_trip_pct: f64,
    pub forward_pct: Option<f64>,
    pub reverse_pct: Option<f64>,
    pub round_trip_lost: u64,
    pub forward_lost: Option<u64>,
    pub reverse_lost: Option<u64>,
}

/// The clocks behind the one-way numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockReport {
    /// True only if every reply came from a synchronized local clock.
    pub local_synchronized: bool,
    /// Largest local error stated (rounded up).
    pub local_error_us: u64,
    pub remote_synchronized: bool,
    pub remote_error_us: u64,
    /// Bound on one-way delay error (0 when both ends read one kernel clock).
    pub one_way_error_us: u64,
    /// One-way delays more negative than that bound: the bound is wrong.
    pub one_way_beyond_error: u64,
}

/// Signed extremes of the one-way delays, negative ones included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OneWayExtremes {
    pub forward_min: Option<i64>,
    pub forward_max: Option<i64>,
    pub reverse_min: Option<i64>,
    pub reverse_max: Option<i64>,
}

/// One session's (or merged windows') results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionReport {
    pub target: String,
    pub sent: u64,
    pub received: u64,
    /// The weakest timestamp source behind the replies (null: no replies).
    pub timestamping: Option<TsSource>,
    pub rtt_us: Option<Summary>,
    /// Non-negative forward delays only (see `negative_one_way`).
    pub forward_us: Option<Summary>,
    pub reverse_us: Option<Summary>,
    /// |IPDV| of round-trip delays of consecutive packets (RFC 5481).
    pub ipdv_us: Option<Summary>,
    /// PDV (delay minus the window's minimum delay, RFC 5481) of round trips.
    pub rtt_pdv_us: Option<Summary>,
    /// PDV of one-way delays; null if any was negative (left out of the
    /// histogram, so the minimum is unknown).
    pub forward_pdv_us: Option<Summary>,
    pub reverse_pdv_us: Option<Summary>,
    pub loss: LossReport,
    pub duplicates: u64,
    pub reordered: u64,
    pub reorder_extent_max: u64,
    pub reverse_reordered: u64,
    pub late: u64,
    pub negative_one_way: u64,
    pub one_way_us: OneWayExtremes,
    pub clock: ClockReport,
}

fn signed_us(ns: Option<i64>) -> Option<i64> {
    // Round half away from zero, symmetric for negative delays.
    ns.map(|ns| {
        let us = ns / 1000;
        let rem = ns % 1000;
        if rem >= 500 {
            us + 1
        } else if rem <= -500 {
            us - 1
        } else {
            us
        }
    })
}

fn ceil_us(ns: u64) -> u64 {
    ns.div_ceil(1000)
}

/// What a [`Window`] says in JSON (an extension: windows live in
/// `protocol::window`, reports are the probe's).
pub trait WindowReport {
    /// The report for this window, measured against `target`.
    fn report(&self, target: &str) -> SessionReport;
}

impl WindowReport for Window {
    fn report(&self, target: &str) -> SessionReport {
        let c = &self.counters;
        let loss = self.loss();
        let clock = &self.clock;
        SessionReport {
            target: target.to_owned(),
            sent: c.sent,
            received: c.received,
            timestamping: self.sources.weakest(),
            rtt_us: self.rtt.summary(),
            forward_us: self.forward.summary(),
            reverse_us: self.reverse.summary(),
            ipdv_us: self.ipdv.summary(),
            rtt_pdv_us: if c.negative_rtt == 0 {
                self.rtt.pdv()
            } else {
                None
            },
            forward_pdv_us: if c.negative_forward == 0 {
                self.forward.pdv()
            } else {
                None
            },
            reverse_pdv_us: if c.negative_reverse == 0 {
                self.reverse.pdv()
            } else {
                None
            },
            loss: LossReport {
                round_trip_pct: loss.round_trip_pct,
                forward_pct: loss.forward_pct,
                reverse_pct: loss.reverse_pct,
                round_trip_lost: loss.round_trip_lost,
                forward_lost: loss.forward_lost,
                reverse_lost: loss.reverse_lost,
            },
            duplicates: c.duplicates,
            reordered: c.reordered,
            reorder_extent_max: c.reorder_extent_max,
            reverse_reordered: c.reverse_reordered,
            late: c.late,
            negative_one_way: self.negative_one_way(),
            one_way_us: OneWayExtremes {
                forward_min: signed_us(self.forward_range.min_ns),
                forward_max: signed_us(self.forward_range.max_ns),
                reverse_min: signed_us(self.reverse_range.min_ns),
                reverse_max: signed_us(self.reverse_range.max_ns),
            },
            clock: ClockReport {
                local_synchronized: clock.samples > 0 && clock.local_unsynchronized == 0,
                local_error_us: ceil_us(clock.local_error_max_ns),
                remote_synchronized: clock.samples > 0 && clock.remote_unsynchronized == 0,
                remote_error_us: ceil_us(clock.remote_error_max_ns),
                one_way_error_us: ceil_us(clock.one_way_error_max_ns),
                one_way_beyond_error: c.one_way_beyond_error,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_rounding_is_symmetric() {
        assert_eq!(signed_us(Some(1_499)), Some(1));
        assert_eq!(signed_us(Some(1_500)), Some(2));
        assert_eq!(signed_us(Some(-1_499)), Some(-1));
        assert_eq!(signed_us(Some(-1_500)), Some(-2));
        assert_eq!(signed_us(None), None);
    }
}
