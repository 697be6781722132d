//! The syntax of a probe id, in one place: the controller checks it in its
//! configuration and again on every upload's targets, and both must agree.

/// Longest probe id.
pub const MAX_PROBE_ID_LEN: usize = 64;

/// Whether `id` could name a probe: 1 to 64 of lowercase `a-z`, digits and `-`.
pub fn is_probe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_PROBE_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_ids() {
        for ok in ["a", "bj-1", "0", "-", &"x".repeat(64)] {
            assert!(is_probe_id(ok), "{ok:?}");
        }
        for bad in ["", "A", "a_b", "a.b", "a b", "é", &"x".repeat(65)] {
            assert!(!is_probe_id(bad), "{bad:?}");
        }
    }
}
