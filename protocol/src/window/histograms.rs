//! Delay distributions as HdrHistograms in microseconds (1 us to 60 s, three
//! significant digits), summarized as min/mean/percentiles/max and shipped as
//! base64 of the V2 + deflate encoding, so windows from many probes add up
//! exactly rather than averaging averages.

use std::cell::RefCell;
use std::fmt;

use flate2::{Decompress, FlushDecompress, Status};
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{
    Deserialize, Deserializer as SerdeDeserializer, Serialize, Serializer as SerdeSerializer,
};

use super::base64;
use super::sparse::SparseHistogram;

/// Lowest value told apart: 1 us.
pub const LOWEST_US: u64 = 1;
/// Highest value kept exactly: 60 s; larger ones are recorded as this.
pub const HIGHEST_US: u64 = 60_000_000;
/// Significant decimal digits kept.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// Cookie of the V2 + deflate encoding (HdrHistogram's
/// `V2CompressedEncodingCookieBase | 0x10`).
const V2_DEFLATE_COOKIE: u32 = 0x1c84_9314;
/// Cookie of the plain V2 encoding inside the deflate stream.
const V2_COOKIE: u32 = 0x1c84_9313;
/// Octets of the V2 header: cookie, payload length, normalizing offset,
/// significant digits, lowest, highest, integer-to-double ratio.
const V2_HEADER_LEN: usize = 40;
/// Longest base64 text taken (a full 1 us .. 60 s histogram is a few KiB).
const MAX_ENCODED_LEN: usize = 1 << 20;
/// Most octets a deflate stream may inflate to (a full histogram of our
/// bounds, every bucket counted, is well under 100 KiB).
pub const MAX_DECOMPRESSED_LEN: usize = 1 << 20;

/// Why a serialized histogram was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HistogramError {
    #[error("histogram is not valid base64")]
    Base64,
    #[error("histogram does not decode: {0}")]
    Decode(String),
    #[error("histogram has other bounds than 1 us .. 60 s at 3 digits")]
    Bounds,
    #[error("histogram does not encode: {0}")]
    Encode(String),
}

/// min/mean/p50/p90/p99/max of a distribution, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub min: u64,
    pub mean: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

/// A delay histogram in microseconds. See the module documentation.
#[derive(Clone, PartialEq)]
pub struct DelayHistogram {
    histogram: Histogram<u64>,
}

impl fmt::Debug for DelayHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DelayHistogram")
            .field("count", &self.histogram.len())
            .field("summary", &self.summary())
            .finish()
    }
}

impl Default for DelayHistogram {
    fn default() -> Self {
        DelayHistogram::new()
    }
}

fn empty_histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS) {
        Ok(h) => h,
        // The bounds are constants that hdrhistogram accepts.
        Err(_) => unreachable!("constant histogram bounds rejected"),
    }
}

/// Nanoseconds to whole microseconds, rounded to nearest.
pub(crate) fn ns_to_us(ns: u64) -> u64 {
    ns / 1000 + u64::from(ns % 1000 >= 500)
}

impl DelayHistogram {
    pub fn new() -> DelayHistogram {
        DelayHistogram {
            histogram: empty_histogram(),
        }
    }

    /// Records a delay given in nanoseconds; returns false if it was above
    /// 60 s and recorded as 60 s.
    pub fn record_ns(&mut self, ns: u64) -> bool {
        let us = ns_to_us(ns);
        self.histogram.saturating_record(us.min(HIGHEST_US));
        us <= HIGHEST_US
    }

    /// Records `count` values of `us` microseconds (at most 60 s are kept
    /// exactly, like [`DelayHistogram::record_ns`]); for rebuilding a histogram
    /// from its buckets.
    pub fn record_us_n(&mut self, us: u64, count: u64) {
        self.histogram
            .saturating_record_n(us.min(HIGHEST_US * 2), count);
    }

    /// Forgets every value (keeps the allocation, for reuse as an accumulator).
    pub fn reset(&mut self) {
        self.histogram.reset();
    }

    /// Number of values recorded.
    pub fn len(&self) -> u64 {
        self.histogram.len()
    }

    pub fn is_empty(&self) -> bool {
        self.histogram.is_empty()
    }

    /// The underlying histogram, for anything the summary leaves out.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.histogram
    }

    /// Adds `other`'s counts: the result is what one histogram fed both would hold.
    pub fn merge(&mut self, other: &DelayHistogram) {
        if self.histogram.add(&other.histogram).is_err() {
            // Same bounds, so this is not expected; keep every count anyway.
            for v in other.histogram.iter_recorded() {
                self.histogram
                    .saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
    }

    /// Summary in microseconds; None when empty.
    pub fn summary(&self) -> Option<Summary> {
        let h = &self.histogram;
        if h.is_empty() {
            return None;
        }
        // Percentiles and max are reported as the highest value equivalent to
        // the bucket, the conservative reading for delays.
        Some(Summary {
            min: h.min(),
            mean: h.mean().round() as u64,
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        })
    }

    /// Packet delay variation (RFC 5481 PDV): each statistic minus the minimum
    /// delay, so `min` is 0. None when empty.
    pub fn pdv(&self) -> Option<Summary> {
        let s = self.summary()?;
        Some(Summary {
            min: 0,
            mean: s.mean.saturating_sub(s.min),
            p50: s.p50.saturating_sub(s.min),
            p90: s.p90.saturating_sub(s.min),
            p99: s.p99.saturating_sub(s.min),
            max: s.max.saturating_sub(s.min),
        })
    }

    /// V2 + deflate encoding, base64.
    pub fn to_base64(&self) -> Result<String, HistogramError> {
        Ok(base64::encode(&self.to_bytes()?))
    }

    /// Reads what [`DelayHistogram::to_base64`] wrote (from any probe); refuses
    /// histograms with other bounds, which would not merge exactly.
    ///
    /// Only the compressed form is taken, and its outer length must match.
    /// Input is untrusted: the deflate stream is inflated here with a hard cap
    /// ([`MAX_DECOMPRESSED_LEN`]), and the inner V2 header is checked (payload
    /// length equal to what follows, our bounds) before hdrhistogram's plain V2
    /// reader sees it, because that reader sizes its buffers from the header.
    /// So a crafted histogram costs at most about 1 MiB, never gigabytes.
    pub fn from_base64(text: &str) -> Result<DelayHistogram, HistogramError> {
        DelayHistogram::from_bytes(&decode_base64(text)?)
    }

    /// Reads the V2 + deflate octets themselves (what [`to_bytes`] writes,
    /// what the binary upload carries), with the checks of
    /// [`DelayHistogram::from_base64`].
    ///
    /// [`to_bytes`]: DelayHistogram::to_bytes
    pub fn from_bytes(bytes: &[u8]) -> Result<DelayHistogram, HistogramError> {
        let plain = inflate_v2(bytes)?;
        let histogram: Histogram<u64> = Deserializer::new()
            .deserialize(&mut plain.as_slice())
            .map_err(|e| HistogramError::Decode(format!("{e:?}")))?;
        let same_bounds = histogram.low() == LOWEST_US
            && histogram.high() == HIGHEST_US
            && histogram.sigfig() == SIGNIFICANT_DIGITS;
        if !same_bounds {
            return Err(HistogramError::Bounds);
        }
        Ok(DelayHistogram { histogram })
    }

    /// The V2 + deflate octets (base64 of them is [`DelayHistogram::to_base64`]).
    pub fn to_bytes(&self) -> Result<Vec<u8>, HistogramError> {
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&self.histogram, &mut bytes)
            .map_err(|e| HistogramError::Encode(format!("{e:?}")))?;
        Ok(bytes)
    }
}

/// Base64 text of a serialized histogram to its octets, bounded.
pub(crate) fn decode_base64(text: &str) -> Result<Vec<u8>, HistogramError> {
    if text.len() > MAX_ENCODED_LEN {
        return Err(HistogramError::Decode("longer than 1 MiB".to_owned()));
    }
    base64::decode(text).ok_or(HistogramError::Base64)
}

/// The plain V2 encoding inside V2 + deflate octets, its header checked:
/// outer cookie and length, inflation capped at [`MAX_DECOMPRESSED_LEN`],
/// then [`check_v2_header`]. Both readers (dense and sparse) start here, so
/// they take exactly the same inputs.
fn inflate_v2(bytes: &[u8]) -> Result<Vec<u8>, HistogramError> {
    if bytes.len() > MAX_ENCODED_LEN {
        return Err(HistogramError::Decode("longer than 1 MiB".to_owned()));
    }
    let compressed = match (be_u32(bytes, 0), be_u32(bytes, 4)) {
        (Some(V2_DEFLATE_COOKIE), Some(len)) if len as usize == bytes.len() - 8 => {
            bytes.get(8..).unwrap_or(&[])
        }
        _ => {
            return Err(HistogramError::Decode(
                "not a V2 + deflate histogram".to_owned(),
            ))
        }
    };
    let plain = inflate(compressed)?;
    check_v2_header(&plain)?;
    Ok(plain)
}

/// Inflates a zlib stream, at most [`MAX_DECOMPRESSED_LEN`] octets; what
/// follows the end of the stream is ignored (as `ZlibDecoder` did).
///
/// One decompressor per thread, reset for each stream: a fresh one costs an
/// allocation of some 40 KiB, which was most of the time of inflating the
/// few dozen octets of a real window's histogram.
fn inflate(compressed: &[u8]) -> Result<Vec<u8>, HistogramError> {
    thread_local! {
        static INFLATE: RefCell<Decompress> = RefCell::new(Decompress::new(true));
    }
    INFLATE.with(|z| {
        let mut z = z.borrow_mut();
        z.reset(true);
        let mut out: Vec<u8> = Vec::with_capacity(512);
        loop {
            if out.len() == out.capacity() {
                if out.len() > MAX_DECOMPRESSED_LEN {
                    return Err(HistogramError::Decode(
                        "inflates to more than 1 MiB".to_owned(),
                    ));
                }
                let room = out.len().max(512).min(MAX_DECOMPRESSED_LEN + 1 - out.len());
                out.reserve_exact(room);
            }
            let consumed = usize::try_from(z.total_in()).unwrap_or(usize::MAX);
            let input = compressed.get(consumed..).unwrap_or(&[]);
            let before = (z.total_in(), z.total_out());
            let status = z
                .decompress_vec(input, &mut out, FlushDecompress::None)
                .map_err(|e| HistogramError::Decode(format!("deflate: {e}")))?;
            if status == Status::StreamEnd {
                break;
            }
            if (z.total_in(), z.total_out()) == before && out.len() < out.capacity() {
                return Err(HistogramError::Decode(
                    "deflate: the stream ends early".to_owned(),
                ));
            }
        }
        if out.len() > MAX_DECOMPRESSED_LEN {
            return Err(HistogramError::Decode(
                "inflates to more than 1 MiB".to_owned(),
            ));
        }
        Ok(out)
    })
}

/// The non-empty buckets of V2 + deflate octets, read straight from the
/// encoded counts, without building the dense histogram (some 136 KiB of
/// counts, zeroed, then scanned): what the controller's ingest needs. Takes
/// exactly what [`DelayHistogram::from_bytes`] takes, and the result equals
/// [`SparseHistogram::of`] its histogram.
pub fn sparse_from_bytes(bytes: &[u8]) -> Result<SparseHistogram, HistogramError> {
    let plain = inflate_v2(bytes)?;
    let mut buckets = Vec::new();
    let mut rest = plain.get(V2_HEADER_LEN..).unwrap_or(&[]);
    let mut index: usize = 0;
    let bad = |what: &str| HistogramError::Decode(what.to_owned());
    while !rest.is_empty() {
        let (zz, r) = v2_varint(rest).ok_or_else(|| bad("truncated count"))?;
        rest = r;
        // Zig-zag: negative numbers are runs of empty counts.
        let n = ((zz >> 1) as i64) ^ -((zz & 1) as i64);
        if n < 0 {
            let zeros = n
                .checked_neg()
                .and_then(|z| usize::try_from(z).ok())
                .ok_or_else(|| bad("run of zeros out of range"))?;
            index = index
                .checked_add(zeros)
                .ok_or_else(|| bad("run of zeros out of range"))?;
            continue;
        }
        if n > 0 {
            if index >= COUNTS_LEN {
                return Err(bad("EncodedArrayTooLong"));
            }
            buckets.push((highest_equivalent_of_index(index), n as u64));
        }
        index = index
            .checked_add(1)
            .ok_or_else(|| bad("run of zeros out of range"))?;
    }
    Ok(SparseHistogram::from_sorted_buckets(buckets))
}

/// [`sparse_from_bytes`] of base64 text.
pub fn sparse_from_base64(text: &str) -> Result<SparseHistogram, HistogramError> {
    sparse_from_bytes(&decode_base64(text)?)
}

/// HdrHistogram's variable-length integer as the V2 encoding writes it:
/// LEB128 of up to eight 7-bit groups, and a ninth octet taken whole.
fn v2_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(9) {
        if i == 8 {
            return Some((value | (u64::from(b) << 56), &bytes[9..]));
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

/// Sub-buckets per bucket at 3 significant digits (2,000 values told apart
/// need 2^11), and half of them: HdrHistogram's layout for our bounds.
const SUB_BUCKET_COUNT_MAGNITUDE: u32 = 11;
const SUB_BUCKET_HALF_COUNT_MAGNITUDE: u32 = SUB_BUCKET_COUNT_MAGNITUDE - 1;
const SUB_BUCKET_HALF_COUNT: usize = 1 << SUB_BUCKET_HALF_COUNT_MAGNITUDE;
/// Buckets to cover 60 s from 1 us: 2048 << 15 is the first power above it.
const BUCKET_COUNT: usize = 16;
/// Slots in the counts array of a histogram of our bounds.
const COUNTS_LEN: usize = (BUCKET_COUNT + 1) * SUB_BUCKET_HALF_COUNT;

/// The highest value equivalent to counts slot `index` (HdrHistogram's
/// `highest_equivalent(value_for(index))`, unit magnitude 0).
fn highest_equivalent_of_index(index: usize) -> u64 {
    let mut bucket = (index >> SUB_BUCKET_HALF_COUNT_MAGNITUDE) as i64 - 1;
    let mut sub = (index & (SUB_BUCKET_HALF_COUNT - 1)) as u64 + SUB_BUCKET_HALF_COUNT as u64;
    if bucket < 0 {
        sub -= SUB_BUCKET_HALF_COUNT as u64;
        bucket = 0;
    }
    let value = sub << bucket;
    // The bucket the value falls in (its own, except in bucket 0's lower half).
    let value_bucket = 64
        - SUB_BUCKET_COUNT_MAGNITUDE
        - (value | ((1 << SUB_BUCKET_COUNT_MAGNITUDE) - 1)).leading_zeros();
    let lowest = (value >> value_bucket) << value_bucket;
    lowest + (1u64 << value_bucket) - 1
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn be_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let hi = be_u32(bytes, at)?;
    let lo = be_u32(bytes, at.checked_add(4)?)?;
    Some((u64::from(hi) << 32) | u64::from(lo))
}

/// Checks the uncompressed V2 header: cookie, payload length equal to the
/// octets that follow, and our bounds (so no foreign-sized counts array is
/// allocated either).
fn check_v2_header(plain: &[u8]) -> Result<(), HistogramError> {
    let bad = |what: &str| HistogramError::Decode(format!("V2 header: {what}"));
    if be_u32(plain, 0) != Some(V2_COOKIE) {
        return Err(bad("wrong cookie"));
    }
    let payload = be_u32(plain, 4).ok_or_else(|| bad("truncated"))?;
    if plain.len() < V2_HEADER_LEN || payload as usize != plain.len() - V2_HEADER_LEN {
        return Err(bad("payload length does not match"));
    }
    // HdrHistogram's reader refuses these two; so does the sparse one.
    if be_u32(plain, 8) != Some(0) {
        return Err(bad("normalizing offset"));
    }
    if be_u64(plain, 32) != Some(1.0f64.to_bits()) {
        return Err(bad("integer to double ratio"));
    }
    let digits = be_u32(plain, 12);
    let (low, high) = (be_u64(plain, 16), be_u64(plain, 24));
    if digits != Some(u32::from(SIGNIFICANT_DIGITS))
        || low != Some(LOWEST_US)
        || high != Some(HIGHEST_US)
    {
        return Err(HistogramError::Bounds);
    }
    Ok(())
}

impl Serialize for DelayHistogram {
    fn serialize<S: SerdeSerializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = self.to_base64().map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for DelayHistogram {
    fn deserialize<D: SerdeDeserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        DelayHistogram::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn summary_in_microseconds() {
        let mut h = DelayHistogram::new();
        assert_eq!(h.summary(), None);
        for us in 1..=100u64 {
            assert!(h.record_ns(us * 1000));
        }
        let s = h.summary();
        assert_eq!(
            s,
            Some(Summary {
                min: 1,
                mean: 51,
                p50: 50,
                p90: 90,
                p99: 99,
                max: 100
            })
        );
        let pdv = h.pdv();
        assert_eq!(pdv.map(|p| (p.min, p.max, p.p50)), Some((0, 99, 49)));
    }

    #[test]
    fn rounds_and_clamps() {
        let mut h = DelayHistogram::new();
        assert!(h.record_ns(499));
        assert!(h.record_ns(1_500));
        assert!(!h.record_ns(61_000_000_000));
        let s = h.summary();
        assert_eq!(s.map(|s| s.min), Some(0));
        assert_eq!(h.len(), 3);
        assert!(s.is_some_and(|s| s.max >= HIGHEST_US && s.max <= HIGHEST_US + HIGHEST_US / 1000));
    }

    #[test]
    fn refuses_garbage_and_foreign_bounds() -> Result<(), HistogramError> {
        assert_eq!(
            DelayHistogram::from_base64("not base64!").err(),
            Some(HistogramError::Base64)
        );
        assert!(matches!(
            DelayHistogram::from_base64("AAAA"),
            Err(HistogramError::Decode(_))
        ));
        let mut other: Histogram<u64> = Histogram::new_with_bounds(1, 1000, 2)
            .map_err(|e| HistogramError::Encode(format!("{e:?}")))?;
        other.saturating_record(5);
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&other, &mut bytes)
            .map_err(|e| HistogramError::Encode(format!("{e:?}")))?;
        assert_eq!(
            DelayHistogram::from_base64(&base64::encode(&bytes)).err(),
            Some(HistogramError::Bounds)
        );
        Ok(())
    }

    /// Wraps `plain` (a V2 encoding, possibly crafted) the way the V2 +
    /// deflate serializer does.
    fn deflated(plain: &[u8]) -> String {
        use flate2::write::ZlibEncoder;
        use std::io::Write;
        let mut enc = ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        let compressed = enc
            .write_all(plain)
            .and_then(|()| enc.finish())
            .unwrap_or_default();
        let mut bytes = V2_DEFLATE_COOKIE.to_be_bytes().to_vec();
        bytes.extend_from_slice(&(compressed.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&compressed);
        base64::encode(&bytes)
    }

    fn v2_header(payload_len: u32, digits: u32, low: u64, high: u64) -> Vec<u8> {
        let mut h = V2_COOKIE.to_be_bytes().to_vec();
        h.extend_from_slice(&payload_len.to_be_bytes());
        h.extend_from_slice(&0u32.to_be_bytes());
        h.extend_from_slice(&digits.to_be_bytes());
        h.extend_from_slice(&low.to_be_bytes());
        h.extend_from_slice(&high.to_be_bytes());
        h.extend_from_slice(&1.0f64.to_be_bytes());
        h
    }

    #[test]
    fn crafted_payload_length_is_refused_before_allocating() {
        // Claims a 4 GiB payload with valid bounds; hdrhistogram alone would
        // resize a buffer to that before reading.
        let mut plain = v2_header(u32::MAX, 3, LOWEST_US, HIGHEST_US);
        plain.extend_from_slice(&[0u8; 16]);
        assert!(matches!(
            DelayHistogram::from_base64(&deflated(&plain)),
            Err(HistogramError::Decode(m)) if m.contains("payload length")
        ));
    }

    #[test]
    fn inflation_is_capped() {
        // 8 MiB of zeros deflate to a few KiB: refused after 1 MiB.
        let mut plain = v2_header(8 << 20, 3, LOWEST_US, HIGHEST_US);
        plain.resize(V2_HEADER_LEN + (8 << 20), 0);
        let text = deflated(&plain);
        assert!(text.len() < 64 * 1024, "a bomb, not a big input");
        assert!(matches!(
            DelayHistogram::from_base64(&text),
            Err(HistogramError::Decode(m)) if m.contains("1 MiB")
        ));
    }

    #[test]
    fn foreign_bounds_are_refused_from_the_header() {
        // Huge bounds would size a large counts array; the header check
        // refuses them before hdrhistogram builds one.
        let plain = v2_header(0, 5, 1, u64::MAX / 2);
        assert_eq!(
            DelayHistogram::from_base64(&deflated(&plain)).err(),
            Some(HistogramError::Bounds)
        );
    }

    #[test]
    fn the_sparse_reader_knows_the_dense_layout() {
        assert_eq!(
            DelayHistogram::new().histogram().distinct_values(),
            COUNTS_LEN
        );
        // Every slot's value, as the dense histogram reads it back.
        let mut h = DelayHistogram::new();
        for i in 0..COUNTS_LEN {
            h.record_us_n(highest_equivalent_of_index(i).min(HIGHEST_US), 1);
        }
        let dense = SparseHistogram::of(&h);
        let read = h.to_bytes().map(|b| sparse_from_bytes(&b));
        assert_eq!(read, Ok(Ok(dense)));
    }

    /// Both readers take exactly the same octets, and agree on what they hold.
    fn same_reading(bytes: &[u8]) -> Result<(), TestCaseError> {
        let dense = DelayHistogram::from_bytes(bytes);
        let sparse = sparse_from_bytes(bytes);
        match (&dense, &sparse) {
            (Ok(d), Ok(s)) => {
                prop_assert_eq!(&SparseHistogram::of(d), s);
                prop_assert_eq!(d.len(), s.len());
                prop_assert_eq!(
                    d.histogram().value_at_quantile(0.5),
                    s.value_at_quantile(0.5).unwrap_or(0)
                );
            }
            (Err(_), Err(_)) => {}
            _ => prop_assert!(false, "dense {:?} but sparse {:?}", dense, sparse),
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn sparse_reading_equals_dense_reading(
            values in proptest::collection::vec(0u64..90_000_000_000, 0..300),
            at in any::<usize>(),
            byte in any::<u8>(),
        ) {
            let mut h = DelayHistogram::new();
            for v in &values {
                h.record_ns(*v);
            }
            let bytes = h.to_bytes().map_err(|e| TestCaseError::fail(e.to_string()))?;
            same_reading(&bytes)?;
            let mut corrupt = bytes.clone();
            let len = corrupt.len();
            corrupt[at % len] = byte;
            same_reading(&corrupt)?;
            // Crafted plain V2 payloads (zero runs, huge counts, past the end).
            let mut plain = v2_header(0, 3, LOWEST_US, HIGHEST_US);
            plain.extend(values.iter().map(|v| (v % 251) as u8));
            let n = (plain.len() - V2_HEADER_LEN) as u32;
            plain[4..8].copy_from_slice(&n.to_be_bytes());
            let text = deflated(&plain);
            same_reading(&base64::decode(&text).unwrap_or_default())?;
        }

        #[test]
        fn base64_round_trip_is_exact(values in proptest::collection::vec(0u64..90_000_000_000, 0..200)) {
            let mut h = DelayHistogram::new();
            for v in &values {
                h.record_ns(*v);
            }
            let text = h.to_base64().map_err(|e| TestCaseError::fail(e.to_string()))?;
            let back = DelayHistogram::from_base64(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&back, &h);
            prop_assert_eq!(back.summary(), h.summary());
        }

        #[test]
        fn merge_equals_one_histogram(
            a in proptest::collection::vec(0u64..90_000_000_000, 0..100),
            b in proptest::collection::vec(0u64..90_000_000_000, 0..100),
        ) {
            let (mut ha, mut hb, mut all) = (DelayHistogram::new(), DelayHistogram::new(), DelayHistogram::new());
            for v in &a { ha.record_ns(*v); all.record_ns(*v); }
            for v in &b { hb.record_ns(*v); all.record_ns(*v); }
            ha.merge(&hb);
            prop_assert_eq!(ha.summary(), all.summary());
            prop_assert_eq!(ha, all);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = DelayHistogram::from_base64(&base64::encode(&bytes));
        }

        #[test]
        fn decoding_corrupted_headers_never_panics(
            values in proptest::collection::vec(0u64..90_000_000_000, 1..50),
            at in any::<usize>(),
            byte in any::<u8>(),
        ) {
            let mut h = DelayHistogram::new();
            for v in &values {
                h.record_ns(*v);
            }
            let text = h.to_base64().map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut bytes = base64::decode(&text).unwrap_or_default();
            // Any octet, the deflate stream included: inflation is capped and
            // the inner header checked, so no flip can make us allocate much.
            let len = bytes.len().max(1);
            if let Some(b) = bytes.get_mut(at % len) {
                *b = byte;
            }
            let _ = DelayHistogram::from_base64(&base64::encode(&bytes));
        }
    }
}
