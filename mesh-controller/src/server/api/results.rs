//! Probe calls for results other than windows: `POST /v1/results`
//! (bandwidth tests, pings, traces; stored all or nothing, idempotent on
//! (probe, seq)) and `GET /v1/bw/task` (the bandwidth test to run now).

use super::probe_calls::{parse_json, refuse};
use super::{authenticate, Refusal, Shared};
use crate::server::bwsched::{self, Decision};
use crate::server::config::{is_probe_id, Config};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use protocol::api::{BwTaskAnswer, ResultBatch, ResultBody, ResultUpload};
use protocol::window::check_seq_and_start;
use std::collections::HashSet;

/// Most results in one upload.
pub const MAX_RESULTS: usize = 10_000;
/// Most hops a trace may have.
const MAX_HOPS: usize = 255;

pub async fn results(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    match results_inner(&state, &headers, &body).await {
        Ok(r) => r,
        Err(e) => refuse(&state, e),
    }
}

async fn results_inner(
    state: &Shared,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Refusal> {
    let live = state.live();
    let probe = authenticate(&live, headers)?;
    let batch: ResultBatch = parse_json(body)?;
    check_results(&live.config, &probe, &batch, crate::server::store::now_ms())?;
    let ack = state
        .store
        .ingest_results(probe, batch.results)
        .await
        .map_err(super::store_failed)?;
    Ok(Json(ack).into_response())
}

fn finite(x: f64) -> bool {
    x.is_finite() && x >= 0.0
}

fn pct(x: f64) -> bool {
    finite(x) && x <= 100.0
}

/// Checks a batch of results; any problem refuses all of it.
pub fn check_results(
    config: &Config,
    probe: &str,
    batch: &ResultBatch,
    now: u64,
) -> Result<(), Refusal> {
    if batch.probe != probe {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            format!(
                "this token belongs to probe {probe:?}: it cannot upload results of {:?}",
                batch.probe
            ),
        ));
    }
    if batch.results.len() > MAX_RESULTS {
        return Err(Refusal::bad_request(format!(
            "{} results in one batch, at most {MAX_RESULTS}",
            batch.results.len()
        )));
    }
    let mut seen = HashSet::new();
    for (i, r) in batch.results.iter().enumerate() {
        let bad = |what: String| Refusal::bad_request(format!("results[{i}]: {what}"));
        check_seq_and_start(r.seq, r.start_unix_ms, &mut seen, now)
            .map_err(|e| bad(e.to_string()))?;
        check_one(config, probe, r).map_err(bad)?;
    }
    Ok(())
}

fn check_one(config: &Config, probe: &str, r: &ResultUpload) -> Result<(), String> {
    let is_probe = config.probe(&r.target).is_some();
    let is_site = config.topology.site_index(&r.target).is_some();
    if !is_probe_id(&r.target) || r.target == probe {
        return Err(format!(
            "target {:?} is not another probe or a site",
            r.target
        ));
    }
    match &r.body {
        ResultBody::Bandwidth(b) => {
            if !is_probe {
                return Err(format!("bandwidth target {:?} is not a probe", r.target));
            }
            if !matches!(b.direction.as_str(), "forward" | "reverse")
                || !matches!(b.protocol.as_str(), "tcp" | "udp")
            {
                return Err("direction must be forward or reverse, protocol tcp or udp".into());
            }
            if !(finite(b.throughput_mbit) && finite(b.duration_s))
                || b.streams == 0
                || b.loss_pct.is_some_and(|l| !pct(l))
                || b.jitter_us.is_some_and(|j| !finite(j))
            {
                return Err("bandwidth figures out of range".into());
            }
        }
        ResultBody::Ping(p) => {
            if !is_site {
                return Err(format!("ping target {:?} is not a site", r.target));
            }
            if p.received > p.sent || !pct(p.loss_pct) {
                return Err("ping counters out of range".into());
            }
        }
        ResultBody::Trace(t) => {
            if !(is_probe || is_site) {
                return Err(format!(
                    "trace target {:?} is not a probe or a site",
                    r.target
                ));
            }
            if t.hops.len() > MAX_HOPS || t.address.len() > 64 {
                return Err("trace too long".into());
            }
            if t.hops
                .iter()
                .any(|h| !pct(h.loss_pct) || h.address.as_ref().is_some_and(|a| a.len() > 64))
            {
                return Err("trace hop out of range".into());
            }
        }
    }
    Ok(())
}

/// Slots given are remembered this many slots back.
const FORGET_SLOTS: u64 = 16;

/// `GET /v1/bw/task`: the test this probe runs now, or when to ask again.
pub async fn bw_task(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let live = state.live();
    let probe = match authenticate(&live, &headers) {
        Ok(p) => p,
        Err(e) => return refuse(&state, e),
    };
    let config = &live.config;
    let Some(bw) = config.bandwidth else {
        return Json(BwTaskAnswer {
            task: None,
            retry_after_ms: 60_000,
        })
        .into_response();
    };
    let Some(index) = config.probes.iter().position(|p| p.id == probe) else {
        return refuse(
            &state,
            Refusal::new(
                StatusCode::FORBIDDEN,
                format!("probe {probe:?} is not in the configuration"),
            ),
        );
    };
    let now = crate::server::store::now_ms();
    let answer = match bwsched::decide(config, &bw, index, now) {
        Decision::Run(task) => {
            // Handed out once per slot, whichever controller is asked.
            let (slot, p) = (task.slot, probe.clone());
            let claimed = state
                .store
                .write(move |db| db.claim_bw_slot(&p, slot, slot.saturating_sub(FORGET_SLOTS), now))
                .await;
            match claimed {
                Ok(true) => BwTaskAnswer {
                    retry_after_ms: task.deadline_unix_ms.saturating_sub(now).max(1_000),
                    task: Some(task),
                },
                Ok(false) => BwTaskAnswer {
                    retry_after_ms: task.deadline_unix_ms.saturating_sub(now).max(1_000),
                    task: None,
                },
                Err(e) => return refuse(&state, super::store_failed(e)),
            }
        }
        Decision::Wait(ms) => BwTaskAnswer {
            task: None,
            retry_after_ms: ms,
        },
    };
    Json(answer).into_response()
}
