//! `GET /v1/series`: a route's history (see `server::series`).

use super::Refusal;
use crate::server::api::Shared;
use crate::server::config::parse_duration;
use crate::server::series::{series, SeriesError, SeriesQuery, Step};
use crate::server::store::now_ms;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::time::Duration;

/// Default look-back.
pub const DEFAULT_SINCE: Duration = Duration::from_secs(24 * 3600);

/// A point in time: Unix milliseconds, or RFC 3339 (`2026-12-05T12:00:00Z`).
pub fn parse_time(text: &str) -> Result<u64, String> {
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(ms);
    }
    humantime::parse_rfc3339_weak(text)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| u64::try_from(d.as_millis()).ok())
        .ok_or_else(|| {
            format!("expected Unix milliseconds or an RFC 3339 time (2026-12-05T12:00:00Z), found {text:?}")
        })
}

/// Reads the query of `/v1/series` (and of `series --server`, which sends the
/// same).
pub fn parse_query(pairs: &[(String, String)], now: u64) -> Result<SeriesQuery, String> {
    let (mut from, mut to, mut since, mut until, mut step) =
        (None, None, DEFAULT_SINCE, None, Step::Auto);
    let (mut probe, mut peer) = (None, None);
    for (k, v) in pairs {
        match k.as_str() {
            "from" => from = Some(v.clone()),
            "to" => to = Some(v.clone()),
            "since" => since = parse_duration(v).map_err(|e| format!("since: {e}"))?,
            "until" => until = Some(parse_time(v).map_err(|e| format!("until: {e}"))?),
            "step" => {
                step = if v == "auto" {
                    Step::Auto
                } else {
                    Step::Every(parse_duration(v).map_err(|e| format!("step: {e} (or auto)"))?)
                }
            }
            "probe" => probe = Some(v.clone()),
            "peer" => peer = Some(v.clone()),
            other => return Err(format!("unknown parameter {other:?}")),
        }
    }
    let until = until.unwrap_or(now);
    let since_ms = u64::try_from(since.as_millis()).unwrap_or(u64::MAX);
    Ok(SeriesQuery {
        from: from.ok_or("from: required (site or site@network)")?,
        to: to.ok_or("to: required (site or site@network)")?,
        since: until.saturating_sub(since_ms),
        until,
        step,
        probe,
        peer,
    })
}

/// `GET /v1/series?from=A&to=B[&since=24h][&until=TS][&step=5m|auto][&probe=ID[&peer=ID]]`.
pub async fn series_handler(
    State(state): State<Shared>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let now = now_ms();
    let q = match parse_query(&pairs, now) {
        Ok(q) => q,
        Err(e) => return Refusal::bad_request(e).into_response(),
    };
    let config = state.live().config.clone();
    let answer = state
        .store
        .read(move |c| Ok(series(c, &config, &q, now)))
        .await;
    match answer {
        Ok(Ok(s)) => Json(s).into_response(),
        Ok(Err(SeriesError::Bad(e))) => Refusal::bad_request(e).into_response(),
        Ok(Err(SeriesError::Store(e))) | Err(e) => {
            Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
        }
    }
}
