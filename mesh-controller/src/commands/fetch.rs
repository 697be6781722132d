//! `--server`: a GET of a running controller's API (`/v1/report` for
//! `report`, `check` and `suggest`; `/v1/series`) with the agent's client,
//! over http or https.

use crate::server::report::{ReportFormat, VIOLATIONS_HEADER};
use protocol::client::Client;
use protocol::tls::TlsOptions;
use std::time::Duration;
use topology::suggest::SuggestOptions;

/// What the controller answered: the body and its violation count.
#[derive(Debug)]
pub struct Fetched {
    pub body: String,
    pub violations: u64,
}

/// GETs `{url}/v1/report?since=..&format=..[&budgets=..][&k=..&route_factor=..][&all=true]`.
pub fn fetch(
    url: &str,
    since: Duration,
    format: ReportFormat,
    budgets: Option<&str>,
    suggest: Option<&SuggestOptions>,
    all: bool,
) -> Result<Fetched, String> {
    let mut query = vec![
        ("since", format!("{}s", since.as_secs().max(1))),
        ("format", format.as_str().to_string()),
    ];
    if all {
        query.push(("all", "true".to_string()));
    }
    if let Some(b) = budgets {
        query.push(("budgets", b.to_string()));
    }
    if let Some(o) = suggest {
        query.push(("k", o.k.to_string()));
        query.push(("route_factor", o.route_factor.to_string()));
    }
    let a = get(url, "/v1/report", &query)?;
    let violations = a
        .header(VIOLATIONS_HEADER)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok(Fetched {
        body: a.body,
        violations,
    })
}

/// A 200 answer: its headers (names lower-cased) and body.
#[derive(Debug)]
pub struct Answer {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Percent-encodes a query value (everything but RFC 3986 unreserved).
pub fn encode_query_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// How the client commands check an https controller (`--ca-file`,
/// `--pin-sha256`): set once by the command line before any fetch.
static TLS: std::sync::OnceLock<TlsOptions> = std::sync::OnceLock::new();

/// Sets the TLS options of every `--server` fetch of this process.
pub fn set_tls(opts: TlsOptions) {
    let _ = TLS.set(opts);
}

/// GETs `{url}{path}?{query}` with the agent's client (HTTP/1.1, https
/// checked as [`set_tls`] says); anything but 200 is an error naming the
/// status and the controller's reason.
pub fn get(url: &str, path: &str, query: &[(&str, String)]) -> Result<Answer, String> {
    let mut path = path.to_string();
    for (i, (k, v)) in query.iter().enumerate() {
        path.push(if i == 0 { '?' } else { '&' });
        path.push_str(k);
        path.push('=');
        path.push_str(&encode_query_value(v));
    }
    let fail = |e: String| format!("--server {url}: {e}");
    let client = Client::new(url, "")
        .map_err(|e| fail(e.to_string()))?
        .with_timeout(Duration::from_secs(120));
    let client = match TLS.get() {
        Some(opts) => client.with_tls(opts).map_err(|e| fail(e.to_string()))?,
        None => client,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(format!("cannot start the async runtime: {e}")))?;
    let (status, headers, body) = rt
        .block_on(client.get_with_headers(&path))
        .map_err(|e| fail(e.to_string()))?;
    let headers = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let body = String::from_utf8(body.to_vec()).map_err(|_| fail("body is not UTF-8".into()))?;
    if status != 200 {
        // The controller's errors are `{"error": code, "reason": text}`.
        let reason = serde_json::from_str::<protocol::api::ApiError>(&body)
            .map(|e| e.reason)
            .unwrap_or_else(|_| body.trim().to_string());
        return Err(fail(format!("{path} answered {status}: {reason}")));
    }
    Ok(Answer { headers, body })
}
