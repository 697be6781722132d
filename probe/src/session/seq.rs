//! 32-bit sequence numbers (they wrap after 2^32 packets) extended to 64 bits,
//! so ordering and gaps keep working across the wrap.

/// Where the first value lands: one era up, so values just below it (a
/// reordered packet from before a wrap) still have room.
const FIRST_ERA: u64 = 1 << 32;
const ERA: u64 = 1 << 32;

/// Extends each 32-bit value to the 64-bit one nearest to the highest seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SeqUnwrapper {
    highest: Option<u64>,
}

impl SeqUnwrapper {
    /// The extended value of `seq`, without recording it.
    pub(crate) fn extend(&self, seq: u32) -> u64 {
        let Some(reference) = self.highest else {
            return FIRST_ERA + u64::from(seq);
        };
        let base = reference & !(ERA - 1);
        let same = base + u64::from(seq);
        let candidates = [same.checked_sub(ERA), Some(same), same.checked_add(ERA)];
        candidates
            .into_iter()
            .flatten()
            .min_by_key(|&c| c.abs_diff(reference))
            .unwrap_or(same)
    }

    /// Extends `seq` and makes it the reference if it is the highest so far.
    pub(crate) fn observe(&mut self, seq: u32) -> u64 {
        let extended = self.extend(seq);
        self.highest = Some(self.highest.map_or(extended, |h| h.max(extended)));
        extended
    }

    /// The highest extended value seen.
    pub(crate) fn highest(&self) -> Option<u64> {
        self.highest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_wrap() {
        let mut u = SeqUnwrapper::default();
        let a = u.observe(u32::MAX - 1);
        let b = u.observe(u32::MAX);
        let c = u.observe(0);
        let d = u.observe(1);
        assert_eq!([b - a, c - b, d - c], [1, 1, 1]);
        // A late packet from before the wrap sorts before it.
        assert_eq!(u.extend(u32::MAX - 5), a - 4);
        assert_eq!(u.highest(), Some(d));
    }

    #[test]
    fn first_value_leaves_room_below() {
        let mut u = SeqUnwrapper::default();
        let first = u.observe(0);
        assert_eq!(u.extend(u32::MAX), first - 1);
    }
}
