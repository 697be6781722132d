//! Sending one webhook: an HTTP/1.1 POST (https checked against the system's
//! roots or the receiver's `ca_file`) of a stored body to a receiver, with
//! its signature and delivery id, and the backoff between failed attempts.

use crate::monitor::alertmanager::{signature, DELIVERY_HEADER, SIGNATURE_HEADER};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{header, Method, Request};
use protocol::tls::TlsOptions;
use std::path::Path;
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

/// POSTs `body` to `url` (`http[s]://host:port/path`); Ok with the status
/// when the receiver answered 2xx.
pub async fn post(
    url: &str,
    delivery_id: i64,
    body: &str,
    secret: Option<&[u8]>,
    ca_file: Option<&Path>,
) -> Result<u16, String> {
    tokio::time::timeout(TIMEOUT, post_inner(url, delivery_id, body, secret, ca_file))
        .await
        .map_err(|_| format!("no answer within {} s", TIMEOUT.as_secs()))?
}

async fn post_inner(
    url: &str,
    delivery_id: i64,
    body: &str,
    secret: Option<&[u8]>,
    ca_file: Option<&Path>,
) -> Result<u16, String> {
    let (tls, rest) = match url.strip_prefix("https://") {
        Some(rest) => (true, rest),
        None => (
            false,
            url.strip_prefix("http://")
                .ok_or_else(|| format!("not an http:// or https:// URL: {url}"))?,
        ),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:{}", if tls { 443 } else { 80 })
    };
    let stream = TcpStream::connect(&addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let mut sender = if tls {
        let opts = TlsOptions {
            ca_file: ca_file.map(Path::to_path_buf),
            pin_sha256: None,
        };
        let config = protocol::tls::client_config(&opts).map_err(|e| e.to_string())?;
        let host = addr
            .rsplit_once(':')
            .map_or(addr.as_str(), |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|_| format!("not a host name: {host}"))?;
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, stream)
            .await
            .map_err(|e| match protocol::tls::classify(&e, &host) {
                Some(f) => f.to_string(),
                None => format!("TLS with {addr}: {e}"),
            })?;
        handshake(stream).await?
    } else {
        handshake(stream).await?
    };
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

/// HTTP/1.1 over a connected stream (plain or TLS).
async fn handshake<S>(stream: S) -> Result<SendRequest<Full<Bytes>>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = hyper_util::rt::TokioIo::new(stream);
    let (sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// An https receiver with a certificate from a CA made here: the POST
    /// lands when the CA is given, and is refused (one clear reason)
    /// against the system's roots.
    #[tokio::test]
    async fn https_receivers_are_checked_against_their_ca() {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&key, &Issuer::from_params(&ca, &ca_key))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (cert_file, key_file, ca_file) = (
            dir.path().join("c.pem"),
            dir.path().join("k.pem"),
            dir.path().join("ca.pem"),
        );
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        std::fs::write(&ca_file, ca_pem).unwrap();
        let config = crate::server::tls::load(&cert_file, &key_file).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let acceptor = tokio_rustls::TlsAcceptor::from(config);
            for _ in 0..2 {
                let (tcp, _) = listener.accept().await.unwrap();
                let Ok(mut s) = acceptor.accept(tcp).await else {
                    continue;
                };
                let mut buf = vec![0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let url = format!("https://localhost:{port}/hook");
        let refused = post(&url, 1, "{}", None, None).await.unwrap_err();
        assert!(
            refused.contains("not signed by a trusted CA") || refused.contains("no trusted roots"),
            "{refused}"
        );
        assert_eq!(post(&url, 2, "{}", None, Some(&ca_file)).await, Ok(200));
    }

    #[test]
    fn backoff_doubles_to_a_cap_with_bounded_jitter() {
        assert_eq!(backoff(0, 0.0), Duration::from_secs(1));
        assert_eq!(backoff(3, 0.0), Duration::from_secs(8));
        assert_eq!(backoff(30, 0.0), MAX_BACKOFF);
        assert_eq!(backoff(0, 1.0), Duration::from_millis(1250));
        assert!(backoff(u64::MAX, 0.999) <= MAX_BACKOFF.mul_f64(1.25));
    }
}
