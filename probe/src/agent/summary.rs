//! What the agent did, printed as one JSON line on stdout when it exits: the
//! counters the spool writer and the uploads keep, and what is left in the
//! spools for the next run.

use serde::Serialize;

use super::results::{self, ResultCounts, SharedResults};
use super::spool_writer::{lock, SharedStore};

/// What the agent did, printed as JSON when it exits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub probe: String,
    /// Windows cut by the sessions.
    pub windows_cut: u64,
    /// Windows given a sequence number and written to the spool.
    pub windows_spooled: u64,
    /// Windows dropped because the spool was full.
    pub windows_dropped: u64,
    /// Windows the controller acknowledged (stored now or before).
    pub windows_acknowledged: u64,
    /// Windows left in the spool (replayed by the next run).
    pub windows_pending: u64,
    /// Windows the controller refused as malformed (moved to `rejected/`).
    pub windows_rejected: u64,
    /// The highest sequence number given out (0: none).
    pub last_seq: u64,
    /// Test packets sent, over all windows cut.
    pub packets_sent: u64,
    /// Test packets sent, over the windows spooled.
    pub packets_sent_spooled: u64,
    /// Windows that could not be written to the spool (disk error): lost.
    pub windows_lost: u64,
    /// Bandwidth tests, pings and traces.
    pub results: ResultCounts,
    /// Results left in their spool (replayed by the next run).
    pub results_pending: u64,
}

/// A [`Summary`] as one JSON line.
pub fn summary_json(s: &Summary) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The summary at exit: the counters kept while running, and what the
/// spools still hold.
pub(super) fn at_exit(store: &SharedStore, results: &SharedResults) -> Summary {
    let st = lock(store);
    let mut summary = st.summary.clone();
    summary.windows_pending = st.spool.len() as u64;
    summary.last_seq = st.spool.next_seq().saturating_sub(1);
    let r = results::lock(results);
    summary.results = r.counts.clone();
    summary.results_pending = r.pending() as u64;
    summary
}
