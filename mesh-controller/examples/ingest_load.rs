//! Ingest benchmark: a real `mesh-controller serve` on loopback and N simulated
//! probes (one `protocol::client::Client` each, as the agent will use)
//! uploading windows, for a bounded time, in each upload encoding (JSON,
//! CBOR). Two loads: closed loop (each probe uploads its next batch as soon
//! as the last is acknowledged: the throughput), and paced (probes offering
//! a fixed total rate, batches spread evenly: the upload latency at that
//! rate). Prints windows/s and upload latency (p50/p99/max), and, side by
//! side, the same batches written straight into the store (no HTTP, no
//! checks) with the ratio. `--breakdown` prints where a window's time goes.
//!
//! usage: ingest_load [--probes 100,1000] [--seconds 10] [--batch 10]
//!        [--encoding json,cbor] [--rate WINDOWS_PER_S] [--db PATH_OR_URL]
//!        [--bin PATH] [--breakdown]

use anyhow::{bail, Context, Result};
use mesh_controller::server::secrets::{new_token, Secrets};
use mesh_controller::server::store::sqlite::Sqlite;
use mesh_controller::server::store::{Backend, Connector, NewWindow};
use protocol::api::{Hello, WindowBatch, WindowUpload};
use protocol::client::Client;
use protocol::window::cbor;
use protocol::window::{ClockSample, Encoding, Event, PacketSample, TsSource, Window};
use protocol::window::{HistBytes, WindowParts};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Args {
    probes: Vec<usize>,
    seconds: u64,
    batch: usize,
    encodings: Vec<Encoding>,
    /// Paced load: windows/s offered by all probes together (0: none).
    rate: u64,
    /// The store: a path (SQLite, a fresh file per run when not given) or a
    /// `postgres://` URL (one database for every run: sequence numbers go on
    /// from what each probe's hello says).
    db: Option<String>,
    bin: PathBuf,
    breakdown: bool,
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
        encodings: vec![Encoding::Json, Encoding::Cbor],
        rate: 0,
        db: None,
        bin: default_bin,
        breakdown: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        if k == "--breakdown" {
            a.breakdown = true;
            continue;
        }
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
            "--rate" => a.rate = v.parse().context("--rate")?,
            "--db" => a.db = Some(v),
            "--encoding" => {
                a.encodings = v
                    .split(',')
                    .map(|e| match e {
                        "json" => Ok(Encoding::Json),
                        "cbor" => Ok(Encoding::Cbor),
                        _ => bail!("--encoding: json or cbor, not {e:?}"),
                    })
                    .collect::<Result<_>>()?
            }
            "--bin" => a.bin = PathBuf::from(v),
            _ => bail!("unknown argument {k}"),
        }
    }
    if a.seconds == 0 || a.seconds > 600 || a.batch == 0 || a.batch > 1000 {
        bail!("--seconds 1..600, --batch 1..1000");
    }
    if a.rate > 1_000_000 || a.probes.iter().any(|&n| n == 0 || n > 20_000) {
        bail!("--rate at most 1,000,000 windows/s, --probes 1..20,000");
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

fn start(bin: &Path, dir: &Path, db: &str) -> Result<(Child, String)> {
    let mut child = Command::new(bin)
        .arg("serve")
        .arg("--config")
        .arg(dir.join("mesh.yaml"))
        .arg("--db")
        .arg(db)
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
    let _ = child.wait();
    bail!("controller exited before listening")
}

/// The window of every upload, in both forms.
struct Sample {
    json: String,
    parts: WindowParts<HistBytes>,
}

/// One upload's body in `encoding`.
fn batch_body(
    probe: &str,
    first_seq: u64,
    n: usize,
    targets: &[String],
    sample: &Sample,
    now: u64,
    encoding: Encoding,
) -> Vec<u8> {
    match encoding {
        Encoding::Json => {
            let mut s = format!("{{\"probe\":\"{probe}\",\"windows\":[");
            for k in 0..n {
                if k > 0 {
                    s.push(',');
                }
                let target = &targets[k % targets.len()];
                s.push_str(&format!(
                    "{{\"seq\":{},\"target\":\"{target}\",\"start_unix_ms\":{now},\"duration_ms\":10000,\"timestamping\":\"kernel\",\"window\":{}}}",
                    first_seq + k as u64,
                    sample.json
                ));
            }
            s.push_str("]}");
            s.into_bytes()
        }
        Encoding::Cbor => {
            let windows = (0..n)
                .map(|k| WindowUpload {
                    seq: first_seq + k as u64,
                    target: targets[k % targets.len()].clone(),
                    start_unix_ms: now,
                    duration_ms: 10_000,
                    window: sample.parts.clone(),
                    timestamping: Some(TsSource::Kernel),
                    ssid: None,
                })
                .collect();
            let batch = WindowBatch {
                probe: probe.to_string(),
                windows,
            };
            cbor::encode(&batch).unwrap_or_default()
        }
    }
}

struct Outcome {
    windows: u64,
    uploads: u64,
    errors: u64,
    latencies_us: Vec<u32>,
    elapsed: Duration,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `tokens.len()` probes uploading for `seconds`: closed loop when
/// `interval` is None, else one batch each every `interval` (first ones
/// spread evenly over it).
async fn simulate(
    url: String,
    tokens: Vec<String>,
    seconds: u64,
    batch: usize,
    sample: Arc<Sample>,
    encoding: Encoding,
    interval: Option<Duration>,
) -> Result<Outcome> {
    let n = tokens.len();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let (url, sample) = (url.clone(), sample.clone());
        tasks.push(tokio::spawn(async move {
            let id = probe_id(i);
            let client = Client::new(&url, token)?
                .with_timeout(Duration::from_secs(60))
                .with_encoding(encoding);
            let a = client
                .hello(&Hello {
                    probe: id.clone(),
                    version: "bench".into(),
                    boot_id: Some("bench".into()),
                    clock: protocol::api::ClockInfo::default(),
                    stamp: None,
                })
                .await?;
            anyhow::ensure!(
                client.upload_encoding() == encoding,
                "the controller does not take {encoding:?} uploads"
            );
            let mut targets: Vec<String> = a.targets.iter().map(|t| t.probe.clone()).collect();
            if targets.is_empty() {
                targets.push(probe_id((i + 1) % n));
            }
            let mut seq = a.next_seq;
            let (mut lat, mut windows, mut errors) = (Vec::new(), 0u64, 0u64);
            let mut next = interval.map(|d| start + d.mul_f64(i as f64 / n as f64));
            loop {
                if let Some(at) = next {
                    tokio::time::sleep_until(at.into()).await;
                }
                if Instant::now() >= deadline {
                    break;
                }
                let body = batch_body(&id, seq, batch, &targets, &sample, now_ms(), encoding);
                let t0 = Instant::now();
                match client.upload_encoded(body, encoding).await {
                    Ok(ack) => {
                        lat.push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                        windows += ack.accepted.len() as u64;
                        seq += batch as u64;
                    }
                    Err(_) => errors += 1,
                }
                if let (Some(at), Some(d)) = (next.as_mut(), interval) {
                    *at += d;
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

/// The backend a `--db` value names, for writing to it directly.
fn connector(db: &str) -> Result<Box<dyn Connector>> {
    Ok(match Backend::of(Path::new(db)) {
        Backend::Sqlite(p) => Box::new(Sqlite::new(p)),
        Backend::Postgres(url) => Box::new(
            mesh_controller::server::store::postgres::Postgres::new(url)
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        ),
    })
}

/// The stored rows of a window (as the HTTP path builds them).
fn rows(sample: &Sample, probe_seq: u64, batch: usize, now: u64, spread: usize) -> Vec<NewWindow> {
    let decoded: Window = serde_json::from_str(&sample.json).unwrap_or_default();
    let rollup = mesh_controller::history::Rollup::of_window(&decoded);
    let medians = mesh_controller::server::store::Medians::of(&decoded);
    (0..batch as u64)
        .map(|k| {
            let s = probe_seq + k;
            NewWindow {
                seq: s,
                target: format!("p-{}", (s as usize) % 1000),
                start_ms: now,
                duration_ms: 10_000,
                ssid: None,
                timestamping: Some(TsSource::Kernel),
                sent: 100,
                replies: 98,
                json: sample.json.clone(),
                // Session directions spread like a mesh's (one row each per
                // rollup level), or all one.
                pair: Some((
                    format!("s{}@telecom", (s as usize / batch) % spread.max(1)),
                    format!("s{}@telecom", (s as usize) % spread.max(1)),
                )),
                rollup: Some(rollup.clone()),
                medians,
            }
        })
        .collect()
}

/// The same windows straight into the store, grouped as the writer thread
/// groups concurrent uploads (`group` batches per transaction), rollups and
/// medians precomputed: the store's own ceiling. Returns windows/s.
fn direct_baseline(
    db: &str,
    probe: &str,
    batch: usize,
    group: usize,
    sample: &Sample,
    count: u64,
) -> Result<f64> {
    let mut w = connector(db)?
        .writer()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let now = now_ms();
    let per_group = (batch * group) as u64;
    let groups = count.div_ceil(per_group).max(1);
    // Built before the clock starts, like the HTTP path's rows are built
    // before they reach the writer.
    let all: Vec<Vec<NewWindow>> = (0..groups * group as u64)
        .map(|b| rows(sample, 1 + b * batch as u64, batch, now, 150))
        .collect();
    let t0 = Instant::now();
    for chunk in all.chunks(group) {
        let batches: Vec<(&str, &[NewWindow])> =
            chunk.iter().map(|ws| (probe, ws.as_slice())).collect();
        for r in w
            .ingest_many(&batches, now)
            .map_err(|e| anyhow::anyhow!("{e}"))?
        {
            r.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    Ok((groups * per_group) as f64 / t0.elapsed().as_secs_f64())
}

/// Where one window's time goes, one thread, no HTTP: the checks as they
/// were (dense histograms) and as they are (sparse, each encoding), and the
/// store's insert.
fn breakdown(sample: &Sample, batch: usize, db: &str) -> Result<()> {
    let n = 2000usize;
    let now = now_ms();
    let targets = vec!["p-1".to_string()];
    let per = |t: Instant| t.elapsed().as_secs_f64() * 1e6 / n as f64;
    // As before: the window parsed into dense histograms, checked, rolled
    // up and its medians read from the dense form.
    let t = Instant::now();
    for _ in 0..n {
        let w: Window = serde_json::from_str(&sample.json)?;
        protocol::window::validate(&w).map_err(anyhow::Error::msg)?;
        let r = mesh_controller::history::Rollup::of_window(&w);
        let m = mesh_controller::server::store::Medians::of(&w);
        std::hint::black_box((r, m));
    }
    let dense = per(t);
    let t = Instant::now();
    for _ in 0..n {
        let h = protocol::window::DelayHistogram::from_bytes(&sample.parts.rtt.0);
        std::hint::black_box(h.ok());
    }
    let one_dense = per(t);
    let mut now_path = Vec::new();
    for e in [Encoding::Json, Encoding::Cbor] {
        let bodies: Vec<Vec<u8>> = (0..n / batch)
            .map(|b| {
                batch_body(
                    "p-0",
                    1 + (b * batch) as u64,
                    batch,
                    &targets,
                    sample,
                    now,
                    e,
                )
            })
            .collect();
        let t = Instant::now();
        for b in &bodies {
            let c = protocol::window::check_upload("p-0", b, e, now)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            std::hint::black_box(c);
        }
        now_path.push((e, per(t), bodies[0].len() / batch));
    }
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(protocol::window::sparse_from_bytes(&sample.parts.rtt.0).ok());
    }
    let one_sparse = per(t);
    println!("   where a window's time goes (us per window, one thread, {n} windows):");
    println!(
        "     checks as before (JSON parse, 4 dense histograms decoded, validate, rollup, medians): {dense:.1} (one dense histogram decoded: {one_dense:.1})"
    );
    for (e, us, bytes) in now_path {
        println!(
            "     checks now, {} ({bytes} octets a window; parse, 4 sparse histograms, validate{}): {us:.1}",
            e.name(),
            if e == Encoding::Cbor { ", JSON to store written" } else { "" }
        );
    }
    println!("     one sparse histogram decoded: {one_sparse:.1}");
    for (group, spread) in [(1usize, 1usize), (100, 1), (100, 150)] {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("b.db");
        let target = if db.starts_with("postgres") {
            db.to_string()
        } else {
            file.display().to_string()
        };
        let mut w = connector(&target)?
            .writer()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let probe = format!("bd-{}-{group}-{spread}", std::process::id());
        let all: Vec<Vec<NewWindow>> = (0..(n / batch) as u64)
            .map(|b| rows(sample, 1 + b * batch as u64, batch, now, spread))
            .collect();
        let t = Instant::now();
        for chunk in all.chunks(group) {
            let batches: Vec<(&str, &[NewWindow])> = chunk
                .iter()
                .map(|ws| (probe.as_str(), ws.as_slice()))
                .collect();
            w.ingest_many(&batches, now)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        println!(
            "     store insert, {group} batch(es) of {batch} per commit, {} session direction(s): {:.1}",
            if spread == 1 { 1 } else { spread * spread },
            per(t)
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    let a = args()?;
    raise_fd_limit();
    let window = sample_window();
    let sample = Arc::new(Sample {
        json: serde_json::to_string(&window)?,
        parts: WindowParts::bytes_of(&window)?,
    });
    let scratch = tempfile::tempdir()?;
    let label = match &a.db {
        Some(d) if d.starts_with("postgres") => "PostgreSQL",
        _ => "SQLite",
    };
    println!(
        "   window {} octets as JSON, {} as CBOR; {} windows per upload, {} s per run, loopback, store: {label}",
        sample.json.len(),
        batch_body("p-0", 1, 1, &["p-1".to_string()], &sample, 0, Encoding::Cbor).len() - 20,
        a.batch,
        a.seconds
    );
    if a.breakdown {
        let db = a.db.clone().unwrap_or_default();
        return breakdown(&sample, a.batch, &db);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut direct_done = std::collections::HashMap::new();
    for &n in &a.probes {
        for &encoding in &a.encodings {
            let dir = tempfile::tempdir_in(scratch.path())?;
            let tokens = write_config(dir.path(), n)?;
            let db =
                a.db.clone()
                    .unwrap_or_else(|| dir.path().join("bench.db").display().to_string());
            let (mut child, url) = start(&a.bin, dir.path(), &db)?;
            let interval =
                (a.rate > 0).then(|| Duration::from_secs_f64((n * a.batch) as f64 / a.rate as f64));
            let out = rt.block_on(simulate(
                url.clone(),
                tokens,
                a.seconds,
                a.batch,
                sample.clone(),
                encoding,
                interval,
            ));
            let _ = child.kill();
            let _ = child.wait();
            let out = out?;
            let secs = out.elapsed.as_secs_f64();
            let wps = out.windows as f64 / secs;
            let p99 = pct(&out.latencies_us, 99.0);
            let mode = match interval {
                Some(_) => format!("paced at {} windows/s", a.rate),
                None => "closed loop".to_string(),
            };
            // The direct baseline once per probe count: groups as large as
            // the uploads in flight (the writer commits what queued up).
            let direct = *match direct_done.entry(n) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let ddb =
                        a.db.clone()
                            .unwrap_or_else(|| dir.path().join("direct.db").display().to_string());
                    let probe = format!("direct-{}-{n}", std::process::id());
                    e.insert(direct_baseline(
                        &ddb,
                        &probe,
                        a.batch,
                        n.min(512),
                        &sample,
                        (out.windows / 2).clamp(5_000, 100_000),
                    )?)
                }
            };
            println!(
                "   {n:>5} probes {} {mode}: {:>8.0} windows/s ({:>6.0} uploads/s), upload latency p50 {:>7.1} ms, p99 {:>7.1} ms, max {:>7.1} ms, {} errors; direct store {:>8.0} windows/s (HTTP/direct {:.2}x){}",
                encoding.name(),
                wps,
                out.uploads as f64 / secs,
                pct(&out.latencies_us, 50.0),
                p99,
                pct(&out.latencies_us, 100.0),
                out.errors,
                direct,
                wps / direct,
                match interval {
                    Some(_) => format!(
                        "; p99 goal 250 ms: {}",
                        if p99 <= 250.0 { "met" } else { "MISSED" }
                    ),
                    None => format!(
                        "; goal 100,000 windows/s: {:.2}x",
                        wps / 100_000.0
                    ),
                }
            );
        }
    }
    Ok(())
}
