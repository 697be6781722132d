//! The probe agent's side of the API: hello, target-list changes and window
//! uploads over one kept-alive HTTP/1.1 connection (hyper over a tokio
//! `TcpStream`; plain HTTP, meant for loopback or a private network), plus a
//! jittered exponential [`Backoff`] for retries.
//!
//! It lives in the protocol crate so the probe needs nothing of the
//! controller's server (axum, SQLite) to talk to it, and the controller's
//! tests use the same client the agents do.
//!
//! Several controllers (replicas) may be given, comma-separated: a call that
//! fails on one in a way another may not goes to the next ([`Client`]).
//!
//! Retry policy for callers: [`ClientError::is_retryable`] is true for
//! connection failures, timeouts and 5xx answers (keep the windows spooled and
//! try again after [`Backoff::next_delay`]); false for 4xx answers, which
//! repeating will not fix (401: wrong token; 403: wrong probe; 400: the batch
//! is malformed, so drop or quarantine it). Uploads are idempotent on
//! (probe, seq), so resending a batch whose answer was lost is always safe.

use crate::api::{
    ApiError, Assignment, BwTaskAnswer, Hello, ProbeList, UploadAck, WindowBatch, BEARER,
};
use crate::tls::{self, TlsFailure, TlsOptions};
use crate::window::cbor::{self, Encoding, ACCEPT_POST};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{header, Method, Request, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

/// Default time allowed for one call (connect, send, answer).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer read.
const MAX_RESPONSE: usize = 64 << 20;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("bad controller URL {0:?} (expected http://host:port[/prefix])")]
    Url(String),
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("HTTP: {0}")]
    Http(String),
    #[error("controller answered {status}: {reason}")]
    Status {
        status: u16,
        /// The `error` code of the answer, when it had the usual JSON body.
        code: Option<String>,
        reason: String,
    },
    #[error("cannot read the controller's answer: {0}")]
    Decode(String),
    #[error("cannot encode the request: {0}")]
    Encode(String),
    /// TLS could not be set up, or the controller's certificate was refused:
    /// asking again will not help.
    #[error("TLS: {0}")]
    Tls(TlsFailure),
}

impl ClientError {
    /// Whether the same call may succeed later (see the module documentation).
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Connect { .. } | ClientError::Timeout(_) | ClientError::Http(_) => true,
            ClientError::Status { status, .. } => *status >= 500 || *status == 429,
            ClientError::Url(_)
            | ClientError::Decode(_)
            | ClientError::Encode(_)
            | ClientError::Tls(_) => false,
        }
    }

    /// The HTTP status, when the controller answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Where the controller is: `http[s]://host:port[/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Base {
    /// `host:port`, for connecting and the Host header.
    authority: String,
    /// Path prefix without a trailing slash (usually empty).
    prefix: String,
    /// Over TLS (https).
    tls: bool,
}

impl Base {
    /// The host, as the certificate must name it (no brackets, no port).
    fn host(&self) -> &str {
        let h = self
            .authority
            .rsplit_once(':')
            .map_or(self.authority.as_str(), |(h, _)| h);
        h.trim_start_matches('[').trim_end_matches(']')
    }
}

fn parse_url(url: &str) -> Result<Base, ClientError> {
    let bad = || ClientError::Url(url.to_string());
    let (tls, rest) = match url.strip_prefix("https://") {
        Some(rest) => (true, rest),
        None => (false, url.strip_prefix("http://").ok_or_else(bad)?),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(bad());
    }
    let authority = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else if authority.starts_with('[') && authority.ends_with(']') || !authority.contains(':') {
        format!("{authority}:{}", if tls { 443 } else { 80 })
    } else {
        return Err(bad());
    };
    Ok(Base {
        authority,
        prefix: path.trim_end_matches('/').to_string(),
        tls,
    })
}

/// A controller client for one probe (one token). Calls are serialized over
/// one kept-alive connection; use one client per concurrent caller.
///
/// It may know several controllers (replicas on one database, any of which
/// serves any call): it keeps to one until a call to it fails in a way
/// another may not (no connection, no answer in time, a 5xx answer), then
/// moves to the next and makes the call there, each controller once per call.
#[derive(Debug)]
pub struct Client {
    bases: Vec<Base>,
    /// The controller in use (an index into `bases`).
    current: AtomicUsize,
    token: String,
    timeout: Duration,
    /// The kept-alive connection, and to which controller.
    conn: Mutex<Option<(usize, SendRequest<Full<Bytes>>)>>,
    /// The upload encoding used when the controller takes it.
    prefer: Encoding,
    /// Whether the controller said (in its hello answer) it takes binary
    /// (CBOR) uploads; cleared if one answers 415 to one later.
    binary_ok: AtomicBool,
    /// How https controllers are checked (made with the system's roots at
    /// the first https connection unless [`Client::with_tls`] set it).
    tls: std::sync::OnceLock<Arc<rustls::ClientConfig>>,
}

impl Client {
    /// `url` like `http://127.0.0.1:8680`, or several separated by commas
    /// (replicas, tried in turn); `token` as printed by `token add`.
    pub fn new(url: &str, token: impl Into<String>) -> Result<Client, ClientError> {
        let bases = url
            .split(',')
            .map(|u| parse_url(u.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Client {
            bases,
            current: AtomicUsize::new(0),
            token: token.into().trim().to_string(),
            timeout: DEFAULT_TIMEOUT,
            conn: Mutex::new(None),
            prefer: Encoding::Cbor,
            binary_ok: AtomicBool::new(false),
            tls: std::sync::OnceLock::new(),
        })
    }

    /// The upload encoding to use when the controller takes it (default
    /// CBOR; JSON is always taken).
    pub fn with_encoding(mut self, prefer: Encoding) -> Client {
        self.prefer = prefer;
        self
    }

    /// The encoding window uploads go in now: CBOR once a hello answer said
    /// the controller takes it (and it is preferred), else JSON.
    pub fn upload_encoding(&self) -> Encoding {
        if self.prefer == Encoding::Cbor && self.binary_ok.load(Ordering::Relaxed) {
            Encoding::Cbor
        } else {
            Encoding::Json
        }
    }

    /// The controller calls go to now, as `host:port`.
    pub fn controller(&self) -> &str {
        &self.bases[self.current.load(Ordering::Relaxed) % self.bases.len()].authority
    }

    /// Checks https controllers with these options (a CA file instead of the
    /// system's roots, a key pin); fails at once on a bad CA file or no roots.
    pub fn with_tls(self, opts: &TlsOptions) -> Result<Client, ClientError> {
        let config = tls::client_config(opts).map_err(ClientError::Tls)?;
        let _ = self.tls.set(config);
        Ok(self)
    }

    /// Time allowed for each call.
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// `POST /v1/hello`: announce the probe, get its assignment.
    pub async fn hello(&self, hello: &Hello) -> Result<Assignment, ClientError> {
        let body = serde_json::to_vec(hello).map_err(|e| ClientError::Encode(e.to_string()))?;
        let (status, headers, bytes) = self
            .call_with(Method::POST, "/v1/hello", Some(body), Encoding::Json, true)
            .await?;
        let assignment = decode(status, &bytes)?;
        // A controller from before the binary upload sends no such header.
        let binary = headers
            .get_all(ACCEPT_POST)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| Encoding::Cbor.listed_in(v));
        self.binary_ok.store(binary, Ordering::Relaxed);
        Ok(assignment)
    }

    /// `GET /v1/targets?generation=N`: the new assignment, or `None` when it is
    /// still `generation`.
    pub async fn targets(&self, generation: u64) -> Result<Option<Assignment>, ClientError> {
        let path = format!("/v1/targets?generation={generation}");
        let (status, bytes) = self.call(Method::GET, &path, None, true).await?;
        if status == StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        decode(status, &bytes).map(Some)
    }

    /// `POST /v1/windows`: upload a batch; stored all or nothing.
    pub async fn upload<W: Serialize>(
        &self,
        batch: &WindowBatch<W>,
    ) -> Result<UploadAck, ClientError> {
        let body = serde_json::to_vec(batch).map_err(|e| ClientError::Encode(e.to_string()))?;
        self.upload_json(body).await
    }

    /// `POST /v1/windows` with a batch already encoded as JSON (e.g. from a
    /// spool): sent as CBOR when the controller takes it
    /// ([`Client::upload_encoding`]; transcoded here, histograms as octets),
    /// else as it is. A batch that does not transcode, or a controller that
    /// answers 415 to CBOR after all, gets the JSON.
    pub async fn upload_json(&self, body: Vec<u8>) -> Result<UploadAck, ClientError> {
        if self.upload_encoding() == Encoding::Cbor {
            if let Ok(binary) = cbor::json_to_cbor(&body) {
                match self.upload_encoded(binary, Encoding::Cbor).await {
                    Err(e) if e.status() == Some(415) => {
                        self.binary_ok.store(false, Ordering::Relaxed);
                    }
                    other => return other,
                }
            }
        }
        self.upload_encoded(body, Encoding::Json).await
    }

    /// `POST /v1/windows` with a batch already encoded as `encoding`, sent
    /// as it is.
    pub async fn upload_encoded(
        &self,
        body: Vec<u8>,
        encoding: Encoding,
    ) -> Result<UploadAck, ClientError> {
        let (status, _, bytes) = self
            .call_with(Method::POST, "/v1/windows", Some(body), encoding, true)
            .await?;
        decode(status, &bytes)
    }

    /// `GET /v1/probes`.
    /// `POST /v1/results` with a body already serialized (a `ResultBatch`).
    pub async fn upload_results_json(&self, body: Vec<u8>) -> Result<UploadAck, ClientError> {
        let (status, bytes) = self
            .call(Method::POST, "/v1/results", Some(body), true)
            .await?;
        decode(status, &bytes)
    }

    /// `GET /v1/bw/task`: the bandwidth test to run now, if any.
    pub async fn bw_task(&self) -> Result<BwTaskAnswer, ClientError> {
        let (status, bytes) = self.call(Method::GET, "/v1/bw/task", None, true).await?;
        decode(status, &bytes)
    }

    pub async fn probes(&self) -> Result<ProbeList, ClientError> {
        let (status, bytes) = self.call(Method::GET, "/v1/probes", None, false).await?;
        decode(status, &bytes)
    }

    /// Any GET, answered with its status and body (for `/v1/routes`, `/metrics`).
    pub async fn get(&self, path: &str) -> Result<(u16, Bytes), ClientError> {
        let (status, bytes) = self.call(Method::GET, path, None, false).await?;
        Ok((status.as_u16(), bytes))
    }

    /// Any GET, answered with its status, headers and body.
    pub async fn get_with_headers(
        &self,
        path: &str,
    ) -> Result<(u16, header::HeaderMap, Bytes), ClientError> {
        let (status, headers, bytes) = self
            .call_with(Method::GET, path, None, Encoding::Json, false)
            .await?;
        Ok((status.as_u16(), headers, bytes))
    }

    async fn connect(&self, base: &Base) -> Result<SendRequest<Full<Bytes>>, ClientError> {
        let addr = &base.authority;
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| ClientError::Connect {
                addr: addr.clone(),
                source,
            })?;
        let _ = stream.set_nodelay(true);
        if !base.tls {
            return handshake(stream).await;
        }
        let config = match self.tls.get() {
            Some(c) => c.clone(),
            None => {
                let c = tls::client_config(&TlsOptions::default()).map_err(ClientError::Tls)?;
                self.tls.get_or_init(|| c).clone()
            }
        };
        let host = base.host().to_string();
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|_| ClientError::Url(format!("https://{}", base.authority)))?;
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, stream)
            .await
            .map_err(|e| match tls::classify(&e, &host) {
                Some(f) => ClientError::Tls(f),
                None => ClientError::Connect {
                    addr: addr.clone(),
                    source: e,
                },
            })?;
        handshake(stream).await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        auth: bool,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let (status, _, bytes) = self
            .call_with(method, path, body, Encoding::Json, auth)
            .await?;
        Ok((status, bytes))
    }

    /// A call with its body's encoding, answered with the headers too.
    async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        encoding: Encoding,
        auth: bool,
    ) -> Result<(StatusCode, header::HeaderMap, Bytes), ClientError> {
        let n = self.bases.len();
        let mut tried = 0;
        loop {
            let i = self.current.load(Ordering::Relaxed) % n;
            let outcome = tokio::time::timeout(
                self.timeout,
                self.call_inner(i, method.clone(), path, body.clone(), encoding, auth),
            )
            .await
            .map_err(|_| ClientError::Timeout(self.timeout))
            .and_then(|r| r);
            tried += 1;
            let another_may_do = match &outcome {
                Ok((status, _, _)) => status.is_server_error(),
                Err(e) => e.is_retryable(),
            };
            if !another_may_do || tried >= n {
                return outcome;
            }
            // The next controller, unless another call moved on already.
            let _ =
                self.current
                    .compare_exchange(i, (i + 1) % n, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    async fn call_inner(
        &self,
        which: usize,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        encoding: Encoding,
        auth: bool,
    ) -> Result<(StatusCode, header::HeaderMap, Bytes), ClientError> {
        let body = Bytes::from(body.unwrap_or_default());
        let base = &self.bases[which];
        let mut slot = self.conn.lock().await;
        // A connection to another controller is dropped.
        if slot.as_ref().is_some_and(|(to, _)| *to != which) {
            *slot = None;
        }
        // A kept-alive connection the server closed fails at once: then one
        // more try on a fresh connection (every call here is idempotent).
        for attempt in 0..2 {
            let reused = slot.is_some();
            let mut sender = match slot.take() {
                Some((_, s)) => s,
                None => self.connect(base).await?,
            };
            if sender.ready().await.is_err() {
                if reused && attempt == 0 {
                    continue;
                }
                return Err(ClientError::Http("connection closed".to_string()));
            }
            let mut req = Request::builder()
                .method(method.clone())
                .uri(format!("{}{path}", base.prefix))
                .header(header::HOST, &base.authority);
            if auth {
                req = req.header(header::AUTHORIZATION, format!("{BEARER}{}", self.token));
            }
            if !body.is_empty() {
                req = req.header(header::CONTENT_TYPE, encoding.content_type());
            }
            let req = req
                .body(Full::new(body.clone()))
                .map_err(|e| ClientError::Encode(e.to_string()))?;
            match sender.send_request(req).await {
                Ok(resp) => {
                    let status = resp.status();
                    let (parts, body) = resp.into_parts();
                    let bytes = Limited::new(body, MAX_RESPONSE)
                        .collect()
                        .await
                        .map_err(|e| ClientError::Http(e.to_string()))?
                        .to_bytes();
                    *slot = Some((which, sender));
                    return Ok((status, parts.headers, bytes));
                }
                Err(e) if reused && attempt == 0 && (e.is_canceled() || e.is_closed()) => continue,
                Err(e) => return Err(ClientError::Http(e.to_string())),
            }
        }
        Err(ClientError::Http("connection closed".to_string()))
    }
}

/// HTTP/1.1 over a connected stream (plain or TLS).
async fn handshake<S>(stream: S) -> Result<SendRequest<Full<Bytes>>, ClientError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = hyper_util::rt::TokioIo::new(stream);
    let (sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| ClientError::Http(e.to_string()))?;
    tokio::spawn(async move {
        // Ends when the connection closes; errors show up on the next request.
        let _ = conn.await;
    });
    Ok(sender)
}

fn decode<T: DeserializeOwned>(status: StatusCode, bytes: &[u8]) -> Result<T, ClientError> {
    if status.is_success() {
        return serde_json::from_slice(bytes).map_err(|e| ClientError::Decode(e.to_string()));
    }
    let (code, reason) = match serde_json::from_slice::<ApiError>(bytes) {
        Ok(e) => (Some(e.error), e.reason),
        Err(_) => (
            None,
            String::from_utf8_lossy(bytes).chars().take(200).collect(),
        ),
    };
    Err(ClientError::Status {
        status: status.as_u16(),
        code,
        reason,
    })
}

/// Jittered exponential backoff: each delay doubles up to `max`, and is drawn
/// from its upper half, so many probes retrying after one outage spread out.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    current: Duration,
    state: u64,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()).rotate_left(32);
        Backoff::with_seed(initial, max, seed)
    }

    /// With a fixed seed, for tests.
    pub fn with_seed(initial: Duration, max: Duration, seed: u64) -> Backoff {
        Backoff {
            initial,
            max: max.max(initial),
            current: initial,
            state: seed | 1,
        }
    }

    /// The delay before the next try.
    pub fn next_delay(&mut self) -> Duration {
        // xorshift64
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        let d = self.current;
        self.current = (self.current * 2).min(self.max);
        let half = d / 2;
        let span = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX).max(1);
        half + Duration::from_nanos(self.state % span)
    }

    /// After a success.
    pub fn reset(&mut self) {
        self.current = self.initial;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://127.0.0.1:8680").unwrap(),
            Base {
                authority: "127.0.0.1:8680".into(),
                prefix: String::new(),
                tls: false,
            }
        );
        assert_eq!(parse_url("http://ctl/mesh/").unwrap().prefix, "/mesh");
        assert_eq!(parse_url("http://ctl").unwrap().authority, "ctl:80");
        assert_eq!(parse_url("http://[::1]:9").unwrap().authority, "[::1]:9");
        let b = parse_url("https://ctl.example").unwrap();
        assert_eq!(
            (b.authority.as_str(), b.tls, b.host()),
            ("ctl.example:443", true, "ctl.example")
        );
        assert_eq!(parse_url("https://[::1]:9").unwrap().host(), "::1");
        assert!(parse_url("ftp://x:1").is_err());
        assert!(parse_url("http://").is_err());
    }

    /// A controller stand-in on loopback answering every request with
    /// `status` and `body`, counting requests; stops after `max` of them.
    async fn answering(status: &'static str, body: &'static str) -> (String, Arc<AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            for _ in 0..16 {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    loop {
                        let Ok(n) = s.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..end + 4);
                            seen.fetch_add(1, Ordering::Relaxed);
                            let answer = format!(
                                "HTTP/1.1 {status}\r\ncontent-length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            if s.write_all(answer.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (format!("http://{addr}"), count)
    }

    #[tokio::test]
    async fn calls_fail_over_to_the_next_controller_and_stay_there() {
        // Nothing listens on the first (a port bound and released), the
        // second answers 503 (its database is down), the third works.
        let refused = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        let (unavailable, hits_503) = answering("503 Service Unavailable", "{}").await;
        let (working, hits_ok) = answering("200 OK", "ok").await;
        let client = Client::new(&format!("{refused}, {unavailable},{working}"), "t")
            .unwrap()
            .with_timeout(Duration::from_secs(5));
        let (status, body) = client.get("/v1/x").await.unwrap();
        assert_eq!((status, &body[..]), (200, &b"ok"[..]));
        assert_eq!(client.controller(), working.trim_start_matches("http://"));
        assert_eq!(hits_503.load(Ordering::Relaxed), 1);
        // Kept: the next call goes straight there.
        client.get("/v1/x").await.unwrap();
        assert_eq!(hits_503.load(Ordering::Relaxed), 1);
        assert_eq!(hits_ok.load(Ordering::Relaxed), 2);
        // A 4xx is the controller's answer, not a reason to move on.
        let (bad, _) = answering("401 Unauthorized", "{}").await;
        let client = Client::new(&format!("{bad},{working}"), "t").unwrap();
        assert_eq!(client.get("/v1/x").await.unwrap().0, 401);
        // Every controller failing: the last failure, after each was tried once.
        let client = Client::new(&format!("{refused},{unavailable}"), "t").unwrap();
        assert_eq!(client.get("/v1/x").await.unwrap().0, 503);
        assert_eq!(hits_503.load(Ordering::Relaxed), 2);
        assert!(Client::new("http://a:1,ftp://b", "t").is_err());
    }

    #[test]
    fn backoff_grows_jittered_and_capped() {
        let mut b = Backoff::with_seed(Duration::from_millis(100), Duration::from_secs(1), 7);
        let d: Vec<Duration> = (0..6).map(|_| b.next_delay()).collect();
        assert!(d[0] >= Duration::from_millis(50) && d[0] <= Duration::from_millis(100));
        assert!(d[3] >= Duration::from_millis(400) && d[3] <= Duration::from_millis(800));
        assert!(d[5] >= Duration::from_millis(500) && d[5] <= Duration::from_secs(1));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn retryable_errors() {
        let s = |status| ClientError::Status {
            status,
            code: None,
            reason: String::new(),
        };
        assert!(s(503).is_retryable());
        assert!(!s(401).is_retryable());
        assert!(!s(400).is_retryable());
        assert!(ClientError::Timeout(Duration::from_secs(1)).is_retryable());
    }
}
