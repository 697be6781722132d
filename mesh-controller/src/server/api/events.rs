//! `GET /v1/events`: what changed, each event with the one it is linked to.

use super::Refusal;
use crate::server::api::Shared;
use crate::server::config::parse_duration;
use crate::server::monitor::event_list::list;
use crate::server::store::now_ms;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::time::Duration;

/// Default look-back.
pub const DEFAULT_SINCE: Duration = Duration::from_secs(24 * 3600);

/// `GET /v1/events[?since=24h][&from=A&to=B]`.
pub async fn events_handler(
    State(state): State<Shared>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let (mut since, mut from, mut to) = (DEFAULT_SINCE, None, None);
    for (k, v) in pairs {
        match k.as_str() {
            "since" => match parse_duration(&v) {
                Ok(d) => since = d,
                Err(e) => return Refusal::bad_request(format!("since: {e}")).into_response(),
            },
            "from" => from = Some(v),
            "to" => to = Some(v),
            other => {
                return Refusal::bad_request(format!("unknown parameter {other:?}")).into_response()
            }
        }
    }
    let route = match (from, to) {
        (Some(a), Some(b)) => Some((a, b)),
        (None, None) => None,
        _ => return Refusal::bad_request("from and to go together").into_response(),
    };
    if let Some((a, b)) = &route {
        let names = crate::server::measured::endpoint_names(&state.live().config.topology);
        for (which, n) in [("from", a), ("to", b)] {
            if !names.contains_key(n) {
                return Refusal::bad_request(format!("{which}: unknown endpoint {n:?}"))
                    .into_response();
            }
        }
    }
    let since_ms = now_ms().saturating_sub(u64::try_from(since.as_millis()).unwrap_or(u64::MAX));
    let answer = state
        .store
        .read(move |c| {
            list(
                c,
                since_ms,
                route.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
            )
        })
        .await;
    match answer {
        Ok(l) => Json(l).into_response(),
        Err(e) => Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
