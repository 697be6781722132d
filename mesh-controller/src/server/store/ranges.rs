//! Sequence ranges as retention keeps them (which seqs were merged into
//! coarse rows): pure, shared by every backend.

/// Closed ranges, sorted, overlapping or adjacent ones joined.
pub fn coalesce(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::coalesce;

    #[test]
    fn ranges_coalesce() {
        assert_eq!(
            coalesce(vec![(5, 5), (1, 3), (4, 4), (9, 12), (10, 11)]),
            vec![(1, 5), (9, 12)]
        );
        assert_eq!(coalesce(vec![]), vec![]);
        assert_eq!(coalesce(vec![(0, u64::MAX), (3, 4)]), vec![(0, u64::MAX)]);
    }
}
