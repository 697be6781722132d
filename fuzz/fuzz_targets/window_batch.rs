//! Feeds arbitrary octets to the controller's window upload check
//! (`protocol::window::check_batch`: the JSON batch, its envelope, every
//! window's histograms decoded and validated), both as a whole body and as the
//! one window of an otherwise good batch (so window decoding is reached
//! without the fuzzer first finding the envelope). None may panic; a batch
//! that passes holds what the rules promise, and the controller can turn each
//! of its windows into what it stores (rollups and medians).

#![no_main]

use libfuzzer_sys::fuzz_target;
use mesh_controller::server::store::NewWindow;
use protocol::id::is_probe_id;
use protocol::window::{check_batch, validate, Window, MAX_BATCH};
use std::collections::HashSet;

const PROBE: &str = "bj-1";
const NOW_MS: u64 = 1_700_000_000_000;
const ENVELOPE: &[u8] = br#"{"probe":"bj-1","windows":[{"seq":1,"target":"sh-1","start_unix_ms":1699999990000,"duration_ms":10000,"window":"#;

fn check(body: &[u8]) {
    let windows = match check_batch(PROBE, body, NOW_MS) {
        Ok(windows) => windows,
        Err(e) => {
            // The answer's reason: one line, never empty.
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
        assert_eq!(validate(&w.window), Ok(()));
        // What is stored (the raw JSON) reads back as the window checked.
        let stored: Result<Window, _> = serde_json::from_str(u.window.get());
        assert_eq!(stored.ok().as_ref(), Some(&w.window));
        let row = NewWindow::new(u, &w.window);
        assert_eq!(row.replies, w.window.counters.received);
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut body = Vec::with_capacity(ENVELOPE.len() + data.len() + 3);
    body.extend_from_slice(ENVELOPE);
    body.extend_from_slice(data);
    body.extend_from_slice(b"}]}");
    check(&body);
});
