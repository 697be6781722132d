//! Console benchmark: the first render of the live console in headless
//! Chromium over the national mesh (`scripts/bench.sh console`).
//!
//! A real `mesh-controller serve` on the embedded national topology with a
//! probe on every endpoint (142), fed over `POST /v1/windows` as the tests
//! feed it: one session per pair of endpoints a budget covers, ten windows of
//! the last ten minutes each, one-way delays from the modelled routes (plus a
//! detour on some routes, so some are over budget). Then Chromium, driven
//! through chromedriver over WebDriver, loads `/` RUNS times; each load's
//! first render is read from `performance.getEntriesByName
//! ("hubmesh-first-render")` (ms after navigation start) beside the
//! navigation timing and the API requests it waited for; the median is
//! printed beside the goal (1 s). Side by side: the same report as one
//! report.html opened from disk (the snapshot, no API).
//!
//! usage: console_bench [--bin PATH] [--runs 5]
//! With HUBMESH_SCREENSHOT=path.png, also saves the live page with the first
//! route over budget open.
//! Exits 1 without chromium or chromedriver (saying so).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/webdriver/mod.rs"]
mod webdriver;

use anyhow::{bail, Context, Result};
use mesh_controller::server::secrets::{new_token, Secrets};
use protocol::api::{WindowBatch, WindowUpload};
use protocol::window::{ClockSample, Event, PacketSample, TsSource, Window};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use topology::analysis::{self, Options};
use topology::routing::Routes;

#[path = "common/serve.rs"]
mod serve;
use serve::serve;

const GOAL_MS: f64 = 1000.0;
const WINDOWS_PER_SESSION: u64 = 10;
const PACKETS: u32 = 50;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A small deterministic generator (xorshift), so every run feeds the same.
struct Rng(u64);
impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn synced() -> ClockSample {
    ClockSample {
        local_synchronized: true,
        local_error: Duration::from_micros(50),
        remote_synchronized: true,
        remote_error: Duration::from_micros(50),
        one_way_error: Duration::from_micros(100),
    }
}

/// A window of PACKETS replies around these one-way delays (ms).
fn window(rng: &mut Rng, fwd: f64, rev: f64) -> Window {
    let mut w = Window::new();
    let ns = |ms: f64| (ms * 1e6) as i64;
    for i in 0..PACKETS {
        w.record(&Event::Sent);
        let f = fwd * (1.0 + 0.05 * rng.unit());
        let r = rev * (1.0 + 0.05 * rng.unit());
        w.record(&Event::Reply(PacketSample {
            sender_seq: i,
            reflector_seq: i,
            rtt_ns: ns(f + r),
            forward_ns: ns(f),
            reverse_ns: ns(r),
            clock: synced(),
            ts_source: TsSource::Kernel,
        }));
    }
    w
}

/// One HTTP/1.1 request (Connection: close): (status, body).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(300)))?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no header end")?;
    let status = String::from_utf8_lossy(&resp[..split])
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("no status")?;
    Ok((status, resp[split + 4..].to_vec()))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

const TIMINGS: &str = "const nav = performance.getEntriesByType('navigation')[0]; \
    const fr = performance.getEntriesByName('hubmesh-first-render')[0]; \
    const api = performance.getEntriesByType('resource') \
        .filter(r => r.name.includes('/v1/')) \
        .map(r => [r.name.replace(/^.*\\/v1\\//, '').replace(/\\?.*$/, ''), r.responseEnd - r.startTime]); \
    return {first_render: fr ? fr.startTime : null, response_end: nav.responseEnd, \
        dom_content_loaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd, api, \
        routes: Number(document.querySelector('#map').dataset.routes), \
        sites: Number(document.querySelector('#map').dataset.sites), \
        labels: Number(document.querySelector('#map').dataset.labels)};";

/// RUNS loads of `url`: the first-render figures of each.
fn loads(d: &webdriver::Driver, url: &str, runs: usize, label: &str) -> Vec<f64> {
    let mut firsts = Vec::new();
    for i in 0..runs {
        d.goto(url);
        d.wait_until(
            "the first render",
            "return document.body.dataset.rendered === '1'",
            60,
        );
        let t = d.execute(TIMINGS, json!([]));
        let first = t["first_render"].as_f64().unwrap_or(f64::NAN);
        firsts.push(first);
        let api: Vec<String> = t["api"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        format!(
                            "{} {:.0} ms",
                            x[0].as_str().unwrap_or("?"),
                            x[1].as_f64().unwrap_or(0.0)
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        println!(
            "   {label} load {}: first render {:>6.0} ms (response end {:.0}, DOMContentLoaded {:.0}, load {:.0}; {}) map: {} sites, {} labels shown, {} site pairs",
            i + 1,
            first,
            t["response_end"].as_f64().unwrap_or(f64::NAN),
            t["dom_content_loaded"].as_f64().unwrap_or(f64::NAN),
            t["load"].as_f64().unwrap_or(f64::NAN),
            if api.is_empty() { "no API request".to_string() } else { api.join(", ") },
            t["sites"],
            t["labels"],
            t["routes"],
        );
    }
    firsts
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let exe = std::env::current_exe()?;
    let mut bin: PathBuf = exe
        .parent()
        .and_then(Path::parent)
        .map(|p| p.join("mesh-controller"))
        .context("binary path")?;
    let mut runs = 5usize;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bin" => bin = args.next().context("--bin PATH")?.into(),
            "--runs" => runs = args.next().context("--runs N")?.parse()?,
            other => {
                bail!("unknown argument {other:?} (usage: console_bench [--bin PATH] [--runs 5])")
            }
        }
    }
    let (chromium, chromedriver) = match webdriver::browser() {
        Ok(b) => b,
        Err(why) => {
            eprintln!("console bench: {why}");
            std::process::exit(1);
        }
    };

    // The national topology, a probe per endpoint.
    let topo = topology::national::national();
    let eps = analysis::endpoints(&topo);
    let names: Vec<String> = eps.iter().map(|e| e.name(&topo)).collect();
    let probe_id = |name: &str| name.replace('@', "-");
    let dir = tempfile::tempdir()?;
    let mut cfg = String::from("topology: national\nprobes:\n");
    let mut secrets = Secrets::default();
    let mut tokens = BTreeMap::new();
    for (i, e) in eps.iter().enumerate() {
        let site = &topo.sites[e.site].id;
        let net = e
            .network
            .map(|n| format!(", network: {}", topo.networks[n].id))
            .unwrap_or_default();
        let id = probe_id(&names[i]);
        cfg.push_str(&format!(
            "  - {{id: {id}, site: {site}{net}, stamp: 127.0.0.1:{}}}\n",
            20000 + i
        ));
        let token = new_token();
        secrets.set(&id, &token);
        tokens.insert(id, token);
    }
    cfg.push_str("secrets: secrets.yaml\n");
    std::fs::write(dir.path().join("mesh.yaml"), cfg)?;
    secrets.save(&dir.path().join("secrets.yaml"))?;

    // Sessions: one per covered pair, delays from the modelled routes.
    let routes = Routes::compute(&topo);
    let table = analysis::analyse(&topo, &topo.budgets, &routes, &Options::default());
    let one_way: BTreeMap<(&str, &str), f64> = table
        .routes
        .iter()
        .filter_map(|r| Some(((r.from.as_str(), r.to.as_str()), r.one_way_ms?)))
        .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut batches: BTreeMap<String, Vec<WindowUpload<Window>>> = BTreeMap::new();
    let mut sessions = 0;
    let t_now = now_ms();
    for (&(a, b), &fwd) in &one_way {
        if a > b {
            continue;
        }
        let rev = one_way.get(&(b, a)).copied().unwrap_or(fwd);
        // One session in twelve detours: 15 ms more each way.
        let extra = if rng.unit() < 1.0 / 12.0 { 15.0 } else { 0.0 };
        sessions += 1;
        let list = batches.entry(probe_id(a)).or_default();
        for k in 0..WINDOWS_PER_SESSION {
            let w = window(&mut rng, fwd + extra, rev + extra);
            let seq = list.len() as u64 + 1;
            list.push(WindowUpload {
                seq,
                target: probe_id(b),
                start_unix_ms: t_now - (WINDOWS_PER_SESSION - k) * 60_000,
                duration_ms: 10_000,
                window: w,
                timestamping: Some(TsSource::Kernel),
                ssid: None,
            });
        }
    }

    let server = serve(&bin, dir.path())?;
    let t0 = Instant::now();
    let mut windows = 0;
    for (probe, list) in batches {
        let token = &tokens[&probe];
        let (status, _) = http(
            server.addr,
            "POST",
            "/v1/hello",
            Some(token),
            json!({"probe": probe, "version": "bench", "boot_id": format!("boot-{probe}"),
                   "clock": {"synchronized": true, "error_us": 50}})
            .to_string()
            .as_bytes(),
        )?;
        if status != 200 {
            bail!("hello {probe}: {status}");
        }
        for chunk in list.chunks(200) {
            let body = serde_json::to_vec(&WindowBatch {
                probe: probe.clone(),
                windows: chunk.to_vec(),
            })?;
            let (status, ack) = http(server.addr, "POST", "/v1/windows", Some(token), &body)?;
            if status != 200 {
                bail!("upload {probe}: {status} {}", String::from_utf8_lossy(&ack));
            }
            windows += chunk.len();
        }
    }
    println!(
        "   fed: {} endpoints (a probe on each), {sessions} sessions over the {} covered routes, {windows} windows in {:.1} s",
        eps.len(),
        table.routes.len(),
        t0.elapsed().as_secs_f64()
    );
    let (_, body) = http(server.addr, "GET", "/v1/report?format=json", None, b"")?;
    let report: Value = serde_json::from_slice(&body)?;
    println!(
        "   report: {} (not instrumented: {} routes)",
        report["summary"], report["not_instrumented"]["routes"]
    );
    let t = Instant::now();
    let (_, html) = http(server.addr, "GET", "/v1/report?format=html", None, b"")?;
    let file = dir.path().join("report.html");
    std::fs::write(&file, &html)?;
    println!(
        "   report.html: {} KB, built in {:.0} ms",
        html.len() / 1024,
        t.elapsed().as_secs_f64() * 1000.0
    );

    let d = webdriver::Driver::start(&chromium, &chromedriver);
    let live = loads(&d, &format!("http://{}/", server.addr), runs, "live");
    let snap = loads(&d, &format!("file://{}", file.display()), runs, "file");
    if let Some(path) = std::env::var_os("HUBMESH_SCREENSHOT") {
        // The live page with the first route over budget open.
        d.goto(&format!("http://{}/", server.addr));
        d.wait_until(
            "the first render",
            "return document.body.dataset.rendered === '1'",
            60,
        );
        d.click("#violations li.row");
        d.wait_until(
            "the route chart",
            "const c = document.querySelector('#route-chart'); return !!c && c.dataset.state !== 'loading'",
            60,
        );
        std::fs::write(&path, d.screenshot())?;
        println!("   screenshot: {}", Path::new(&path).display());
    }
    let (ml, ms) = (median(live), median(snap));
    println!(
        "   first render, median of {runs}: live (GET / + API) {ml:.0} ms, {:.2}x the 1 s goal{}; report.html from disk {ms:.0} ms ({:.2}x the live page)",
        ml / GOAL_MS,
        if ml <= GOAL_MS { ", met" } else { ", NOT met" },
        ms / ml
    );
    Ok(())
}
