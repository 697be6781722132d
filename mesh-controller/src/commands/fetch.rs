//! `--server`: a plain HTTP/1.1 GET of a running controller's API
//! (`/v1/report` for `report`, `check` and `suggest`; `/v1/series`).

use crate::server::report::{ReportFormat, VIOLATIONS_HEADER};
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

/// GETs `{url}{path}?{query}` over plain HTTP/1.1; anything but 200 is an
/// error naming the status and the controller's reason.
pub fn get(url: &str, path: &str, query: &[(&str, String)]) -> Result<Answer, String> {
    use std::io::{Read, Write};
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("--server {url:?}: expected http://HOST:PORT"))?;
    let (host, prefix) = match rest.split_once('/') {
        Some((h, p)) => (h, format!("/{}", p.trim_end_matches('/'))),
        None => (rest, String::new()),
    };
    let prefix = if prefix == "/" { String::new() } else { prefix };
    let addr = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    let mut path = format!("{prefix}{path}");
    for (i, (k, v)) in query.iter().enumerate() {
        path.push(if i == 0 { '?' } else { '&' });
        path.push_str(k);
        path.push('=');
        path.push_str(&encode_query_value(v));
    }
    let timeout = Duration::from_secs(120);
    let addrs: Vec<std::net::SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(&addr)
        .map_err(|e| format!("--server {url}: {e}"))?
        .collect();
    let first = addrs
        .first()
        .ok_or_else(|| format!("--server {url}: no address"))?;
    let mut s = std::net::TcpStream::connect_timeout(first, Duration::from_secs(10))
        .map_err(|e| format!("--server {url}: cannot connect: {e}"))?;
    s.set_read_timeout(Some(timeout)).ok();
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAccept: */*\r\n\r\n");
    s.write_all(req.as_bytes())
        .map_err(|e| format!("--server {url}: {e}"))?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)
        .map_err(|e| format!("--server {url}: {e}"))?;
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("--server {url}: malformed answer"))?;
    let head = String::from_utf8_lossy(&resp[..split]).into_owned();
    let mut body = resp[split + 4..].to_vec();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("--server {url}: no status line"))?;
    let mut headers = Vec::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body).ok_or_else(|| format!("--server {url}: bad chunked body"))?;
    }
    let body = String::from_utf8(body).map_err(|_| format!("--server {url}: body is not UTF-8"))?;
    if status != 200 {
        // The controller's errors are `{"error": code, "reason": text}`.
        let reason = serde_json::from_str::<protocol::api::ApiError>(&body)
            .map(|e| e.reason)
            .unwrap_or_else(|_| body.trim().to_string());
        return Err(format!(
            "--server {url}: {path} answered {status}: {reason}"
        ));
    }
    Ok(Answer { headers, body })
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_reassembled() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").as_deref(),
            Some(&b"abcde"[..])
        );
        assert_eq!(dechunk(b"5\r\nab"), None);
    }
}
