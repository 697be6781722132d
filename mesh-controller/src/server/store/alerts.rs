//! Alerts as the store keeps them, whatever the backend: each alert's state,
//! its firings (episodes), and the webhook notifications queued with them.

use super::StoreError;
use crate::monitor::alertmanager::Labels;
use crate::monitor::alerts::AlertState;

/// An alert's stored state.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredState {
    pub labels: Labels,
    pub state: AlertState,
}

/// A notification to queue with a state change.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// `firing` or `resolved`.
    pub status: &'static str,
    pub annotations: Labels,
    pub pending_since_ms: u64,
    pub fired_ms: u64,
    pub resolved_ms: Option<u64>,
    /// The figure that fired it and the threshold it crossed.
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    /// (receiver, webhook body) for every receiver.
    pub bodies: Vec<(String, String)>,
}

/// One alert's new state, with what to tell about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub fingerprint: String,
    pub labels: Labels,
    pub state: AlertState,
    pub notice: Option<Notice>,
}

/// A firing, as `/v1/alerts` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    pub id: i64,
    pub fingerprint: String,
    pub labels: Labels,
    pub annotations: Labels,
    pub pending_since_ms: u64,
    pub fired_ms: u64,
    pub resolved_ms: Option<u64>,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
}

/// A notification waiting to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub receiver: String,
    pub status: String,
    pub body: String,
    pub created_ms: u64,
    pub next_ms: u64,
    pub attempts: u64,
}

/// Labels as stored (JSON).
pub(crate) fn labels_json(l: &Labels) -> String {
    serde_json::to_string(l).unwrap_or_else(|_| "{}".to_string())
}

/// Labels read back.
pub(crate) fn labels_of(text: &str) -> Result<Labels, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("stored labels: {e}")))
}
