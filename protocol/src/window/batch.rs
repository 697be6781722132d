//! The checks a batch of uploaded windows (`POST /v1/windows`) must pass before
//! any of it is stored, as a pure function of the uploader, the body and the
//! time: the controller maps the error to its answer, and the same code is unit
//! tested and fuzzed without a server.

use super::cbor::{self, Encoding};
use super::parts::{Base64Sparse, SparseWindow, WindowParts};
use super::{validate, HistogramError, Window};
use crate::api::{WindowBatch, WindowUpload};
use crate::id::is_probe_id;
use serde_json::value::RawValue;
use std::collections::HashSet;

/// Most windows in one upload.
pub const MAX_BATCH: usize = 10_000;
/// Windows may start at most this far in the future (sender clock skew).
pub const FUTURE_SLACK_MS: u64 = 86_400_000;
/// No window starts before 2017.
pub const EARLIEST_MS: u64 = 1_483_228_800_000;
/// Longest window: a day.
pub const MAX_DURATION_MS: u64 = 86_400_000;

/// One window of a batch that passed every check: the upload as received (its
/// window still the raw JSON the controller stores) and that window decoded.
#[derive(Debug)]
pub struct CheckedWindow {
    pub upload: WindowUpload<Box<RawValue>>,
    pub window: Window,
}

/// One window of a batch that passed every check, as ingest keeps it: the
/// envelope with the window's JSON text (as uploaded, or written from the
/// binary upload), and the window with sparse histograms (never dense).
#[derive(Debug)]
pub struct CheckedUpload {
    pub upload: WindowUpload<String>,
    pub window: SparseWindow,
}

/// Why a batch is refused, all of it. Displays as the one line the client is
/// answered with.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The body is not a batch of windows.
    #[error("body: {0}")]
    Body(serde_json::Error),
    /// The binary body is not a batch of windows.
    #[error("body: {0}")]
    BinaryBody(String),
    /// The batch names another probe than the one uploading it. The only
    /// refusal that is about who uploads rather than what (the controller
    /// answers 403 Forbidden to it and 400 Bad Request to the others).
    #[error("this token belongs to probe {uploader:?}: it cannot upload windows of {named:?}")]
    WrongProbe { uploader: String, named: String },
    /// More than [`MAX_BATCH`] windows.
    #[error("{0} windows in one batch, at most {MAX_BATCH}")]
    TooMany(usize),
    /// Window `index` (from 0) is wrong.
    #[error("windows[{index}]: {problem}")]
    Window { index: usize, problem: ItemError },
}

impl BatchError {
    /// Whether the uploader may not upload this batch at all (as opposed to
    /// the batch being malformed).
    pub fn is_forbidden(&self) -> bool {
        matches!(self, BatchError::WrongProbe { .. })
    }
}

/// What is wrong with one item of an upload batch. The first three apply to
/// every kind of item (windows and the controller's other results, see
/// [`check_seq_and_start`]); the rest to windows.
#[derive(Debug, thiserror::Error)]
pub enum ItemError {
    #[error("seq {0} out of range (1 ..= 2^63-1)")]
    SeqOutOfRange(u64),
    #[error("seq {0} appears twice in the batch")]
    SeqRepeated(u64),
    #[error("start_unix_ms {0} is not a plausible time")]
    Start(u64),
    #[error("target {0:?} is not a probe id")]
    Target(String),
    #[error("a probe does not measure itself")]
    OwnTarget,
    #[error("duration_ms {0} out of range (1 ..= 1 day)")]
    Duration(u64),
    /// The window is not a window.
    #[error("window: {0}")]
    Decode(serde_json::Error),
    /// A histogram of a binary upload does not decode.
    #[error("window: {0}: {1}")]
    Histogram(&'static str, HistogramError),
    /// The window decodes but does not add up (see [`validate`]).
    #[error("window: {0}")]
    Invalid(String),
}

/// What every uploaded item (window or result) must satisfy: a sequence
/// number in range and not repeated within its batch (`seen` holds the ones
/// before it), a plausible start time given that it is `now_ms`.
pub fn check_seq_and_start(
    seq: u64,
    start_unix_ms: u64,
    seen: &mut HashSet<u64>,
    now_ms: u64,
) -> Result<(), ItemError> {
    if seq == 0 || seq > i64::MAX as u64 {
        return Err(ItemError::SeqOutOfRange(seq));
    }
    if !seen.insert(seq) {
        return Err(ItemError::SeqRepeated(seq));
    }
    if start_unix_ms < EARLIEST_MS || start_unix_ms > now_ms.saturating_add(FUTURE_SLACK_MS) {
        return Err(ItemError::Start(start_unix_ms));
    }
    Ok(())
}

/// Parses and checks a whole batch uploaded by probe `probe` at `now_ms`
/// (Unix ms); the first problem refuses all of it. Windows come back in the
/// batch's order.
pub fn check_batch(
    probe: &str,
    body: &[u8],
    now_ms: u64,
) -> Result<Vec<CheckedWindow>, BatchError> {
    let batch: WindowBatch<Box<RawValue>> =
        serde_json::from_slice(body).map_err(BatchError::Body)?;
    check_batch_envelope(probe, &batch)?;
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(batch.windows.len());
    for (index, upload) in batch.windows.into_iter().enumerate() {
        let window = check_window(probe, &upload, &mut seen, now_ms)
            .map_err(|problem| BatchError::Window { index, problem })?;
        out.push(CheckedWindow { upload, window });
    }
    Ok(out)
}

/// One window of `probe`'s batch: its envelope, then the window decoded and
/// validated.
fn check_window(
    probe: &str,
    w: &WindowUpload<Box<RawValue>>,
    seen: &mut HashSet<u64>,
    now_ms: u64,
) -> Result<Window, ItemError> {
    check_envelope(probe, w, seen, now_ms)?;
    let decoded: Window = serde_json::from_str(w.window.get()).map_err(ItemError::Decode)?;
    validate(&decoded).map_err(ItemError::Invalid)?;
    Ok(decoded)
}

/// The rules on a window's envelope (everything but the window itself).
fn check_envelope<W>(
    probe: &str,
    w: &WindowUpload<W>,
    seen: &mut HashSet<u64>,
    now_ms: u64,
) -> Result<(), ItemError> {
    check_seq_and_start(w.seq, w.start_unix_ms, seen, now_ms)?;
    if !is_probe_id(&w.target) {
        return Err(ItemError::Target(w.target.clone()));
    }
    if w.target == probe {
        return Err(ItemError::OwnTarget);
    }
    if w.duration_ms == 0 || w.duration_ms > MAX_DURATION_MS {
        return Err(ItemError::Duration(w.duration_ms));
    }
    Ok(())
}

/// The batch-level rules: whose batch, how many windows.
fn check_batch_envelope<W>(probe: &str, batch: &WindowBatch<W>) -> Result<(), BatchError> {
    if batch.probe != probe {
        return Err(BatchError::WrongProbe {
            uploader: probe.to_string(),
            named: batch.probe.clone(),
        });
    }
    if batch.windows.len() > MAX_BATCH {
        return Err(BatchError::TooMany(batch.windows.len()));
    }
    Ok(())
}

/// [`check_batch`] as the controller's ingest runs it, for a body in either
/// encoding: the same rules, the same refusals, but each window read once
/// into what is stored (its JSON text) and what is rolled up (sparse
/// histograms, never the dense ones). A binary window's JSON is written
/// here from its octets.
pub fn check_upload(
    probe: &str,
    body: &[u8],
    encoding: Encoding,
    now_ms: u64,
) -> Result<Vec<CheckedUpload>, BatchError> {
    let mut seen = HashSet::new();
    match encoding {
        Encoding::Json => {
            let batch: WindowBatch<&RawValue> =
                serde_json::from_slice(body).map_err(BatchError::Body)?;
            check_batch_envelope(probe, &batch)?;
            let mut out = Vec::with_capacity(batch.windows.len());
            for (index, w) in batch.windows.iter().enumerate() {
                let mut item = || -> Result<SparseWindow, ItemError> {
                    check_envelope(probe, w, &mut seen, now_ms)?;
                    let parts: WindowParts<Base64Sparse> =
                        serde_json::from_str(w.window.get()).map_err(ItemError::Decode)?;
                    let sparse = parts.into_sparse();
                    sparse.validate().map_err(ItemError::Invalid)?;
                    Ok(sparse)
                };
                let window = item().map_err(|problem| BatchError::Window { index, problem })?;
                out.push(CheckedUpload {
                    upload: envelope_with(w, w.window.get().to_owned()),
                    window,
                });
            }
            Ok(out)
        }
        Encoding::Cbor => {
            let batch = cbor::decode(body).map_err(|e| BatchError::BinaryBody(e.to_string()))?;
            check_batch_envelope(probe, &batch)?;
            let mut out = Vec::with_capacity(batch.windows.len());
            for (index, w) in batch.windows.iter().enumerate() {
                let mut item = || -> Result<(SparseWindow, String), ItemError> {
                    check_envelope(probe, w, &mut seen, now_ms)?;
                    let sparse = w
                        .window
                        .to_sparse()
                        .map_err(|(name, e)| ItemError::Histogram(name, e))?;
                    sparse.validate().map_err(ItemError::Invalid)?;
                    let json = w
                        .window
                        .to_json()
                        .map_err(|e| ItemError::Invalid(e.to_string()))?;
                    Ok((sparse, json))
                };
                let (window, json) =
                    item().map_err(|problem| BatchError::Window { index, problem })?;
                out.push(CheckedUpload {
                    upload: envelope_with(w, json),
                    window,
                });
            }
            Ok(out)
        }
    }
}

/// An envelope with another window.
fn envelope_with<W, V>(w: &WindowUpload<W>, window: V) -> WindowUpload<V> {
    WindowUpload {
        seq: w.seq,
        target: w.target.clone(),
        start_unix_ms: w.start_unix_ms,
        duration_ms: w.duration_ms,
        window,
        timestamping: w.timestamping,
        ssid: w.ssid,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::window::{ClockSample, Event, PacketSample, TsSource};
    use serde_json::{json, Value};

    const NOW: u64 = 1_700_000_000_000;

    fn window() -> Window {
        let mut w = Window::new();
        for ms in 1..=3 {
            w.record(&Event::Sent);
            w.record(&Event::Reply(PacketSample {
                sender_seq: ms as u32,
                reflector_seq: ms as u32,
                rtt_ns: 2 * ms * 1_000_000,
                forward_ns: ms * 1_000_000,
                reverse_ns: ms * 1_000_000,
                clock: ClockSample::default(),
                ts_source: TsSource::Kernel,
            }));
        }
        w
    }

    fn upload(seq: u64, target: &str) -> Value {
        json!({
            "seq": seq,
            "target": target,
            "start_unix_ms": NOW - 60_000,
            "duration_ms": 60_000,
            "window": window(),
            "timestamping": "kernel",
        })
    }

    fn body(probe: &str, windows: Vec<Value>) -> Vec<u8> {
        serde_json::to_vec(&json!({"probe": probe, "windows": windows})).unwrap()
    }

    /// The refusal, which the ingest path (`check_upload`) gives word for
    /// word too.
    fn refusal(probe: &str, body: &[u8]) -> (bool, String) {
        let e = check_batch(probe, body, NOW).unwrap_err();
        let fast = check_upload(probe, body, Encoding::Json, NOW).unwrap_err();
        assert_eq!(fast.to_string(), e.to_string());
        assert_eq!(fast.is_forbidden(), e.is_forbidden());
        (e.is_forbidden(), e.to_string())
    }

    fn cbor_of(body: &[u8]) -> Vec<u8> {
        cbor::json_to_cbor(body).unwrap()
    }

    #[test]
    fn ingest_reads_both_encodings_into_the_same_windows() {
        let b = body("bj-1", vec![upload(7, "sh-1"), upload(8, "gz-1")]);
        for encoding in [Encoding::Json, Encoding::Cbor] {
            let wire = match encoding {
                Encoding::Json => b.clone(),
                Encoding::Cbor => cbor_of(&b),
            };
            let checked = check_upload("bj-1", &wire, encoding, NOW).unwrap();
            assert_eq!(checked.len(), 2);
            assert_eq!(
                (checked[0].upload.seq, checked[1].upload.target.as_str()),
                (7, "gz-1")
            );
            assert_eq!(
                checked[0].upload.timestamping,
                Some(crate::window::TsSource::Kernel)
            );
            // What is stored reads back as the window uploaded; what is
            // rolled up is its sparse form.
            let stored: Window = serde_json::from_str(&checked[0].upload.window).unwrap();
            assert_eq!(stored, window());
            assert_eq!(checked[0].window, SparseWindow::of(&window()));
        }
        assert!(cbor_of(&b).len() < b.len(), "binary is the smaller");
    }

    #[test]
    fn binary_refusals_say_what_and_which_window() {
        let mut tampered = upload(2, "sh-1");
        tampered["window"]["counters"]["received"] = json!(4);
        let b = cbor_of(&body("bj-1", vec![upload(1, "sh-1"), tampered]));
        let e = check_upload("bj-1", &b, Encoding::Cbor, NOW).unwrap_err();
        assert_eq!(
            e.to_string(),
            "windows[1]: window: rtt histogram holds 3 values and 0 were negative, but 4 replies were received"
        );
        // A histogram's octets corrupted: named, by window and histogram.
        let mut batch = cbor::decode(&cbor_of(&body("bj-1", vec![upload(1, "sh-1")]))).unwrap();
        batch.windows[0].window.forward.0[3] ^= 0xff;
        let b = cbor::encode(&batch).unwrap();
        let e = check_upload("bj-1", &b, Encoding::Cbor, NOW).unwrap_err();
        assert_eq!(
            e.to_string(),
            "windows[0]: window: forward: histogram does not decode: not a V2 + deflate histogram"
        );
        let e = check_upload("bj-1", &b[..b.len() - 3], Encoding::Cbor, NOW).unwrap_err();
        assert!(e.to_string().starts_with("body: "), "{e}");
        let other = cbor_of(&body("sh-1", vec![upload(1, "gz-1")]));
        assert!(check_upload("bj-1", &other, Encoding::Cbor, NOW)
            .unwrap_err()
            .is_forbidden());
    }

    #[test]
    fn a_good_batch_comes_back_decoded_in_order() {
        let b = body("bj-1", vec![upload(7, "sh-1"), upload(8, "gz-1")]);
        let checked = check_batch("bj-1", &b, NOW).unwrap();
        assert_eq!(checked.len(), 2);
        assert_eq!(checked[0].upload.seq, 7);
        assert_eq!(checked[1].upload.target, "gz-1");
        assert_eq!(checked[0].window, window());
        let stored: Window = serde_json::from_str(checked[0].upload.window.get()).unwrap();
        assert_eq!(stored, window());
        let fast = check_upload("bj-1", &b, Encoding::Json, NOW).unwrap();
        assert_eq!(fast[0].upload.window, checked[0].upload.window.get());
        assert_eq!(fast[1].window, SparseWindow::of(&checked[1].window));
    }

    #[test]
    fn refusals_say_what_and_which_window() {
        let bad = |v: Value| body("bj-1", vec![upload(1, "sh-1"), v]);
        let mut late = upload(2, "sh-1");
        late["start_unix_ms"] = json!(NOW + FUTURE_SLACK_MS + 1);
        let mut old = upload(2, "sh-1");
        old["start_unix_ms"] = json!(EARLIEST_MS - 1);
        let mut long = upload(2, "sh-1");
        long["duration_ms"] = json!(MAX_DURATION_MS + 1);
        let mut empty = upload(2, "sh-1");
        empty["duration_ms"] = json!(0);
        let mut tampered = upload(2, "sh-1");
        tampered["window"]["counters"]["received"] = json!(4);
        let mut garbled = upload(2, "sh-1");
        garbled["window"] = json!("nope");
        let cases = [
            (bad(upload(0, "sh-1")), "windows[1]: seq 0 out of range (1 ..= 2^63-1)"),
            (bad(upload(1, "sh-1")), "windows[1]: seq 1 appears twice in the batch"),
            (bad(upload(1 << 63, "sh-1")), "windows[1]: seq 9223372036854775808 out of range (1 ..= 2^63-1)"),
            (bad(late), "windows[1]: start_unix_ms 1700086400001 is not a plausible time"),
            (bad(old), "windows[1]: start_unix_ms 1483228799999 is not a plausible time"),
            (bad(upload(2, "SH")), "windows[1]: target \"SH\" is not a probe id"),
            (bad(upload(2, "bj-1")), "windows[1]: a probe does not measure itself"),
            (bad(long), "windows[1]: duration_ms 86400001 out of range (1 ..= 1 day)"),
            (bad(empty), "windows[1]: duration_ms 0 out of range (1 ..= 1 day)"),
            (bad(tampered), "windows[1]: window: rtt histogram holds 3 values and 0 were negative, but 4 replies were received"),
        ];
        for (b, want) in cases {
            assert_eq!(refusal("bj-1", &b), (false, want.to_string()));
        }
        let (forbidden, why) = refusal("bj-1", &bad(garbled));
        assert!(!forbidden);
        assert!(
            why.starts_with("windows[1]: window: invalid type: string \"nope\""),
            "{why}"
        );
    }

    #[test]
    fn the_batch_itself_is_refused_before_any_window() {
        assert_eq!(
            refusal("bj-1", &body("sh-1", vec![upload(0, "x")])),
            (
                true,
                "this token belongs to probe \"bj-1\": it cannot upload windows of \"sh-1\""
                    .to_string()
            )
        );
        let (forbidden, why) = refusal("bj-1", b"{\"probe\": \"bj-1\"");
        assert!(!forbidden);
        assert!(why.starts_with("body: EOF while parsing"), "{why}");
        let many = format!(
            "{{\"probe\":\"bj-1\",\"windows\":[{}]}}",
            vec![serde_json::to_string(&upload(1, "sh-1")).unwrap(); MAX_BATCH + 1].join(",")
        );
        assert_eq!(
            refusal("bj-1", many.as_bytes()),
            (
                false,
                "10001 windows in one batch, at most 10000".to_string()
            )
        );
    }

    #[test]
    fn results_share_the_sequence_and_time_rules() {
        let mut seen = HashSet::new();
        assert!(check_seq_and_start(5, NOW, &mut seen, NOW).is_ok());
        assert!(matches!(
            check_seq_and_start(5, NOW, &mut seen, NOW),
            Err(ItemError::SeqRepeated(5))
        ));
        assert!(check_seq_and_start(6, NOW + FUTURE_SLACK_MS, &mut seen, NOW).is_ok());
        assert!(check_seq_and_start(7, u64::MAX, &mut seen, u64::MAX).is_ok());
    }
}
