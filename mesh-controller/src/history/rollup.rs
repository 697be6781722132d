//! The rollup record: everything the history, the route table, the report and
//! the alerts read about one session direction (sender endpoint -> reflector
//! endpoint) over one time bucket, merged exactly from the windows that
//! started in it. Counters add up, histograms are kept sparse (a few hundred
//! bytes each) and merge bucket by bucket, so a minute, an hour or a month of
//! windows reads back as exactly as one window would.
//!
//! The clock facts are what the one-way figures may be trusted for: the
//! largest clock error bound, how many samples came from unsynchronized
//! clocks, and how many one-way delays came out negative or beyond the stated
//! error. They are recorded only for sessions between two clocks; a session
//! between probes with the same boot id reads one kernel clock, so it adds
//! replies but no clock error ([`Rollup::same_clock`]).
//!
//! Bytes (version 1): a version octet, then unsigned LEB128 fields: windows,
//! the window counters in declaration order, the clock facts, then the
//! forward, reverse, round-trip and IPDV histograms (see
//! [`SparseHistogram::encode`]).

use protocol::window::{
    get_uvarint, put_uvarint, Counters, SparseError, SparseHistogram, SparseWindow, Window,
};

const VERSION: u8 = 1;

/// Why stored rollup bytes do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RollupError {
    #[error("rollup: unknown version {0}")]
    Version(u8),
    #[error("rollup: empty")]
    Empty,
    #[error("rollup: trailing bytes")]
    Trailing,
    #[error("rollup: {0}")]
    Histogram(#[from] SparseError),
}

/// What the clocks of a session direction allow (see the module documentation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClockFacts {
    /// Replies measured across two clocks.
    pub samples: u64,
    /// Largest bound on the error of a one-way delay (ns).
    pub error_ns: u64,
    /// Samples where either side said its clock was unsynchronized.
    pub unsynchronized: u64,
    /// One-way delays that came out negative, or more negative than the
    /// clocks' stated error.
    pub suspect: u64,
}

impl ClockFacts {
    fn merge(&mut self, o: &ClockFacts) {
        self.samples += o.samples;
        self.error_ns = self.error_ns.max(o.error_ns);
        self.unsynchronized += o.unsynchronized;
        self.suspect += o.suspect;
    }
}

/// Windows of one session direction over one bucket, merged. See the module
/// documentation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rollup {
    /// Uploaded windows merged in.
    pub windows: u64,
    pub counters: Counters,
    pub clock: ClockFacts,
    /// One-way delays sender -> reflector.
    pub forward: SparseHistogram,
    /// One-way delays reflector -> sender.
    pub reverse: SparseHistogram,
    pub rtt: SparseHistogram,
    /// |IPDV| of consecutive round trips.
    pub ipdv: SparseHistogram,
}

impl Rollup {
    /// One window, its clock facts taken as across two clocks.
    pub fn of_window(w: &Window) -> Rollup {
        Rollup::of_sparse(SparseWindow::of(w))
    }

    /// The same from a window with sparse histograms (what ingest reads an
    /// upload into).
    pub fn of_sparse(w: SparseWindow) -> Rollup {
        let c = &w.clock;
        let clock = if c.samples == 0 {
            ClockFacts::default()
        } else {
            ClockFacts {
                samples: c.samples,
                error_ns: c
                    .one_way_error_max_ns
                    .max(c.local_error_max_ns.saturating_add(c.remote_error_max_ns)),
                unsynchronized: c.local_unsynchronized + c.remote_unsynchronized,
                suspect: w.counters.negative_forward
                    + w.counters.negative_reverse
                    + w.counters.one_way_beyond_error,
            }
        };
        Rollup {
            windows: 1,
            counters: w.counters,
            clock,
            forward: w.forward,
            reverse: w.reverse,
            rtt: w.rtt,
            ipdv: w.ipdv,
        }
    }

    /// The same, for a session whose two probes read one kernel clock: no
    /// clock error to carry.
    pub fn same_clock(mut self) -> Rollup {
        self.clock = ClockFacts::default();
        self
    }

    /// Adds `o` in: the result is the rollup of both sets of windows.
    pub fn merge(&mut self, o: &Rollup) {
        self.windows += o.windows;
        protocol::window::add_counters(&mut self.counters, &o.counters);
        self.clock.merge(&o.clock);
        self.forward.merge(&o.forward);
        self.reverse.merge(&o.reverse);
        self.rtt.merge(&o.rtt);
        self.ipdv.merge(&o.ipdv);
    }

    /// The bytes stored (see the module documentation).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + 4 * 8 * self.rtt.buckets().len());
        out.push(VERSION);
        put_uvarint(&mut out, self.windows);
        for x in counters_fields(&self.counters) {
            put_uvarint(&mut out, x);
        }
        let k = &self.clock;
        for x in [k.samples, k.error_ns, k.unsynchronized, k.suspect] {
            put_uvarint(&mut out, x);
        }
        for h in [&self.forward, &self.reverse, &self.rtt, &self.ipdv] {
            h.encode(&mut out);
        }
        out
    }

    /// Reads what [`Rollup::encode`] wrote; never panics on other bytes.
    pub fn decode(bytes: &[u8]) -> Result<Rollup, RollupError> {
        let (head, mut rest) = Head::decode(bytes)?;
        let mut hist = || -> Result<SparseHistogram, RollupError> {
            let (h, r) = SparseHistogram::decode(rest)?;
            rest = r;
            Ok(h)
        };
        let (forward, reverse, rtt, ipdv) = (hist()?, hist()?, hist()?, hist()?);
        if !rest.is_empty() {
            return Err(RollupError::Trailing);
        }
        Ok(Rollup {
            windows: head.windows,
            counters: head.counters,
            clock: head.clock,
            forward,
            reverse,
            rtt,
            ipdv,
        })
    }

    /// Adds in what [`Rollup::encode`] wrote, as `merge(&decode(bytes)?)`
    /// would, without a rollup made per row: each histogram is decoded into
    /// `scratch` and merged from there. On an error `self` may hold part of
    /// the row: the caller drops it.
    pub fn merge_encoded(
        &mut self,
        bytes: &[u8],
        scratch: &mut SparseHistogram,
    ) -> Result<(), RollupError> {
        let (head, mut rest) = Head::decode(bytes)?;
        self.windows += head.windows;
        protocol::window::add_counters(&mut self.counters, &head.counters);
        self.clock.merge(&head.clock);
        for h in [
            &mut self.forward,
            &mut self.reverse,
            &mut self.rtt,
            &mut self.ipdv,
        ] {
            rest = scratch.decode_into(rest)?;
            h.merge(scratch);
        }
        if !rest.is_empty() {
            return Err(RollupError::Trailing);
        }
        Ok(())
    }
}

/// The fields before the histograms.
struct Head {
    windows: u64,
    counters: Counters,
    clock: ClockFacts,
}

impl Head {
    fn decode(bytes: &[u8]) -> Result<(Head, &[u8]), RollupError> {
        let (&version, mut rest) = bytes.split_first().ok_or(RollupError::Empty)?;
        if version != VERSION {
            return Err(RollupError::Version(version));
        }
        let mut next = || -> Result<u64, RollupError> {
            let (x, r) = get_uvarint(rest)?;
            rest = r;
            Ok(x)
        };
        let windows = next()?;
        let mut fields = [0u64; COUNTER_FIELDS];
        for f in &mut fields {
            *f = next()?;
        }
        let clock = ClockFacts {
            samples: next()?,
            error_ns: next()?,
            unsynchronized: next()?,
            suspect: next()?,
        };
        let head = Head {
            windows,
            counters: counters_from(fields),
            clock,
        };
        Ok((head, rest))
    }
}

const COUNTER_FIELDS: usize = 20;

/// The counters in declaration order. The exhaustive pattern makes a new
/// counter a compile error here (and in [`counters_from`]) rather than a field
/// silently left out of storage.
fn counters_fields(c: &Counters) -> [u64; COUNTER_FIELDS] {
    let Counters {
        sent,
        received,
        round_trip_lost,
        reverse_lost,
        duplicates,
        forward_duplicates,
        reverse_duplicates,
        late,
        unmatched,
        reordered,
        reorder_extent_max,
        reverse_reordered,
        reverse_reorder_extent_max,
        reflector_seq_jumps,
        reflector_seq_untracked,
        negative_rtt,
        negative_forward,
        negative_reverse,
        one_way_beyond_error,
        clamped,
    } = *c;
    [
        sent,
        received,
        round_trip_lost,
        reverse_lost,
        duplicates,
        forward_duplicates,
        reverse_duplicates,
        late,
        unmatched,
        reordered,
        reorder_extent_max,
        reverse_reordered,
        reverse_reorder_extent_max,
        reflector_seq_jumps,
        reflector_seq_untracked,
        negative_rtt,
        negative_forward,
        negative_reverse,
        one_way_beyond_error,
        clamped,
    ]
}

fn counters_from(f: [u64; COUNTER_FIELDS]) -> Counters {
    let [sent, received, round_trip_lost, reverse_lost, duplicates, forward_duplicates, reverse_duplicates, late, unmatched, reordered, reorder_extent_max, reverse_reordered, reverse_reorder_extent_max, reflector_seq_jumps, reflector_seq_untracked, negative_rtt, negative_forward, negative_reverse, one_way_beyond_error, clamped] =
        f;
    Counters {
        sent,
        received,
        round_trip_lost,
        reverse_lost,
        duplicates,
        forward_duplicates,
        reverse_duplicates,
        late,
        unmatched,
        reordered,
        reorder_extent_max,
        reverse_reordered,
        reverse_reorder_extent_max,
        reflector_seq_jumps,
        reflector_seq_untracked,
        negative_rtt,
        negative_forward,
        negative_reverse,
        one_way_beyond_error,
        clamped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::window::{ClockSample, Event, PacketSample, TsSource};
    use std::time::Duration;

    fn window(ms: i64, n: u32, unsync: bool) -> Window {
        let mut w = Window::new();
        for i in 0..n {
            w.record(&Event::Sent);
            let f = ms * 1_000_000 + i64::from(i) * 10_000;
            w.record(&Event::Reply(PacketSample {
                sender_seq: i,
                reflector_seq: i,
                rtt_ns: 2 * f,
                forward_ns: f,
                reverse_ns: f,
                clock: ClockSample {
                    local_synchronized: !unsync,
                    local_error: Duration::from_micros(300),
                    remote_synchronized: true,
                    remote_error: Duration::from_micros(200),
                    one_way_error: Duration::from_micros(400),
                },
                ts_source: TsSource::Kernel,
            }));
            w.record(&Event::Ipdv(10_000));
        }
        w.record(&Event::Sent);
        w.record(&Event::RoundTripLost);
        w
    }

    #[test]
    fn merged_rollups_equal_the_rollup_of_merged_windows() {
        let (a, b) = (window(5, 50, false), window(9, 30, true));
        let mut r = Rollup::of_window(&a);
        r.merge(&Rollup::of_window(&b));
        let mut w = a.clone();
        w.merge(&b);
        let whole = Rollup::of_window(&w);
        assert_eq!(r.counters, whole.counters);
        assert_eq!(r.forward, whole.forward);
        assert_eq!(r.ipdv, whole.ipdv);
        assert_eq!(r.windows, 2);
        assert_eq!(r.clock.samples, 80);
        assert_eq!(r.clock.error_ns, 500_000, "local + remote beats one-way");
        assert_eq!(r.clock.unsynchronized, 30);
        assert_eq!(
            Rollup::of_window(&a).same_clock().clock,
            ClockFacts::default()
        );
    }

    #[test]
    fn bytes_round_trip_and_corruption_is_an_error() {
        let mut r = Rollup::of_window(&window(5, 50, true));
        r.merge(&Rollup::of_window(&window(7, 20, false)));
        let bytes = r.encode();
        assert_eq!(Rollup::decode(&bytes), Ok(r));
        for cut in 0..bytes.len() {
            assert!(Rollup::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(Rollup::decode(&long), Err(RollupError::Trailing));
        let mut other = bytes;
        other[0] = 9;
        assert_eq!(Rollup::decode(&other), Err(RollupError::Version(9)));
    }

    #[test]
    fn merging_bytes_equals_merging_decoded_rows() {
        let rows: Vec<Rollup> = [(5, 50, true), (7, 20, false), (3, 9, false)]
            .into_iter()
            .map(|(ms, n, u)| Rollup::of_window(&window(ms, n, u)))
            .collect();
        let mut want = Rollup::default();
        let mut got = Rollup::default();
        let mut scratch = protocol::window::SparseHistogram::new();
        for r in &rows {
            want.merge(r);
            got.merge_encoded(&r.encode(), &mut scratch).unwrap();
        }
        assert_eq!(got, want);
        let bytes = rows[0].encode();
        for cut in 0..bytes.len() {
            let mut acc = Rollup::default();
            assert!(
                acc.merge_encoded(&bytes[..cut], &mut scratch).is_err(),
                "cut at {cut}"
            );
        }
    }
}
