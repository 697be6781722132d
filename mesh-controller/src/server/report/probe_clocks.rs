//! The report's per-probe clocks: what each probe said of its clock in its
//! last hello (synchronized, source, the error it announces) and whether a
//! test knob is moving it. The offset between two probes' clocks is per
//! pair (`clocks`); this is each clock's own claim, which that interval is
//! checked against.

use crate::server::config::Config;
use crate::server::store::ProbeRow;
use protocol::api::TestClock;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One probe's clock as it last described it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeClock {
    pub probe: String,
    pub endpoint: String,
    pub synchronized: bool,
    /// `ntp`, `ptp`, `gnss`, `free-running`, `stated` (null: not said).
    pub source: Option<String>,
    pub error_us: u64,
    /// Reads one kernel clock with other probes of this boot id.
    pub boot_id: Option<String>,
    /// TEST KNOB: the offset and drift a test clock adds (test data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_clock: Option<TestClock>,
}

/// Every configured probe that has said hello, in configuration order.
pub fn probe_clocks(config: &Config, rows: &HashMap<String, ProbeRow>) -> Vec<ProbeClock> {
    config
        .probes
        .iter()
        .filter_map(|p| {
            let row = rows.get(&p.id)?;
            let c = row.clock?;
            Some(ProbeClock {
                probe: p.id.clone(),
                endpoint: config.endpoint_name(p),
                synchronized: c.synchronized,
                source: c.source.map(|s| s.as_str().to_owned()),
                error_us: c.error_us,
                boot_id: row.boot_id.clone(),
                test_clock: c.test_clock,
            })
        })
        .collect()
}

pub const PROBE_CLOCK_HEADERS: [&str; 6] =
    ["PROBE", "AT", "SYNCHRONIZED", "SOURCE", "ERROR us", "NOTE"];

pub fn probe_clock_rows(clocks: &[ProbeClock]) -> Vec<Vec<String>> {
    clocks
        .iter()
        .map(|c| {
            let note = match c.test_clock {
                Some(t) => t.to_string(),
                None if c.boot_id.is_some() => "kernel clock shared by boot id".to_owned(),
                None => String::new(),
            };
            vec![
                c.probe.clone(),
                c.endpoint.clone(),
                if c.synchronized { "yes" } else { "no" }.to_owned(),
                c.source.clone().unwrap_or_else(|| "-".to_owned()),
                c.error_us.to_string(),
                note,
            ]
        })
        .collect()
}
