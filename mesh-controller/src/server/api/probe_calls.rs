//! The calls probes make: hello, target-list changes, window uploads. Every one
//! is authenticated by the probe's token before its body is even parsed
//! (histogram decoding should only ever see authenticated input).

use super::{authenticate, query_pairs, store_failed, Refusal, Shared};
use crate::history::Rollup;
use crate::server::store::{Medians, NewWindow};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use protocol::api::Hello;
use protocol::window::cbor::{ACCEPT_POST, CBOR, JSON};
use protocol::window::{CheckedUpload, Encoding};
use std::sync::atomic::Ordering;

/// The batch rules (and their limits) live with the window, in `protocol::window`.
pub use protocol::window::FUTURE_SLACK_MS;

pub(super) fn refuse(state: &Shared, r: Refusal) -> Response {
    state.counters.error(r.metric());
    r.into_response()
}

pub(super) fn internal(e: impl std::fmt::Display) -> Refusal {
    Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

pub(super) fn parse_json<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|e| Refusal::bad_request(format!("body: {e}")))
}

pub async fn hello(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    match hello_inner(&state, &headers, &body).await {
        Ok(r) => r,
        Err(e) => refuse(&state, e),
    }
}

async fn hello_inner(
    state: &Shared,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Refusal> {
    let live = state.live();
    let probe = authenticate(&live, headers)?;
    let hello: Hello = parse_json(body)?;
    if hello.probe != probe {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            format!(
                "this token belongs to probe {probe:?}, not {:?}",
                hello.probe
            ),
        ));
    }
    if hello.version.len() > 128 || hello.boot_id.as_ref().is_some_and(|b| b.len() > 64) {
        return Err(Refusal::bad_request("version or boot_id too long"));
    }
    let plan = live.plans.get(&probe).ok_or_else(|| {
        Refusal::new(
            StatusCode::FORBIDDEN,
            format!("probe {probe:?} is not in the configuration"),
        )
    })?;
    state.store.hello(hello).await.map_err(store_failed)?;
    let p = probe.clone();
    let (next, next_result) = state
        .store
        .read(move |c| Ok((c.next_seq(&p)?, c.next_result_seq(&p)?)))
        .await
        .map_err(store_failed)?;
    // The window upload encodings taken: a client sends CBOR only when
    // this lists it (controllers from before it refuse CBOR as bad JSON).
    let mut answer = Json(plan.assignment(&probe, next, next_result)).into_response();
    answer.headers_mut().insert(
        ACCEPT_POST,
        axum::http::HeaderValue::from_static(UPLOAD_TYPES),
    );
    Ok(answer)
}

/// The Content-Types `POST /v1/windows` takes.
const UPLOAD_TYPES: &str = "application/json, application/cbor";

pub async fn targets(
    State(state): State<Shared>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    match targets_inner(&state, &headers, q.as_deref()).await {
        Ok(r) => r,
        Err(e) => refuse(&state, e),
    }
}

async fn targets_inner(
    state: &Shared,
    headers: &HeaderMap,
    q: Option<&str>,
) -> Result<Response, Refusal> {
    let live = state.live();
    let probe = authenticate(&live, headers)?;
    let mut known = None;
    for (k, v) in query_pairs(q) {
        match k {
            "generation" => {
                known = Some(v.parse::<u64>().map_err(|_| {
                    Refusal::bad_request(format!("generation: expected a number, found {v:?}"))
                })?)
            }
            other => return Err(Refusal::bad_request(format!("unknown parameter {other:?}"))),
        }
    }
    let plan = live.plans.get(&probe).ok_or_else(|| {
        Refusal::new(
            StatusCode::FORBIDDEN,
            format!("probe {probe:?} is not in the configuration"),
        )
    })?;
    if known == Some(plan.generation) {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    let p = probe.clone();
    let (next, next_result) = state
        .store
        .read(move |c| Ok((c.next_seq(&p)?, c.next_result_seq(&p)?)))
        .await
        .map_err(store_failed)?;
    Ok(Json(plan.assignment(&probe, next, next_result)).into_response())
}

pub async fn windows(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    match windows_inner(&state, &headers, body).await {
        Ok(r) => r,
        Err(e) => refuse(&state, e),
    }
}

/// Longest an upload waits for a turn to be checked before it is answered
/// 503 (well inside an agent's call timeout).
pub const CHECK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

async fn windows_inner(
    state: &Shared,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, Refusal> {
    let live = state.live();
    let probe = authenticate(&live, headers)?;
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("?"));
    let encoding = Encoding::of_content_type(content_type).ok_or_else(|| {
        Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Type {:?}: windows are uploaded as {JSON} or {CBOR}",
                content_type.unwrap_or_default()
            ),
        )
    })?;
    // Decoding and checking every histogram, rollups and medians: all the
    // CPU work of a window, done here off the async threads, so the writer
    // thread only writes.
    // At most a few batches are checked at once (each decodes its
    // histograms: memory and CPU); one that cannot start within
    // CHECK_WAIT is answered 503 at once, and the agent keeps it spooled.
    let _permit = match tokio::time::timeout(CHECK_WAIT, state.checks.acquire()).await {
        Ok(Ok(p)) => p,
        _ => {
            return Err(Refusal::busy(
                "busy: too many uploads waiting to be checked; try again later",
            ))
        }
    };
    let p = probe.clone();
    let live2 = live.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let mut checked = check_upload(&p, &body, encoding)?;
        // Rollups are kept by endpoint: the sender's and the target's, as
        // configured now (windows to probes no longer configured are stored
        // raw).
        let config = &live2.config;
        let sender = config.probe(&p).map(|p| config.endpoint_name(p));
        for w in &mut checked {
            w.pair = sender
                .clone()
                .zip(config.probe(&w.target).map(|t| config.endpoint_name(t)));
            if w.pair.as_ref().is_some_and(|(a, b)| a == b) {
                w.pair = None;
            }
        }
        Ok::<_, Refusal>(checked)
    })
    .await
    .map_err(internal)??;
    let levels = live.config.history;
    let ack = state
        .store
        .ingest(probe, checked, levels)
        .await
        .map_err(store_failed)?;
    let c = &state.counters;
    c.batches.fetch_add(1, Ordering::Relaxed);
    c.windows_ingested
        .fetch_add(ack.accepted.len() as u64, Ordering::Relaxed);
    c.windows_duplicate
        .fetch_add(ack.duplicate.len() as u64, Ordering::Relaxed);
    Ok(Json(ack).into_response())
}

/// Parses and checks a whole batch (`protocol::window::check_upload`, the
/// rules of `check_batch`) into the rows to store; any problem refuses all
/// of it: 403 when the batch is another probe's, else 400.
pub fn check_upload(
    probe: &str,
    body: &[u8],
    encoding: Encoding,
) -> Result<Vec<NewWindow>, Refusal> {
    let now = crate::server::store::now_ms();
    match protocol::window::check_upload(probe, body, encoding, now) {
        Ok(checked) => Ok(checked.into_iter().map(new_window).collect()),
        Err(e) if e.is_forbidden() => Err(Refusal::new(StatusCode::FORBIDDEN, e.to_string())),
        Err(e) => Err(Refusal::bad_request(e.to_string())),
    }
}

/// What the store keeps of a checked window (`NewWindow::new`, from the
/// sparse window rather than the dense one).
fn new_window(c: CheckedUpload) -> NewWindow {
    let CheckedUpload {
        upload: u,
        window: w,
    } = c;
    let p50 = |h: &protocol::window::SparseHistogram| h.value_at_quantile(0.5);
    let medians = Medians {
        forward_us: p50(&w.forward),
        reverse_us: p50(&w.reverse),
        rtt_us: p50(&w.rtt),
    };
    NewWindow {
        seq: u.seq,
        target: u.target,
        start_ms: u.start_unix_ms,
        duration_ms: u.duration_ms,
        ssid: u.ssid,
        timestamping: u.timestamping,
        sent: w.counters.sent,
        replies: w.counters.received,
        json: u.window,
        pair: None,
        rollup: Some(Rollup::of_sparse(w)),
        medians,
    }
}
