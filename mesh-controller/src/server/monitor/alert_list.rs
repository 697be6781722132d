//! Alerts as `/v1/alerts` and the report list them: firing ones, pending
//! ones, and those resolved lately, from the store.

use crate::monitor::alertmanager::{rfc3339, Labels};
use crate::monitor::alerts::AlertState;
use crate::server::store::alerts::Episode;
use crate::server::store::StoreRead;
use serde::{Deserialize, Serialize};

/// One alert as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertView {
    pub fingerprint: String,
    /// `pending`, `firing` or `resolved`.
    pub state: String,
    pub alertname: String,
    pub from: String,
    pub to: String,
    pub direction: String,
    pub rule: String,
    pub severity: String,
    pub labels: Labels,
    pub annotations: Labels,
    /// Unix ms: bad since (pending), fired, resolved.
    pub pending_since: u64,
    pub fired_at: Option<u64>,
    pub resolved_at: Option<u64>,
    /// RFC 3339 of the same, for people.
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    /// The figure that fired it and the threshold it crossed.
    pub value: Option<f64>,
    pub threshold: Option<f64>,
}

/// The answer of `GET /v1/alerts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertList {
    pub alerts: Vec<AlertView>,
}

fn label(l: &Labels, k: &str) -> String {
    l.get(k).cloned().unwrap_or_default()
}

impl AlertView {
    pub fn of_episode(e: &Episode) -> AlertView {
        AlertView {
            fingerprint: e.fingerprint.clone(),
            state: if e.resolved_ms.is_some() {
                "resolved"
            } else {
                "firing"
            }
            .to_string(),
            alertname: label(&e.labels, "alertname"),
            from: label(&e.labels, "from"),
            to: label(&e.labels, "to"),
            direction: label(&e.labels, "direction"),
            rule: label(&e.labels, "rule"),
            severity: label(&e.labels, "severity"),
            labels: e.labels.clone(),
            annotations: e.annotations.clone(),
            pending_since: e.pending_since_ms,
            fired_at: Some(e.fired_ms),
            resolved_at: e.resolved_ms,
            starts_at: Some(rfc3339(e.fired_ms)),
            ends_at: e.resolved_ms.map(rfc3339),
            value: e.value,
            threshold: e.threshold,
        }
    }
}

/// Which alerts to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Firing,
    Pending,
    Resolved,
    All,
}

/// Lists alerts from the store: firing ones (newest first), then pending
/// ones, then those resolved at or after `since_ms`.
pub fn list(
    conn: &dyn StoreRead,
    which: Which,
    since_ms: u64,
) -> Result<AlertList, crate::server::store::StoreError> {
    let firing = matches!(which, Which::Firing | Which::All);
    let resolved = matches!(which, Which::Resolved | Which::All).then_some(since_ms);
    let mut out: Vec<AlertView> = Vec::new();
    let eps = if firing || resolved.is_some() {
        conn.episodes(firing, resolved)?
    } else {
        Vec::new()
    };
    out.extend(
        eps.iter()
            .filter(|e| e.resolved_ms.is_none())
            .map(AlertView::of_episode),
    );
    if matches!(which, Which::Pending | Which::All) {
        let mut pending: Vec<AlertView> = conn
            .alert_states()?
            .into_iter()
            .filter_map(|(fp, s)| match s.state {
                AlertState::Pending { since } => Some(AlertView {
                    fingerprint: fp,
                    state: "pending".into(),
                    alertname: label(&s.labels, "alertname"),
                    from: label(&s.labels, "from"),
                    to: label(&s.labels, "to"),
                    direction: label(&s.labels, "direction"),
                    rule: label(&s.labels, "rule"),
                    severity: label(&s.labels, "severity"),
                    labels: s.labels,
                    annotations: Labels::new(),
                    pending_since: since,
                    fired_at: None,
                    resolved_at: None,
                    starts_at: None,
                    ends_at: None,
                    value: None,
                    threshold: None,
                }),
                _ => None,
            })
            .collect();
        pending.sort_by_key(|a| std::cmp::Reverse(a.pending_since));
        out.extend(pending);
    }
    out.extend(
        eps.iter()
            .filter(|e| e.resolved_ms.is_some())
            .map(AlertView::of_episode),
    );
    Ok(AlertList { alerts: out })
}
