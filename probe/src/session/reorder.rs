//! Reordering as RFC 4737 defines it: a packet is reordered when its sequence
//! number is below NextExp (one more than the highest seen so far); its
//! reordering extent is how many arrivals earlier the first packet with a higher
//! sequence number came in.
//!
//! Only packets that set a new NextExp can be that "first higher" packet (all
//! arrivals before it had lower numbers), so keeping those record-setters with
//! their arrival positions is enough to find the extent by binary search.
//! Duplicates must be filtered out before they get here, as the RFC asks.

use std::collections::VecDeque;

/// Record-setting arrivals kept; beyond this the extent of a very late packet
/// is reported as a lower bound.
const RECORDS: usize = 16 * 1024;

/// RFC 4737 reordered-packet detector over extended (64-bit) sequence numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReorderDetector {
    next_expected: Option<u64>,
    arrivals: u64,
    /// (sequence, arrival position) of arrivals that raised NextExp; both
    /// columns increase.
    records: VecDeque<(u64, u64)>,
}

impl ReorderDetector {
    pub fn new() -> ReorderDetector {
        ReorderDetector::default()
    }

    /// Notes the arrival of `seq`; returns its reordering extent if it is
    /// reordered (always at least 1).
    pub fn observe(&mut self, seq: u64) -> Option<u64> {
        let position = self.arrivals;
        self.arrivals = self.arrivals.saturating_add(1);
        match self.next_expected {
            Some(next) if seq < next => {
                let first_higher = self.records.partition_point(|&(s, _)| s <= seq);
                let earliest = self
                    .records
                    .get(first_higher)
                    .map_or(position, |&(_, at)| at);
                Some(position.saturating_sub(earliest).max(1))
            }
            _ => {
                self.next_expected = Some(seq.saturating_add(1));
                if self.records.len() == RECORDS {
                    self.records.pop_front();
                }
                self.records.push_back((seq, position));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(arrivals: &[u64]) -> Vec<Option<u64>> {
        let mut d = ReorderDetector::new();
        arrivals.iter().map(|&s| d.observe(s)).collect()
    }

    #[test]
    fn in_order_and_losses_are_not_reordering() {
        assert_eq!(run(&[1, 2, 3, 5, 8]), vec![None; 5]);
    }

    #[test]
    fn rfc4737_examples() {
        // 1 2 4 3: 3 arrives one position after 4.
        assert_eq!(run(&[1, 2, 4, 3]), [None, None, None, Some(1)]);
        // 1 3 4 5 2: 2 arrives at position 4; the first higher (3) was at 1.
        assert_eq!(run(&[1, 3, 4, 5, 2]), [None, None, None, None, Some(3)]);
        // 4 1 2 3: each of 1, 2, 3 is reordered relative to 4 at position 0.
        assert_eq!(run(&[4, 1, 2, 3]), [None, Some(1), Some(2), Some(3)]);
    }

    #[test]
    fn extent_counts_from_the_first_higher_arrival() {
        // 5 arrives at 1; 3 (at 3) has 5 as its first higher arrival: extent 2.
        assert_eq!(run(&[1, 5, 6, 3, 7]), [None, None, None, Some(2), None]);
    }
}
