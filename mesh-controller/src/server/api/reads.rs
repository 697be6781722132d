//! The operator's reads: the measured route table, the probe list, Prometheus
//! metrics and the health check. Open (no token): the controller listens on
//! loopback by default; put it behind a proxy to publish these.

use super::{query_pairs, Refusal, Shared};
use crate::server::config::parse_duration;
use crate::server::measured::{route_table, Measured, RouteQuery};
use crate::server::store::now_ms;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use protocol::api::{ProbeList, ProbeStatus};
use std::time::Duration;

/// Default look-back of `/v1/routes`.
pub const ROUTES_SINCE: Duration = Duration::from_secs(3600);
/// Look-back of `/metrics`.
pub const METRICS_SINCE: Duration = Duration::from_secs(300);
/// Look-back of the bandwidth figures of `/metrics` (tests are rare: one per
/// pair per tournament cycle).
pub const THROUGHPUT_SINCE: Duration = Duration::from_secs(24 * 3600);

fn internal(e: impl std::fmt::Display) -> Refusal {
    Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

fn bool_param(k: &str, v: &str) -> Result<bool, Refusal> {
    match v {
        "" | "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(Refusal::bad_request(format!(
            "{k}: expected true or false, found {v:?}"
        ))),
    }
}

fn since_ms(d: Duration) -> u64 {
    now_ms().saturating_sub(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `GET /v1/routes[?since=1h][&all=true][&measured=true]`: the route table
/// in `plan`'s JSON, with measured values.
pub async fn routes(State(state): State<Shared>, RawQuery(q): RawQuery) -> Response {
    match routes_inner(&state, q.as_deref()).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn routes_inner(state: &Shared, q: Option<&str>) -> Result<Response, Refusal> {
    let mut since = ROUTES_SINCE;
    let mut query = RouteQuery::default();
    for (k, v) in query_pairs(q) {
        match k {
            "since" => {
                since =
                    parse_duration(v).map_err(|e| Refusal::bad_request(format!("since: {e}")))?
            }
            "all" => query.all = bool_param(k, v)?,
            "measured" => query.measured_only = bool_param(k, v)?,
            other => return Err(Refusal::bad_request(format!("unknown parameter {other:?}"))),
        }
    }
    let config = state.live().config.clone();
    let from = since_ms(since);
    let json = state
        .store
        .read(move |c| {
            let measured = Measured::load(c, &config, from)?;
            let table = route_table(&config, &measured, query);
            Ok(topology::render::routes_json(&table))
        })
        .await
        .map_err(internal)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], json + "\n").into_response())
}

/// `GET /v1/probes`.
pub async fn probes(State(state): State<Shared>) -> Response {
    let config = state.live().config.clone();
    let rows = match state.store.read(|c| c.probe_rows()).await {
        Ok(r) => r,
        Err(e) => return super::store_failed(e).into_response(),
    };
    let topo = &config.topology;
    let list = config
        .probes
        .iter()
        .map(|p| {
            let row = rows.get(&p.id);
            ProbeStatus {
                id: p.id.clone(),
                site: topo.sites[p.endpoint.site].id.clone(),
                network: p.endpoint.network.map(|n| topo.networks[n].id.clone()),
                stamp: p.stamp.to_string(),
                version: row.and_then(|r| r.version.clone()),
                boot_id: row.and_then(|r| r.boot_id.clone()),
                clock: row.and_then(|r| r.clock),
                last_hello_unix_ms: row.and_then(|r| r.last_hello_ms),
                last_upload_unix_ms: row.and_then(|r| r.last_upload_ms),
                last_seq: row.map(|r| r.last_seq).filter(|&s| s > 0),
                windows: row.map_or(0, |r| r.windows),
                windows_merged: row.map_or(0, |r| r.windows_merged),
                results: row.map_or(0, |r| r.results),
                last_result_seq: row.map(|r| r.last_result_seq).filter(|&s| s > 0),
            }
        })
        .collect();
    Json(ProbeList { probes: list }).into_response()
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<Shared>) -> Response {
    let config = state.live().config.clone();
    let from = since_ms(METRICS_SINCE);
    let st = state.clone();
    let text = state
        .store
        .read(move |c| {
            let measured = Measured::load(c, &config, from)?;
            let table = route_table(
                &config,
                &measured,
                RouteQuery {
                    all: false,
                    measured_only: true,
                },
            );
            let bw_from = since_ms(THROUGHPUT_SINCE);
            let figures = crate::server::prometheus::ResultFigures {
                throughput: crate::server::report::throughput(
                    &config,
                    &c.results_since("bandwidth", bw_from)?,
                ),
                throughput_since_s: THROUGHPUT_SINCE.as_secs(),
                icmp: crate::server::report::icmp(&config, &c.results_since("ping", from)?),
                firing: c.episodes(true, None)?,
                deliveries: c.delivery_counts()?,
                last_measured: crate::server::monitor::last_measured(c, &config)?,
                probes: c.probe_rows()?,
            };
            Ok(crate::server::prometheus::render(
                &config,
                &measured,
                &table,
                &st.counters,
                METRICS_SINCE.as_secs(),
                &figures,
            ))
        })
        .await;
    match text {
        Ok(t) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            t,
        )
            .into_response(),
        Err(e) => internal(e).into_response(),
    }
}

/// `GET /healthz`: the database answers.
pub async fn healthz(State(state): State<Shared>) -> Response {
    match state.store.read(|c| c.ping()).await {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => super::store_failed(e).into_response(),
    }
}
