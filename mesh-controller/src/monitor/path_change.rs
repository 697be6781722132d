//! Path changes: a route's traced path, by site, that differs from the path
//! it had, seen on two consecutive traces. One trace alone is not enough (a
//! trace caught mid-convergence, or one of two equal-cost paths), so paths
//! that alternate (ECMP) never make an event; traces that could not tell
//! (the destination not reached, or a hop unanswered) are skipped rather
//! than read as a change.
//!
//! Stateless over a horizon: the first path seen twice running is where the
//! route stands; every later path seen twice running that differs from it is
//! a change, dated by the first of its two traces. Re-running as traces are
//! added finds the same changes with the same dates (as long as the horizon
//! still holds the old path twice), so callers record them idempotently by
//! date; a change whose old path has left the horizon is simply not found
//! again.

/// One traceroute of a route direction, by site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// When it started (Unix ms).
    pub at_ms: u64,
    /// The sites crossed, in order (consecutive repeats merged), ending with
    /// the destination's when reached.
    pub sites: Vec<String>,
    /// It reached the destination and every hop before answered.
    pub usable: bool,
}

/// A change of path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathChange {
    /// The first trace on the new path.
    pub at_ms: u64,
    pub old: Vec<String>,
    pub new: Vec<String>,
}

/// The changes in `traces` (in time order), and the path the route stands on
/// at the end (None until some path was seen twice running).
pub fn detect(traces: &[Trace]) -> (Option<Vec<String>>, Vec<PathChange>) {
    let mut current: Option<Vec<String>> = None;
    let mut out = Vec::new();
    let mut prev: Option<&Trace> = None;
    for t in traces.iter().filter(|t| t.usable && !t.sites.is_empty()) {
        if let Some(p) = prev {
            if p.sites == t.sites && current.as_ref() != Some(&t.sites) {
                if let Some(old) = current.take() {
                    out.push(PathChange {
                        at_ms: p.at_ms,
                        old,
                        new: t.sites.clone(),
                    });
                }
                current = Some(t.sites.clone());
            }
        }
        prev = Some(t);
    }
    (current, out)
}

/// `a > b > c`.
pub fn show(path: &[String]) -> String {
    path.join(" > ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(at: u64, sites: &str) -> Trace {
        Trace {
            at_ms: at,
            sites: sites.split(' ').map(str::to_string).collect(),
            usable: true,
        }
    }

    #[test]
    fn a_new_path_seen_twice_is_a_change_dated_by_its_first_trace() {
        let traces = [
            t(1, "a b"),
            t(2, "a b"),
            t(3, "a c b"),
            t(4, "a c b"),
            t(5, "a c b"),
        ];
        let (current, changes) = detect(&traces);
        assert_eq!(current, Some(vec!["a".into(), "c".into(), "b".into()]));
        assert_eq!(
            changes,
            vec![PathChange {
                at_ms: 3,
                old: vec!["a".into(), "b".into()],
                new: vec!["a".into(), "c".into(), "b".into()]
            }]
        );
        // Again with more traces: the same date, so recording it is
        // idempotent.
        let mut more = traces.to_vec();
        more.push(t(6, "a c b"));
        assert_eq!(detect(&more).1, changes);
    }

    #[test]
    fn ecmp_alternation_one_off_traces_and_unusable_ones_are_not_changes() {
        let alternating = [
            t(1, "a b"),
            t(2, "a b"),
            t(3, "a c b"),
            t(4, "a b"),
            t(5, "a c b"),
            t(6, "a b"),
        ];
        assert!(detect(&alternating).1.is_empty());
        let mut hole = t(3, "a b");
        hole.usable = false;
        let traces = [
            t(1, "a c b"),
            t(2, "a c b"),
            hole.clone(),
            hole,
            t(5, "a c b"),
        ];
        assert!(detect(&traces).1.is_empty());
        // No stable path yet: the first pair sets it, no event.
        assert!(detect(&[t(1, "a b"), t(2, "a c b"), t(3, "a c b")])
            .1
            .is_empty());
        // And back again is a second change.
        let back = [
            t(1, "a b"),
            t(2, "a b"),
            t(3, "a c b"),
            t(4, "a c b"),
            t(5, "a b"),
            t(6, "a b"),
        ];
        assert_eq!(detect(&back).1.len(), 2);
    }
}
