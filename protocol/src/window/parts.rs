//! A window as the controller's ingest reads it: the fields of [`Window`]
//! with the histograms in whatever form the step at hand needs, so an upload
//! is checked and rolled up without ever building the dense histograms (some
//! 136 KiB of counts each, four per window, zeroed and scanned: most of what
//! ingest cost). The JSON and the binary (CBOR) uploads both decode into
//! [`WindowParts`]; [`SparseWindow`] is what is checked and rolled up.
//!
//! The field names and order are [`Window`]'s, so a `WindowParts` with
//! base64 histograms serializes to the JSON a `Window` reads.

use super::base64;
use super::histograms::{sparse_from_base64, sparse_from_bytes, HistogramError};
use super::validate::check_parts;
use super::{ClockCounters, Counters, SignedRange, SourceCounts, SparseHistogram, Window};
use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use std::fmt;

/// [`Window`]'s fields, histograms as `H`. See the module documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(expecting = "struct Window")]
pub struct WindowParts<H> {
    pub counters: Counters,
    pub rtt: H,
    pub forward: H,
    pub reverse: H,
    pub ipdv: H,
    pub rtt_range: SignedRange,
    pub forward_range: SignedRange,
    pub reverse_range: SignedRange,
    pub clock: ClockCounters,
    pub sources: SourceCounts,
}

/// A window with sparse histograms: what ingest checks, rolls up and takes
/// medians of.
pub type SparseWindow = WindowParts<SparseHistogram>;

impl<H> WindowParts<H> {
    /// The same window with each histogram passed through `f` (in the order
    /// rtt, forward, reverse, ipdv; the first error ends it, named).
    pub fn try_map<'a, G, E>(
        &'a self,
        mut f: impl FnMut(&'a H) -> Result<G, E>,
    ) -> Result<WindowParts<G>, (&'static str, E)> {
        Ok(WindowParts {
            counters: self.counters,
            rtt: f(&self.rtt).map_err(|e| ("rtt", e))?,
            forward: f(&self.forward).map_err(|e| ("forward", e))?,
            reverse: f(&self.reverse).map_err(|e| ("reverse", e))?,
            ipdv: f(&self.ipdv).map_err(|e| ("ipdv", e))?,
            rtt_range: self.rtt_range,
            forward_range: self.forward_range,
            reverse_range: self.reverse_range,
            clock: self.clock,
            sources: self.sources,
        })
    }
}

impl SparseWindow {
    /// [`super::validate`] for a sparse window: the same checks, the same
    /// messages.
    pub fn validate(&self) -> Result<(), String> {
        check_parts(
            &self.counters,
            [
                self.rtt.len(),
                self.forward.len(),
                self.reverse.len(),
                self.ipdv.len(),
            ],
            &self.clock,
            &self.sources,
        )
    }

    /// The sparse form of a dense window.
    pub fn of(w: &Window) -> SparseWindow {
        WindowParts {
            counters: w.counters,
            rtt: SparseHistogram::of(&w.rtt),
            forward: SparseHistogram::of(&w.forward),
            reverse: SparseHistogram::of(&w.reverse),
            ipdv: SparseHistogram::of(&w.ipdv),
            rtt_range: w.rtt_range,
            forward_range: w.forward_range,
            reverse_range: w.reverse_range,
            clock: w.clock,
            sources: w.sources,
        }
    }
}

impl WindowParts<HistBytes> {
    /// A window's histograms as their V2 + deflate octets (the binary upload).
    pub fn bytes_of(w: &Window) -> Result<WindowParts<HistBytes>, HistogramError> {
        let parts = WindowParts {
            counters: w.counters,
            rtt: &w.rtt,
            forward: &w.forward,
            reverse: &w.reverse,
            ipdv: &w.ipdv,
            rtt_range: w.rtt_range,
            forward_range: w.forward_range,
            reverse_range: w.reverse_range,
            clock: w.clock,
            sources: w.sources,
        };
        parts
            .try_map(|h| h.to_bytes().map(HistBytes))
            .map_err(|(_, e)| e)
    }

    /// Decodes and checks every histogram into the sparse window.
    pub fn to_sparse(&self) -> Result<SparseWindow, (&'static str, HistogramError)> {
        self.try_map(|h| sparse_from_bytes(&h.0))
    }

    /// The window as the JSON a [`Window`] reads (histograms in base64).
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        let text = self
            .try_map(|h| Ok::<_, ()>(Base64(h.0.as_slice())))
            .map_err(|_| de::Error::custom("unreachable"))?;
        serde_json::to_string(&text)
    }
}

/// A histogram's V2 + deflate octets, as the binary upload carries them (a
/// CBOR byte string, not base64 text).
#[derive(Clone, PartialEq, Eq)]
pub struct HistBytes(pub Vec<u8>);

impl fmt::Debug for HistBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HistBytes({} octets)", self.0.len())
    }
}

impl Serialize for HistBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for HistBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HistBytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a histogram as a byte string")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<HistBytes, E> {
                Ok(HistBytes(v.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<HistBytes, E> {
                Ok(HistBytes(v))
            }
        }
        d.deserialize_bytes(V)
    }
}

/// A histogram's octets read from base64 text (a JSON batch transcoded to
/// the binary one): decoded, not inflated or checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base64Bytes(pub Vec<u8>);

impl<'de> Deserialize<'de> for Base64Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Base64Bytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Base64Bytes, E> {
                base64::decode(v)
                    .map(Base64Bytes)
                    .ok_or_else(|| E::custom(HistogramError::Base64))
            }
        }
        d.deserialize_str(V)
    }
}

/// Octets written as base64 text (a stored window's histogram).
struct Base64<'a>(&'a [u8]);

impl Serialize for Base64<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::encode(self.0))
    }
}

/// A base64 histogram read straight into its sparse form (JSON uploads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base64Sparse(pub SparseHistogram);

impl<'de> Deserialize<'de> for Base64Sparse {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Base64Sparse;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Base64Sparse, E> {
                sparse_from_base64(v).map(Base64Sparse).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

impl WindowParts<Base64Sparse> {
    pub fn into_sparse(self) -> SparseWindow {
        WindowParts {
            counters: self.counters,
            rtt: self.rtt.0,
            forward: self.forward.0,
            reverse: self.reverse.0,
            ipdv: self.ipdv.0,
            rtt_range: self.rtt_range,
            forward_range: self.forward_range,
            reverse_range: self.reverse_range,
            clock: self.clock,
            sources: self.sources,
        }
    }
}
