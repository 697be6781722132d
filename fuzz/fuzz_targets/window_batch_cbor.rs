//! Feeds arbitrary octets to the controller's binary (CBOR) window upload
//! check (`protocol::window::check_upload` with `Encoding::Cbor`: the CBOR
//! batch, its envelope, every window's histogram octets decoded sparse and
//! validated, the JSON to store written), as a whole body and as the octets
//! of one histogram of an otherwise good batch (so histogram decoding is
//! reached without the fuzzer first finding the CBOR envelope). None may
//! panic; a batch that passes holds what the rules promise, its stored JSON
//! reads back (dense) as the window checked, and it passes the JSON path too.

#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::id::is_probe_id;
use protocol::window::cbor::{self, BinaryBatch};
use protocol::window::{check_upload, validate, Encoding, SparseWindow, Window, MAX_BATCH};
use std::collections::HashSet;

const PROBE: &str = "bj-1";
const NOW_MS: u64 = 1_700_000_000_000;
/// A good one-window batch (the seed's), whose forward histogram the
/// fuzzer's octets replace.
const GOOD: &[u8] = include_bytes!("../seeds/window_batch_cbor/batch.cbor");

fn check(body: &[u8]) {
    let windows = match check_upload(PROBE, body, Encoding::Cbor, NOW_MS) {
        Ok(windows) => windows,
        Err(e) => {
            let reason = e.to_string();
            assert!(!reason.is_empty() && !reason.contains('\n'), "{reason:?}");
            return;
        }
    };
    assert!(windows.len() <= MAX_BATCH);
    let mut seqs = HashSet::new();
    for w in &windows {
        let u = &w.upload;
        assert!(seqs.insert(u.seq), "seq {} twice", u.seq);
        assert!(u.seq >= 1 && u.seq <= i64::MAX as u64);
        assert!(is_probe_id(&u.target) && u.target != PROBE);
        assert!(u.duration_ms >= 1);
        assert_eq!(w.window.validate(), Ok(()));
        // What is stored reads back, dense, as the window checked.
        let stored: Window = serde_json::from_str(&u.window).expect("stored JSON reads back");
        assert_eq!(validate(&stored), Ok(()));
        assert_eq!(SparseWindow::of(&stored), w.window);
    }
    // The same batch as JSON is taken by the JSON path, alike.
    let json = cbor::cbor_to_json(body).expect("a good batch transcodes");
    let again = check_upload(PROBE, &json, Encoding::Json, NOW_MS).expect("JSON path takes it");
    assert_eq!(again.len(), windows.len());
    for (a, b) in again.iter().zip(&windows) {
        assert_eq!(a.window, b.window);
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if let Ok(mut batch) = cbor::decode(GOOD) {
        let batch: &mut BinaryBatch = &mut batch;
        if let Some(w) = batch.windows.first_mut() {
            w.window.forward.0 = data.to_vec();
        }
        if let Ok(body) = cbor::encode(batch) {
            check(&body);
        }
    }
});
