//! `probe agent`: the probe under a controller. It runs the reflector (its own
//! thread), says hello to the controller and gets its assignment (targets and
//! measurement settings), runs one STAMP session per target (a thread each,
//! randomized send times), cuts each session's results into windows of
//! `window_s`, numbers them per probe and uploads them.
//!
//! Nothing measured is lost on the way: a spool writer thread puts every window
//! (as soon as a session cuts it, whatever the uploads are doing) in the on-disk
//! [`Spool`] (fsynced) before any upload is tried; a window leaves it only once the
//! controller acknowledged it (stored now, or stored before: ingest is
//! idempotent on (probe, seq)). While the controller is unreachable (or
//! answers 5xx) windows accumulate and are replayed in sequence order with a
//! jittered exponential backoff. A 401 or 403 is not retried: the agent exits
//! with an error, since repeating a wrong token will not fix it.
//!
//! Target-list changes are followed by polling `GET /v1/targets?generation=N`:
//! sessions start and stop without a restart (a changed setting restarts all).
//! SIGTERM or SIGINT: every session stops and cuts its last (short) window,
//! which is spooled; one upload pass follows, then the agent exits 0 and
//! prints a one-line JSON summary on stdout.
//!
//! Beside the sessions, when the controller asks for them: bandwidth tests in
//! the controller's tournament rounds (`bw_tasks`), echo windows to hosts
//! without a probe and traces of every peer (`icmp_tasks`). Their results
//! take the same road as windows through a spool of their own (`results`).

mod bw_tasks;
mod icmp_tasks;
mod outbox;
pub mod results;
mod sessions;
pub mod spool;
mod upload;

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use protocol::api::{Assignment, ClockInfo, Hello, Settings, StampMode, Target, WindowUpload};
use protocol::client::{Backoff, Client, ClientError};
use serde::Serialize;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::clock::{boot_id, ClockStatus};
use crate::reflector::{self, Policy, RunOptions};
use crate::sender::{self, ReflectorType, SameClock, Schedule, StampConfig, WindowCut};
pub use spool::Spool;

/// Windows per upload call.
const BATCH: usize = 200;
/// Time allowed for one controller call.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stopping agent waits for its sessions' last windows.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// How to run; see the module documentation.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// `http://host:port` of the controller.
    pub controller: String,
    pub id: String,
    pub token: String,
    /// Where the reflector listens.
    pub listen: SocketAddr,
    /// Tell the controller where the reflector listens (when given explicitly).
    pub announce_listen: bool,
    pub spool_dir: PathBuf,
    pub spool_max_bytes: u64,
    /// An error the operator states for the local clock (e.g. PTP).
    pub clock_error: Option<Duration>,
    /// HMAC key for authenticated STAMP (reflector and sessions).
    pub auth_key: Option<Vec<u8>>,
    /// Period of `GET /v1/targets`.
    pub poll: Duration,
    /// Backoff bounds for retries.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Bandwidth-test server (TCP) address; None: off. The reflector's
    /// own address means the same port number as its UDP socket got.
    pub bw_listen: Option<SocketAddr>,
}

/// Why the agent stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("the controller refused this probe (not retried): {0}")]
    Refused(ClientError),
    #[error("cannot start: {0}")]
    Setup(String),
    #[error("spool: {0}")]
    Spool(std::io::Error),
}

/// What the agent did, printed as JSON when it exits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub probe: String,
    /// Windows cut by the sessions.
    pub windows_cut: u64,
    /// Windows given a sequence number and written to the spool.
    pub windows_spooled: u64,
    /// Windows dropped because the spool was full.
    pub windows_dropped: u64,
    /// Windows the controller acknowledged (stored now or before).
    pub windows_acknowledged: u64,
    /// Windows left in the spool (replayed by the next run).
    pub windows_pending: u64,
    /// Windows the controller refused as malformed (moved to `rejected/`).
    pub windows_rejected: u64,
    /// The highest sequence number given out (0: none).
    pub last_seq: u64,
    /// Test packets sent, over all windows cut.
    pub packets_sent: u64,
    /// Test packets sent, over the windows spooled.
    pub packets_sent_spooled: u64,
    /// Windows that could not be written to the spool (disk error): lost.
    pub windows_lost: u64,
    /// Bandwidth tests, pings and traces.
    pub results: results::ResultCounts,
    /// Results left in their spool (replayed by the next run).
    pub results_pending: u64,
}

/// From the session threads to the spool writer.
enum WriterMsg {
    Window {
        target: String,
        ssid: u16,
        cut: Box<WindowCut>,
    },
    Ended {
        target: Target,
        error: Option<String>,
    },
}

/// From the spool writer to the main loop.
enum Msg {
    /// A window was spooled: time to try an upload.
    Spooled,
    /// A session ended (its windows are all spooled by then).
    Ended {
        target: Target,
        error: Option<String>,
    },
}

/// The spool and the counters, shared by the spool writer thread (which
/// writes every window as soon as it is cut, whatever the uploads are doing)
/// and the main loop (which uploads and deletes).
struct Store {
    spool: Spool,
    summary: Summary,
    full: bool,
    spool_dir: PathBuf,
    max_bytes: u64,
}

type SharedStore = Arc<Mutex<Store>>;

fn lock(store: &SharedStore) -> MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|e| e.into_inner())
}

/// The spool writer thread: numbers and spools each window, in the order
/// cut, then tells the main loop.
fn spool_writer(rx: mpsc::Receiver<WriterMsg>, store: SharedStore, out: UnboundedSender<Msg>) {
    for msg in rx {
        match msg {
            WriterMsg::Window { target, ssid, cut } => {
                spool_window(&mut lock(&store), target, ssid, *cut);
                let _ = out.send(Msg::Spooled);
            }
            WriterMsg::Ended { target, error } => {
                let _ = out.send(Msg::Ended { target, error });
            }
        }
    }
}

/// Numbers a window and spools it.
fn spool_window(st: &mut Store, target: String, ssid: u16, cut: WindowCut) {
    st.summary.windows_cut += 1;
    let sent = cut.window.counters.sent;
    st.summary.packets_sent += sent;
    let start_unix_ms = now_unix_ms(cut.start);
    let duration_ms = now_unix_ms(cut.duration).max(1);
    let timestamping = cut.window.sources.weakest();
    let window = cut.window;
    let pushed = st.spool.push(|seq| {
        let upload = WindowUpload {
            seq,
            target,
            start_unix_ms,
            duration_ms,
            window: &window,
            timestamping,
            ssid: Some(ssid),
        };
        serde_json::to_vec(&upload).unwrap_or_default()
    });
    match pushed {
        Ok(Some(_)) => {
            st.summary.windows_spooled += 1;
            st.summary.packets_sent_spooled += sent;
            if st.full {
                st.full = false;
                log(&format!(
                    "spool has room again; {} windows dropped in all",
                    st.spool.dropped
                ));
            }
        }
        Ok(None) => {
            st.summary.windows_dropped = st.spool.dropped;
            if !st.full {
                st.full = true;
                log(&format!(
                    "WARNING: spool full ({} bytes in {}, bound {} bytes): dropping NEW windows \
                     (the oldest are kept and replayed first); {} dropped so far",
                    st.spool.bytes(),
                    st.spool_dir.display(),
                    st.max_bytes,
                    st.spool.dropped
                ));
            }
        }
        Err(e) => {
            st.summary.windows_lost += 1;
            log(&format!(
                "ERROR: cannot write a window to the spool {}: {e}; {} windows lost so far",
                st.spool_dir.display(),
                st.summary.windows_lost
            ));
        }
    }
}

struct Running {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

struct Agent {
    opts: AgentOptions,
    client: Client,
    store: SharedStore,
    /// Bandwidth tests, pings and traces, spooled apart from the windows.
    results: results::SharedResults,
    /// What the ICMP tasks measure.
    icmp_plan: tokio::sync::watch::Sender<icmp_tasks::IcmpPlan>,
    /// Whether the controller schedules bandwidth tests.
    bw_enabled: tokio::sync::watch::Sender<bool>,
    /// The ICMP and bandwidth tasks, aborted on shutdown.
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Earliest time of the next results upload try (after a failure).
    results_retry_at: Option<Instant>,
    settings: Settings,
    generation: u64,
    targets: Vec<Target>,
    sessions: HashMap<Target, Running>,
    /// To the spool writer; None once shutting down.
    writer: Option<mpsc::Sender<WriterMsg>>,
    writer_thread: Option<JoinHandle<()>>,
    backoff: Backoff,
    /// Earliest time of the next upload try (after a failure).
    retry_at: Option<Instant>,
    unreachable: bool,
    /// Upload one window per call (after a 400 on a batch, to find the bad one).
    single: bool,
}

fn log(line: &str) {
    eprintln!("probe agent: {line}");
}

fn now_unix_ms(t: Duration) -> u64 {
    u64::try_from(t.as_millis()).unwrap_or(u64::MAX)
}

fn fatal(e: &ClientError) -> bool {
    matches!(e.status(), Some(401 | 403))
}

/// Runs the agent until SIGTERM/SIGINT (`stop`); see the module documentation.
pub fn run(opts: AgentOptions, stop: &'static AtomicBool) -> Result<Summary, AgentError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AgentError::Setup(format!("tokio: {e}")))?;
    // The reflector first: a port already taken fails at once.
    let reflector_options = RunOptions {
        listen: opts.listen,
        policy: Policy {
            key: opts.auth_key.clone(),
            allow: Vec::new(),
            max_pps: 10_000,
            max_sessions: 100_000,
            session_idle: Duration::from_secs(300),
        },
        clock_error: opts.clock_error,
        log_interval: Duration::from_secs(600),
        recv_buffer: Some(4 << 20),
        kernel_timestamps: true,
    };
    let socket =
        reflector::bind(&reflector_options).map_err(|e| AgentError::Setup(e.to_string()))?;
    let _bw_server = start_bw_server(&opts, &socket)?;
    let reflector_stop = Arc::new(AtomicBool::new(false));
    let reflector_thread = {
        let stop = reflector_stop.clone();
        std::thread::Builder::new()
            .name("reflector".into())
            .spawn(move || {
                let mut log = |line: &str| eprintln!("probe agent: reflector: {line}");
                if let Err(e) = reflector::run(&socket, &reflector_options, &stop, &mut log) {
                    eprintln!("probe agent: reflector stopped: {e}");
                }
            })
            .map_err(|e| AgentError::Setup(format!("reflector thread: {e}")))?
    };
    let result = runtime.block_on(run_async(opts, stop));
    reflector_stop.store(true, Ordering::SeqCst);
    let _ = reflector_thread.join();
    result
}

/// The bandwidth-test server beside the reflector (stopped when dropped).
fn start_bw_server(
    opts: &AgentOptions,
    socket: &crate::timestamping::TimestampedSocket,
) -> Result<Option<crate::bw::BwServerHandle>, AgentError> {
    let Some(mut addr) = opts.bw_listen else {
        return Ok(None);
    };
    if addr == opts.listen {
        if let Ok(udp) = socket.local_addr() {
            addr.set_port(udp.port());
        }
    }
    let mut cfg = crate::bw::BwServerConfig::new(addr);
    cfg.auth_key = opts.auth_key.clone();
    cfg.log = Some(|line| eprintln!("probe agent: bw: {line}"));
    let handle = crate::bw::spawn_server(cfg)
        .map_err(|e| AgentError::Setup(format!("bandwidth server on {addr} (TCP): {e}")))?;
    eprintln!("probe agent: bw server on {} (tcp)", handle.local_addr());
    Ok(Some(handle))
}

async fn run_async(opts: AgentOptions, stop: &'static AtomicBool) -> Result<Summary, AgentError> {
    let client = Client::new(&opts.controller, opts.token.clone())
        .map_err(|e| AgentError::Setup(e.to_string()))?
        .with_timeout(CALL_TIMEOUT);
    let spool = Spool::open(&opts.spool_dir, opts.spool_max_bytes)
        .map_err(|e| AgentError::Setup(format!("spool {}: {e}", opts.spool_dir.display())))?;
    if !spool.is_empty() {
        log(&format!(
            "{} windows left in the spool {} from an earlier run: replaying them",
            spool.len(),
            opts.spool_dir.display()
        ));
    }
    let results = results::open(&opts.spool_dir, opts.spool_max_bytes).map_err(|e| {
        AgentError::Setup(format!("spool {}/results: {e}", opts.spool_dir.display()))
    })?;
    let (tx, mut rx) = unbounded_channel();
    let mut backoff = Backoff::new(opts.backoff_initial, opts.backoff_max);
    let assignment = match hello(&client, &opts, &mut backoff, stop).await? {
        Some(a) => a,
        None => {
            // Stopped before the controller ever answered.
            let summary = Summary {
                probe: opts.id.clone(),
                windows_pending: spool.len() as u64,
                ..Summary::default()
            };
            return Ok(summary);
        }
    };
    backoff.reset();
    let store = Arc::new(Mutex::new(Store {
        spool,
        summary: Summary {
            probe: opts.id.clone(),
            ..Summary::default()
        },
        full: false,
        spool_dir: opts.spool_dir.clone(),
        max_bytes: opts.spool_max_bytes,
    }));
    let (writer_tx, writer_rx) = mpsc::channel();
    let writer_thread = {
        let store = store.clone();
        std::thread::Builder::new()
            .name("spool".into())
            .spawn(move || spool_writer(writer_rx, store, tx))
            .map_err(|e| AgentError::Setup(format!("spool thread: {e}")))?
    };
    let (icmp_plan, icmp_rx) = tokio::sync::watch::channel(icmp_tasks::IcmpPlan::default());
    let (bw_enabled, bw_rx) = tokio::sync::watch::channel(false);
    let bw_client = Client::new(&opts.controller, opts.token.clone())
        .map_err(|e| AgentError::Setup(e.to_string()))?
        .with_timeout(CALL_TIMEOUT);
    let bw_side = bw_tasks::BwSide {
        auth_key: opts.auth_key.clone(),
        bind: (!opts.listen.ip().is_unspecified()).then(|| opts.listen.ip()),
    };
    let tasks = vec![
        tokio::spawn(icmp_tasks::ping_loop(icmp_rx.clone(), results.clone())),
        tokio::spawn(icmp_tasks::trace_loop(icmp_rx, results.clone())),
        tokio::spawn(bw_tasks::bw_loop(
            bw_client,
            bw_rx,
            bw_side,
            results.clone(),
        )),
    ];
    let mut agent = Agent {
        client,
        store,
        results,
        icmp_plan,
        bw_enabled,
        tasks,
        results_retry_at: None,
        settings: assignment.settings,
        generation: assignment.generation,
        targets: Vec::new(),
        sessions: HashMap::new(),
        writer: Some(writer_tx),
        writer_thread: Some(writer_thread),
        backoff,
        retry_at: None,
        unreachable: false,
        single: false,
        opts,
    };
    agent.apply(assignment)?;
    agent.main_loop(&mut rx, stop).await?;
    agent.shutdown(&mut rx).await?;
    let st = lock(&agent.store);
    let mut summary = st.summary.clone();
    summary.windows_pending = st.spool.len() as u64;
    summary.last_seq = st.spool.next_seq().saturating_sub(1);
    let r = results::lock(&agent.results);
    summary.results = r.counts.clone();
    summary.results_pending = r.pending() as u64;
    Ok(summary)
}

/// Hello until the controller answers; None when stopped first.
async fn hello(
    client: &Client,
    opts: &AgentOptions,
    backoff: &mut Backoff,
    stop: &AtomicBool,
) -> Result<Option<Assignment>, AgentError> {
    let mut status = ClockStatus::read().map_err(|e| AgentError::Setup(format!("clock: {e}")))?;
    if let Some(error) = opts.clock_error {
        status = status.with_stated_error(error);
    }
    let hello = Hello {
        probe: opts.id.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        boot_id: boot_id(),
        clock: ClockInfo {
            synchronized: status.synchronized,
            error_us: u64::try_from(status.error().as_micros()).unwrap_or(u64::MAX),
        },
        stamp: opts.announce_listen.then(|| opts.listen.to_string()),
    };
    let mut warned = false;
    loop {
        match client.hello(&hello).await {
            Ok(a) => {
                log(&format!(
                    "hello: {} targets, window {} s, interval {} ms, next seq {}",
                    a.targets.len(),
                    a.settings.window_s,
                    a.settings.interval_ms,
                    a.next_seq
                ));
                return Ok(Some(a));
            }
            Err(e) if e.is_retryable() => {
                if !warned {
                    log(&format!("controller unreachable ({e}): retrying hello"));
                    warned = true;
                }
                let until = Instant::now() + backoff.next_delay();
                while Instant::now() < until {
                    if stop.load(Ordering::SeqCst) {
                        return Ok(None);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            Err(e) => return Err(AgentError::Refused(e)),
        }
    }
}

impl Agent {
    /// Takes a new assignment: stops sessions no longer wanted, starts new ones.
    fn apply(&mut self, a: Assignment) -> Result<(), AgentError> {
        lock(&self.store)
            .spool
            .raise_floor(a.next_seq)
            .map_err(AgentError::Spool)?;
        results::lock(&self.results)
            .raise_floor(a.next_result_seq)
            .map_err(AgentError::Spool)?;
        let source = (!self.opts.listen.ip().is_unspecified()).then(|| self.opts.listen.ip());
        let plan = icmp_tasks::IcmpPlan::new(
            a.icmp,
            &a.icmp_targets,
            &a.targets,
            a.settings.window_s,
            source,
        );
        self.icmp_plan.send_if_modified(|p| {
            let changed = *p != plan;
            *p = plan;
            changed
        });
        self.bw_enabled.send_if_modified(|b| {
            let changed = *b != a.bandwidth;
            *b = a.bandwidth;
            changed
        });
        if a.settings != self.settings {
            log("measurement settings changed: restarting every session");
            self.stop_sessions(|_| true);
            self.settings = a.settings;
        }
        let wanted: std::collections::HashSet<&Target> = a.targets.iter().collect();
        let removed = self.sessions.keys().filter(|t| !wanted.contains(t)).count();
        self.stop_sessions(|t| !wanted.contains(t));
        if a.generation != self.generation || removed > 0 {
            log(&format!(
                "target list generation {}: {} targets",
                a.generation,
                a.targets.len()
            ));
        }
        self.generation = a.generation;
        self.targets = a.targets;
        self.start_missing();
        Ok(())
    }

    async fn poll_targets(&mut self) -> Result<(), AgentError> {
        match self.client.targets(self.generation).await {
            Ok(Some(a)) => self.apply(a)?,
            Ok(None) => self.start_missing(),
            Err(e) if fatal(&e) => return Err(AgentError::Refused(e)),
            Err(_) => self.start_missing(),
        }
        Ok(())
    }

    async fn main_loop(
        &mut self,
        rx: &mut UnboundedReceiver<Msg>,
        stop: &AtomicBool,
    ) -> Result<(), AgentError> {
        let mut poll = tokio::time::interval(self.opts.poll);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        poll.tick().await;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(Msg::Spooled) => self.try_upload().await?,
                    Some(Msg::Ended { target, error }) => self.on_ended(target, error),
                    None => {}
                },
                _ = poll.tick() => self.poll_targets().await?,
                _ = tick.tick() => {
                    if stop.load(Ordering::SeqCst) {
                        return Ok(());
                    }
                    self.try_upload().await?;
                    self.try_upload_results().await?;
                }
            }
        }
    }

    /// Stops every session, waits until their last windows are spooled,
    /// tries one upload pass.
    async fn shutdown(&mut self, rx: &mut UnboundedReceiver<Msg>) -> Result<(), AgentError> {
        log("stopping: cutting the last windows");
        for t in &self.tasks {
            t.abort();
        }
        self.stop_sessions(|_| true);
        let deadline = tokio::time::Instant::now() + STOP_WAIT;
        while !self.sessions.is_empty() {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(Msg::Spooled)) => {}
                Ok(Some(Msg::Ended { target, error })) => self.on_ended(target, error),
                Ok(None) | Err(_) => break,
            }
        }
        if !self.sessions.is_empty() {
            log(&format!(
                "{} sessions did not stop in time: their last windows are lost",
                self.sessions.len()
            ));
        } else {
            // Every session thread is gone: the writer ends once our sender goes.
            self.writer = None;
            if let Some(t) = self.writer_thread.take() {
                let _ = t.join();
            }
        }
        if let Err(e) = self.upload_pending().await? {
            log(&format!(
                "last upload failed ({e}): {} windows stay in {} for the next run",
                lock(&self.store).spool.len(),
                self.opts.spool_dir.display()
            ));
        }
        if let Err(e) = results::upload(&self.client, &self.opts.id, &self.results).await? {
            log(&format!(
                "last upload of results failed ({e}): {} stay in the spool for the next run",
                results::lock(&self.results).pending()
            ));
        }
        Ok(())
    }
}

/// A [`Summary`] as one JSON line.
pub fn summary_json(s: &Summary) -> String {
    serde_json::to_string(s).unwrap_or_default()
}
