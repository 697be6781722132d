//! Attribution: a level shift in a route's delay that happened within one
//! trace period (plus one window) of a change of its traced path is linked to
//! it, so the operator reads one story ("+7.8 ms forward at 12:03:40, path
//! kunming > guiyang became kunming > chengdu > guiyang") instead of two
//! unrelated facts. Pure: which of the candidate events goes with a new one,
//! and how the pair reads.

use super::path_change::show;

/// A recorded event, as attribution needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: i64,
    /// `forward`, `reverse`, or `round-trip` (a shift seen on RTT/2 only).
    pub direction: String,
    pub at_ms: u64,
    /// Already linked to another event.
    pub linked: bool,
}

/// Whether a shift in `shift_dir` and a path change in `change_dir` can be
/// the same story: same direction, or the shift was only seen on the round
/// trip (either direction's path explains it).
pub fn same_direction(shift_dir: &str, change_dir: &str) -> bool {
    shift_dir == change_dir || shift_dir == "round-trip"
}

/// The unlinked candidate closest in time to `at_ms` within `slack_ms`,
/// matching directions with `matches(candidate direction)`.
pub fn pick(
    at_ms: u64,
    slack_ms: u64,
    candidates: &[Candidate],
    matches: impl Fn(&str) -> bool,
) -> Option<i64> {
    candidates
        .iter()
        .filter(|c| !c.linked && matches(&c.direction) && c.at_ms.abs_diff(at_ms) <= slack_ms)
        .min_by_key(|c| (c.at_ms.abs_diff(at_ms), c.id))
        .map(|c| c.id)
}

/// `HH:MM:SS` (UTC) of a Unix ms time.
pub fn clock(ms: u64) -> String {
    let secs = (ms / 1000) % 86_400;
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// How a level shift reads, with the path change it is linked to.
pub fn shift_summary(
    delta_ms: f64,
    direction: &str,
    at_ms: u64,
    path: Option<(&[String], &[String])>,
) -> String {
    let mut s = format!("{delta_ms:+.1} ms {direction} at {}", clock(at_ms));
    if let Some((old, new)) = path {
        s.push_str(&format!(", path {} became {}", show(old), show(new)));
    }
    s
}

/// How a path change reads, with the level shift it is linked to.
pub fn change_summary(
    old: &[String],
    new: &[String],
    direction: &str,
    at_ms: u64,
    shift_ms: Option<f64>,
) -> String {
    let mut s = format!(
        "path {} became {} ({direction}) at {}",
        show(old),
        show(new),
        clock(at_ms)
    );
    if let Some(d) = shift_ms {
        s.push_str(&format!(", delay {d:+.1} ms"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: i64, dir: &str, at: u64, linked: bool) -> Candidate {
        Candidate {
            id,
            direction: dir.into(),
            at_ms: at,
            linked,
        }
    }

    #[test]
    fn the_closest_unlinked_event_in_the_same_direction_is_picked() {
        let cands = [
            c(1, "forward", 100_000, false),
            c(2, "forward", 118_000, false),
            c(3, "reverse", 119_000, false),
            c(4, "forward", 120_500, true),
            c(5, "forward", 400_000, false),
        ];
        let fwd = |d: &str| same_direction("forward", d);
        assert_eq!(pick(120_000, 30_000, &cands, fwd), Some(2));
        assert_eq!(pick(120_000, 1_000, &cands, fwd), None);
        // A round-trip shift takes a change in either direction.
        assert_eq!(
            pick(120_000, 30_000, &cands, |d| same_direction("round-trip", d)),
            Some(3)
        );
    }

    #[test]
    fn the_story_reads_in_one_line() {
        let old = ["kunming".to_string(), "guiyang".to_string()];
        let new = [
            "kunming".to_string(),
            "chengdu".to_string(),
            "guiyang".to_string(),
        ];
        assert_eq!(
            shift_summary(7.8, "forward", (12 * 3600 + 3 * 60 + 40) * 1000, Some((&old, &new))),
            "+7.8 ms forward at 12:03:40, path kunming > guiyang became kunming > chengdu > guiyang"
        );
        assert_eq!(
            shift_summary(-2.04, "reverse", 0, None),
            "-2.0 ms reverse at 00:00:00"
        );
        assert!(change_summary(&old, &new, "forward", 0, Some(7.8)).ends_with("delay +7.8 ms"));
    }
}
