//! `GET /v1/alerts`: firing alerts, pending ones, and those resolved lately.

use super::Refusal;
use crate::server::api::Shared;
use crate::server::config::parse_duration;
use crate::server::monitor::alert_list::{list, Which};
use crate::server::store::now_ms;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::time::Duration;

/// Default look-back for resolved alerts.
pub const DEFAULT_SINCE: Duration = Duration::from_secs(24 * 3600);

/// Reads `state=` and `since=`.
pub fn parse_query(pairs: &[(String, String)]) -> Result<(Which, Duration), String> {
    let (mut which, mut since) = (Which::All, DEFAULT_SINCE);
    for (k, v) in pairs {
        match k.as_str() {
            "state" => {
                which = match v.as_str() {
                    "firing" => Which::Firing,
                    "pending" => Which::Pending,
                    "resolved" => Which::Resolved,
                    "all" => Which::All,
                    _ => {
                        return Err(format!(
                            "state: expected firing, pending, resolved or all, found {v:?}"
                        ))
                    }
                }
            }
            "since" => since = parse_duration(v).map_err(|e| format!("since: {e}"))?,
            other => return Err(format!("unknown parameter {other:?}")),
        }
    }
    Ok((which, since))
}

/// `GET /v1/alerts[?state=firing|pending|resolved|all][&since=24h]`.
pub async fn alerts_handler(
    State(state): State<Shared>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let (which, since) = match parse_query(&pairs) {
        Ok(q) => q,
        Err(e) => return Refusal::bad_request(e).into_response(),
    };
    let since_ms = now_ms().saturating_sub(u64::try_from(since.as_millis()).unwrap_or(u64::MAX));
    match state.store.read(move |c| list(c, which, since_ms)).await {
        Ok(l) => Json(l).into_response(),
        Err(e) => Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
