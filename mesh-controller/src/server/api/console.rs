//! The console over HTTP: `GET /` (the page), `GET /console/console.js` and
//! `GET /console/console.css` (the embedded front-end, revalidated by ETag),
//! and `GET /v1/topology` (what the map draws).

use super::report::check_page_query;
use super::Shared;
use crate::server::console::{assets, live_page, TopologyView};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// `GET /[?since=1h][&budgets=PRESET]`: the console's page.
pub async fn page(RawQuery(q): RawQuery) -> Response {
    if let Err(e) = check_page_query(q.as_deref()) {
        return e.into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        live_page(),
    )
        .into_response()
}

/// An embedded asset: revalidated on every use (`no-cache` + ETag), so a
/// new binary's console is picked up at once and an unchanged one costs a
/// 304.
fn asset(headers: &HeaderMap, body: &'static str, content_type: &'static str) -> Response {
    let tag = assets::etag(body);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type)], body).into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    resp
}

/// `GET /console/console.js`.
pub async fn script(headers: HeaderMap) -> Response {
    asset(&headers, assets::JS, "text/javascript; charset=utf-8")
}

/// `GET /console/console.css`.
pub async fn style(headers: HeaderMap) -> Response {
    asset(&headers, assets::CSS, "text/css; charset=utf-8")
}

/// `GET /v1/topology`: the topology in force (see [`TopologyView`]).
pub async fn topology(State(state): State<Shared>) -> Response {
    Json(TopologyView::of(&state.live().config.topology)).into_response()
}
