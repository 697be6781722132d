//! Sending one webhook: an HTTP/1.1 POST of a stored body to a receiver, with
//! its signature and delivery id, and the backoff between failed attempts.

use crate::monitor::alertmanager::{signature, DELIVERY_HEADER, SIGNATURE_HEADER};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{header, Method, Request};
use std::time::Duration;
use tokio::net::TcpStream;

/// Time allowed for one POST (connect, send, answer).
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// First retry after this long, doubling to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// A notification not delivered within this long is given up on.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The wait before retry number `attempts` (after that many failures), with
/// up to a quarter of jitter from `jitter` in [0, 1).
pub fn backoff(attempts: u64, jitter: f64) -> Duration {
    let base = FIRST_BACKOFF
        .saturating_mul(1u32 << attempts.min(20) as u32)
        .min(MAX_BACKOFF);
    base + base.mul_f64(0.25 * jitter.clamp(0.0, 1.0))
}

/// POSTs `body` to `url` (`http://host:port/path`); Ok with the status when
/// the receiver answered 2xx.
pub async fn post(
    url: &str,
    delivery_id: i64,
    body: &str,
    secret: Option<&[u8]>,
) -> Result<u16, String> {
    tokio::time::timeout(TIMEOUT, post_inner(url, delivery_id, body, secret))
        .await
        .map_err(|_| format!("no answer within {} s", TIMEOUT.as_secs()))?
}

async fn post_inner(
    url: &str,
    delivery_id: i64,
    body: &str,
    secret: Option<&[u8]>,
) -> Result<u16, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("not an http:// URL: {url}"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let stream = TcpStream::connect(&addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::HOST, authority)
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::USER_AGENT,
            concat!("hubmesh/", env!("CARGO_PKG_VERSION")),
        )
        .header(DELIVERY_HEADER, delivery_id.to_string());
    if let Some(key) = secret {
        req = req.header(SIGNATURE_HEADER, signature(key, body.as_bytes()));
    }
    let req = req
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| format!("request: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let status = resp.status().as_u16();
    // Read (a bounded part of) the answer so the connection closes cleanly.
    let text = Limited::new(resp.into_body(), 4096)
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err(format!(
            "answered {status}: {}",
            text.trim().chars().take(200).collect::<String>()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_with_bounded_jitter() {
        assert_eq!(backoff(0, 0.0), Duration::from_secs(1));
        assert_eq!(backoff(3, 0.0), Duration::from_secs(8));
        assert_eq!(backoff(30, 0.0), MAX_BACKOFF);
        assert_eq!(backoff(0, 1.0), Duration::from_millis(1250));
        assert!(backoff(u64::MAX, 0.999) <= MAX_BACKOFF.mul_f64(1.25));
    }
}
