//! Events as the store keeps them, whatever the backend: level shifts and
//! path changes, recorded idempotently by a key (kind, route, direction,
//! time), and linked pairwise when one explains the other.

use serde::{Deserialize, Serialize};

/// What an event says, beyond its route and time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Detail {
    LevelShift {
        /// Window medians before and after (ms).
        before_ms: f64,
        after_ms: f64,
        /// `one-way`, or `rtt-half` when the clocks allow only the round trip.
        basis: String,
    },
    PathChange {
        old: Vec<String>,
        new: Vec<String>,
        /// The probe that traced it and its target.
        probe: String,
        target: String,
    },
}

impl Detail {
    pub fn kind(&self) -> &'static str {
        match self {
            Detail::LevelShift { .. } => "level-shift",
            Detail::PathChange { .. } => "path-change",
        }
    }
}

/// An event to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub from: String,
    pub to: String,
    /// `forward`, `reverse` or `round-trip`.
    pub direction: String,
    pub at_ms: u64,
    pub detail: Detail,
}

impl NewEvent {
    /// What makes recording it idempotent.
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            self.detail.kind(),
            self.from,
            self.to,
            self.direction,
            self.at_ms
        )
    }
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: i64,
    pub from: String,
    pub to: String,
    pub direction: String,
    pub at_ms: u64,
    pub detected_ms: u64,
    pub detail: Detail,
    pub linked: Option<i64>,
}

/// The direction a key names.
pub(crate) fn direction_of(key: &str) -> String {
    key.split('|').nth(3).unwrap_or("").to_string()
}
