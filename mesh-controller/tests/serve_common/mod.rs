//! Shared by the `serve_*` tests: a controller (the real binary) on a free
//! loopback port in a temp dir, tokens, raw HTTP requests, and windows built
//! from hand-made events with the probe's own `Window`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use protocol::api::{WindowBatch, WindowUpload};
use protocol::window::TsSource;
use protocol::window::{ClockSample, Event, PacketSample, Window};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_mesh-controller");

/// A real-time hub with a cluster and two cities, no carriers: plan-2021
/// covers cluster <-> city.
pub const TOPOLOGY: &str = "\
topology:
  version: 1
  hubs:
    - {id: rt, role: realtime}
  sites:
    - {id: cl, kind: cluster, hub: rt, location: [30.0, 104.0]}
    - {id: city-a, kind: city, hub: rt, location: [30.6, 104.1]}
    - {id: city-b, kind: city, hub: rt, location: [29.6, 106.5]}
  links:
    - {between: [cl, city-a], delay_ms: 1.0}
    - {between: [cl, city-b], delay_ms: 4.0}
  budgets: plan-2021
";

/// The config with these probes: (id, site, stamp port).
pub fn config_with(probes: &[(&str, &str)], extra: &str) -> String {
    let mut s = String::from(TOPOLOGY);
    s.push_str("probes:\n");
    for (i, (id, site)) in probes.iter().enumerate() {
        s.push_str(&format!(
            "  - {{id: {id}, site: {site}, stamp: 127.0.0.1:{}}}\n",
            28600 + i
        ));
    }
    s.push_str("secrets: secrets.yaml\n");
    s.push_str(extra);
    s
}

/// Runs the binary to its end; one that has not ended after 60 s (a
/// `serve` that was expected to refuse and started instead) is killed and
/// the test fails rather than hanging.
pub fn run(args: &[&str]) -> Output {
    let child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mesh-controller");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if rx.recv_timeout(Duration::from_secs(60)).is_err() {
            // SAFETY: kill(2) on our own child, which has not been reaped
            // (the main thread is still waiting for it).
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            return true;
        }
        false
    });
    let out = child.wait_with_output().expect("wait for mesh-controller");
    let _ = tx.send(());
    let killed = watchdog.join().unwrap_or(false);
    assert!(
        !killed,
        "mesh-controller {args:?} did not end within 60 s: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A controller process and its directory.
pub struct Ctl {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub db: PathBuf,
    pub tokens: BTreeMap<String, String>,
    child: Option<Child>,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<String>>,
    /// More `serve` arguments (TLS, listen address rules).
    pub extra_args: Vec<String>,
}

impl Ctl {
    /// Writes the config, makes a token for each of `probes`, starts the server.
    pub fn start(config: &str, probes: &[&str]) -> Ctl {
        Ctl::start_with(config, probes, &[])
    }

    /// [`Ctl::start`] with more `serve` arguments.
    pub fn start_with(config: &str, probes: &[&str], extra_args: &[String]) -> Ctl {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mesh.yaml");
        std::fs::write(&path, config).unwrap();
        let mut ctl = Ctl {
            db: dir.path().join("hubmesh.db"),
            config: path,
            dir,
            tokens: BTreeMap::new(),
            child: None,
            addr: "127.0.0.1:0".parse().unwrap(),
            log: Arc::new(Mutex::new(String::new())),
            extra_args: extra_args.to_vec(),
        };
        for id in probes {
            let t = ctl.token_add(id);
            ctl.tokens.insert(id.to_string(), t);
        }
        ctl.spawn();
        ctl
    }

    /// [`Ctl::start`] on a given `--db` (a `postgres://` URL).
    pub fn start_on(config: &str, probes: &[&str], db: &str) -> Ctl {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mesh.yaml");
        std::fs::write(&path, config).unwrap();
        let mut ctl = Ctl {
            db: PathBuf::from(db),
            config: path,
            dir,
            tokens: BTreeMap::new(),
            child: None,
            addr: "127.0.0.1:0".parse().unwrap(),
            log: Arc::new(Mutex::new(String::new())),
            extra_args: Vec::new(),
        };
        for id in probes {
            let t = ctl.token_add(id);
            ctl.tokens.insert(id.to_string(), t);
        }
        ctl.spawn();
        ctl
    }

    /// Another controller on the same configuration and database (a
    /// replica), started.
    pub fn replica(&self) -> Ctl {
        let mut ctl = Ctl {
            db: self.db.clone(),
            config: self.config.clone(),
            dir: tempfile::tempdir().unwrap(),
            tokens: self.tokens.clone(),
            child: None,
            addr: "127.0.0.1:0".parse().unwrap(),
            log: Arc::new(Mutex::new(String::new())),
            extra_args: self.extra_args.clone(),
        };
        ctl.spawn();
        ctl
    }

    pub fn token_add(&self, id: &str) -> String {
        let out = run(&[
            "token",
            "add",
            "--config",
            self.config.to_str().unwrap(),
            id,
        ]);
        assert!(
            out.status.success(),
            "token add {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    pub fn token(&self, id: &str) -> &str {
        &self.tokens[id]
    }

    /// Starts the server (again) on a free port and waits until it listens.
    pub fn spawn(&mut self) {
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--config",
                self.config.to_str().unwrap(),
                "--db",
                self.db.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ])
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log = self.log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let listening = line
                    .strip_prefix("mesh-controller: listening on http://")
                    .or_else(|| line.strip_prefix("mesh-controller: listening on https://"));
                if let Some(a) = listening {
                    let _ = tx.send(a.to_string());
                }
                log.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("server did not start: {}", self.log.lock().unwrap()));
        self.addr = addr.parse().unwrap();
        self.child = Some(child);
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A raw HTTP/1.1 request (Connection: close): (status, body).
    pub fn http(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &[u8],
    ) -> (u16, String) {
        self.try_http(method, path, token, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// [`Ctl::http`] that reports connection failures instead of panicking.
    pub fn try_http(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &[u8],
    ) -> std::io::Result<(u16, String)> {
        let mut s = TcpStream::connect(self.addr)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(t) = token {
            req.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        if !body.is_empty() {
            req.push_str("Content-Type: application/json\r\n");
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes())?;
        s.write_all(body)?;
        let mut resp = Vec::new();
        s.read_to_end(&mut resp)?;
        let text = String::from_utf8_lossy(&resp).into_owned();
        let status: u16 = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("no status line in {text:?}")))?;
        // Bodies of known length only (axum sends Content-Length for these).
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Ok((status, body))
    }

    pub fn get_json(&self, path: &str) -> Value {
        let (status, body) = self.http("GET", path, None, b"");
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    pub fn post_json(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let (status, text) = self.http("POST", path, Some(token), body.to_string().as_bytes());
        let v = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, v)
    }

    pub fn hello(&self, probe: &str, boot_id: &str) -> Value {
        let (status, v) = self.post_json(
            "/v1/hello",
            self.token(probe),
            &serde_json::json!({
                "probe": probe, "version": "test", "boot_id": boot_id,
                "clock": {"synchronized": false, "error_us": 16_000_000}
            }),
        );
        assert_eq!(status, 200, "hello {probe}: {v}");
        v
    }

    /// Waits until `f` holds (the server's background work), up to 20 s.
    pub fn wait_for(&self, what: &str, mut f: impl FnMut() -> bool) {
        let t0 = Instant::now();
        while !f() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "timed out waiting for {what}: {}",
                self.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Ctl {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// One reply with these delays (ms), clock as given.
pub fn reply(seq: u32, forward_ms: f64, reverse_ms: f64, clock: ClockSample) -> Event {
    let ns = |ms: f64| (ms * 1e6) as i64;
    Event::Reply(PacketSample {
        sender_seq: seq,
        reflector_seq: seq,
        rtt_ns: ns(forward_ms + reverse_ms),
        forward_ns: ns(forward_ms),
        reverse_ns: ns(reverse_ms),
        clock,
        ts_source: TsSource::Kernel,
    })
}

/// A window of `n` packets: `n - lost` replies with forward/reverse delays
/// spread from `fwd` to `fwd + 1` ms (and `rev` likewise).
pub fn window(n: u32, lost: u32, fwd: f64, rev: f64, clock: ClockSample) -> Window {
    let mut w = Window::new();
    for i in 0..n {
        w.record(&Event::Sent);
        if i < n - lost {
            let f = fwd + f64::from(i) / f64::from(n);
            let r = rev + f64::from(i) / f64::from(n);
            w.record(&reply(i, f, r, clock));
        } else {
            w.record(&Event::RoundTripLost);
        }
    }
    w
}

/// Clocks of two probes in namespaces of one machine: unsynchronized, 16 s.
pub fn unsync_clock() -> ClockSample {
    ClockSample {
        local_synchronized: false,
        local_error: Duration::from_secs(16),
        remote_synchronized: false,
        remote_error: Duration::from_secs(16),
        one_way_error: Duration::from_secs(32),
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A batch JSON of windows (seq, target, window), starting `age_ms` ago.
pub fn batch(probe: &str, windows: &[(u64, &str, &Window)], age_ms: u64) -> Value {
    let start = now_ms() - age_ms;
    let b = WindowBatch {
        probe: probe.to_string(),
        windows: windows
            .iter()
            .map(|(seq, target, w)| WindowUpload {
                seq: *seq,
                target: target.to_string(),
                start_unix_ms: start + seq * 10,
                duration_ms: 10_000,
                window: (*w).clone(),
                timestamping: Some(protocol::window::TsSource::Kernel),
                ssid: None,
            })
            .collect(),
    };
    serde_json::to_value(&b).unwrap()
}

/// (raw rows, windows in coarse rows, merged `sent` over everything) of a db.
pub fn db_totals(db: &Path) -> (u64, u64, u64) {
    use mesh_controller::server::store::StoreRead;
    let conn = mesh_controller::server::store::sqlite::Reader::open(db).unwrap();
    let (raw, coarse) = conn.totals().unwrap();
    let merged = conn.merged_since(0).unwrap();
    let sent = merged.values().map(|m| m.window.counters.sent).sum();
    (raw, coarse, sent)
}

/// "status:alertname" of each notification a receiver got, in order.
pub fn statuses(r: &Receiver) -> Vec<String> {
    r.received()
        .iter()
        .map(|x| {
            let v: Value = serde_json::from_str(&x.body).unwrap();
            format!(
                "{}:{}",
                v["status"].as_str().unwrap(),
                v["alerts"][0]["labels"]["alertname"].as_str().unwrap()
            )
        })
        .collect()
}

/// One request a [`Receiver`] got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

/// A webhook receiver on loopback: records every POST; answers 503 to the
/// first `fail_first` requests, 200 to the rest.
pub struct Receiver {
    pub addr: SocketAddr,
    pub got: Arc<Mutex<Vec<Received>>>,
    pub refused: Arc<Mutex<u32>>,
}

impl Receiver {
    pub fn start(fail_first: u32) -> Receiver {
        Receiver::start_slow(fail_first, Duration::ZERO)
    }

    /// [`Receiver::start`] answering each request only after `delay` (one
    /// at a time): a notification stays in flight that long.
    pub fn start_slow(fail_first: u32, delay: Duration) -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(Mutex::new(0u32));
        let (g, r) = (got.clone(), refused.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let Some(req) = read_request(&mut conn) else {
                    continue;
                };
                let fail = {
                    let mut n = r.lock().unwrap();
                    if *n < fail_first {
                        *n += 1;
                        true
                    } else {
                        false
                    }
                };
                std::thread::sleep(delay);
                let status = if fail {
                    "503 Service Unavailable"
                } else {
                    g.lock().unwrap().push(req);
                    "200 OK"
                };
                let _ = conn.write_all(
                    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                );
            }
        });
        Receiver { addr, got, refused }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

fn read_request(conn: &mut TcpStream) -> Option<Received> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines();
    let path = lines.next()?.split_whitespace().nth(1)?.to_string();
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Received {
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// The data a report.html carries: the JSON of its
/// `<script type="application/json" id="hubmesh-snapshot">`.
pub fn snapshot_of(html: &str) -> Value {
    let open = "<script type=\"application/json\" id=\"hubmesh-snapshot\">";
    let start = html
        .find(open)
        .unwrap_or_else(|| panic!("no snapshot in the page: {}", &html[..html.len().min(2000)]))
        + open.len();
    let end = start
        + html[start..]
            .find("</script>")
            .expect("snapshot element ends");
    serde_json::from_str(&html[start..end]).expect("snapshot is JSON")
}
