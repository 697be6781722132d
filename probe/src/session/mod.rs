//! Per-session measurement logic, pure (no sockets, time passed in): the
//! sender-side [`Tracker`] turns sends and replies into [`Event`]s, a
//! [`Window`] counts them into counters and HdrHistograms that merge exactly,
//! and [`SessionReport`] is what a window says in JSON.
//!
//! Metrics and their definitions:
//! - RTT = (t4 - t1) - (t3 - t2), the round trip without the reflector's
//!   turnaround; forward = t2 - t1 and reverse = t4 - t3, signed (a negative
//!   one-way delay is a clock error: counted, kept in the signed extremes, left
//!   out of the histograms, never clamped);
//! - loss per direction (RFC 7680, after a timeout) from the stateful
//!   reflector's own sequence numbers: see [`Loss`] for the arithmetic;
//! - duplicates (RFC 5560 sense: counted, never in metrics a second time),
//!   split by direction when the reflector numbers its replies;
//! - reordering (RFC 4737): count and maximum extent, on the round trip
//!   (sender numbers) and on the reverse path (reflector numbers);
//! - IPDV (RFC 5481): difference of round-trip delays of consecutive sender
//!   numbers, |IPDV| in a histogram; PDV = delay - minimum delay, derived from
//!   the delay histograms.

mod reflector_seqs;
mod reorder;
mod report;
mod seq;
mod tracker;

pub use protocol::window::{
    ClockCounters, ClockSample, Counters, DelayHistogram, Direction, Event, HistogramError, Loss,
    PacketSample, SignedRange, SourceCounts, Summary, Window, HIGHEST_US, LOWEST_US,
    SIGNIFICANT_DIGITS,
};
pub use reorder::ReorderDetector;
pub use report::{ClockReport, LossReport, OneWayExtremes, SessionReport, WindowReport};
pub use tracker::{ReflectorKind, Reply, ReplyOutcome, Tracker};

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
