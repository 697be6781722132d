//! Feeds arbitrary text to the controller's configuration reader
//! (`mesh_controller::server::config::from_str`, as if it were
//! /nonexistent/fuzz.yaml, so relative topology, budgets and secret files are
//! not found) and plans the targets of what loads, as `serve` does on every
//! (re)load. None may panic; an error is one line.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mesh_controller::server::config::from_str;
use mesh_controller::server::targets::plan;
use std::path::Path;

/// Whether the configuration could name a file outside /nonexistent: a
/// string that starts with `/` (escapes included, as YAML resolves them).
/// Reading /dev/zero or a FIFO would hang the fuzzer, so such inputs are
/// skipped; text without `/` or `\` cannot spell one.
fn names_an_absolute_path(text: &str) -> bool {
    if !text.contains(['/', '\\']) {
        return false;
    }
    match serde_yaml::from_str::<serde_yaml::Value>(text) {
        Ok(v) => has_absolute(&v),
        // Not YAML to serde_yaml either: nothing would be read, but be safe.
        Err(_) => true,
    }
}

fn has_absolute(v: &serde_yaml::Value) -> bool {
    use serde_yaml::Value;
    match v {
        Value::String(s) => s.starts_with('/'),
        Value::Sequence(items) => items.iter().any(has_absolute),
        Value::Mapping(m) => m.iter().any(|(k, v)| has_absolute(k) || has_absolute(v)),
        Value::Tagged(t) => has_absolute(&t.value),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if names_an_absolute_path(text) {
        return;
    }
    match from_str(text, "fuzz.yaml", Path::new("/nonexistent/fuzz.yaml")) {
        Ok(config) => {
            let plans = plan(&config);
            assert_eq!(plans.len(), config.probes.len());
        }
        Err(e) => {
            let shown = e.to_string();
            assert!(!shown.contains('\n'), "{shown:?}");
        }
    }
});
