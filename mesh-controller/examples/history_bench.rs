//! History read benchmark: the real `mesh-controller serve` over two stores
//! filled straight through `Db` (no HTTP, so filling is fast) with exactly
//! what the upload path stores (endpoints, rollups, medians):
//!
//! - store A: a full mesh of 47 probes on the national topology, at least
//!   `--windows` windows in the 1 h look-back; times `GET /v1/routes`,
//!   `GET /v1/report?format=json` and `mesh-controller report --db`
//!   (target: 1 s each);
//! - store B: one endpoint pair, 60 s windows for `--days` days, retention
//!   run once (raw windows merged, hourly rollups kept); times
//!   `GET /v1/series?since=30d&step=1h` (target: 100 ms).
//!
//! The look-back's part before the current hour is read from fine (1 min)
//! rollup rows, the rest from the hour's row, so the route and report
//! figures depend on the minute they are taken at: the output says how many
//! rows the look-back read, and estimates the worst minute from the cost of
//! a fine row.
//!
//! Prints each figure beside its target; checks the answers are real, never
//! the timings (`scripts/bench.sh history`).
//!
//! usage: history_bench [--windows 1000000] [--days 30] [--bin PATH] [--keep DIR]

use anyhow::{bail, ensure, Context, Result};
use mesh_controller::history::{Levels, Rollup, COARSE_MS};
use mesh_controller::server::config::{self, Config, Retention};
use mesh_controller::server::secrets::{new_token, Secrets};
use mesh_controller::server::store::sqlite::Db;
use mesh_controller::server::store::{Medians, NewWindow, StoreRead};
use protocol::window::{validate, ClockSample, Event, PacketSample, TsSource, Window};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common/serve.rs"]
mod serve;
use serve::{serve, Server};

/// Windows per `Db::ingest_many` call.
const BATCH: usize = 4_000;
/// Store A's windows start in the last whole clock hour before it is built,
/// from its second minute on (see [`bench_a`]).
const SPAN_A_MS: u64 = 59 * 60_000;
/// Encoded windows per session direction, reused round robin.
const VARIANTS: usize = 6;
/// Timed runs per request.
const RUNS: usize = 5;
const HTTP_TIMEOUT: Duration = Duration::from_secs(300);

struct Args {
    windows: u64,
    days: u64,
    bin: PathBuf,
    keep: Option<PathBuf>,
}

fn args() -> Result<Args> {
    let exe = std::env::current_exe().context("current_exe")?;
    // target/<profile>/examples/history_bench -> target/<profile>/mesh-controller
    let default_bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("mesh-controller"))
        .context("no binary path")?;
    let mut a = Args {
        windows: 1_000_000,
        days: 30,
        bin: default_bin,
        keep: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().with_context(|| format!("{k} needs a value"))?;
        match k.as_str() {
            "--windows" => a.windows = v.parse().context("--windows")?,
            "--days" => a.days = v.parse().context("--days")?,
            "--bin" => a.bin = PathBuf::from(v),
            "--keep" => a.keep = Some(PathBuf::from(v)),
            _ => bail!("unknown argument {k} (usage: history_bench [--windows N] [--days N] [--bin PATH] [--keep DIR])"),
        }
    }
    ensure!(
        (1_000..=20_000_000).contains(&a.windows),
        "--windows 1000..20000000"
    );
    ensure!((1..=60).contains(&a.days), "--days 1..60");
    ensure!(
        a.bin.is_file(),
        "no controller binary at {} (build it: cargo build --release -p mesh-controller --bin mesh-controller, or pass --bin)",
        a.bin.display()
    );
    Ok(a)
}

/// SplitMix64: deterministic, so every run stores the same windows.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    /// Exponential with this mean: queueing delay's long tail.
    fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }
}

fn now_ms() -> u64 {
    mesh_controller::server::store::now_ms()
}

/// One probe of a generated config.
struct Probe {
    id: String,
    site: String,
    network: String,
}

/// Every cluster and city on its first carrier, plus the other carriers at
/// tianjin, lanzhou and hong-kong (the demo's 47 endpoints; edge sites and
/// routers get no probe).
fn demo_probes(topo: &topology::Topology) -> Vec<Probe> {
    use topology::model::SiteKind;
    let mut out = Vec::new();
    for s in &topo.sites {
        if !matches!(s.kind, SiteKind::Cluster | SiteKind::City) {
            continue;
        }
        let nets: &[usize] = if ["tianjin", "lanzhou", "hong-kong"].contains(&s.id.as_str()) {
            &s.networks
        } else {
            s.networks.get(..1).unwrap_or(&[])
        };
        for &n in nets {
            let network = topo.networks[n].id.clone();
            out.push(Probe {
                id: format!("{}-{network}", s.id),
                site: s.id.clone(),
                network,
            });
        }
    }
    out
}

/// Writes mesh.yaml (national topology, these probes, tokens in
/// secrets.yaml) and returns the parsed config.
fn write_config(dir: &Path, probes: &[Probe], first_port: u16) -> Result<Config> {
    let mut text = String::from("topology: national\nprobes:\n");
    let mut secrets = Secrets::default();
    for (i, p) in probes.iter().enumerate() {
        let port = first_port + u16::try_from(i)?;
        text.push_str(&format!(
            "  - {{id: {}, site: {}, network: {}, stamp: 127.0.0.1:{port}}}\n",
            p.id, p.site, p.network
        ));
        secrets.set(&p.id, &new_token());
    }
    text.push_str("secrets: secrets.yaml\n");
    let path = dir.join("mesh.yaml");
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    secrets
        .save(&dir.join("secrets.yaml"))
        .context("writing secrets.yaml")?;
    config::load(&path).map_err(|e| anyhow::anyhow!("{e}"))
}

/// A session direction's delays: one-way (ms) each way, from distance.
struct PathModel {
    forward_ms: f64,
    reverse_ms: f64,
}

fn path_model(config: &Config, a: usize, b: usize) -> PathModel {
    let topo = &config.topology;
    let (pa, pb) = (&config.probes[a], &config.probes[b]);
    let (sa, sb) = (&topo.sites[pa.endpoint.site], &topo.sites[pb.endpoint.site]);
    let km = topology::geo::great_circle_km(sa.location, sb.location);
    // One route factor per unordered pair (both directions share the fibre).
    let (lo, hi) = (a.min(b) as u64, a.max(b) as u64);
    let mut r = Rng(lo * 1_000 + hi);
    let factor = r.range(1.5, 2.5);
    // Equipment and access; more where traffic changes carrier.
    let mut fixed = r.range(0.2, 0.6);
    if pa.endpoint.network != pb.endpoint.network {
        fixed += r.range(1.0, 3.0);
    }
    let one_way = topology::geo::fibre_delay_ms(km, factor) + fixed;
    let asym = r.range(-0.05, 0.05);
    PathModel {
        forward_ms: one_way * (1.0 + asym),
        reverse_ms: one_way * (1.0 - asym),
    }
}

/// A window of a few dozen replies: base delay plus exponential queueing
/// jitter, some loss, IPDV between consecutive replies, clocks as given.
fn make_window(rng: &mut Rng, m: &PathModel, busy: f64, clock: ClockSample) -> Window {
    let mut w = Window::new();
    let n = 30 + (rng.next() % 31) as u32;
    let loss = if rng.unit() < 0.3 {
        rng.range(0.0, 0.04)
    } else {
        0.0
    };
    let jitter = |base: f64| 0.02 + base * 0.01 * busy;
    let ns = |ms: f64| (ms * 1e6) as i64;
    let mut prev_rtt: Option<i64> = None;
    for i in 0..n {
        w.record(&Event::Sent);
        if rng.unit() < loss {
            w.record(&Event::RoundTripLost);
            prev_rtt = None;
            continue;
        }
        let f = ns(m.forward_ms + rng.exp(jitter(m.forward_ms)));
        let r = ns(m.reverse_ms + rng.exp(jitter(m.reverse_ms)));
        let rtt = f + r + 20_000;
        w.record(&Event::Reply(PacketSample {
            sender_seq: i,
            reflector_seq: i,
            rtt_ns: rtt,
            forward_ns: f,
            reverse_ns: r,
            clock,
            ts_source: TsSource::Kernel,
        }));
        if let Some(p) = prev_rtt {
            w.record(&Event::Ipdv(rtt - p));
        }
        prev_rtt = Some(rtt);
    }
    w
}

/// Clocks of two probes on different machines; `synced: false` for a probe
/// whose clock is not synchronized (its routes fall back to RTT/2).
fn clock(synced: bool, rng: &mut Rng) -> ClockSample {
    let local = Duration::from_micros(rng.range(10.0, 60.0) as u64);
    let remote = Duration::from_micros(rng.range(10.0, 60.0) as u64);
    let (local, remote) = if synced {
        (local, remote)
    } else {
        (Duration::from_secs(16), remote)
    };
    ClockSample {
        local_synchronized: synced,
        local_error: local,
        remote_synchronized: true,
        remote_error: remote,
        one_way_error: local + remote,
    }
}

/// A stored window's template: what `NewWindow` carries besides seq and time.
struct Template {
    json: String,
    sent: u64,
    replies: u64,
    rollup: Rollup,
    medians: Medians,
}

fn template(w: &Window) -> Result<Template> {
    validate(w).map_err(|e| anyhow::anyhow!("generated window does not validate: {e}"))?;
    Ok(Template {
        json: serde_json::to_string(w)?,
        sent: w.counters.sent,
        replies: w.counters.received,
        rollup: Rollup::of_window(w),
        medians: Medians::of(w),
    })
}

/// One session (probe -> target) and its encoded variants.
struct Session {
    sender: usize,
    target: String,
    pair: (String, String),
    variants: Vec<Template>,
}

fn sessions_of(
    config: &Config,
    pairs: &[(usize, usize)],
    unsynced: &[usize],
) -> Result<Vec<Session>> {
    let mut out = Vec::with_capacity(pairs.len());
    for &(a, b) in pairs {
        let (pa, pb) = (&config.probes[a], &config.probes[b]);
        let m = path_model(config, a, b);
        let mut rng = Rng((a as u64) << 32 | b as u64);
        let synced = !unsynced.contains(&a) && !unsynced.contains(&b);
        let c = clock(synced, &mut rng);
        let variants = (0..VARIANTS)
            .map(|v| template(&make_window(&mut rng, &m, 1.0 + v as f64, c)))
            .collect::<Result<_>>()?;
        out.push(Session {
            sender: a,
            target: pb.id.clone(),
            pair: (config.endpoint_name(pa), config.endpoint_name(pb)),
            variants,
        });
    }
    Ok(out)
}

fn new_window(s: &Session, variant: usize, seq: u64, start_ms: u64, duration_ms: u64) -> NewWindow {
    let t = &s.variants[variant % s.variants.len()];
    NewWindow {
        seq,
        target: s.target.clone(),
        start_ms,
        duration_ms,
        ssid: None,
        timestamping: Some(TsSource::Kernel),
        sent: t.sent,
        replies: t.replies,
        json: t.json.clone(),
        pair: Some(s.pair.clone()),
        rollup: Some(t.rollup.clone()),
        medians: t.medians,
    }
}

/// Stores time slices of every session: each slice is one `ingest_many`
/// call, one batch per sender probe (as probes upload), in time order.
/// `at(k)` is the start of the k-th window of session `i`.
fn fill(
    db: &mut Db,
    config: &Config,
    sessions: &[Session],
    per_session: u64,
    duration_ms: u64,
    at: impl Fn(usize, u64) -> u64,
    variant: impl Fn(usize, u64) -> usize,
) -> Result<u64> {
    let now = now_ms();
    let probes = config.probes.len();
    let mut seqs = vec![0u64; probes];
    let slice = (BATCH as u64 / sessions.len() as u64).max(1);
    let mut stored = 0u64;
    let mut k0 = 0;
    while k0 < per_session {
        let k1 = (k0 + slice).min(per_session);
        let mut by_probe: Vec<Vec<NewWindow>> = (0..probes).map(|_| Vec::new()).collect();
        for k in k0..k1 {
            for (i, s) in sessions.iter().enumerate() {
                seqs[s.sender] += 1;
                by_probe[s.sender].push(new_window(
                    s,
                    variant(i, k),
                    seqs[s.sender],
                    at(i, k),
                    duration_ms,
                ));
            }
        }
        let batches: Vec<(&str, &[NewWindow])> = by_probe
            .iter()
            .enumerate()
            .filter(|(_, w)| !w.is_empty())
            .map(|(p, w)| (config.probes[p].id.as_str(), w.as_slice()))
            .collect();
        for (r, (probe, _)) in db.ingest_many(&batches, now)?.into_iter().zip(&batches) {
            let ack = r.with_context(|| format!("ingesting {probe}'s batch"))?;
            ensure!(ack.duplicate.is_empty(), "{probe}: duplicates");
            stored += ack.accepted.len() as u64;
        }
        k0 = k1;
    }
    Ok(stored)
}

fn db_size(path: &Path) -> u64 {
    ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", path.display())).ok())
        .map(|m| m.len())
        .sum()
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Thousands separated by commas.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Store A: the demo's mesh, `windows` or more in the minutes 1 to 59 of the
/// last whole hour, whose start it returns.
fn build_a(dir: &Path, windows: u64) -> Result<(Config, u64, u64)> {
    let topo = topology::national::national();
    let probes = demo_probes(&topo);
    let config = write_config(dir, &probes, 21_000)?;
    let n = config.probes.len();
    let pairs: Vec<(usize, usize)> = (0..n)
        .flat_map(|a| (0..n).filter(move |&b| b != a).map(move |b| (a, b)))
        .collect();
    // One probe with an unsynchronized clock: its routes use RTT/2.
    let unsynced: Vec<usize> = config
        .probes
        .iter()
        .position(|p| p.id == "hong-kong-mobile")
        .into_iter()
        .collect();
    let t0 = Instant::now();
    let sessions = sessions_of(&config, &pairs, &unsynced)?;
    let per_session = windows.div_ceil(sessions.len() as u64);
    let interval = (SPAN_A_MS / per_session).max(1);
    // The hour [h0, h0 + 1 h) before the one in progress, from h0 + 1 min.
    let h0 = mesh_controller::history::buckets::floor(now_ms(), COARSE_MS) - COARSE_MS;
    let first = h0 + 60_000;
    let json_len: usize = sessions
        .iter()
        .flat_map(|s| &s.variants)
        .map(|t| t.json.len())
        .sum::<usize>()
        / (sessions.len() * VARIANTS);
    let path = dir.join("bench.db");
    let mut db = Db::open(&path).context("opening store A")?;
    db.set_levels(Levels::default());
    let stored = fill(
        &mut db,
        &config,
        &sessions,
        per_session,
        interval,
        // Sessions staggered within the interval, as probes start apart.
        |i, k| first + k * interval + (i as u64 * 7_919) % interval,
        |i, k| (i + k as usize) % VARIANTS,
    )?;
    drop(db);
    println!(
        "   store A: {} probes ({} endpoints), {} sessions x {} windows every {:.1} s over {} min (minutes 1-59 of the last whole hour) = {} windows; window JSON ~{} bytes; generated in {:.1} s, {}",
        n,
        n,
        sessions.len(),
        per_session,
        interval as f64 / 1000.0,
        SPAN_A_MS / 60_000,
        thousands(stored),
        json_len,
        t0.elapsed().as_secs_f64(),
        mib(db_size(&path))
    );
    Ok((config, stored, h0))
}

/// Store B: one endpoint pair, 60 s windows for `days` days, retention run.
fn build_b(dir: &Path, days: u64) -> Result<(Config, String, String)> {
    let topo = topology::national::national();
    let pick = |id: &str| -> Result<Probe> {
        let s = topo
            .sites
            .iter()
            .find(|s| s.id == id)
            .with_context(|| format!("no site {id} in the national topology"))?;
        let n = *s.networks.first().context("site without carriers")?;
        let network = topo.networks[n].id.clone();
        Ok(Probe {
            id: format!("{id}-{network}"),
            site: id.to_string(),
            network,
        })
    };
    let probes = vec![pick("zhongwei")?, pick("beijing")?];
    let config = write_config(dir, &probes, 22_000)?;
    let (from, to) = (
        config.endpoint_name(&config.probes[0]),
        config.endpoint_name(&config.probes[1]),
    );
    let t0 = Instant::now();
    let sessions = sessions_of(&config, &[(0, 1), (1, 0)], &[])?;
    let now = now_ms();
    let per_session = days * 24 * 60;
    let first = now - per_session * 60_000;
    let path = dir.join("bench.db");
    let mut db = Db::open(&path).context("opening store B")?;
    db.set_levels(Levels::default());
    let stored = fill(
        &mut db,
        &config,
        &sessions,
        per_session,
        60_000,
        |i, k| first + k * 60_000 + i as u64 * 20_000,
        // Busier in the evening: the variant follows the hour of the day.
        |_, k| ((k / 60 + 8) % 24 / 4) as usize,
    )?;
    let gen = t0.elapsed();
    let t1 = Instant::now();
    let stats = db.retain(now_ms(), &Retention::default())?;
    let conn = db.conn();
    let count = |sql: &str| -> Result<i64> { Ok(conn.query_row(sql, [], |r| r.get(0))?) };
    let raw = count("SELECT COUNT(*) FROM windows")?;
    let coarse = count("SELECT COUNT(*) FROM coarse_windows")?;
    let fine_rows = count("SELECT COUNT(*) FROM rollups WHERE level_ms < 600000")?;
    let mid_rows = count("SELECT COUNT(*) FROM rollups WHERE level_ms = 600000")?;
    let hour_rows = count("SELECT COUNT(*) FROM rollups WHERE level_ms = 3600000")?;
    drop(db);
    println!(
        "   store B: {from} <-> {to}, 2 sessions x {} windows of 60 s over {days} d = {} windows, generated in {:.1} s; retention in {:.1} s (merged {}, dropped {}): {} raw rows, {} coarse rows, {} fine + {} ten-minute + {} hourly rollup rows, {}",
        per_session,
        thousands(stored),
        gen.as_secs_f64(),
        t1.elapsed().as_secs_f64(),
        stats.merged,
        stats.dropped,
        raw,
        coarse,
        fine_rows,
        mid_rows,
        hour_rows,
        mib(db_size(&path))
    );
    Ok((config, from, to))
}

/// User + system CPU time of a process (clock ticks).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(") ")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// CPU time (user + system, clock ticks) of this process's waited-for
/// children: what `report --db` runs cost.
fn children_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0;
    };
    let Some((_, rest)) = stat.rsplit_once(") ") else {
        return 0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    get(13) + get(14)
}

/// The one-minute load average and the CPUs: timings on a busy machine
/// include waiting for a CPU, the CPU figures do not.
fn machine() -> String {
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    format!("load average {load} on {cpus} CPUs")
}

/// Rollup rows read, by level.
#[derive(Debug, Clone, Copy, Default)]
struct Rows {
    fine: i64,
    mid: i64,
    hourly: i64,
}

impl Rows {
    /// Rows finer than an hour.
    fn finer(&self) -> i64 {
        self.fine + self.mid
    }
}

impl std::fmt::Display for Rows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} fine + {} ten-minute + {} hourly rows",
            thousands(self.fine as u64),
            thousands(self.mid as u64),
            thousands(self.hourly as u64)
        )
    }
}

/// The rollup rows a look-back of `since` read now, as `Measured::load`
/// plans them.
fn rows_read(dir: &Path, config: &Config, since: Duration) -> Result<Rows> {
    use mesh_controller::history::{COARSE_MS, MID_MS};
    use mesh_controller::server::measured::{open_end, plan};
    let now = now_ms();
    let from = mesh_controller::history::buckets::ceil(
        now.saturating_sub(u64::try_from(since.as_millis())?),
        config.history.fine_ms,
    );
    let reader = mesh_controller::server::store::sqlite::Reader::open(&dir.join("bench.db"))?;
    let mid_from = reader.rollups_mid_from()?;
    let conn = reader.conn();
    let mut rows = Rows::default();
    for s in plan(config.history, config, from, open_end(now), now, mid_from) {
        let n: i64 = conn.query_row(
            "SELECT COUNT(*) FROM rollups WHERE level_ms = ?1 AND bucket_ms >= ?2 AND bucket_ms < ?3",
            rusqlite::params![s.level_ms as i64, s.from as i64, s.until as i64],
            |r| r.get(0),
        )?;
        match s.level_ms {
            COARSE_MS => rows.hourly += n,
            MID_MS => rows.mid += n,
            _ => rows.fine += n,
        }
    }
    Ok(rows)
}

/// Raw windows in a look-back of `since` (read from whole fine buckets).
fn windows_since(dir: &Path, config: &Config, since: Duration) -> Result<u64> {
    let from = mesh_controller::history::buckets::ceil(
        now_ms().saturating_sub(u64::try_from(since.as_millis())?),
        config.history.fine_ms,
    );
    let conn = mesh_controller::server::store::sqlite::open_reader(&dir.join("bench.db"))?;
    let n: i64 = conn.query_row(
        "SELECT COUNT(*) FROM windows WHERE start_ms >= ?1",
        [i64::try_from(from)?],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(n)?)
}

/// Waits until the server's start-up work (retention, alert evaluation,
/// event detection) is done: under 5% of a CPU for a second. Returns how long
/// it was busy.
fn wait_idle(s: &Server) -> Duration {
    let t0 = Instant::now();
    let pid = s.child.id();
    let mut last = cpu_ticks(pid);
    while t0.elapsed() < Duration::from_secs(300) {
        std::thread::sleep(Duration::from_secs(1));
        let now = cpu_ticks(pid);
        match (last, now) {
            (Some(a), Some(b)) if b.saturating_sub(a) <= 5 => break,
            (_, None) => break,
            _ => {}
        }
        last = now;
    }
    t0.elapsed().saturating_sub(Duration::from_secs(1))
}

/// One HTTP/1.1 GET (Connection: close): status and body.
fn get(addr: SocketAddr, path: &str) -> Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .with_context(|| format!("connecting to {addr}"))?;
    s.set_read_timeout(Some(HTTP_TIMEOUT))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .with_context(|| format!("GET {path}"))?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)
        .with_context(|| format!("GET {path}: reading the answer"))?;
    let end = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .with_context(|| format!("GET {path}: no header end"))?;
    let head = String::from_utf8_lossy(&resp[..end]).to_ascii_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("GET {path}: no status line"))?;
    let body = &resp[end + 4..];
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(body).with_context(|| format!("GET {path}: bad chunked body"))?
    } else {
        body.to_vec()
    };
    Ok((status, body))
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let nl = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..nl]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[nl + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

/// Times `RUNS` GETs (after one untimed warm-up); returns the sorted times
/// and the last body, parsed.
fn time_get(s: &Server, path: impl Fn() -> String) -> Result<(Vec<Duration>, Value, f64)> {
    let (status, body) = get(s.addr, &path())?;
    ensure!(
        status == 200,
        "GET {}: {status}: {}",
        path(),
        String::from_utf8_lossy(&body)
    );
    let mut times = Vec::with_capacity(RUNS);
    let mut last = body;
    let pid = s.child.id();
    let cpu0 = cpu_ticks(pid).unwrap_or(0);
    for _ in 0..RUNS {
        let p = path();
        let t0 = Instant::now();
        let (status, body) = get(s.addr, &p)?;
        times.push(t0.elapsed());
        ensure!(status == 200, "GET {p}: {status}");
        last = body;
    }
    let cpu = cpu_ticks(pid).unwrap_or(0).saturating_sub(cpu0);
    // Ticks are 1/100 s on Linux: the server's CPU seconds per request.
    let cpu_per = cpu as f64 / 100.0 / RUNS as f64;
    times.sort();
    let v: Value = serde_json::from_slice(&last)
        .with_context(|| format!("GET {}: the answer is not JSON", path()))?;
    Ok((times, v, cpu_per))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `best X ms, median Y ms (R of the T target)`, and a plain warning when
/// the best run misses it.
fn verdict(times: &[Duration], target: Duration, target_text: &str) -> String {
    let best = times[0];
    let median = times[times.len() / 2];
    let ratio = best.as_secs_f64() / target.as_secs_f64();
    format!(
        "best {:.0} ms, median {:.0} ms ({ratio:.2}x of the {target_text} target){}",
        ms(best),
        ms(median),
        miss(best, target)
    )
}

fn routes(v: &Value) -> Result<&Vec<Value>> {
    v["routes"].as_array().context("no routes array")
}

fn miss(best: Duration, target: Duration) -> String {
    if best > target {
        format!(" -- TARGET MISSED by {:.0} ms", ms(best - target))
    } else {
        String::new()
    }
}

/// A timed read: name, best time, target.
type Outcome = (&'static str, Duration, Duration);

/// Look-backs over store A, whole seconds (recomputed per request as time
/// passes), that start 30 s after or before `h0`: read in whole fine
/// buckets, they start at `h0 + 1 min` and at `h0`.
fn since_after(h0: u64) -> u64 {
    now_ms().saturating_sub(h0) / 1000 - 30
}

fn since_before(h0: u64) -> u64 {
    now_ms().saturating_sub(h0).div_ceil(1000) + 30
}

fn measured_routes(v: &Value) -> Result<usize> {
    Ok(routes(v)?.iter().filter(|r| r["basis"].is_string()).count())
}

/// Store A holds its windows in minutes 1 to 59 of one clock hour (`h0` its
/// start) and is read three ways:
/// - with a look-back starting at `h0 + 1 min`: 9 fine, 5 ten-minute rows
///   and an hourly row per direction, which is what the 1 h look-back reads at minute 1 of
///   an hour (its worst minute) on a store taking these windows every hour.
///   The target figures;
/// - with one starting on `h0`: one hourly row per direction (the best
///   minute), for comparison and to tell what a fine row costs;
/// - with the default 1 h look-back as it stands now (the part of the
///   windows after now - 1 h), for reference.
fn bench_a(a: &Args, dir: &Path) -> Result<Vec<Outcome>> {
    let mut outcomes = Vec::new();
    let (config, stored, h0) = build_a(dir, a.windows)?;
    let target = Duration::from_secs(1);
    let n = config.probes.len() as u64;
    let directions = n * (n - 1);
    let secs = Duration::from_secs;
    let windows = thousands(windows_since(dir, &config, secs(since_after(h0)))?);
    {
        let s = serve(&a.bin, dir)?;
        let busy = wait_idle(&s);
        println!(
            "   controller busy {:.1} s after start (retention, alert evaluation, event detection) before timing; {}",
            busy.as_secs_f64(),
            machine()
        );
        // What the server does meanwhile (alert evaluation and event
        // detection every 15 s) counts in its CPU per request below.
        let pid = s.child.id();
        let idle0 = cpu_ticks(pid).unwrap_or(0);
        std::thread::sleep(secs(15));
        println!(
            "   idle, the server uses {:.0} ms of CPU per second (background work, included in its CPU per request below)",
            cpu_ticks(pid).unwrap_or(0).saturating_sub(idle0) as f64 * 10.0 / 15.0
        );
        let in_look_back = windows_since(dir, &config, secs(since_after(h0)))?;
        if in_look_back < stored {
            println!(
                "   NOTE: only {} of the {} windows stored are in the look-back",
                thousands(in_look_back),
                thousands(stored)
            );
        }
        let worst = rows_read(dir, &config, secs(since_after(h0)))?;
        println!(
            "   worst minute of the 1 h look-back (it starts at minute 1 of an hour; here since=Ns from that minute): {worst} over {} session directions, {windows} windows",
            thousands(directions)
        );
        let (times, v, cpu_worst) =
            time_get(&s, || format!("/v1/routes?since={}s", since_after(h0)))?;
        let measured = measured_routes(&v)?;
        ensure!(
            measured > 1000,
            "/v1/routes lists {measured} measured routes, expected over 1000"
        );
        outcomes.push(("/v1/routes", times[0], target));
        println!(
            "   /v1/routes over {windows} windows ({} routes, {measured} measured): {}; server CPU {:.0} ms/request",
            routes(&v)?.len(),
            verdict(&times, target, "1 s"),
            cpu_worst * 1000.0
        );
        let (times, v, cpu) = time_get(&s, || {
            format!("/v1/report?format=json&since={}s", since_after(h0))
        })?;
        let with = routes(&v)?
            .iter()
            .filter(|r| !r["measured"].is_null())
            .count();
        ensure!(
            with > 1000,
            "/v1/report has {with} routes with measured values"
        );
        outcomes.push(("/v1/report?format=json", times[0], target));
        println!(
            "   /v1/report?format=json over {windows} windows ({with} routes measured): {}; server CPU {:.0} ms/request",
            verdict(&times, target, "1 s"),
            cpu * 1000.0
        );
        let best = rows_read(dir, &config, secs(since_before(h0)))?;
        let (times, v, cpu_best) =
            time_get(&s, || format!("/v1/routes?since={}s", since_before(h0)))?;
        ensure!(
            measured_routes(&v)? > 1000,
            "/v1/routes from hourly rows: too few measured routes"
        );
        // Too few fine rows say nothing about what one costs.
        let finer = worst.finer() - best.finer();
        let per_row = (finer >= 2_000).then(|| {
            format!(
                "; so about {:.0} us of CPU per row finer than an hour",
                (cpu_worst - cpu_best) * 1e6 / finer as f64
            )
        });
        println!(
            "   for comparison, at the best minute (look-back starting on the hour: {best}) /v1/routes takes best {:.0} ms, median {:.0} ms; server CPU {:.0} ms/request{}",
            ms(times[0]),
            ms(times[times.len() / 2]),
            cpu_best * 1000.0,
            per_row.unwrap_or_default()
        );
        let hour = secs(3600);
        let now_rows = rows_read(dir, &config, hour)?;
        let in_default = windows_since(dir, &config, hour)?;
        let (times, _, cpu) = time_get(&s, || "/v1/routes".to_string())?;
        println!(
            "   for reference, /v1/routes with the 1 h look-back as it stands now ({} of the windows; {now_rows}): best {:.0} ms, median {:.0} ms; server CPU {:.0} ms/request",
            thousands(in_default),
            ms(times[0]),
            ms(times[times.len() / 2]),
            cpu * 1000.0
        );
    }
    // The CLI reads the store itself (no server running meanwhile).
    let mut times = Vec::new();
    let mut out = Vec::new();
    let ticks0 = children_ticks();
    for _ in 0..3 {
        let since = format!("{}s", since_after(h0));
        let t0 = Instant::now();
        let o = Command::new(&a.bin)
            .arg("report")
            .arg("--db")
            .arg(dir.join("bench.db"))
            .arg("--config")
            .arg(dir.join("mesh.yaml"))
            .args(["--format", "json", "--since", &since])
            .stdin(Stdio::null())
            .output()
            .context("running mesh-controller report")?;
        times.push(t0.elapsed());
        // 1: routes over budget, which is an answer, not a failure.
        ensure!(
            matches!(o.status.code(), Some(0 | 1)),
            "mesh-controller report: {}: {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        out = o.stdout;
    }
    let cpu = children_ticks().saturating_sub(ticks0) as f64 / 100.0 / 3.0;
    times.sort();
    let v: Value = serde_json::from_slice(&out).context("report --db: not JSON")?;
    let with = routes(&v)?
        .iter()
        .filter(|r| !r["measured"].is_null())
        .count();
    ensure!(
        with > 1000,
        "report --db has {with} routes with measured values"
    );
    let best = times[0];
    outcomes.push(("report --db", best, target));
    let ratio = best.as_secs_f64() / target.as_secs_f64();
    println!(
        "   report --db --format json over {windows} windows ({with} routes measured): best of 3 {:.0} ms ({ratio:.2}x of the 1 s target){}; CPU {:.0} ms/run",
        ms(best),
        miss(best, target),
        cpu * 1000.0
    );
    Ok(outcomes)
}

fn bench_b(a: &Args, dir: &Path) -> Result<Vec<Outcome>> {
    let (_config, from, to) = build_b(dir, a.days)?;
    let s = serve(&a.bin, dir)?;
    let busy = wait_idle(&s);
    println!(
        "   controller busy {:.1} s after start before timing; {}",
        busy.as_secs_f64(),
        machine()
    );
    let path = format!("/v1/series?from={from}&to={to}&since={}d&step=1h", a.days);
    let (times, v, cpu) = time_get(&s, || path.clone())?;
    let points = v["points"].as_array().context("series: no points")?.len();
    let expect = a.days * 24;
    ensure!(
        points as u64 + 2 >= expect && points as u64 <= expect + 2,
        "series has {points} points, expected about {expect}"
    );
    println!(
        "   series {} d at 1 h ({points} points): {}; server CPU {:.0} ms/request",
        a.days,
        verdict(&times, Duration::from_millis(100), "100 ms"),
        cpu * 1000.0
    );
    Ok(vec![("series", times[0], Duration::from_millis(100))])
}

fn main() -> Result<()> {
    let a = args()?;
    let (_tmp, root) = match &a.keep {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            (None, d.clone())
        }
        None => {
            let t = tempfile::tempdir().context("temp dir")?;
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    };
    let (dir_a, dir_b) = (root.join("routes"), root.join("series"));
    for d in [&dir_a, &dir_b] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        ensure!(
            !d.join("bench.db").exists(),
            "{} already holds a store (pass an empty --keep directory)",
            d.display()
        );
    }
    let mut outcomes = bench_b(&a, &dir_b)?;
    outcomes.extend(bench_a(&a, &dir_a)?);
    let missed: Vec<String> = outcomes
        .iter()
        .filter(|(_, best, target)| best > target)
        .map(|(name, best, target)| {
            format!("{name} ({:.2}x)", best.as_secs_f64() / target.as_secs_f64())
        })
        .collect();
    if missed.is_empty() {
        println!("   targets: all {} met", outcomes.len());
    } else {
        println!(
            "   targets: {} of {} met; MISSED: {}",
            outcomes.len() - missed.len(),
            outcomes.len(),
            missed.join(", ")
        );
    }
    if let Some(d) = &a.keep {
        println!("   stores kept in {}", d.display());
    }
    Ok(())
}
