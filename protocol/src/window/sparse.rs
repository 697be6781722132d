//! A delay histogram as the list of its non-empty buckets: what the
//! controller's rollups keep and merge. A dense [`DelayHistogram`] of our
//! bounds is a counts array of some 200 KiB whatever it holds; a real delay
//! distribution fills a few hundred buckets, so the sparse form is a few
//! hundred bytes, merges in time linear in the buckets used, and adds into a
//! dense accumulator without allocating one per row.
//!
//! Exact: each bucket is kept by its highest equivalent value, which the dense
//! histogram maps back to the same bucket, so every percentile, min and max
//! read after a round trip or a merge equals the dense histogram's.
//!
//! The byte encoding (for storage) is the bucket count, then per bucket the
//! value's increase over the previous bucket and the count, all unsigned
//! LEB128. Decoding is bounded and checked: values strictly increasing and
//! within range, counts non-zero, no trailing bytes; anything else is an error.

use super::histograms::{DelayHistogram, HIGHEST_US};

/// Largest value a bucket may carry: the highest equivalent of the top of the
/// range is a little above [`HIGHEST_US`] at three significant digits.
const MAX_VALUE: u64 = HIGHEST_US * 2;
/// Most buckets a histogram of our bounds has (1 us .. 60 s at three digits
/// is about 26,000 counts slots); more in an encoding is corruption.
const MAX_BUCKETS: u64 = 1 << 16;

/// Why stored bytes do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sparse histogram: {0}")]
pub struct SparseError(&'static str);

/// Non-empty buckets, by highest equivalent value, ascending. See the module
/// documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SparseHistogram {
    buckets: Vec<(u64, u64)>,
}

impl SparseHistogram {
    pub fn new() -> SparseHistogram {
        SparseHistogram::default()
    }

    /// The buckets of a dense histogram.
    pub fn of(h: &DelayHistogram) -> SparseHistogram {
        let buckets = h
            .histogram()
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect();
        SparseHistogram { buckets }
    }

    /// From buckets already sorted by value, non-empty, values distinct (as
    /// read from a dense encoding, slot by slot).
    pub(crate) fn from_sorted_buckets(buckets: Vec<(u64, u64)>) -> SparseHistogram {
        SparseHistogram { buckets }
    }

    /// Values recorded.
    pub fn len(&self) -> u64 {
        self.buckets
            .iter()
            .fold(0u64, |n, &(_, c)| n.saturating_add(c))
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Non-empty buckets.
    pub fn buckets(&self) -> &[(u64, u64)] {
        &self.buckets
    }

    /// Adds `other`'s counts: a linear merge of two sorted lists, done in
    /// place from the back (no allocation once the list has grown to its
    /// size; this runs once per rollup row a route table reads).
    pub fn merge(&mut self, other: &SparseHistogram) {
        let b = &other.buckets;
        if b.is_empty() {
            return;
        }
        let a_len = self.buckets.len();
        if a_len == 0 {
            self.buckets.clone_from(b);
            return;
        }
        let v = &mut self.buckets;
        v.resize(a_len + b.len(), (0, 0));
        // Exclusive ends of the unread parts of both lists and of what is
        // written. k - i - j never shrinks, so writing at k - 1 never
        // overwrites an unread bucket of ours.
        let (mut i, mut j, mut k) = (a_len, b.len(), a_len + b.len());
        while j > 0 {
            let (vb, cb) = b[j - 1];
            k -= 1;
            if i > 0 && v[i - 1].0 > vb {
                v[k] = v[i - 1];
                i -= 1;
            } else if i > 0 && v[i - 1].0 == vb {
                v[k] = (vb, v[i - 1].1.saturating_add(cb));
                i -= 1;
                j -= 1;
            } else {
                v[k] = (vb, cb);
                j -= 1;
            }
        }
        // Ours below i are in place; close the gap [i, k) that equal values
        // left.
        if k > i {
            let len = v.len();
            v.copy_within(k..len, i);
            v.truncate(len - (k - i));
        }
    }

    /// The value at `quantile` in microseconds, as [`DelayHistogram`]'s
    /// histogram reads it (the highest value equivalent to the bucket where the
    /// cumulative count first reaches `quantile` of the total); None when
    /// empty. Quantile 0 reads the lowest bucket's lower edge, which only the
    /// dense histogram knows, so it is computed there.
    pub fn value_at_quantile(&self, quantile: f64) -> Option<u64> {
        if self.buckets.is_empty() {
            return None;
        }
        if quantile <= 0.0 {
            return Some(self.to_dense().histogram().value_at_quantile(0.0));
        }
        let q = quantile.min(1.0);
        let total = self.len();
        let target = ((q * total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for &(v, c) in &self.buckets {
            seen = seen.saturating_add(c);
            if seen >= target {
                return Some(v);
            }
        }
        self.buckets.last().map(|&(v, _)| v)
    }

    /// The value at `percentile` (0..=100] in milliseconds, like
    /// [`super::percentile_ms`] on the dense histogram.
    pub fn percentile_ms(&self, percentile: f64) -> Option<f64> {
        let q = (percentile / 100.0).clamp(0.0, 1.0);
        self.value_at_quantile(q).map(|us| us as f64 / 1000.0)
    }

    /// Adds these counts into a dense histogram.
    pub fn add_to(&self, h: &mut DelayHistogram) {
        for &(v, c) in &self.buckets {
            h.record_us_n(v, c);
        }
    }

    /// The dense histogram holding these counts.
    pub fn to_dense(&self) -> DelayHistogram {
        let mut h = DelayHistogram::new();
        self.add_to(&mut h);
        h
    }

    /// Appends the encoding (see the module documentation).
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_uvarint(out, self.buckets.len() as u64);
        let mut prev = 0u64;
        for &(v, c) in &self.buckets {
            put_uvarint(out, v - prev);
            put_uvarint(out, c);
            prev = v;
        }
    }

    /// Reads one encoding from the front of `bytes`, returning it and the
    /// rest.
    pub fn decode(bytes: &[u8]) -> Result<(SparseHistogram, &[u8]), SparseError> {
        let mut h = SparseHistogram::new();
        let rest = h.decode_into(bytes)?;
        Ok((h, rest))
    }

    /// [`SparseHistogram::decode`] into this histogram, reusing its storage
    /// (what it held is replaced; on an error it is left empty).
    pub fn decode_into<'a>(&mut self, bytes: &'a [u8]) -> Result<&'a [u8], SparseError> {
        self.buckets.clear();
        let r = self.decode_buckets(bytes);
        if r.is_err() {
            self.buckets.clear();
        }
        r
    }

    fn decode_buckets<'a>(&mut self, bytes: &'a [u8]) -> Result<&'a [u8], SparseError> {
        let (n, mut rest) = get_uvarint(bytes)?;
        if n > MAX_BUCKETS {
            return Err(SparseError("too many buckets"));
        }
        self.buckets.reserve(n as usize);
        let mut prev = 0u64;
        for i in 0..n {
            let (delta, r) = get_uvarint(rest)?;
            let (count, r) = get_uvarint(r)?;
            rest = r;
            if delta == 0 && i > 0 {
                return Err(SparseError("bucket values not increasing"));
            }
            let v = prev
                .checked_add(delta)
                .filter(|v| *v <= MAX_VALUE)
                .ok_or(SparseError("bucket value out of range"))?;
            if count == 0 {
                return Err(SparseError("empty bucket"));
            }
            self.buckets.push((v, count));
            prev = v;
        }
        Ok(rest)
    }
}

/// Appends `x` as unsigned LEB128.
pub fn put_uvarint(out: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        out.push((x as u8) | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}

/// Reads one unsigned LEB128 from the front of `bytes`.
#[inline]
pub fn get_uvarint(bytes: &[u8]) -> Result<(u64, &[u8]), SparseError> {
    // Most values stored (bucket steps, counts) fit in one octet.
    if let Some((&b, rest)) = bytes.split_first() {
        if b < 0x80 {
            return Ok((u64::from(b), rest));
        }
    }
    let mut x = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        let part = u64::from(b & 0x7f);
        if i == 9 && b > 1 {
            return Err(SparseError("varint overflows 64 bits"));
        }
        x |= part << (7 * i);
        if b & 0x80 == 0 {
            return Ok((x, &bytes[i + 1..]));
        }
    }
    Err(SparseError("truncated varint"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dense(values_ns: &[u64]) -> DelayHistogram {
        let mut h = DelayHistogram::new();
        for v in values_ns {
            h.record_ns(*v);
        }
        h
    }

    fn quantiles(h: &DelayHistogram) -> Vec<u64> {
        [0.0, 0.01, 0.5, 0.9, 0.99, 0.999, 1.0]
            .iter()
            .map(|q| h.histogram().value_at_quantile(*q))
            .chain([h.histogram().min(), h.histogram().max(), h.len()])
            .collect()
    }

    #[test]
    fn varints_round_trip_and_refuse_garbage() {
        for x in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut b = Vec::new();
            put_uvarint(&mut b, x);
            assert_eq!(get_uvarint(&b), Ok((x, &[][..])));
        }
        assert!(get_uvarint(&[0x80, 0x80]).is_err());
        assert!(get_uvarint(&[0xff; 11]).is_err());
        assert!(
            get_uvarint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]).is_err()
        );
    }

    #[test]
    fn corrupt_encodings_are_errors() {
        let h = SparseHistogram::of(&dense(&[5_000_000, 6_000_000]));
        let mut b = Vec::new();
        h.encode(&mut b);
        for cut in 0..b.len() {
            assert!(SparseHistogram::decode(&b[..cut]).is_err(), "cut at {cut}");
        }
        // A zero count, a repeated value, a value out of range.
        assert!(SparseHistogram::decode(&[1, 5, 0]).is_err());
        assert!(SparseHistogram::decode(&[2, 5, 1, 0, 1]).is_err());
        let mut big = vec![1];
        put_uvarint(&mut big, MAX_VALUE + 1);
        big.push(1);
        assert!(SparseHistogram::decode(&big).is_err());
        let mut many = Vec::new();
        put_uvarint(&mut many, MAX_BUCKETS + 1);
        assert!(SparseHistogram::decode(&many).is_err());
    }

    proptest! {
        #[test]
        fn round_trip_reads_like_the_dense_histogram(values in proptest::collection::vec(0u64..90_000_000_000, 0..300)) {
            let h = dense(&values);
            let s = SparseHistogram::of(&h);
            prop_assert_eq!(s.len(), h.len());
            let mut bytes = Vec::new();
            s.encode(&mut bytes);
            bytes.push(0xAA);
            let (back, rest) = SparseHistogram::decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(rest, &[0xAA][..]);
            prop_assert_eq!(&back, &s);
            prop_assert_eq!(quantiles(&back.to_dense()), quantiles(&h));
        }

        #[test]
        fn merge_equals_merging_the_dense_histograms(
            a in proptest::collection::vec(0u64..90_000_000_000, 0..150),
            b in proptest::collection::vec(0u64..90_000_000_000, 0..150),
        ) {
            let (ha, hb) = (dense(&a), dense(&b));
            let mut both = ha.clone();
            both.merge(&hb);
            let mut s = SparseHistogram::of(&ha);
            s.merge(&SparseHistogram::of(&hb));
            prop_assert_eq!(&s, &SparseHistogram::of(&both));
            prop_assert_eq!(quantiles(&s.to_dense()), quantiles(&both));
        }

        #[test]
        fn merge_adds_counts_value_by_value(
            a in proptest::collection::btree_map(0u64..40, 1u64..1000, 0..30),
            b in proptest::collection::btree_map(0u64..40, 1u64..1000, 0..30),
            c in proptest::collection::btree_map(0u64..40, 1u64..1000, 0..30),
        ) {
            // Few distinct values, so equal values meet often; three lists
            // merged in turn, as a route table merges its rows.
            let mut want = a.clone();
            for (v, n) in b.iter().chain(&c) {
                *want.entry(*v).or_insert(0) += n;
            }
            let sparse = |m: &std::collections::BTreeMap<u64, u64>| SparseHistogram {
                buckets: m.iter().map(|(&v, &n)| (v, n)).collect(),
            };
            let mut s = sparse(&a);
            s.merge(&sparse(&b));
            s.merge(&sparse(&c));
            prop_assert_eq!(s, sparse(&want));
        }

        #[test]
        fn quantiles_equal_the_dense_histogram(
            values in proptest::collection::vec(0u64..90_000_000_000, 1..300),
            q in 0.0f64..=1.0,
        ) {
            let h = dense(&values);
            let s = SparseHistogram::of(&h);
            for q in [q, 0.0, 0.5, 0.99, 1.0] {
                prop_assert_eq!(s.value_at_quantile(q), Some(h.histogram().value_at_quantile(q)), "q {}", q);
            }
            prop_assert_eq!(s.percentile_ms(99.0), super::super::percentile_ms(&h, 99.0));
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = SparseHistogram::decode(&bytes);
        }
    }
}
