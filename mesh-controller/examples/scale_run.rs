//! The scale run (issue 15): N simulated probes (10,000 by default) in
//! hierarchical mode against two `mesh-controller serve` replicas on one
//! throwaway PostgreSQL database, for a bounded time (10 minutes by default).
//!
//! The probes are async tasks in this process, each with one
//! `protocol::client::Client` that knows both controllers (half of them in
//! the other order, so the load spreads and each can fail over). Each says
//! hello, takes its assignment as the controller plans it, and then, once per
//! window period, uploads one window per assigned target (realistic
//! histograms), in batches of up to 200 oldest first and retried with the
//! agent's backoff, and polls its target list like the agent. Starts are
//! staggered over the first period.
//!
//! Prints the plan's size (sessions, the windows/s it implies), then windows/s
//! stored (committed rows counted by the database every 10 s) and
//! acknowledged (a window whose answer was lost is stored all the same),
//! both cross-checked at the end with the store's totals, upload latency (p50/p99/max), errors and retries, database growth
//! (extrapolated per day), each replica's memory (VmRSS, VmHWM sampled every
//! 10 s) and CPU, PostgreSQL's memory and CPU, and the machine's load.
//!
//! Loopback only, and bounded: generation stops at `--minutes`, a drain
//! follows (at most 30 s), and a watchdog ends everything (servers included)
//! if the run overstays by five minutes. Stops early (controllers killed,
//! exit 1) if the disk runs low beside the database, the machine's available
//! memory falls under 4 GiB or the controllers hold over 12 GiB: it shares
//! the machine.
//!
//! usage: scale_run [--probes 10000] [--minutes 10] [--window 60]
//!   [--representatives 2] [--batch 200] [--poll 5] [--replicas 2]
//!   [--db FILE.db] [--bin PATH] [--plan-only]
//! Without `--db` it starts PostgreSQL (and fails, saying why, if it cannot);
//! `--db FILE` runs the same load on SQLite for trying the example out.

#[path = "../tests/pg_server/mod.rs"]
mod pg_server;

use anyhow::{bail, Context, Result};
use mesh_controller::server::config;
use mesh_controller::server::secrets::{new_token, Secrets};
use mesh_controller::server::targets;
use protocol::api::{ClockInfo, Hello};
use protocol::client::{Backoff, Client, ClientError};
use protocol::window::{ClockSample, Event, PacketSample, TsSource, Window};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Windows per upload call by default (the agent's batch).
const BATCH: usize = 200;
/// Time allowed for one call (the agent's).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The agent's retry backoff: 250 ms doubling up to 30 s.
const BACKOFF_INITIAL: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// After generation stops, pending windows may still be uploaded this long.
const DRAIN: Duration = Duration::from_secs(30);
/// Resource sampling period.
const SAMPLE: Duration = Duration::from_secs(10);
/// Stop early below this much free space where the database lives.
const MIN_FREE_BYTES: u64 = 3 << 29;
/// Stop at once (controllers killed) when the machine's available memory
/// falls below this, or the controllers together hold more than
/// `MAX_REPLICAS_KIB`: the run shares the machine.
const MIN_AVAILABLE_KIB: u64 = 4 << 20;
const MAX_REPLICAS_KIB: u64 = 12 << 20;
/// Distinct window contents (sessions pick one by a hash, so a session's
/// histograms stay alike from window to window).
const WINDOW_VARIANTS: usize = 32;

struct Args {
    probes: usize,
    minutes: f64,
    window_s: u64,
    representatives: usize,
    poll_s: u64,
    batch: usize,
    replicas: usize,
    sqlite: Option<PathBuf>,
    bin: PathBuf,
    plan_only: bool,
}

fn args() -> Result<Args> {
    let exe = std::env::current_exe()?;
    // target/<profile>/examples/scale_run -> target/<profile>/mesh-controller
    let default_bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("mesh-controller"))
        .context("no binary path")?;
    let mut a = Args {
        probes: 10_000,
        minutes: 10.0,
        window_s: 60,
        representatives: config::DEFAULT_REPRESENTATIVES,
        poll_s: 5,
        batch: BATCH,
        replicas: 2,
        sqlite: None,
        bin: default_bin,
        plan_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        if k == "--plan-only" {
            a.plan_only = true;
            continue;
        }
        let v = it.next().with_context(|| format!("{k} needs a value"))?;
        let bad = || format!("{k} {v}");
        match k.as_str() {
            "--probes" => a.probes = v.parse().with_context(bad)?,
            "--minutes" => a.minutes = v.parse().with_context(bad)?,
            "--window" => a.window_s = v.parse().with_context(bad)?,
            "--representatives" => a.representatives = v.parse().with_context(bad)?,
            "--poll" => a.poll_s = v.parse().with_context(bad)?,
            "--batch" => a.batch = v.parse().with_context(bad)?,
            "--replicas" => a.replicas = v.parse().with_context(bad)?,
            "--db" => a.sqlite = Some(PathBuf::from(v)),
            "--bin" => a.bin = PathBuf::from(v),
            _ => bail!("unknown argument {k}"),
        }
    }
    if !(2..=15_000).contains(&a.probes) {
        bail!("--probes 2..15000 (each probe holds a connection; the file limit is about 20,000)");
    }
    if !(a.minutes > 0.0 && a.minutes <= 60.0) {
        bail!("--minutes: more than 0, at most 60");
    }
    if !(1..=3600).contains(&a.window_s) || !(1..=1000).contains(&a.representatives) {
        bail!("--window 1..3600 (seconds), --representatives 1..1000");
    }
    if !(1..=4).contains(&a.replicas) || !(1..=1000).contains(&a.batch) {
        bail!("--replicas 1..4, --batch 1..1000");
    }
    if let Some(p) = &a.sqlite {
        if p.to_string_lossy().starts_with("postgres") {
            bail!("--db takes a SQLite file; without it the run starts its own PostgreSQL");
        }
    }
    Ok(a)
}

// ---------------------------------------------------------------------------
// The mesh: configuration, tokens, the plan.

fn probe_id(i: usize) -> String {
    format!("p-{i}")
}

/// Writes `mesh.yaml` and `secrets.yaml` in `dir`: `n` probes spread round
/// robin over the national topology's sites (each on the site's first
/// network), hierarchical targets, `window_s` windows at 100 ms. Tokens go
/// straight into the secrets file, as `token add` would write them.
fn write_config(dir: &Path, a: &Args) -> Result<Vec<String>> {
    let topo = topology::national::national();
    let sites: Vec<(String, String)> = topo
        .sites
        .iter()
        .filter(|s| !s.networks.is_empty())
        .map(|s| (s.id.clone(), topo.networks[s.networks[0]].id.clone()))
        .collect();
    let mut text = String::from("topology: national\nprobes:\n");
    let mut secrets = Secrets::default();
    let mut tokens = Vec::with_capacity(a.probes);
    for i in 0..a.probes {
        let (site, net) = &sites[i % sites.len()];
        // Addresses from the benchmarking range (RFC 2544): nothing is sent
        // to them, the probes are simulated.
        text.push_str(&format!(
            "  - {{id: {}, site: {site}, network: {net}, stamp: 198.18.{}.{}:862}}\n",
            probe_id(i),
            i / 250,
            i % 250 + 1
        ));
        let t = new_token();
        secrets.set(&probe_id(i), &t);
        tokens.push(t);
    }
    text.push_str(&format!(
        "secrets: secrets.yaml\nmeasurement: {{interval: 100ms, window: {}s}}\ntargets: {{mode: hierarchical, representatives: {}}}\n",
        a.window_s, a.representatives
    ));
    std::fs::write(dir.join("mesh.yaml"), text)?;
    secrets.save(&dir.join("secrets.yaml"))?;
    Ok(tokens)
}

/// What the controller's plan gives these probes.
struct PlanSize {
    sites: usize,
    sessions: u64,
    min_targets: usize,
    max_targets: usize,
    median_targets: usize,
}

fn plan_size(dir: &Path) -> Result<PlanSize> {
    let cfg = config::load(&dir.join("mesh.yaml")).map_err(|e| anyhow::anyhow!("{e}"))?;
    let plan = targets::plan(&cfg);
    let mut sizes: Vec<usize> = plan.values().map(|p| p.targets.len()).collect();
    sizes.sort_unstable();
    let sites: std::collections::BTreeSet<usize> =
        cfg.probes.iter().map(|p| p.endpoint.site).collect();
    Ok(PlanSize {
        sites: sites.len(),
        sessions: sizes.iter().map(|&s| s as u64).sum(),
        min_targets: sizes.first().copied().unwrap_or(0),
        max_targets: sizes.last().copied().unwrap_or(0),
        median_targets: sizes.get(sizes.len() / 2).copied().unwrap_or(0),
    })
}

/// What checking one token costs the controller with this many secrets
/// (every request is authenticated against every stored hash).
fn token_check_us(dir: &Path, tokens: &[String]) -> Result<f64> {
    let secrets = Secrets::load(&dir.join("secrets.yaml"))?;
    let n = 200.min(tokens.len());
    let t0 = Instant::now();
    for t in tokens.iter().rev().take(n) {
        std::hint::black_box(secrets.verify(t));
    }
    Ok(t0.elapsed().as_secs_f64() * 1e6 / n as f64)
}

// ---------------------------------------------------------------------------
// Window contents.

/// A window of `window_s` seconds at 100 ms: forward delays around `base_us`
/// with some spread, the reverse a little slower, a lost packet now and then.
fn sample_window(window_s: u64, variant: usize) -> Window {
    let packets = (window_s * 10).clamp(1, 36_000) as u32;
    let base = 2_000 + (variant as i64 * 917) % 28_000; // 2-30 ms one way
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ variant as u64;
    let mut w = Window::new();
    for i in 0..packets {
        w.record(&Event::Sent);
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        if state.is_multiple_of(500) {
            w.record(&Event::RoundTripLost);
            continue;
        }
        // Jitter up to ~1.5 ms, a tail now and then.
        let jitter = (state % 1_500) as i64 + if state.is_multiple_of(97) { 4_000 } else { 0 };
        let f = (base + jitter) * 1_000;
        let r = (base + 150 + (state >> 20) as i64 % 1_200) * 1_000;
        w.record(&Event::Reply(PacketSample {
            sender_seq: i,
            reflector_seq: i,
            rtt_ns: f + r + 20_000,
            forward_ns: f,
            reverse_ns: r,
            clock: ClockSample::default(),
            ts_source: TsSource::Kernel,
        }));
    }
    w
}

// ---------------------------------------------------------------------------
// The controllers and the database.

/// A running `mesh-controller serve`; killed on drop.
struct Replica {
    child: Child,
    url: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(bin: &Path, dir: &Path, db: &str) -> Result<Replica> {
    let mut child = Command::new(bin)
        .arg("serve")
        .arg("--config")
        .arg(dir.join("mesh.yaml"))
        .args(["--db", db, "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stderr = child.stderr.take().context("no stderr")?;
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads the log (so the server never blocks on it), passes the
    // listening address on, keeps the last lines for a failure and shows
    // warnings as they come.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(a) = line.strip_prefix("mesh-controller: listening on ") {
                let _ = tx.send(Ok(a.to_string()));
            } else {
                eprintln!("   [serve {}] {line}", std::process::id());
                let _ = tx.send(Err(line));
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut log = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Ok(url)) => return Ok(Replica { child, url }),
            Ok(Err(line)) => log.push(line),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "mesh-controller serve --db {} did not listen within 120 s: {}",
                    redact(db),
                    log.join(" | ")
                );
            }
        }
    }
}

/// A URL without its password, for messages.
fn redact(db: &str) -> String {
    match (db.find("://"), db.rfind('@')) {
        (Some(s), Some(at)) if at > s => match db[s + 3..at].find(':') {
            Some(c) => format!("{}:***{}", &db[..s + 3 + c], &db[at..]),
            None => db.to_string(),
        },
        _ => db.to_string(),
    }
}

/// Where the windows go, and how to ask it for its size and row count.
enum Db {
    Postgres(Box<pg_server::PgServer>),
    Sqlite(PathBuf),
}

impl Db {
    fn arg(&self) -> String {
        match self {
            Db::Postgres(pg) => pg.url(),
            Db::Sqlite(p) => p.display().to_string(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Db::Postgres(pg) => format!(
                "PostgreSQL (throwaway test server: fsync, synchronous_commit and full_page_writes off) at {}",
                pg.url()
            ),
            Db::Sqlite(p) => format!("SQLite {}", p.display()),
        }
    }

    /// Bytes on disk.
    fn size(&self) -> Result<u64> {
        match self {
            Db::Postgres(pg) => pg
                .psql("SELECT pg_database_size(current_database())")
                .map_err(anyhow::Error::msg)?
                .parse()
                .context("pg_database_size"),
            Db::Sqlite(p) => Ok(["", "-wal", "-shm"]
                .iter()
                .filter_map(|s| std::fs::metadata(format!("{}{s}", p.display())).ok())
                .map(|m| m.len())
                .sum()),
        }
    }

    /// Raw windows stored, counted by the database itself (None for SQLite:
    /// the store's totals are read over the API instead).
    fn windows(&self) -> Result<Option<u64>> {
        match self {
            Db::Postgres(pg) => Ok(Some(
                pg.psql("SELECT count(*) FROM windows")
                    .map_err(anyhow::Error::msg)?
                    .parse()
                    .context("count(*)")?,
            )),
            Db::Sqlite(_) => Ok(None),
        }
    }

    /// Committed windows by the statistics collector (cheap, a second or so
    /// behind): for the stored rate while the run goes on. PostgreSQL only.
    fn live_windows(&self) -> Option<u64> {
        match self {
            Db::Postgres(pg) => pg
                .psql("SELECT coalesce(sum(n_live_tup), 0) FROM pg_stat_user_tables WHERE relname LIKE 'windows\\_d%'")
                .ok()?
                .parse()
                .ok(),
            Db::Sqlite(_) => None,
        }
    }

    /// The folder whose free space bounds the run.
    fn folder(&self) -> PathBuf {
        match self {
            Db::Postgres(pg) => pg.socket_dir().to_path_buf(),
            Db::Sqlite(p) => p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf(),
        }
    }

    /// The postmaster's pid (its children are the server's processes).
    fn postmaster(&self) -> Option<u32> {
        match self {
            Db::Postgres(pg) => {
                let pidfile = pg.socket_dir().join("data/postmaster.pid");
                std::fs::read_to_string(pidfile)
                    .ok()?
                    .lines()
                    .next()?
                    .trim()
                    .parse()
                    .ok()
            }
            Db::Sqlite(_) => None,
        }
    }
}

fn start_postgres() -> Result<pg_server::PgServer> {
    // The harness panics when initdb worked and the server still would not
    // start; here that is a failed run with the server's log, not a panic.
    let started = std::panic::catch_unwind(pg_server::PgServer::start);
    match started {
        Ok(Some(pg)) => Ok(pg),
        Ok(None) => bail!(
            "the scale run needs PostgreSQL and cannot start one (reason above; \
             the Debian package postgresql provides /usr/lib/postgresql/<version>/bin)"
        ),
        Err(p) => {
            let why = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            bail!("the scale run needs PostgreSQL, which did not start: {why}")
        }
    }
}

// ---------------------------------------------------------------------------
// Process figures from /proc.

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// (VmRSS, VmHWM) in KiB.
fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        s.lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Proportional set size in KiB (shared memory split among its users).
fn pss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    s.lines()
        .find(|l| l.starts_with("Pss:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// (ppid, utime + stime, cutime + cstime) in clock ticks.
fn stat(pid: u32) -> Option<(u32, u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| -> Option<u64> { f.get(i)?.parse().ok() };
    Some((n(1)? as u32, n(11)? + n(12)?, n(13)? + n(14)?))
}

fn cpu_ticks(pid: u32) -> Option<u64> {
    stat(pid).map(|(_, t, _)| t)
}

/// PostgreSQL's processes: the postmaster and its children.
fn pg_processes(postmaster: u32) -> Vec<u32> {
    let mut out = vec![postmaster];
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if stat(pid).is_some_and(|(ppid, _, _)| ppid == postmaster) {
            out.push(pid);
        }
    }
    out
}

/// PostgreSQL's memory (sum of PSS, KiB) and CPU (ticks, exited backends
/// included through the postmaster's children's time).
fn pg_figures(postmaster: u32) -> (u64, u64) {
    let procs = pg_processes(postmaster);
    let pss = procs.iter().filter_map(|&p| pss_kib(p)).sum();
    let mut cpu: u64 = procs.iter().skip(1).filter_map(|&p| cpu_ticks(p)).sum();
    if let Some((_, own, children)) = stat(postmaster) {
        cpu += own + children;
    }
    (pss, cpu)
}

fn free_bytes(dir: &Path) -> Option<u64> {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: statvfs writes into a zeroed struct we own; the path is a valid C string.
    unsafe {
        let mut s: libc::statvfs = std::mem::zeroed();
        (libc::statvfs(c.as_ptr(), &mut s) == 0).then(|| s.f_bavail as u64 * s.f_frsize as u64)
    }
}

/// MemAvailable in KiB.
fn available_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    s.lines()
        .find(|l| l.starts_with("MemAvailable:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on a valid, exclusively borrowed struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max.min(1 << 20);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        }
    }
    lim.rlim_cur
}

// ---------------------------------------------------------------------------
// The simulated probes.

/// Counters every probe task adds to.
#[derive(Default)]
struct Stats {
    hellos: AtomicU64,
    /// Windows cut (one per target per period).
    generated: AtomicU64,
    accepted: AtomicU64,
    duplicate: AtomicU64,
    uploads: AtomicU64,
    /// Failed upload calls (each failed batch is retried later).
    upload_failures: AtomicU64,
    timeouts: AtomicU64,
    connect_errors: AtomicU64,
    server_errors: AtomicU64,
    /// 4xx answers: the batch is dropped (the agent would quarantine it).
    refused: AtomicU64,
    refused_windows: AtomicU64,
    other_errors: AtomicU64,
    polls: AtomicU64,
    poll_errors: AtomicU64,
    /// Calls answered by another controller than the previous call of that probe.
    switches: AtomicU64,
    /// Windows acknowledged, by replica.
    by_replica: [AtomicU64; 4],
    /// Windows still unacknowledged when the probe stopped.
    left_pending: AtomicU64,
    /// Probes that never got their assignment.
    no_hello: AtomicU64,
    /// The longest failed upload call, in microseconds.
    failed_max_us: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Stats {
    /// Windows the controllers acknowledged: stored by that call, or by an
    /// earlier one whose answer was lost (a replay answered as a duplicate).
    fn stored(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed) + self.duplicate.load(Ordering::Relaxed)
    }

    fn failure(&self, e: &ClientError) {
        match e {
            ClientError::Timeout(_) => &self.timeouts,
            ClientError::Connect { .. } => &self.connect_errors,
            ClientError::Status { status, .. } if *status >= 500 || *status == 429 => {
                &self.server_errors
            }
            ClientError::Status { .. } => &self.refused,
            _ => &self.other_errors,
        }
        .fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some(e.to_string());
        }
    }
}

struct Shared {
    stats: Stats,
    /// Windows (and hello) start times are counted from here.
    start: tokio::time::Instant,
    /// No new windows after this.
    gen_end: tokio::time::Instant,
    /// Nothing at all after this.
    hard_end: tokio::time::Instant,
    period: Duration,
    poll: Option<Duration>,
    batch: usize,
    n: usize,
    urls: Vec<String>,
    variants: Vec<String>,
    window_ms: u64,
    stop: AtomicBool,
    /// Wakes sleeping probes when `stop` is set.
    stopped: tokio::sync::Notify,
}

impl Shared {
    fn stop_now(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.stopped.notify_waiters();
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One window not yet acknowledged.
struct Pending {
    seq: u64,
    target: usize,
    start_ms: u64,
}

/// A simulated agent: hello, then one window per target per period, uploaded
/// in batches oldest first with the agent's retry policy; target-list polls.
/// Returns its upload latencies in microseconds.
async fn probe_task(sh: Arc<Shared>, i: usize, token: String) -> Vec<u32> {
    let mut lat = Vec::new();
    let urls = if i.is_multiple_of(2) {
        sh.urls.join(",")
    } else {
        sh.urls.iter().rev().cloned().collect::<Vec<_>>().join(",")
    };
    let client = match Client::new(&urls, token) {
        Ok(c) => c.with_timeout(CALL_TIMEOUT),
        Err(e) => {
            sh.stats.failure(&e);
            sh.stats.no_hello.fetch_add(1, Ordering::Relaxed);
            return lat;
        }
    };
    let replica_of = |c: &Client| {
        sh.urls
            .iter()
            .position(|u| u.ends_with(c.controller()))
            .unwrap_or(0)
    };
    let id = probe_id(i);
    // Staggered over the first period, evenly.
    let begin = sh.start + sh.period.mul_f64(i as f64 / sh.n as f64);
    tokio::time::sleep_until(begin).await;
    let mut backoff = Backoff::with_seed(BACKOFF_INITIAL, BACKOFF_MAX, i as u64 + 1);
    let hello = Hello {
        probe: id.clone(),
        version: "scale-run".into(),
        boot_id: Some(format!("boot-{i}")),
        clock: ClockInfo {
            synchronized: true,
            error_us: 500,
            ..ClockInfo::default()
        },
        stamp: None,
    };
    let assignment = loop {
        if tokio::time::Instant::now() >= sh.gen_end || sh.stop.load(Ordering::Relaxed) {
            sh.stats.no_hello.fetch_add(1, Ordering::Relaxed);
            return lat;
        }
        match client.hello(&hello).await {
            Ok(a) => break a,
            Err(e) => {
                sh.stats.failure(&e);
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    };
    backoff.reset();
    sh.stats.hellos.fetch_add(1, Ordering::Relaxed);
    let targets: Vec<(String, u16, usize)> = assignment
        .targets
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let variant = (i * 31 + k * 17) % WINDOW_VARIANTS;
            (
                serde_json::to_string(&t.probe).unwrap_or_default(),
                t.ssid,
                variant,
            )
        })
        .collect();
    let generation = assignment.generation;
    let mut seq = assignment.next_seq;
    let mut pending: VecDeque<Pending> = VecDeque::new();
    let mut next_window = tokio::time::Instant::now() + sh.period;
    let mut next_poll = sh.poll.map(|p| tokio::time::Instant::now() + p);
    let mut retry_at: Option<tokio::time::Instant> = None;
    let mut last_replica = replica_of(&client);
    loop {
        let now = tokio::time::Instant::now();
        let generating = now < sh.gen_end;
        if now >= sh.hard_end
            || sh.stop.load(Ordering::Relaxed)
            || (!generating && pending.is_empty())
        {
            break;
        }
        // Cut this period's windows.
        if generating && now >= next_window {
            let start_ms = now_ms().saturating_sub(sh.window_ms);
            for k in 0..targets.len() {
                pending.push_back(Pending {
                    seq,
                    target: k,
                    start_ms,
                });
                seq += 1;
            }
            sh.stats
                .generated
                .fetch_add(targets.len() as u64, Ordering::Relaxed);
            next_window += sh.period;
        }
        // Poll the target list like the agent.
        if generating && next_poll.is_some_and(|t| now >= t) {
            match client.targets(generation).await {
                Ok(_) => sh.stats.polls.fetch_add(1, Ordering::Relaxed),
                Err(_) => sh.stats.poll_errors.fetch_add(1, Ordering::Relaxed),
            };
            next_poll = next_poll.zip(sh.poll).map(|(t, p)| t + p);
        }
        // Upload oldest first until empty or a call fails.
        while !pending.is_empty() && retry_at.is_none_or(|t| tokio::time::Instant::now() >= t) {
            if tokio::time::Instant::now() >= sh.hard_end || sh.stop.load(Ordering::Relaxed) {
                break;
            }
            let take = pending.len().min(sh.batch);
            let mut body = format!("{{\"probe\":\"{id}\",\"windows\":[").into_bytes();
            for (k, p) in pending.iter().take(take).enumerate() {
                if k > 0 {
                    body.push(b',');
                }
                let (target, ssid, variant) = &targets[p.target];
                body.extend(
                    format!(
                        "{{\"seq\":{},\"target\":{target},\"start_unix_ms\":{},\"duration_ms\":{},\"timestamping\":\"kernel\",\"ssid\":{ssid},\"window\":",
                        p.seq, p.start_ms, sh.window_ms
                    )
                    .as_bytes(),
                );
                body.extend(sh.variants[*variant].as_bytes());
                body.push(b'}');
            }
            body.extend(b"]}");
            let t0 = Instant::now();
            let result = client.upload_json(body).await;
            let replica = replica_of(&client);
            if replica != last_replica {
                sh.stats.switches.fetch_add(1, Ordering::Relaxed);
                last_replica = replica;
            }
            match result {
                Ok(ack) => {
                    lat.push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                    let s = &sh.stats;
                    s.uploads.fetch_add(1, Ordering::Relaxed);
                    s.accepted
                        .fetch_add(ack.accepted.len() as u64, Ordering::Relaxed);
                    s.duplicate
                        .fetch_add(ack.duplicate.len() as u64, Ordering::Relaxed);
                    s.by_replica[replica.min(3)].fetch_add(
                        (ack.accepted.len() + ack.duplicate.len()) as u64,
                        Ordering::Relaxed,
                    );
                    // Acknowledged (now or before) leaves the spool; anything
                    // the answer does not name stays for the next try.
                    let done: std::collections::HashSet<u64> =
                        ack.accepted.iter().chain(&ack.duplicate).copied().collect();
                    let batch: Vec<Pending> = pending.drain(..take).collect();
                    let kept: Vec<Pending> = batch
                        .into_iter()
                        .filter(|p| !done.contains(&p.seq))
                        .collect();
                    let stuck = !kept.is_empty();
                    for p in kept.into_iter().rev() {
                        pending.push_front(p);
                    }
                    retry_at = None;
                    backoff.reset();
                    if stuck {
                        retry_at = Some(tokio::time::Instant::now() + backoff.next_delay());
                        break;
                    }
                }
                Err(e) if e.is_retryable() => {
                    sh.stats.upload_failures.fetch_add(1, Ordering::Relaxed);
                    sh.stats.failed_max_us.fetch_max(
                        t0.elapsed().as_micros().min(u128::from(u64::MAX)) as u64,
                        Ordering::Relaxed,
                    );
                    sh.stats.failure(&e);
                    retry_at = Some(tokio::time::Instant::now() + backoff.next_delay());
                    break;
                }
                Err(e) => {
                    // Repeating will not fix a 4xx: the agent sets the batch aside.
                    sh.stats.failure(&e);
                    sh.stats
                        .refused_windows
                        .fetch_add(take as u64, Ordering::Relaxed);
                    pending.drain(..take);
                }
            }
        }
        // Sleep until the next thing to do.
        let mut wake = sh.hard_end;
        if generating {
            wake = wake.min(next_window).min(sh.gen_end);
            if let Some(t) = next_poll {
                wake = wake.min(t);
            }
        }
        if let (Some(t), false) = (retry_at, pending.is_empty()) {
            wake = wake.min(t);
        }
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            _ = sh.stopped.notified() => {}
        }
    }
    sh.stats
        .left_pending
        .fetch_add(pending.len() as u64, Ordering::Relaxed);
    lat
}

// ---------------------------------------------------------------------------
// Sampling while it runs.

#[derive(Default, Clone, Copy)]
struct ProcFigures {
    rss_max: u64,
    rss_end: u64,
    hwm: u64,
    cpu_start: u64,
    cpu_end: u64,
}

struct Samples {
    replicas: Vec<ProcFigures>,
    pg_pss_max: u64,
    pg_pss_end: u64,
    pg_cpu: (u64, u64),
    own_cpu: (u64, u64),
    /// (seconds since start, windows acknowledged).
    accepted: Vec<(f64, u64)>,
    /// (seconds since start, windows committed in the database), PostgreSQL only.
    committed: Vec<(f64, u64)>,
    load: Vec<String>,
    low_disk: bool,
    /// Available memory ran low: the controllers were killed (and their RSS then).
    low_memory: Option<Vec<u64>>,
}

fn sample_loop(
    sh: &Shared,
    pids: &[u32],
    postmaster: Option<u32>,
    db: &Db,
    done: &AtomicBool,
) -> Samples {
    let db_folder = db.folder();
    let rows0 = db.live_windows();
    let own = std::process::id();
    let mut s = Samples {
        replicas: pids
            .iter()
            .map(|&p| {
                let cpu = cpu_ticks(p).unwrap_or(0);
                ProcFigures {
                    cpu_start: cpu,
                    cpu_end: cpu,
                    ..ProcFigures::default()
                }
            })
            .collect(),
        pg_pss_max: 0,
        pg_pss_end: 0,
        pg_cpu: (0, 0),
        own_cpu: (cpu_ticks(own).unwrap_or(0), 0),
        accepted: vec![(0.0, 0)],
        committed: rows0.map(|_| (0.0, 0)).into_iter().collect(),
        load: vec![loadavg()],
        low_disk: false,
        low_memory: None,
    };
    if let Some(pm) = postmaster {
        let (_, cpu) = pg_figures(pm);
        s.pg_cpu = (cpu, cpu);
    }
    let t0 = Instant::now();
    let mut next = t0 + SAMPLE;
    let mut printed = 0u64;
    loop {
        while Instant::now() < next {
            if done.load(Ordering::Relaxed) {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
            let rss: Vec<u64> = pids
                .iter()
                .map(|&p| memory_kib(p).map_or(0, |m| m.0))
                .collect();
            let low = available_kib().is_some_and(|k| k < MIN_AVAILABLE_KIB)
                || rss.iter().sum::<u64>() > MAX_REPLICAS_KIB;
            if s.low_memory.is_none() && low {
                eprintln!(
                    "   memory: under 4 GiB available on the machine or over 12 GiB in the controllers: stopping, controllers killed (their RSS {rss:?} KiB)"
                );
                for (f, &k) in s.replicas.iter_mut().zip(&rss) {
                    f.rss_max = f.rss_max.max(k);
                }
                sh.stop_now();
                for &p in pids {
                    // SAFETY: kill on pids this run started.
                    unsafe {
                        libc::kill(p as i32, libc::SIGKILL);
                    }
                }
                s.low_memory = Some(rss);
            }
        }
        let finished = done.load(Ordering::Relaxed);
        next += SAMPLE;
        let t = t0.elapsed().as_secs_f64();
        let acc = sh.stats.stored();
        s.accepted.push((t, acc));
        if let (Some(r0), Some(r)) = (rows0, db.live_windows()) {
            s.committed.push((t, r.saturating_sub(r0)));
        }
        for (f, &pid) in s.replicas.iter_mut().zip(pids) {
            if let Some((rss, hwm)) = memory_kib(pid) {
                f.rss_max = f.rss_max.max(rss);
                f.rss_end = rss;
                f.hwm = f.hwm.max(hwm);
            }
            if let Some(c) = cpu_ticks(pid) {
                f.cpu_end = c;
            }
        }
        if let Some(pm) = postmaster {
            let (pss, cpu) = pg_figures(pm);
            s.pg_pss_max = s.pg_pss_max.max(pss);
            s.pg_pss_end = pss;
            s.pg_cpu.1 = cpu;
        }
        s.own_cpu.1 = cpu_ticks(own).unwrap_or(0);
        if free_bytes(&db_folder).is_some_and(|b| b < MIN_FREE_BYTES) && !s.low_disk {
            eprintln!("   less than 1.5 GiB free beside the database: stopping early");
            s.low_disk = true;
            sh.stop_now();
        }
        // A progress line every 30 s.
        if finished || (t as u64) / 30 > printed {
            printed = (t as u64) / 30;
            s.load.push(loadavg());
            let prev = s.accepted[s.accepted.len().saturating_sub(4)];
            let rate = (acc - prev.1) as f64 / (t - prev.0).max(1e-9);
            let rss: Vec<String> = s
                .replicas
                .iter()
                .map(|f| format!("{} MiB", f.rss_end / 1024))
                .collect();
            println!(
                "   t={t:>4.0}s hellos {:>6} acknowledged {:>9} ({rate:>6.0}/s lately) in the database {:>9} failed upload calls {}; RSS {}; PostgreSQL PSS {} MiB; load {}",
                sh.stats.hellos.load(Ordering::Relaxed),
                acc,
                s.committed.last().map_or("-".to_string(), |c| c.1.to_string()),
                sh.stats.upload_failures.load(Ordering::Relaxed),
                rss.join(", "),
                s.pg_pss_end / 1024,
                loadavg()
            );
        }
        if finished {
            return s;
        }
    }
}

// ---------------------------------------------------------------------------

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The rate over [from, to] seconds of the run, from the samples nearest
/// inside it.
fn rate_between(samples: &[(f64, u64)], from: f64, to: f64) -> Option<(f64, f64, f64)> {
    let a = samples.iter().find(|(t, _)| *t >= from)?;
    let b = samples.iter().rev().find(|(t, _)| *t <= to)?;
    (b.0 > a.0).then(|| ((b.1 - a.1) as f64 / (b.0 - a.0), a.0, b.0))
}

fn main() -> Result<()> {
    let a = args()?;
    let files = raise_fd_limit();
    let dir = tempfile::Builder::new().prefix("hubmesh-scale").tempdir()?;
    let t = Instant::now();
    let tokens = write_config(dir.path(), &a)?;
    let plan = plan_size(dir.path())?;
    let implied = plan.sessions as f64 / a.window_s as f64;
    println!(
        "   {} probes over {} sites of the national topology, targets {{mode: hierarchical, representatives: {}}}, {} s windows at 100 ms",
        a.probes, plan.sites, a.representatives, a.window_s
    );
    println!(
        "   plan: {} sessions (targets per probe: min {}, median {}, max {}): {:.0} windows/s offered at steady state ({:.0} per probe per period)",
        plan.sessions,
        plan.min_targets,
        plan.median_targets,
        plan.max_targets,
        implied,
        plan.sessions as f64 / a.probes as f64
    );
    println!(
        "   controller's token check with {} secrets: {:.1} us per request (config, tokens and plan made in {:.1} s)",
        a.probes,
        token_check_us(dir.path(), &tokens)?,
        t.elapsed().as_secs_f64()
    );
    let variants: Vec<String> = (0..WINDOW_VARIANTS)
        .map(|v| serde_json::to_string(&sample_window(a.window_s, v)))
        .collect::<Result<_, _>>()?;
    let mean_json = variants.iter().map(String::len).sum::<usize>() / variants.len();
    println!(
        "   window JSON about {mean_json} bytes ({} variants); {:.1} MB/s of windows offered",
        variants.len(),
        implied * mean_json as f64 / 1e6
    );
    if a.plan_only {
        return Ok(());
    }
    if files < a.probes as u64 + 1_000 {
        bail!(
            "the open-file limit is {files} (hard limit): {} probes need one connection each, and more",
            a.probes
        );
    }

    // Shared with the sampling thread, which counts stored windows as they come.
    let db = Arc::new(match &a.sqlite {
        Some(p) => Db::Sqlite(p.clone()),
        None => Db::Postgres(Box::new(start_postgres()?)),
    });
    println!("   database: {}", db.describe());
    let mut replicas = Vec::new();
    for _ in 0..a.replicas {
        replicas.push(serve(&a.bin, dir.path(), &db.arg())?);
    }
    let pids: Vec<u32> = replicas.iter().map(|r| r.child.id()).collect();
    println!(
        "   {} replicas: {} (pids {:?}); open-file limit {files}, inherited by them",
        replicas.len(),
        replicas
            .iter()
            .map(|r| r.url.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        pids
    );
    let size_start = db.size()?;
    let rows_start = db.windows()?.unwrap_or(0);
    let postmaster = db.postmaster();

    // Watchdog: whatever happens, nothing outlives the run by more than
    // five minutes (servers and PostgreSQL included).
    let budget = Duration::from_secs_f64(a.minutes * 60.0) + DRAIN + Duration::from_secs(300);
    {
        let pids = pids.clone();
        std::thread::spawn(move || {
            std::thread::sleep(budget);
            eprintln!("scale_run: overstayed its time: stopping everything");
            for p in pids.iter().copied().chain(postmaster) {
                // SAFETY: kill on pids this run started.
                unsafe {
                    libc::kill(p as i32, libc::SIGKILL);
                }
            }
            std::process::exit(3);
        });
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let run = Duration::from_secs_f64(a.minutes * 60.0);
    let period = Duration::from_secs(a.window_s);
    let (sh, wall, lat) = rt.block_on(async {
        let start = tokio::time::Instant::now();
        let sh = Arc::new(Shared {
            stats: Stats::default(),
            start,
            gen_end: start + run,
            hard_end: start + run + DRAIN,
            period,
            poll: (a.poll_s > 0).then(|| Duration::from_secs(a.poll_s)),
            batch: a.batch,
            n: a.probes,
            urls: replicas
                .iter()
                .map(|r| r.url.trim_end_matches('/').to_string())
                .collect(),
            variants,
            window_ms: a.window_s * 1000,
            stop: AtomicBool::new(false),
            stopped: tokio::sync::Notify::new(),
        });
        let done = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (sh, done, pids) = (sh.clone(), done.clone(), pids.clone());
            let db = db.clone();
            std::thread::spawn(move || sample_loop(&sh, &pids, postmaster, &db, &done))
        };
        // How late this process's own timers fire: when large, the
        // latencies include the simulator's queueing, not only the servers'.
        // (Stopped once the probes are done.)
        let late = Arc::new(Mutex::new(Vec::new()));
        let lateness = {
            let late = late.clone();
            tokio::spawn(async move {
                loop {
                    let t = Instant::now();
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let us = t.elapsed().saturating_sub(Duration::from_millis(100));
                    late.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(us.as_micros().min(u128::from(u32::MAX)) as u32);
                }
            })
        };
        let tasks: Vec<_> = tokens
            .into_iter()
            .enumerate()
            .map(|(i, token)| tokio::spawn(probe_task(sh.clone(), i, token)))
            .collect();
        let mut lat = Vec::new();
        for t in tasks {
            // The tasks end by themselves by hard_end; a call in flight then
            // takes at most CALL_TIMEOUT per controller.
            if let Ok(l) = t.await {
                lat.extend(l);
            }
        }
        let wall = start.elapsed();
        done.store(true, Ordering::Relaxed);
        let samples = sampler.join().ok();
        lateness.abort();
        let late = std::mem::take(&mut *late.lock().unwrap_or_else(|e| e.into_inner()));
        (sh, wall, (lat, samples, late))
    });
    let (mut lat, samples, mut late) = lat;
    late.sort_unstable();
    let samples = samples.context("the sampling thread failed")?;
    drop(rt);
    lat.sort_unstable();

    // Cross-check with the store: its per-probe totals, and the table itself.
    let api_total: Option<u64> = {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let url = replicas[0].url.clone();
        rt.block_on(async {
            let c = Client::new(&url, "")
                .ok()?
                .with_timeout(Duration::from_secs(120));
            let list = c.probes().await.ok()?;
            Some(list.probes.iter().map(|p| p.windows).sum())
        })
    };
    let rows_end = db.windows()?;
    let size_end = db.size()?;
    let end_load = loadavg();
    drop(replicas);

    let st = &sh.stats;
    let acc = st.stored();
    let secs = run.as_secs_f64();
    println!(
        "== results ({:.1} min of generation asked for, {:.0} s in all{}; {} probes, batches of up to {}, target polls {})",
        a.minutes,
        wall.as_secs_f64(),
        if samples.low_memory.is_some() || samples.low_disk {
            ", CUT SHORT"
        } else {
            ""
        },
        a.probes,
        a.batch,
        if a.poll_s > 0 {
            format!("every {} s", a.poll_s)
        } else {
            "off".to_string()
        }
    );
    println!(
        "   probes: {} said hello, {} never got an assignment",
        st.hellos.load(Ordering::Relaxed),
        st.no_hello.load(Ordering::Relaxed)
    );
    // Stored: what the database holds (a window whose answer was lost is
    // stored all the same); acknowledged: what the probes were told.
    let stored = rows_end.map(|r| r - rows_start);
    let stored_total = stored.or(api_total).unwrap_or(acc);
    let wall_s = wall.as_secs_f64();
    type Series<'a> = (&'a str, &'a [(f64, u64)], u64);
    let series: [Series; 2] = [
        ("stored (database)", &samples.committed, stored_total),
        ("acknowledged to the probes", &samples.accepted, acc),
    ];
    for (what, samples, total) in series {
        if samples.is_empty() {
            continue;
        }
        match rate_between(samples, period.as_secs_f64(), secs) {
            Some((r, from, to)) => println!(
                "   windows {what}: {r:.0}/s at steady state (t={from:.0}-{to:.0} s, after the first period's staggered starts) against {implied:.0}/s offered ({:.3}x); {:.0}/s over the whole run ({total} in {wall_s:.0} s)",
                r / implied,
                total as f64 / wall_s
            ),
            None => println!(
                "   windows {what}: {:.0}/s over the whole run ({total} in {wall_s:.0} s; too short for a steady state, which starts after one window period); {implied:.0}/s offered",
                total as f64 / wall_s
            ),
        }
    }
    println!(
        "   windows: {} cut, {} acknowledged ({} as stored by that call, {} as duplicates: replays of a call whose answer was lost), {} refused (4xx), {} still pending at the stop",
        st.generated.load(Ordering::Relaxed),
        acc,
        st.accepted.load(Ordering::Relaxed),
        st.duplicate.load(Ordering::Relaxed),
        st.refused_windows.load(Ordering::Relaxed),
        st.left_pending.load(Ordering::Relaxed)
    );
    let by: Vec<String> = (0..a.replicas)
        .map(|r| format!("{}", st.by_replica[r].load(Ordering::Relaxed)))
        .collect();
    println!("   acknowledged by replica: {}", by.join(" / "));
    // Every acknowledged window must be stored; more may be (stored, the
    // answer lost, not replayed before the stop), never fewer.
    println!(
        "   cross-check: the store's totals (GET /v1/probes) {}, the windows table {}, acknowledged {acc}: {}",
        api_total.map_or("unreadable".to_string(), |v| v.to_string()),
        stored.map_or("(SQLite: not counted)".to_string(), |v| v.to_string()),
        match api_total {
            None if stored.is_some_and(|s| s >= acc) => {
                "the controllers are gone; the table holds every acknowledged window".to_string()
            }
            Some(t) if t == acc && stored.is_none_or(|s| s == t) => "all equal".to_string(),
            Some(t) if t > acc && stored.is_none_or(|s| s == t) => format!(
                "{} stored whose answer was lost and not replayed before the stop",
                t - acc
            ),
            _ => "INCONSISTENT (fewer stored than acknowledged, or the two counts differ)".to_string(),
        }
    );
    println!(
        "   upload calls: {} answered, latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} failed and retried (timeouts {}, no connection {}, 5xx {}, other {}), {} refused (4xx); {} moves to the other controller; target polls {} ({} failed)",
        st.uploads.load(Ordering::Relaxed),
        pct(&lat, 50.0),
        pct(&lat, 99.0),
        pct(&lat, 100.0),
        st.upload_failures.load(Ordering::Relaxed),
        st.timeouts.load(Ordering::Relaxed),
        st.connect_errors.load(Ordering::Relaxed),
        st.server_errors.load(Ordering::Relaxed),
        st.other_errors.load(Ordering::Relaxed),
        st.refused.load(Ordering::Relaxed),
        st.switches.load(Ordering::Relaxed),
        st.polls.load(Ordering::Relaxed),
        st.poll_errors.load(Ordering::Relaxed)
    );
    println!(
        "   longest failed upload call {:.1} s; this process's timers fired late by p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (the simulator's own queueing, included in the latencies)",
        st.failed_max_us.load(Ordering::Relaxed) as f64 / 1e6,
        pct(&late, 50.0),
        pct(&late, 99.0),
        pct(&late, 100.0)
    );
    if let Some(e) = st
        .first_error
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
    {
        println!("   first error: {e}");
    }
    let grown = size_end.saturating_sub(size_start);
    let per_window = grown as f64 / stored_total.max(1) as f64;
    println!(
        "   database: {:.1} MiB at the start, {:.1} MiB at the end: {:.1} MiB for {} windows ({:.0} bytes each, rollups and indexes included)",
        mib(size_start),
        mib(size_end),
        mib(grown),
        stored_total,
        per_window
    );
    println!(
        "   growth per day (raw windows, before retention merges those older than `raw`, 24 h by default): {:.1} GiB/day at the rate stored, {:.1} GiB/day at the offered {implied:.0} windows/s",
        grown as f64 / wall.as_secs_f64() * 86_400.0 / (1u64 << 30) as f64,
        per_window * implied * 86_400.0 / (1u64 << 30) as f64
    );
    let tck = clock_ticks();
    for (k, f) in samples.replicas.iter().enumerate() {
        let cpu = (f.cpu_end - f.cpu_start) as f64 / tck;
        println!(
            "   replica {}: VmRSS max {:.0} MiB, at the end {:.0} MiB, VmHWM {:.0} MiB; CPU {:.0} s ({:.2} cores)",
            k + 1,
            f.rss_max as f64 / 1024.0,
            f.rss_end as f64 / 1024.0,
            f.hwm as f64 / 1024.0,
            cpu,
            cpu / wall.as_secs_f64()
        );
    }
    if postmaster.is_some() {
        let cpu = (samples.pg_cpu.1 - samples.pg_cpu.0) as f64 / tck;
        println!(
            "   PostgreSQL: PSS max {:.0} MiB, at the end {:.0} MiB; CPU {:.0} s ({:.2} cores)",
            samples.pg_pss_max as f64 / 1024.0,
            samples.pg_pss_end as f64 / 1024.0,
            cpu,
            cpu / wall.as_secs_f64()
        );
    }
    let own = (samples.own_cpu.1 - samples.own_cpu.0) as f64 / tck;
    println!(
        "   the simulated probes (this process): CPU {:.0} s ({:.2} cores); machine: {} cores, load average {} at the start, {} at the end (1/5/15 min)",
        own,
        own / wall.as_secs_f64(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        samples.load.first().cloned().unwrap_or_default(),
        end_load
    );
    if samples.low_disk {
        println!("   stopped early: the disk ran low");
    }
    if let Some(rss) = &samples.low_memory {
        println!(
            "   STOPPED EARLY: under 4 GiB available on the machine or over 12 GiB in the controllers; controllers killed at RSS {:?} MiB",
            rss.iter().map(|k| k / 1024).collect::<Vec<_>>()
        );
    }
    drop(db);
    if samples.low_memory.is_some() || samples.low_disk {
        bail!("the run was cut short (see above): its figures are not the full run's");
    }
    Ok(())
}
