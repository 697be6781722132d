//! Feeds arbitrary text to the topology file reader (`topology::load::from_str`)
//! and the budgets file reader (`--budgets FILE`), and routes and analyses
//! what loads, as `mesh-controller plan` does with a user's file. None may
//! panic; an error is one line, and a position it gives lies in the text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use topology::analysis::{analyse, Options};
use topology::error::LoadError;
use topology::load::{budgets_from_str, from_str};
use topology::routing::Routes;
use topology::Topology;

const ORIGIN: &str = "fuzz.yaml";

/// What a budgets file is resolved against when the text is no topology.
const HUBS: &str = "version: 1
hubs: [{id: rt, role: realtime}, {id: bulk, role: non-realtime}]
sites:
  - {id: a, kind: cluster, hub: rt, location: [30, 104]}
  - {id: b, kind: city, hub: bulk, location: [31, 105]}
links:
  - {between: [a, b], delay_ms: 2}
";

fn hubs() -> &'static Topology {
    static TOPO: OnceLock<Topology> = OnceLock::new();
    TOPO.get_or_init(|| match from_str(HUBS, "hubs.yaml") {
        Ok(t) => t,
        Err(e) => panic!("the fuzz target's own topology does not load: {e}"),
    })
}

/// The last line a position may name: lines as YAML counts them (CR LF, and
/// a lone CR, LF, NEL, LS or PS each end one; `str::lines` knows only the
/// first and LF), and one more, as serde_yaml places the end of the document
/// past a last line it ends without a break (`#` alone: "2:1: missing field
/// `version`").
fn last_line(text: &str) -> usize {
    let breaks = text
        .replace("\r\n", "\n")
        .chars()
        .filter(|c| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}'))
        .count();
    breaks + 2
}

fn check_error(e: &LoadError, text: &str) {
    let shown = e.to_string();
    assert!(!shown.contains('\n'), "{shown:?}");
    if let Some(line) = e.line {
        assert!(line >= 1 && line <= last_line(text), "{shown}");
    }
    if let Some(column) = e.column {
        assert!(column >= 1, "{shown}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match from_str(text, ORIGIN) {
        Ok(topo) => {
            let routes = Routes::compute(&topo);
            let options = Options {
                all: topo.sites.len() <= 16,
                ..Options::default()
            };
            let _ = analyse(&topo, &topo.budgets, &routes, &options);
            if let Err(e) = budgets_from_str(text, ORIGIN, &topo) {
                check_error(&e, text);
            }
        }
        Err(e) => check_error(&e, text),
    }
    if let Err(e) = budgets_from_str(text, ORIGIN, hubs()) {
        check_error(&e, text);
    }
});
