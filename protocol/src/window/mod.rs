//! Measurement windows as data: counters and HdrHistograms that merge exactly,
//! serialized the way probes upload them and the controller stores them, and
//! the checks an uploaded batch of them must pass. Pure (no sockets, no clocks
//! read): the probe fills them, the controller checks, merges and summarizes
//! them.

mod base64;
mod batch;
pub mod cbor;
mod histograms;
mod parts;
mod record;
mod sparse;
mod validate;

pub use base64::{decode as base64_decode, encode as base64_encode};
pub use batch::{
    check_batch, check_seq_and_start, check_upload, BatchError, CheckedUpload, CheckedWindow,
    ItemError, EARLIEST_MS, FUTURE_SLACK_MS, MAX_BATCH, MAX_DURATION_MS,
};
pub use cbor::Encoding;
pub use histograms::{
    sparse_from_base64, sparse_from_bytes, DelayHistogram, HistogramError, Summary, HIGHEST_US,
    LOWEST_US, MAX_DECOMPRESSED_LEN, SIGNIFICANT_DIGITS,
};
pub use parts::{Base64Bytes, Base64Sparse, HistBytes, SparseWindow, WindowParts};
pub use record::{
    diff_ns, ClockCounters, ClockSample, Counters, Direction, Event, Loss, PacketSample,
    SignedRange, SourceCounts, TsSource, Window,
};
pub use sparse::{get_uvarint, put_uvarint, SparseError, SparseHistogram};
pub use validate::{add_counters, loss_of, percentile_ms, validate, MAX_COUNT};
