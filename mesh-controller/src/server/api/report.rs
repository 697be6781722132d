//! The report over HTTP: `GET /v1/report` in any format (html: the console
//! with a snapshot of the data inlined), and the query check of `GET /`.

use super::{query_pairs, Refusal, Shared};
use crate::server::console;
use crate::server::report::{
    build_with, parse_since, render_with, with_budgets, ReportFormat, DEFAULT_SINCE,
    VIOLATIONS_HEADER,
};
use crate::server::store;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use topology::suggest::SuggestOptions;

/// Most suggestions a request may ask for (each costs a routing pass).
const MAX_K: usize = 50;

struct Query {
    since: Duration,
    format: ReportFormat,
    budgets: Option<String>,
    suggest: SuggestOptions,
    /// Every table, not only the lead (text and Markdown).
    all: bool,
}

fn parse(q: Option<&str>, format: ReportFormat) -> Result<Query, Refusal> {
    let mut out = Query {
        since: DEFAULT_SINCE,
        format,
        budgets: None,
        suggest: SuggestOptions::default(),
        all: false,
    };
    for (k, v) in query_pairs(q) {
        match k {
            "since" => out.since = parse_since(v).map_err(Refusal::bad_request)?,
            "format" => {
                out.format = ReportFormat::parse(v).ok_or_else(|| {
                    Refusal::bad_request(format!(
                        "format: expected table, json, md, html or dot, found {v:?}"
                    ))
                })?
            }
            // Presets only: the server reads no files named by a request.
            "budgets" => {
                if topology::budgets::preset(v).is_none() {
                    return Err(Refusal::bad_request(format!(
                        "budgets: unknown preset {v:?} (plan-2021, plan-2023)"
                    )));
                }
                out.budgets = Some(v.to_string());
            }
            "k" => {
                out.suggest.k = v.parse().ok().filter(|k| *k <= MAX_K).ok_or_else(|| {
                    Refusal::bad_request(format!("k: expected 0..={MAX_K}, found {v:?}"))
                })?
            }
            "route_factor" => {
                out.suggest.route_factor = v
                    .parse()
                    .ok()
                    .filter(|f: &f64| f.is_finite() && *f >= 1.0)
                    .ok_or_else(|| {
                        Refusal::bad_request(format!(
                            "route_factor: expected a number >= 1, found {v:?}"
                        ))
                    })?
            }
            "all" => {
                out.all = match v {
                    "" | "1" | "true" => true,
                    "0" | "false" => false,
                    _ => {
                        return Err(Refusal::bad_request(format!(
                            "all: expected true or false, found {v:?}"
                        )))
                    }
                }
            }
            other => return Err(Refusal::bad_request(format!("unknown parameter {other:?}"))),
        }
    }
    Ok(out)
}

async fn answer(state: Shared, q: Query) -> Result<Response, Refusal> {
    let config = with_budgets((*state.live().config).clone(), q.budgets.as_deref())
        .map_err(Refusal::bad_request)?;
    let (since, suggest, format, all) = (q.since, q.suggest, q.format, q.all);
    let (body, violations) = state
        .store
        .read(move |c| {
            let report = build_with(c, &config, since, &suggest)?;
            let body = if format == ReportFormat::Html {
                let snap = console::snapshot(c, &config, &report, store::now_ms())?;
                console::snapshot_page(&snap)
            } else {
                render_with(&report, &config.topology, format, all)
            };
            Ok((body, report.summary.violations))
        })
        .await
        .map_err(|e| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let mut resp = ([(header::CONTENT_TYPE, format.content_type())], body).into_response();
    resp.headers_mut().insert(
        HeaderName::from_static(VIOLATIONS_HEADER),
        HeaderValue::from(violations),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// Checks the query of `GET /` (`since`, `budgets`: the console reads them
/// from its address and asks the API with them), so a bad one is refused
/// up front as it is by `/v1/report`.
pub fn check_page_query(q: Option<&str>) -> Result<(), Refusal> {
    parse(q, ReportFormat::Html).map(|_| ())
}

/// `GET /v1/report[?since=1h][&format=json][&budgets=PRESET]`.
pub async fn report(State(state): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let q = match parse(q.as_deref(), ReportFormat::Json) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    answer(state, q)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}
