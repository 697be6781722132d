//! The stateful reflector's own sequence numbers, as seen by the sender: the
//! reflector numbers the test packets it receives and sends a reply for each,
//! so a gap in the numbers that arrive back is a reply lost on the reverse
//! path, and a number seen twice is a reply duplicated on the way back.
//!
//! A gap counts as lost only once it has stayed open for the timeout (the
//! missing reply may just be reordered). The time a gap opened is the local
//! arrival time of the reply that revealed it, on the caller's clock.

use std::collections::BTreeMap;
use std::time::Duration;

use super::reorder::ReorderDetector;
use super::seq::SeqUnwrapper;
use crate::timestamping::Timestamp;

/// Larger jumps are taken as a reflector restart (or garbage), not as loss.
pub(crate) const MAX_GAP: u64 = 1 << 16;

/// What a reflector sequence number turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Observed {
    /// Seen before: the reply was duplicated on the way back.
    Seen,
    /// A reply the reflector sent once.
    New {
        /// It closed an open gap.
        was_gap: bool,
        /// It was above every number seen before.
        was_ahead: bool,
        /// The numbers jumped too far to be loss; tracking restarted.
        jump: bool,
        /// RFC 4737 extent on the reverse path, if reordered.
        reordered: Option<u64>,
    },
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ReflectorSeqs {
    unwrap: SeqUnwrapper,
    first_expected: Option<u32>,
    /// Missing numbers and when they went missing.
    gaps: BTreeMap<u64, Timestamp>,
    /// Numbers received recently and when.
    seen: BTreeMap<u64, Timestamp>,
    reorder: ReorderDetector,
}

impl ReflectorSeqs {
    /// `first_expected`: the number the reflector starts the session with, if
    /// known (RFC 8762 reflectors start at 0), so losses before the first reply
    /// are gaps too.
    pub(crate) fn new(first_expected: Option<u32>) -> ReflectorSeqs {
        ReflectorSeqs {
            first_expected,
            ..ReflectorSeqs::default()
        }
    }

    /// Notes a reply carrying reflector number `seq` that arrived at `at`.
    /// `in_time` is false for late replies, which are not part of the
    /// reordering statistics (RFC 4737 looks at delivered packets).
    pub(crate) fn observe(&mut self, seq: u32, at: Timestamp, in_time: bool) -> Observed {
        let mut ext = self.unwrap.extend(seq);
        if self.seen.contains_key(&ext) {
            return Observed::Seen;
        }
        let mut jump = false;
        let highest = match self.unwrap.highest() {
            Some(h) if ext.abs_diff(h) > MAX_GAP => {
                jump = true;
                self.restart();
                ext = self.unwrap.extend(seq);
                None
            }
            other => other,
        };
        let (mut was_gap, mut was_ahead) = (false, false);
        match highest {
            None => {
                was_ahead = true;
                if let Some(first) = self.first_expected.filter(|_| !jump) {
                    let first = self.unwrap.extend(first);
                    if ext > first && ext - first <= MAX_GAP {
                        self.open_gaps(first, ext, at);
                    }
                }
            }
            Some(h) if ext > h => {
                was_ahead = true;
                self.open_gaps(h + 1, ext, at);
            }
            Some(_) => was_gap = self.gaps.remove(&ext).is_some(),
        }
        self.unwrap.observe(seq);
        self.seen.insert(ext, at);
        let reordered = if in_time {
            self.reorder.observe(ext)
        } else {
            None
        };
        Observed::New {
            was_gap,
            was_ahead,
            jump,
            reordered,
        }
    }

    fn open_gaps(&mut self, from: u64, to: u64, at: Timestamp) {
        for missing in from..to {
            self.gaps.entry(missing).or_insert(at);
        }
    }

    fn restart(&mut self) {
        self.unwrap = SeqUnwrapper::default();
        self.gaps.clear();
        self.seen.clear();
        self.reorder = ReorderDetector::new();
    }

    /// Gaps open for `timeout` become reverse losses (returned); numbers seen
    /// more than `keep_seen` ago are forgotten.
    pub(crate) fn expire(&mut self, now: Timestamp, timeout: Duration, keep_seen: Duration) -> u64 {
        let before = self.gaps.len();
        self.gaps
            .retain(|_, &mut at| at.saturating_add(timeout) > now);
        self.seen
            .retain(|_, &mut at| at.saturating_add(keep_seen) > now);
        (before - self.gaps.len()) as u64
    }

    #[cfg(test)]
    pub(crate) fn open_gap_count(&self) -> usize {
        self.gaps.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn gap_matures_into_loss_after_the_timeout() {
        let mut r = ReflectorSeqs::new(Some(0));
        r.observe(0, t(0), true);
        r.observe(2, t(10), true);
        assert_eq!(r.open_gap_count(), 1);
        assert_eq!(
            r.expire(t(500), Duration::from_secs(1), Duration::from_secs(2)),
            0
        );
        assert_eq!(
            r.expire(t(1_010), Duration::from_secs(1), Duration::from_secs(2)),
            1
        );
        assert_eq!(r.open_gap_count(), 0);
    }

    #[test]
    fn reordered_reply_closes_its_gap() {
        let mut r = ReflectorSeqs::new(None);
        r.observe(5, t(0), true);
        r.observe(7, t(1), true);
        let late = r.observe(6, t(2), true);
        assert!(matches!(
            late,
            Observed::New {
                was_gap: true,
                reordered: Some(1),
                ..
            }
        ));
        assert_eq!(
            r.expire(t(10_000), Duration::from_secs(1), Duration::from_secs(2)),
            0
        );
    }

    #[test]
    fn duplicate_is_seen() {
        let mut r = ReflectorSeqs::new(None);
        r.observe(1, t(0), true);
        assert_eq!(r.observe(1, t(1), true), Observed::Seen);
    }

    #[test]
    fn known_start_counts_leading_gaps() {
        let mut r = ReflectorSeqs::new(Some(0));
        r.observe(3, t(0), true);
        assert_eq!(r.open_gap_count(), 3);
    }

    #[test]
    fn huge_jump_restarts_instead_of_counting() {
        let mut r = ReflectorSeqs::new(None);
        r.observe(1, t(0), true);
        let j = r.observe(1 << 30, t(1), true);
        assert!(matches!(j, Observed::New { jump: true, .. }));
        assert_eq!(r.open_gap_count(), 0);
    }
}
