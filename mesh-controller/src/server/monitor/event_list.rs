//! Events as `/v1/events` and the report list them: what changed (level
//! shifts, path changes), each with the event it is linked to and one line
//! that tells the story.

use crate::monitor::alertmanager::rfc3339;
use crate::monitor::attribution::{change_summary, shift_summary};
use crate::server::store::events::{Detail, Event};
use crate::server::store::{StoreError, StoreRead};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One event as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventView {
    pub id: i64,
    /// `level-shift` or `path-change`.
    pub kind: String,
    /// The route (endpoints in topology order) and the direction of travel:
    /// `forward` (from -> to), `reverse`, or `round-trip` (a shift seen on
    /// RTT/2 only).
    pub from: String,
    pub to: String,
    pub direction: String,
    /// When it happened (the first window at the new level; the first trace
    /// on the new path), Unix ms and RFC 3339; when it was found.
    pub at: u64,
    pub at_time: String,
    pub detected_at: u64,
    /// Level shifts: medians before and after (ms), their difference, basis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<String>,
    /// Path changes: the path by site before and after, who traced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_path: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_path: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The event this one is linked to (a shift's path change, a path
    /// change's shift).
    pub linked: Option<i64>,
    pub summary: String,
}

/// The answer of `GET /v1/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventList {
    pub events: Vec<EventView>,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The events as listed, newest first, each told with its linked one.
pub fn views(events: &[Event]) -> Vec<EventView> {
    let by_id: HashMap<i64, &Event> = events.iter().map(|e| (e.id, e)).collect();
    let mut out: Vec<EventView> = events
        .iter()
        .map(|e| {
            let partner = e.linked.and_then(|id| by_id.get(&id));
            let mut v = EventView {
                id: e.id,
                kind: e.detail.kind().to_string(),
                from: e.from.clone(),
                to: e.to.clone(),
                direction: e.direction.clone(),
                at: e.at_ms,
                at_time: rfc3339(e.at_ms),
                detected_at: e.detected_ms,
                before_ms: None,
                after_ms: None,
                delta_ms: None,
                basis: None,
                old_path: None,
                new_path: None,
                probe: None,
                target: None,
                linked: e.linked,
                summary: String::new(),
            };
            match &e.detail {
                Detail::LevelShift {
                    before_ms,
                    after_ms,
                    basis,
                } => {
                    let path = partner.and_then(|p| match &p.detail {
                        Detail::PathChange { old, new, .. } => {
                            Some((old.as_slice(), new.as_slice()))
                        }
                        Detail::LevelShift { .. } => None,
                    });
                    v.summary = shift_summary(after_ms - before_ms, &e.direction, e.at_ms, path);
                    v.before_ms = Some(round3(*before_ms));
                    v.after_ms = Some(round3(*after_ms));
                    v.delta_ms = Some(round3(after_ms - before_ms));
                    v.basis = Some(basis.clone());
                }
                Detail::PathChange {
                    old,
                    new,
                    probe,
                    target,
                } => {
                    let shift = partner.and_then(|p| match &p.detail {
                        Detail::LevelShift {
                            before_ms,
                            after_ms,
                            ..
                        } => Some(after_ms - before_ms),
                        Detail::PathChange { .. } => None,
                    });
                    v.summary = change_summary(old, new, &e.direction, e.at_ms, shift);
                    v.old_path = Some(old.clone());
                    v.new_path = Some(new.clone());
                    v.probe = Some(probe.clone());
                    v.target = Some(target.clone());
                }
            }
            v
        })
        .collect();
    out.reverse();
    out
}

/// The events at or after `since_ms` (of one route when given), as listed.
pub fn list(
    conn: &dyn StoreRead,
    since_ms: u64,
    route: Option<(&str, &str)>,
) -> Result<EventList, StoreError> {
    // Read a little further back so a linked partner just before `since`
    // still tells its part of the story.
    let all = conn.events_since(since_ms.saturating_sub(3_600_000), route)?;
    let mut views = views(&all);
    views.retain(|v| v.at >= since_ms);
    Ok(EventList { events: views })
}
