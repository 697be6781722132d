//! Delay distributions as HdrHistograms in microseconds (1 us to 60 s, three
//! significant digits), summarized as min/mean/percentiles/max and shipped as
//! base64 of the V2 + deflate encoding, so windows from many probes add up
//! exactly rather than averaging averages.

use std::fmt;
use std::io::Read;

use flate2::read::ZlibDecoder;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{
    Deserialize, Deserializer as SerdeDeserializer, Serialize, Serializer as SerdeSerializer,
};

use super::base64;

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
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&self.histogram, &mut bytes)
            .map_err(|e| HistogramError::Encode(format!("{e:?}")))?;
        Ok(base64::encode(&bytes))
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
        if text.len() > MAX_ENCODED_LEN {
            return Err(HistogramError::Decode("longer than 1 MiB".to_owned()));
        }
        let bytes = base64::decode(text).ok_or(HistogramError::Base64)?;
        let compressed = match (be_u32(&bytes, 0), be_u32(&bytes, 4)) {
            (Some(V2_DEFLATE_COOKIE), Some(len)) if len as usize == bytes.len() - 8 => {
                bytes.get(8..).unwrap_or(&[])
            }
            _ => {
                return Err(HistogramError::Decode(
                    "not a V2 + deflate histogram".to_owned(),
                ))
            }
        };
        let mut plain = Vec::new();
        ZlibDecoder::new(compressed)
            .take(MAX_DECOMPRESSED_LEN as u64 + 1)
            .read_to_end(&mut plain)
            .map_err(|e| HistogramError::Decode(format!("deflate: {e}")))?;
        if plain.len() > MAX_DECOMPRESSED_LEN {
            return Err(HistogramError::Decode(
                "inflates to more than 1 MiB".to_owned(),
            ));
        }
        check_v2_header(&plain)?;
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

    proptest! {
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
