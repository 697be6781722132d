//! A measurement window: counters and histograms that add up exactly, so the
//! controller can merge windows from many probes and periods into one without
//! losing anything (the per-packet work happens in the tracker, which turns
//! packets into [`Event`]s).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use std::fmt;

use super::histograms::DelayHistogram;

/// Wall-clock time as a duration since the Unix epoch.
type Timestamp = Duration;

/// Where a timestamp came from, worst to best.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum TsSource {
    /// `clock_gettime(CLOCK_REALTIME)` around the system call.
    #[default]
    User,
    /// The kernel's software timestamp.
    Kernel,
    /// The NIC's clock.
    Hardware,
}

impl TsSource {
    /// Lower-case name, as in results.
    pub fn as_str(self) -> &'static str {
        match self {
            TsSource::User => "user",
            TsSource::Kernel => "kernel",
            TsSource::Hardware => "hardware",
        }
    }
}

impl fmt::Display for TsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which way a duplicated packet was duplicated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Sender to reflector: the reflector answered two copies (two reflector
    /// sequence numbers for one sender sequence number).
    Forward,
    /// Reflector to sender: the same reply arrived twice.
    Reverse,
}

/// The clocks behind one reply's one-way delays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockSample {
    pub local_synchronized: bool,
    pub local_error: Duration,
    pub remote_synchronized: bool,
    /// From the reflector's Error Estimate.
    pub remote_error: Duration,
    /// Bound on the error of a one-way delay (zero on the same kernel clock).
    pub one_way_error: Duration,
}

/// `later - earlier` in nanoseconds, signed, saturating at the i64 range.
pub fn diff_ns(later: Timestamp, earlier: Timestamp) -> i64 {
    let d = later.as_nanos() as i128 - earlier.as_nanos() as i128;
    d.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// What one reply measured. One-way delays are signed: a negative one is a
/// clock error, kept as measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketSample {
    pub sender_seq: u32,
    pub reflector_seq: u32,
    /// (t4 - t1) - (t3 - t2): the round trip without the reflector's turnaround.
    pub rtt_ns: i64,
    /// t2 - t1.
    pub forward_ns: i64,
    /// t4 - t3.
    pub reverse_ns: i64,
    pub clock: ClockSample,
    /// The weaker of the local send and receive timestamps' sources.
    pub ts_source: TsSource,
}

impl PacketSample {
    /// t1 sent (sender clock), t2 received and t3 sent (reflector clock), t4
    /// received (sender clock).
    #[allow(clippy::too_many_arguments)]
    pub fn from_timestamps(
        sender_seq: u32,
        reflector_seq: u32,
        t1: Timestamp,
        t2: Timestamp,
        t3: Timestamp,
        t4: Timestamp,
        clock: ClockSample,
        ts_source: TsSource,
    ) -> PacketSample {
        PacketSample {
            sender_seq,
            reflector_seq,
            rtt_ns: diff_ns(t4, t1).saturating_sub(diff_ns(t3, t2)),
            forward_ns: diff_ns(t2, t1),
            reverse_ns: diff_ns(t4, t3),
            clock,
            ts_source,
        }
    }
}

/// Everything a window counts. The tracker emits these; tests and other
/// producers may too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// A test packet was sent.
    Sent,
    /// The first in-time reply for a sender sequence number.
    Reply(PacketSample),
    /// IPDV between two consecutive sender sequence numbers, nanoseconds.
    Ipdv(i64),
    /// No reply within the timeout.
    RoundTripLost,
    /// A reply the reflector sent never arrived (in time).
    ReverseLost,
    /// A reply for a sender sequence number already answered; direction None
    /// when the reflector keeps no sequence numbers of its own.
    Duplicate(Option<Direction>),
    /// A reply after its packet was declared lost (lost per RFC 7680).
    Late,
    /// A reply for a sequence number never sent.
    Unmatched,
    /// RFC 4737 reordered on the round trip (sender sequence numbers).
    Reordered { extent: u64 },
    /// RFC 4737 reordered on the reverse path (reflector sequence numbers).
    ReverseReordered { extent: u64 },
    /// The reflector's sequence numbers jumped (restart): gaps not counted.
    ReflectorSeqJump,
    /// A reply whose reflector sequence number says nothing (stateless
    /// reflector): loss cannot be split by direction.
    ReflectorSeqUntracked,
}

/// Counters of a window; all add up on merge except the `*_max` ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub sent: u64,
    /// Distinct sender sequence numbers answered in time.
    pub received: u64,
    pub round_trip_lost: u64,
    pub reverse_lost: u64,
    pub duplicates: u64,
    pub forward_duplicates: u64,
    pub reverse_duplicates: u64,
    pub late: u64,
    pub unmatched: u64,
    pub reordered: u64,
    pub reorder_extent_max: u64,
    pub reverse_reordered: u64,
    pub reverse_reorder_extent_max: u64,
    pub reflector_seq_jumps: u64,
    pub reflector_seq_untracked: u64,
    pub negative_rtt: u64,
    pub negative_forward: u64,
    pub negative_reverse: u64,
    /// One-way delays more negative than the clocks' stated error allows: the
    /// error estimate itself is wrong.
    pub one_way_beyond_error: u64,
    /// Values above the histogram range (60 s), recorded as 60 s.
    pub clamped: u64,
}

/// Smallest and largest signed value seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRange {
    pub min_ns: Option<i64>,
    pub max_ns: Option<i64>,
}

impl SignedRange {
    fn record(&mut self, v: i64) {
        self.min_ns = Some(self.min_ns.map_or(v, |m| m.min(v)));
        self.max_ns = Some(self.max_ns.map_or(v, |m| m.max(v)));
    }

    fn merge(&mut self, other: &SignedRange) {
        for v in [other.min_ns, other.max_ns].into_iter().flatten() {
            self.record(v);
        }
    }
}

/// The clocks over a window: how many replies came from unsynchronized clocks
/// and the largest errors stated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockCounters {
    pub samples: u64,
    pub local_unsynchronized: u64,
    pub remote_unsynchronized: u64,
    pub local_error_max_ns: u64,
    pub remote_error_max_ns: u64,
    pub one_way_error_max_ns: u64,
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl ClockCounters {
    fn record(&mut self, c: &ClockSample) {
        self.samples += 1;
        self.local_unsynchronized += u64::from(!c.local_synchronized);
        self.remote_unsynchronized += u64::from(!c.remote_synchronized);
        self.local_error_max_ns = self.local_error_max_ns.max(duration_ns(c.local_error));
        self.remote_error_max_ns = self.remote_error_max_ns.max(duration_ns(c.remote_error));
        self.one_way_error_max_ns = self.one_way_error_max_ns.max(duration_ns(c.one_way_error));
    }

    fn merge(&mut self, o: &ClockCounters) {
        self.samples += o.samples;
        self.local_unsynchronized += o.local_unsynchronized;
        self.remote_unsynchronized += o.remote_unsynchronized;
        self.local_error_max_ns = self.local_error_max_ns.max(o.local_error_max_ns);
        self.remote_error_max_ns = self.remote_error_max_ns.max(o.remote_error_max_ns);
        self.one_way_error_max_ns = self.one_way_error_max_ns.max(o.one_way_error_max_ns);
    }
}

/// Replies per timestamp source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceCounts {
    pub user: u64,
    pub kernel: u64,
    pub hardware: u64,
}

impl SourceCounts {
    /// The weakest source any reply used.
    pub fn weakest(&self) -> Option<TsSource> {
        [
            (self.user, TsSource::User),
            (self.kernel, TsSource::Kernel),
            (self.hardware, TsSource::Hardware),
        ]
        .into_iter()
        .find(|&(n, _)| n > 0)
        .map(|(_, s)| s)
    }
}

/// Loss over a window (RFC 7680 singletons, counted once their timeout passed).
///
/// With a stateful reflector numbering what it receives (RFC 8762 section 4.3):
/// - finalized = received + round_trip_lost: packets whose fate is known;
/// - round trip: `round_trip_lost / finalized`;
/// - reflector_sent = received + forward_duplicates + reverse_lost: every
///   reflector sequence number seen, plus the gaps in them that stayed open for
///   the timeout (and late replies, which reached the reflector);
/// - reverse: `reverse_lost / reflector_sent`;
/// - reflector_received = reflector_sent - forward_duplicates
///   (= received + reverse_lost): distinct packets that reached the reflector;
/// - forward: `(finalized - reflector_received) / finalized`, floored at 0
///   (a gap may be seen in a later window than the expiry it explains).
///
/// Without duplicates, round_trip_lost = forward_lost + reverse_lost. A reply
/// lost on the way back after the last one received leaves no gap, and counts
/// as forward loss until a later reply reveals it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Loss {
    pub finalized: u64,
    pub round_trip_lost: u64,
    pub round_trip_pct: f64,
    /// None when the reflector's sequence numbers could not be used.
    pub forward_lost: Option<u64>,
    pub forward_pct: Option<f64>,
    pub reverse_lost: Option<u64>,
    pub reverse_pct: Option<f64>,
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part.min(whole) as f64) * 100.0 / whole as f64
    }
}

/// Counters and histograms of one window. See the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub counters: Counters,
    /// Round-trip delays (non-negative ones).
    pub rtt: DelayHistogram,
    /// Forward one-way delays (non-negative ones).
    pub forward: DelayHistogram,
    /// Reverse one-way delays (non-negative ones).
    pub reverse: DelayHistogram,
    /// |IPDV| of round-trip delays of consecutive sender sequence numbers.
    pub ipdv: DelayHistogram,
    pub rtt_range: SignedRange,
    pub forward_range: SignedRange,
    pub reverse_range: SignedRange,
    pub clock: ClockCounters,
    pub sources: SourceCounts,
}

impl Window {
    pub fn new() -> Window {
        Window::default()
    }

    /// Counts one event.
    pub fn record(&mut self, event: &Event) {
        let c = &mut self.counters;
        match *event {
            Event::Sent => c.sent += 1,
            Event::Reply(ref sample) => self.record_sample(sample),
            Event::Ipdv(ns) => {
                if !self.ipdv.record_ns(ns.unsigned_abs()) {
                    c.clamped += 1;
                }
            }
            Event::RoundTripLost => c.round_trip_lost += 1,
            Event::ReverseLost => c.reverse_lost += 1,
            Event::Duplicate(direction) => {
                c.duplicates += 1;
                match direction {
                    Some(Direction::Forward) => c.forward_duplicates += 1,
                    Some(Direction::Reverse) => c.reverse_duplicates += 1,
                    None => {}
                }
            }
            Event::Late => c.late += 1,
            Event::Unmatched => c.unmatched += 1,
            Event::Reordered { extent } => {
                c.reordered += 1;
                c.reorder_extent_max = c.reorder_extent_max.max(extent);
            }
            Event::ReverseReordered { extent } => {
                c.reverse_reordered += 1;
                c.reverse_reorder_extent_max = c.reverse_reorder_extent_max.max(extent);
            }
            Event::ReflectorSeqJump => c.reflector_seq_jumps += 1,
            Event::ReflectorSeqUntracked => c.reflector_seq_untracked += 1,
        }
    }

    fn record_sample(&mut self, s: &PacketSample) {
        let c = &mut self.counters;
        c.received += 1;
        self.rtt_range.record(s.rtt_ns);
        self.forward_range.record(s.forward_ns);
        self.reverse_range.record(s.reverse_ns);
        let bound = i64::try_from(s.clock.one_way_error.as_nanos()).unwrap_or(i64::MAX);
        let mut clamped = 0;
        match u64::try_from(s.rtt_ns) {
            Ok(ns) => clamped += u64::from(!self.rtt.record_ns(ns)),
            Err(_) => c.negative_rtt += 1,
        }
        for (ns, hist, negative) in [
            (s.forward_ns, &mut self.forward, &mut c.negative_forward),
            (s.reverse_ns, &mut self.reverse, &mut c.negative_reverse),
        ] {
            match u64::try_from(ns) {
                Ok(ns) => clamped += u64::from(!hist.record_ns(ns)),
                Err(_) => {
                    *negative += 1;
                    if ns.checked_neg().is_none_or(|magnitude| magnitude > bound) {
                        c.one_way_beyond_error += 1;
                    }
                }
            }
        }
        c.clamped += clamped;
        self.clock.record(&s.clock);
        match s.ts_source {
            TsSource::User => self.sources.user += 1,
            TsSource::Kernel => self.sources.kernel += 1,
            TsSource::Hardware => self.sources.hardware += 1,
        }
    }

    /// Adds `other` into this window: the result equals one window that saw
    /// both windows' events.
    pub fn merge(&mut self, other: &Window) {
        let (c, o) = (&mut self.counters, &other.counters);
        c.sent += o.sent;
        c.received += o.received;
        c.round_trip_lost += o.round_trip_lost;
        c.reverse_lost += o.reverse_lost;
        c.duplicates += o.duplicates;
        c.forward_duplicates += o.forward_duplicates;
        c.reverse_duplicates += o.reverse_duplicates;
        c.late += o.late;
        c.unmatched += o.unmatched;
        c.reordered += o.reordered;
        c.reorder_extent_max = c.reorder_extent_max.max(o.reorder_extent_max);
        c.reverse_reordered += o.reverse_reordered;
        c.reverse_reorder_extent_max = c
            .reverse_reorder_extent_max
            .max(o.reverse_reorder_extent_max);
        c.reflector_seq_jumps += o.reflector_seq_jumps;
        c.reflector_seq_untracked += o.reflector_seq_untracked;
        c.negative_rtt += o.negative_rtt;
        c.negative_forward += o.negative_forward;
        c.negative_reverse += o.negative_reverse;
        c.one_way_beyond_error += o.one_way_beyond_error;
        c.clamped += o.clamped;
        self.rtt.merge(&other.rtt);
        self.forward.merge(&other.forward);
        self.reverse.merge(&other.reverse);
        self.ipdv.merge(&other.ipdv);
        self.rtt_range.merge(&other.rtt_range);
        self.forward_range.merge(&other.forward_range);
        self.reverse_range.merge(&other.reverse_range);
        self.clock.merge(&other.clock);
        self.sources.user += other.sources.user;
        self.sources.kernel += other.sources.kernel;
        self.sources.hardware += other.sources.hardware;
    }

    /// Loss per direction; see [`Loss`] for the arithmetic.
    pub fn loss(&self) -> Loss {
        let c = &self.counters;
        let finalized = c.received.saturating_add(c.round_trip_lost);
        let directional = c.reflector_seq_untracked == 0;
        let reflector_sent = c
            .received
            .saturating_add(c.forward_duplicates)
            .saturating_add(c.reverse_lost);
        let reflector_received = reflector_sent.saturating_sub(c.forward_duplicates);
        let forward_lost = finalized.saturating_sub(reflector_received).min(finalized);
        let reverse_lost = c.reverse_lost.min(reflector_sent);
        Loss {
            finalized,
            round_trip_lost: c.round_trip_lost,
            round_trip_pct: pct(c.round_trip_lost, finalized),
            forward_lost: directional.then_some(forward_lost),
            forward_pct: directional.then(|| pct(forward_lost, finalized)),
            reverse_lost: directional.then_some(reverse_lost),
            reverse_pct: directional.then(|| pct(reverse_lost, reflector_sent)),
        }
    }

    /// The number of one-way delays that came out negative.
    pub fn negative_one_way(&self) -> u64 {
        self.counters.negative_forward + self.counters.negative_reverse
    }
}
