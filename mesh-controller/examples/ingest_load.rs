//! Ingest benchmark: a real `mesh-controller serve` on loopback and N simulated
//! probes (one `protocol::client::Client` each, as the agent will use)
//! uploading windows as fast as the controller acknowledges them, for a
//! bounded time. Prints windows/s and upload latency (p50/p99/max), and, side
//! by side, the same batches written straight into the store (no HTTP, no
//! JSON checks) with the ratio.
//!
//! usage: ingest_load [--probes 100,1000] [--seconds 10] [--batch 10] [--bin PATH]

use anyhow::{bail, Context, Result};
use mesh_controller::server::secrets::{new_token, Secrets};
use mesh_controller::server::store::sqlite::Sqlite;
use mesh_controller::server::store::{Connector, NewWindow};
use protocol::api::Hello;
use protocol::client::Client;
use protocol::window::TsSource;
use protocol::window::{ClockSample, Event, PacketSample, Window};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Args {
    probes: Vec<usize>,
    seconds: u64,
    batch: usize,
    bin: PathBuf,
}

fn args() -> Result<Args> {
    let exe = std::env::current_exe()?;
    // target/<profile>/examples/ingest_load -> target/<profile>/mesh-controller
    let default_bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("mesh-controller"))
        .context("no binary path")?;
    let mut a = Args {
        probes: vec![100, 1000],
        seconds: 10,
        batch: 10,
        bin: default_bin,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().with_context(|| format!("{k} needs a value"))?;
        match k.as_str() {
            "--probes" => {
                a.probes = v
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()
                    .context("--probes")?
            }
            "--seconds" => a.seconds = v.parse().context("--seconds")?,
            "--batch" => a.batch = v.parse().context("--batch")?,
            "--bin" => a.bin = PathBuf::from(v),
            _ => bail!("unknown argument {k}"),
        }
    }
    if a.seconds == 0 || a.seconds > 600 || a.batch == 0 || a.batch > 1000 {
        bail!("--seconds 1..600, --batch 1..1000");
    }
    Ok(a)
}

/// A 10 s window at 100 ms: 100 packets, 2 lost, delays 5..8 ms.
fn sample_window() -> Window {
    let mut w = Window::new();
    for i in 0..100u32 {
        w.record(&Event::Sent);
        if i < 98 {
            let f = 5_000_000 + i64::from(i) * 20_000;
            w.record(&Event::Reply(PacketSample {
                sender_seq: i,
                reflector_seq: i,
                rtt_ns: 2 * f + 100_000,
                forward_ns: f,
                reverse_ns: f + 100_000,
                clock: ClockSample::default(),
                ts_source: TsSource::Kernel,
            }));
        } else {
            w.record(&Event::RoundTripLost);
        }
    }
    w
}

fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on a valid, exclusively borrowed struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max.min(65_536);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn probe_id(i: usize) -> String {
    format!("p-{i}")
}

/// Config with `n` probes spread over the national topology's cities
/// (hierarchical targets, so assignments stay small at 1,000 probes).
fn write_config(dir: &Path, n: usize) -> Result<Vec<String>> {
    let topo = topology::national::national();
    let sites: Vec<(String, String)> = topo
        .sites
        .iter()
        .filter(|s| !s.networks.is_empty())
        .map(|s| (s.id.clone(), topo.networks[s.networks[0]].id.clone()))
        .collect();
    let mut text = String::from("topology: national\nprobes:\n");
    let mut secrets = Secrets::default();
    let mut tokens = Vec::new();
    for i in 0..n {
        let (site, net) = &sites[i % sites.len()];
        let port = 20_000 + i;
        text.push_str(&format!(
            "  - {{id: {}, site: {site}, network: {net}, stamp: 127.0.0.1:{port}}}\n",
            probe_id(i)
        ));
        let t = new_token();
        secrets.set(&probe_id(i), &t);
        tokens.push(t);
    }
    text.push_str("secrets: secrets.yaml\ntargets: {mode: hierarchical, representatives: 1}\n");
    std::fs::write(dir.join("mesh.yaml"), text)?;
    secrets.save(&dir.join("secrets.yaml"))?;
    Ok(tokens)
}

fn start(bin: &Path, dir: &Path) -> Result<(Child, String)> {
    let mut child = Command::new(bin)
        .arg("serve")
        .arg("--config")
        .arg(dir.join("mesh.yaml"))
        .arg("--db")
        .arg(dir.join("bench.db"))
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stderr = child.stderr.take().context("stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        let line = line?;
        if let Some(a) = line.strip_prefix("mesh-controller: listening on ") {
            let url = a.to_string();
            // Keep draining the log so the server never blocks on it.
            std::thread::spawn(move || for _ in lines {});
            return Ok((child, url));
        }
    }
    bail!("controller exited before listening")
}

fn batch_body(
    probe: &str,
    first_seq: u64,
    n: usize,
    targets: &[String],
    window_json: &str,
    now: u64,
) -> Vec<u8> {
    let mut s = format!("{{\"probe\":\"{probe}\",\"windows\":[");
    for k in 0..n {
        if k > 0 {
            s.push(',');
        }
        let target = &targets[k % targets.len()];
        s.push_str(&format!(
            "{{\"seq\":{},\"target\":\"{target}\",\"start_unix_ms\":{now},\"duration_ms\":10000,\"timestamping\":\"kernel\",\"window\":{window_json}}}",
            first_seq + k as u64
        ));
    }
    s.push_str("]}");
    s.into_bytes()
}

struct Outcome {
    windows: u64,
    uploads: u64,
    errors: u64,
    latencies_us: Vec<u32>,
    elapsed: Duration,
}

async fn simulate(
    url: String,
    tokens: Vec<String>,
    seconds: u64,
    batch: usize,
    window_json: Arc<String>,
) -> Result<Outcome> {
    let n = tokens.len();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let (url, wj) = (url.clone(), window_json.clone());
        tasks.push(tokio::spawn(async move {
            let id = probe_id(i);
            let client = Client::new(&url, token)?.with_timeout(Duration::from_secs(60));
            let a = client
                .hello(&Hello {
                    probe: id.clone(),
                    version: "bench".into(),
                    boot_id: Some("bench".into()),
                    clock: protocol::api::ClockInfo::default(),
                    stamp: None,
                })
                .await?;
            let mut targets: Vec<String> = a.targets.iter().map(|t| t.probe.clone()).collect();
            if targets.is_empty() {
                targets.push(probe_id((i + 1) % n));
            }
            let mut seq = a.next_seq;
            let (mut lat, mut windows, mut errors) = (Vec::new(), 0u64, 0u64);
            while Instant::now() < deadline {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)?
                    .as_millis() as u64;
                let body = batch_body(&id, seq, batch, &targets, &wj, now);
                let t0 = Instant::now();
                match client.upload_json(body).await {
                    Ok(ack) => {
                        lat.push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                        windows += ack.accepted.len() as u64;
                        seq += batch as u64;
                    }
                    Err(_) => errors += 1,
                }
            }
            anyhow::Ok((lat, windows, errors))
        }));
    }
    let mut out = Outcome {
        windows: 0,
        uploads: 0,
        errors: 0,
        latencies_us: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        let (lat, w, e) = t.await??;
        out.uploads += lat.len() as u64;
        out.latencies_us.extend(lat);
        out.windows += w;
        out.errors += e;
    }
    out.elapsed = start.elapsed();
    out.latencies_us.sort_unstable();
    Ok(out)
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

/// The same windows straight into the store: one batch per transaction, with
/// their rollups (as the HTTP path keeps them) but no JSON checks.
fn direct_baseline(dir: &Path, batch: usize, window_json: &str, count: u64) -> Result<f64> {
    let decoded: Window = serde_json::from_str(window_json)?;
    let rollup = mesh_controller::history::Rollup::of_window(&decoded);
    let medians = mesh_controller::server::store::Medians::of(&decoded);
    let mut db = Sqlite::new(&dir.join("direct.db")).writer()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as u64;
    let t0 = Instant::now();
    let mut seq = 1u64;
    while seq <= count {
        let ws: Vec<NewWindow> = (0..batch as u64)
            .map(|k| NewWindow {
                seq: seq + k,
                target: "p-1".into(),
                start_ms: now,
                duration_ms: 10_000,
                ssid: None,
                timestamping: Some(TsSource::Kernel),
                sent: 100,
                replies: 98,
                json: window_json.to_string(),
                pair: Some(("beijing@telecom".into(), "shanghai@telecom".into())),
                rollup: Some(rollup.clone()),
                medians,
            })
            .collect();
        db.ingest("p-0", &ws, now)?;
        seq += batch as u64;
    }
    Ok((seq - 1) as f64 / t0.elapsed().as_secs_f64())
}

fn main() -> Result<()> {
    let a = args()?;
    raise_fd_limit();
    let window_json = Arc::new(serde_json::to_string(&sample_window())?);
    println!(
        "   window JSON {} bytes, {} windows per upload, {} s per run, loopback",
        window_json.len(),
        a.batch,
        a.seconds
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    for &n in &a.probes {
        let dir = tempfile::tempdir()?;
        let tokens = write_config(dir.path(), n)?;
        let (mut child, url) = start(&a.bin, dir.path())?;
        let out = rt.block_on(simulate(
            url.clone(),
            tokens,
            a.seconds,
            a.batch,
            window_json.clone(),
        ));
        // What reading them back costs: routes merge every stored window of the look-back.
        let reads = rt.block_on(async {
            let c = Client::new(&url, "")?.with_timeout(Duration::from_secs(300));
            let t0 = Instant::now();
            let (status, _) = c.get("/v1/routes?measured=true").await?;
            anyhow::ensure!(status == 200, "routes: {status}");
            anyhow::Ok(t0.elapsed())
        });
        let _ = child.kill();
        let _ = child.wait();
        let out = out?;
        let reads = reads?;
        let secs = out.elapsed.as_secs_f64();
        let wps = out.windows as f64 / secs;
        let direct = direct_baseline(
            dir.path(),
            a.batch,
            &window_json,
            (out.windows / 4).clamp(1_000, 50_000),
        )?;
        println!(
            "   {n:>5} probes: {:>8.0} windows/s ({:>6.0} uploads/s), upload latency p50 {:>7.1} ms, p99 {:>7.1} ms, max {:>7.1} ms, {} errors; direct store {:>8.0} windows/s (HTTP/direct {:.2}x)",
            wps,
            out.uploads as f64 / secs,
            pct(&out.latencies_us, 50.0),
            pct(&out.latencies_us, 99.0),
            pct(&out.latencies_us, 100.0),
            out.errors,
            direct,
            wps / direct
        );
        println!(
            "                  GET /v1/routes over the {} stored windows: {:.2} s",
            out.windows,
            reads.as_secs_f64()
        );
    }
    Ok(())
}
