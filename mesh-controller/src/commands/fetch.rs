//! `--server`: a plain HTTP/1.1 GET of a running controller's `/v1/report`
//! (for `report`, `check` and `suggest`).

use crate::server::report::{ReportFormat, VIOLATIONS_HEADER};
use std::time::Duration;
use topology::suggest::SuggestOptions;

/// What the controller answered: the body and its violation count.
#[derive(Debug)]
pub struct Fetched {
    pub body: String,
    pub violations: u64,
}

/// GETs `{url}/v1/report?since=..&format=..[&budgets=..][&k=..&route_factor=..]`.
pub fn fetch(
    url: &str,
    since: Duration,
    format: ReportFormat,
    budgets: Option<&str>,
    suggest: Option<&SuggestOptions>,
) -> Result<Fetched, String> {
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
    let mut path = format!(
        "{prefix}/v1/report?since={}s&format={}",
        since.as_secs().max(1),
        format.as_str()
    );
    if let Some(b) = budgets {
        path.push_str("&budgets=");
        path.push_str(b);
    }
    if let Some(o) = suggest {
        path.push_str(&format!("&k={}&route_factor={}", o.k, o.route_factor));
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
    let (mut violations, mut chunked) = (0u64, false);
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == VIOLATIONS_HEADER {
                violations = v.parse().unwrap_or(0);
            } else if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    if chunked {
        body = dechunk(&body).ok_or_else(|| format!("--server {url}: bad chunked body"))?;
    }
    let body = String::from_utf8(body).map_err(|_| format!("--server {url}: body is not UTF-8"))?;
    if status != 200 {
        return Err(format!(
            "--server {url}: {path} answered {status}: {}",
            body.trim()
        ));
    }
    Ok(Fetched { body, violations })
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
