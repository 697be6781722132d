//! The HTTP API (axum, JSON under `/v1`): the shared state every handler sees,
//! token checks, error answers and the router. Probe calls live in
//! `probe_calls`, the operator's reads (routes, probes, metrics) in `reads`.

pub mod alerts;
mod console;
pub mod events;
mod probe_calls;
pub use probe_calls::FUTURE_SLACK_MS;
mod reads;
mod report;
mod results;
pub mod series;

use crate::server::config::Config;
use crate::server::prometheus::{ErrorReason, ServerCounters};
use crate::server::secrets::Secrets;
use crate::server::store::Store;
use crate::server::targets::{self, Planned};
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use protocol::api::{ApiError, BEARER};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// Largest request body taken (a batch of windows).
pub const MAX_BODY: usize = 32 << 20;

/// What a configuration (re)load produces: swapped whole on reload.
#[derive(Debug)]
pub struct Live {
    pub config: Arc<Config>,
    pub plans: BTreeMap<String, Planned>,
    pub secrets: Secrets,
}

impl Live {
    pub fn new(config: Config, secrets: Secrets) -> Live {
        let plans = targets::plan(&config);
        Live {
            config: Arc::new(config),
            plans,
            secrets,
        }
    }
}

/// State shared by all handlers.
#[derive(Debug)]
pub struct AppState {
    live: RwLock<Arc<Live>>,
    pub store: Store,
    pub counters: ServerCounters,
    /// This controller as the holder of duty leases.
    pub leases: crate::server::duties::Leases,
    /// Where the controller listens, as a URL (links in notifications when
    /// `alerts.external_url` is not set).
    pub listen_url: String,
    /// Wakes the webhook sender when notifications were queued.
    pub delivery_wake: tokio::sync::Notify,
    /// Turns to check an uploaded batch (one per core, at least two).
    pub checks: tokio::sync::Semaphore,
}

pub type Shared = Arc<AppState>;

impl AppState {
    pub fn new(live: Live, store: Store, listen_url: String) -> Shared {
        Arc::new(AppState {
            listen_url,
            delivery_wake: tokio::sync::Notify::new(),
            live: RwLock::new(Arc::new(live)),
            store,
            counters: ServerCounters::default(),
            leases: crate::server::duties::Leases::new(),
            checks: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get().max(2)),
            ),
        })
    }

    /// The configuration in force.
    pub fn live(&self) -> Arc<Live> {
        match self.live.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the configuration (and secrets) in force.
    pub fn replace(&self, live: Live) {
        let live = Arc::new(live);
        match self.live.write() {
            Ok(mut g) => *g = live,
            Err(poisoned) => *poisoned.into_inner() = live,
        }
    }
}

/// The answer to a failed store call: 503 with `Retry-After` when the
/// database cannot be reached right now (agents keep their windows spooled
/// and upload them again), 500 for anything else.
pub(crate) fn store_failed(e: crate::server::store::StoreError) -> Refusal {
    use crate::server::store::StoreError;
    match e {
        StoreError::Busy(_) => Refusal::busy(e.to_string()),
        StoreError::Unavailable(_) | StoreError::Closed => {
            Refusal::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        _ => Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// An error answer: status plus `{"error": code, "reason": text}`.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub reason: String,
    /// Turned away under load (503; counted as `busy`, not `storage`).
    pub busy: bool,
}

impl Refusal {
    pub fn new(status: StatusCode, reason: impl Into<String>) -> Refusal {
        Refusal {
            status,
            reason: reason.into(),
            busy: false,
        }
    }
    /// 503 under load: the request was not looked at; try again later.
    pub fn busy(reason: impl Into<String>) -> Refusal {
        Refusal {
            busy: true,
            ..Refusal::new(StatusCode::SERVICE_UNAVAILABLE, reason)
        }
    }
    pub fn bad_request(reason: impl Into<String>) -> Refusal {
        Refusal::new(StatusCode::BAD_REQUEST, reason)
    }
    fn code(&self) -> &'static str {
        match self.status {
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::BAD_REQUEST => "bad-request",
            StatusCode::NOT_FOUND => "not-found",
            StatusCode::PAYLOAD_TOO_LARGE => "too-large",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            s if s.is_server_error() => "internal",
            _ => "error",
        }
    }
    /// The reason this counts under in `hubmesh_ingest_errors_total`.
    pub fn metric(&self) -> ErrorReason {
        if self.busy {
            return ErrorReason::Busy;
        }
        match self.status {
            StatusCode::UNAUTHORIZED => ErrorReason::Unauthorized,
            StatusCode::FORBIDDEN => ErrorReason::Forbidden,
            s if s.is_server_error() => ErrorReason::Storage,
            _ => ErrorReason::BadRequest,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut resp = (
            self.status,
            Json(ApiError {
                error: self.code().to_string(),
                reason: self.reason.clone(),
            }),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        }
        resp
    }
}

/// The probe whose token the request carries.
pub fn authenticate(live: &Live, headers: &HeaderMap) -> Result<String, Refusal> {
    let unauthorized = |r: &str| Refusal::new(StatusCode::UNAUTHORIZED, r);
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| unauthorized("missing `Authorization: Bearer <token>` header"))?;
    let value = value
        .to_str()
        .map_err(|_| unauthorized("Authorization header is not text"))?;
    let token = value
        .get(..BEARER.len())
        .filter(|p| p.eq_ignore_ascii_case(BEARER))
        .map(|_| value[BEARER.len()..].trim())
        .ok_or_else(|| unauthorized("Authorization header is not `Bearer <token>`"))?;
    live.secrets
        .verify(token)
        .map(str::to_string)
        .ok_or_else(|| unauthorized("unknown token"))
}

/// The router over the shared state.
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/v1/hello", post(probe_calls::hello))
        .route("/v1/targets", get(probe_calls::targets))
        .route("/v1/windows", post(probe_calls::windows))
        .route("/v1/results", post(results::results))
        .route("/v1/bw/task", get(results::bw_task))
        .route("/v1/routes", get(reads::routes))
        .route("/v1/probes", get(reads::probes))
        .route("/v1/series", get(series::series_handler))
        .route("/v1/alerts", get(alerts::alerts_handler))
        .route("/v1/events", get(events::events_handler))
        .route("/metrics", get(reads::metrics))
        .route("/healthz", get(reads::healthz))
        .route("/v1/topology", get(console::topology))
        .route("/", get(console::page))
        .route("/console/console.js", get(console::script))
        .route("/console/console.css", get(console::style))
        .route("/v1/report", get(report::report))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Reads `a=1&b=2` into pairs (values here are numbers, durations and
/// booleans, so no percent-decoding is needed).
pub fn query_pairs(q: Option<&str>) -> Vec<(&str, &str)> {
    q.unwrap_or("")
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
        .collect()
}
