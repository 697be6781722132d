//! The forwarder process: builds a lab's namespaces and TUN devices, then moves
//! packets between them with the `engine`, on one thread with a precise
//! scheduler.
//!
//! Timing: events (packets due at a hop) sit in the engine's binary heap of
//! release times. The loop sleeps in `epoll_pwait2` (nanosecond timeout, timer
//! slack 1 ns) until shortly before the next release, so that a packet arriving
//! on any TUN also wakes it, then spins (polling the TUNs) for the rest. How
//! early to wake is measured, not assumed: the loop tracks how late its timed
//! sleeps end and wakes that much (plus a little) early. Spinning is capped at
//! a quarter of the time, so a busy lab falls back to plain precise sleeps
//! instead of burning a core.
//!
//! Control: the loop's epoll set also holds the lab's control socket (see
//! `control`), so a `netlab link set` request wakes it at once, whether it
//! sleeps or spins. Requests are handled one at a time. A delay or loss change
//! is put in force between two packets. A link going down or up needs new
//! shortest paths, which take milliseconds on a large lab: a control thread
//! computes them while forwarding goes on, and the loop swaps the table in
//! between two packets when it is ready (microseconds). Then the control
//! thread rewrites the overrides file, and only then answers: once the client
//! has its answer, the change is in force and `status` shows it.

use crate::address_plan::{AddressPlan, TUN_NAME};
use crate::control::{self, Answer};
use crate::engine::{
    EdgeStats, Engine, InterconnectState, LinkState, PendingChange, RouteBase, RouteTable,
    RoutingJob, Stats,
};
use crate::error::{Context, Error, Result};
use crate::state::LabDir;
use crate::sys::{clock, netns, tap, tun};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// Longest the loop sleeps with nothing scheduled (it also publishes counters).
const IDLE_NS: u64 = 200_000_000;
/// Bounds of the early-wake margin.
const MIN_MARGIN_NS: u64 = 20_000;
const MAX_MARGIN_NS: u64 = 1_000_000;
/// Added to the measured oversleep estimate.
const MARGIN_PAD_NS: u64 = 10_000;
/// Share of wall time the loop may spend spinning, and the most it may save up.
const SPIN_SHARE: f64 = 0.25;
const SPIN_CREDIT_CAP_NS: f64 = 5_000_000.0;
/// Packets read from one TUN before looking at the clock again.
const READ_BATCH: usize = 32;
/// SCHED_FIFO priority of the forwarding thread: above every ordinary process,
/// so a busy machine does not delay its wake-ups, and low among real-time ones.
const RT_PRIORITY: i32 = 10;
/// How often counters are published to `status.json`.
const PUBLISH_NS: u64 = 1_000_000_000;
/// The epoll tokens of the control socket and of the control thread's
/// wake-ups (sites use their index).
const CONTROL_TOKEN: u64 = u64::MAX;
const ROUTING_TOKEN: u64 = u64::MAX - 1;
/// Most control requests handled per wake-up, so a flood of them cannot hold
/// up forwarding for long.
const CONTROL_BATCH: usize = 16;

/// A site's devices as the forwarder holds them.
#[derive(Debug)]
pub struct SiteIo {
    /// The TUN: written to deliver packets; its own queue is only drained.
    pub tun: OwnedFd,
    /// The tap on the TUN: where the site's outgoing packets are read, with
    /// their kernel send timestamps (see `sys::tap`).
    pub tap: OwnedFd,
}

/// Creates the lab's namespaces and TUN devices and configures addresses and
/// routes. Returns each site's devices, in plan order.
pub fn setup(plan: &AddressPlan) -> Result<Vec<SiteIo>> {
    let names: Vec<String> = plan.sites.iter().map(|s| s.namespace.clone()).collect();
    netns::add_all(&names).context(|| "cannot create the lab's network namespaces".into())?;
    let mut fds = Vec::with_capacity(plan.sites.len());
    for s in &plan.sites {
        let fd = netns::run_in(&s.namespace, make_tun)
            .context(|| format!("cannot set up namespace {}", s.namespace))?;
        fds.push(fd);
    }
    let ipv6 = ipv6_available();
    let scripts: Vec<(String, String, String)> = plan
        .sites
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let v6 = if ipv6 {
                site_script6(plan, i)
            } else {
                String::new()
            };
            (s.namespace.clone(), site_script(plan, i), v6)
        })
        .collect();
    let results: Vec<std::io::Result<()>> = std::thread::scope(|scope| {
        let handles: Vec<_> = scripts
            .iter()
            .map(|(ns, script, script6)| {
                scope.spawn(move || {
                    netns::ip_batch(&["-n", ns], script)?;
                    if script6.is_empty() {
                        return Ok(());
                    }
                    // `ip -batch` takes no per-line family, and rules
                    // without addresses need one: a second batch.
                    netns::ip_batch(&["-n", ns, "-6"], script6)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("thread panicked")))
            })
            .collect()
    });
    for ((ns, _, _), r) in scripts.iter().zip(results) {
        r.context(|| format!("cannot configure addresses in {ns}"))?;
    }
    Ok(fds)
}

/// Whether the kernel has IPv6: labs are dual stack where it does, IPv4 only
/// where it does not.
pub fn ipv6_available() -> bool {
    std::path::Path::new("/proc/sys/net/ipv6").exists()
}

/// Inside a site's namespace: sysctls, then the TUN device and its tap.
fn make_tun() -> std::io::Result<SiteIo> {
    if ipv6_available() {
        // Dual stack. Before the TUN exists, so that it inherits `default`:
        // no duplicate address detection (addresses usable at once; the
        // plan's are unique), no router solicitations or advertisements
        // (routes are static), no rate limit on ICMPv6 (the hosts answer
        // every probe, as in IPv4).
        for (key, value) in [
            ("net/ipv6/conf/all/disable_ipv6", "0"),
            ("net/ipv6/conf/default/disable_ipv6", "0"),
            ("net/ipv6/conf/default/accept_dad", "0"),
            ("net/ipv6/conf/default/accept_ra", "0"),
            ("net/ipv6/conf/default/router_solicitations", "0"),
            ("net/ipv6/icmp/ratelimit", "0"),
        ] {
            netns::sysctl(key, value)?;
        }
    }
    // The lab's hosts answer every probe (traceroute's last hop, pings).
    netns::sysctl("net/ipv4/icmp_ratelimit", "0")?;
    // Unprivileged ICMP echo sockets, as probes use them.
    netns::sysctl("net/ipv4/ping_group_range", "0 2147483647")?;
    netns::sysctl("net/ipv4/conf/all/rp_filter", "0")?;
    let fd = tun::create(TUN_NAME)?;
    // Packets between two carriers of one site leave and come back with a
    // local source address: accept them.
    netns::sysctl(&format!("net/ipv4/conf/{TUN_NAME}/accept_local"), "1")?;
    netns::sysctl(&format!("net/ipv4/conf/{TUN_NAME}/rp_filter"), "0")?;
    let tap = tap::open(TUN_NAME)?;
    Ok(SiteIo { tun: fd, tap })
}

/// `ip -batch` lines that give site `i` its addresses and routes.
///
/// Every address is a /32 on the TUN with the default route through it, the
/// first address as the default source. A site on several carriers also gets
/// policy rules, so that traffic it sends from one of its addresses to another
/// (carrier to carrier in one place) leaves through the TUN and crosses the
/// emulated networks instead of being delivered locally.
pub fn site_script(plan: &AddressPlan, i: usize) -> String {
    let addrs = plan.site_addresses(i);
    let mut s = format!("link set lo up\nlink set {TUN_NAME} up\n");
    for a in &addrs {
        s += &format!("address add {a}/32 dev {TUN_NAME}\n");
    }
    if let Some(first) = addrs.first() {
        s += &format!("route add default dev {TUN_NAME} src {first}\n");
    }
    if addrs.len() > 1 {
        s += &format!("route add default dev {TUN_NAME} table 100\n");
        for a in &addrs {
            for b in &addrs {
                if a != b {
                    s += &format!("rule add pref 100 iif lo from {a} to {b} lookup 100\n");
                }
            }
        }
        s += "rule add pref 1000 lookup local\nrule del pref 0 lookup local\n";
    }
    s
}

/// `ip -6 -batch` lines that give site `i` its IPv6 addresses and routes, as
/// [`site_script`] does for IPv4: /128s on the TUN (no duplicate address
/// detection), the default route through it with the first as source, and
/// for a site on several carriers the same policy rules.
pub fn site_script6(plan: &AddressPlan, i: usize) -> String {
    let addrs = plan.site_addresses6(i);
    let mut s = String::new();
    for a in &addrs {
        s += &format!("address add {a}/128 dev {TUN_NAME} nodad\n");
    }
    if let Some(first) = addrs.first() {
        s += &format!("route add default dev {TUN_NAME} src {first}\n");
    }
    if addrs.len() > 1 {
        s += &format!("route add default dev {TUN_NAME} table 100\n");
        for a in &addrs {
            for b in &addrs {
                if a != b {
                    s += &format!("rule add pref 100 iif lo from {a} to {b} lookup 100\n");
                }
            }
        }
        s += "rule add pref 1000 lookup local\nrule del pref 0 lookup local\n";
    }
    s
}

/// The forwarder's published state, `status.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Status {
    pub pid: u32,
    /// Seconds since the forwarder started forwarding.
    pub uptime_s: f64,
    pub stats: Stats,
    /// How late deliveries were written, against their due time.
    pub lateness: LatenessSummary,
    pub in_flight: usize,
    /// Writes to a TUN that failed.
    pub write_errors: u64,
    /// How long after the kernel's send timestamp the forwarder read packets
    /// (its wake-up latency; does not add to emulated delays).
    pub ingress_age: LatenessSummary,
    /// Packets drained from the TUNs' own queues (copies of what the taps read).
    pub tun_drained: u64,
    /// Packets lost because a tap's receive buffer was full (the forwarder fell
    /// behind the senders).
    pub tap_drops: u64,
    /// The current early-wake margin, microseconds.
    pub wake_margin_us: f64,
    pub edges: Vec<EdgeStats>,
    /// Links whose state differs from the topology file (`netlab link set`);
    /// absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<LinkState>,
    /// Interconnects taken down (`netlab link interconnect`); absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interconnects_down: Vec<InterconnectState>,
}

/// Percentiles of delivery lateness, microseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LatenessSummary {
    pub count: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

/// A histogram of lateness in 1-us bins up to 10 ms.
#[derive(Debug)]
struct Lateness {
    bins: Vec<u64>,
    count: u64,
    max_ns: u64,
}

impl Lateness {
    fn new() -> Lateness {
        Lateness {
            bins: vec![0; 10_001],
            count: 0,
            max_ns: 0,
        }
    }

    fn record(&mut self, ns: u64) {
        let bin = ((ns / 1000) as usize).min(self.bins.len() - 1);
        self.bins[bin] += 1;
        self.count += 1;
        self.max_ns = self.max_ns.max(ns);
    }

    fn quantile_us(&self, q: f64) -> f64 {
        let target = (q * self.count as f64).ceil() as u64;
        let mut seen = 0;
        for (i, &c) in self.bins.iter().enumerate() {
            seen += c;
            if seen >= target.max(1) {
                return i as f64;
            }
        }
        self.max_ns as f64 / 1000.0
    }

    fn summary(&self) -> LatenessSummary {
        if self.count == 0 {
            return LatenessSummary::default();
        }
        LatenessSummary {
            count: self.count,
            p50_us: self.quantile_us(0.5),
            p99_us: self.quantile_us(0.99),
            p999_us: self.quantile_us(0.999),
            max_us: self.max_ns as f64 / 1000.0,
        }
    }
}

/// Sleeps until `timeout_ns` passes or a TUN is readable; returns the number
/// of ready events.
fn wait(ep: &OwnedFd, events: &mut [libc::epoll_event], timeout_ns: u64) -> usize {
    let ts = libc::timespec {
        tv_sec: (timeout_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (timeout_ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: events is a valid writable array of the given length; ts lives
    // across the call; a null sigmask means "do not change it".
    let n = unsafe {
        libc::epoll_pwait2(
            ep.as_raw_fd(),
            events.as_mut_ptr(),
            events.len() as libc::c_int,
            &ts,
            std::ptr::null(),
        )
    };
    if n >= 0 {
        return n as usize;
    }
    if std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
        // Kernels before 5.11: millisecond sleeps, rounded down; the spin
        // covers the rest.
        // SAFETY: as above.
        let n = unsafe {
            libc::epoll_wait(
                ep.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as libc::c_int,
                (timeout_ns / 1_000_000) as libc::c_int,
            )
        };
        return n.max(0) as usize;
    }
    0
}

/// Runs a lab's forwarder until killed: setup, "ready" on standard output,
/// then forwarding. Called as `netlab __forward --name LAB` by `netlab up`.
pub fn serve(lab: &str) -> Result<()> {
    let dir = LabDir::of(lab);
    let text = dir.read_to_string("topology.yaml")?;
    let origin = dir.file("topology.yaml").display().to_string();
    let topo = topology::load::from_str(&text, &origin)?;
    let plan = AddressPlan::new(&topo, lab)?;
    let sites = setup(&plan)?;
    let seed = clock::real_ns() ^ u64::from(std::process::id()).rotate_left(32);
    let engine = Engine::new(&topo, &plan, seed, clock::mono_ns());
    // Before "ready": once `up` returns, `link set` must find the socket.
    let control = ControlPort::open(&dir, engine.route_base())?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")
        .and_then(|_| out.flush())
        .context(|| "cannot report readiness".into())?;
    drop(out);
    // Standard output was the pipe `netlab up` waits on: let it go.
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        // SAFETY: dup2 onto descriptor 1; both descriptors are open.
        unsafe { libc::dup2(null.as_raw_fd(), 1) };
    }
    run(engine, control, &plan, &sites, &dir)
}

/// The lab's control socket and the changes under way: requests are
/// handled one at a time, in order. A change that needs new routes is sent to
/// the control thread, and the socket is left unread (out of the epoll set)
/// until the table is back and the change is committed, so a later request
/// always sees the earlier one in force.
struct ControlPort {
    sock: UnixDatagram,
    buf: Vec<u8>,
    worker: Worker,
    waiting: Option<Waiting>,
}

/// A change whose route table is being computed.
struct Waiting {
    pending: PendingChange,
    client: SocketAddr,
    started: u64,
}

/// Work for the control thread, which keeps whatever takes milliseconds off
/// the forwarding thread: shortest paths of a large lab (5 ms for the
/// national topology in a release build, 50 in a debug one), and writing
/// files.
enum Work {
    /// Compute a route table; it comes back on `tables`, with a wake-up.
    Route(RoutingJob),
    /// A change is in force: write the overrides, then answer the client.
    Finish {
        overrides: Vec<LinkState>,
        answer: Answer,
        client: SocketAddr,
    },
}

/// The control thread's ends: work in, tables out, and a socket that turns
/// readable when a table is ready (it is in the epoll set).
struct Worker {
    work: mpsc::Sender<Work>,
    tables: mpsc::Receiver<Option<RouteTable>>,
    wake: UnixDatagram,
}

impl Worker {
    fn spawn(base: RouteBase, sock: UnixDatagram, dir: LabDir) -> Result<Worker> {
        let (work, work_rx) = mpsc::channel::<Work>();
        let (table_tx, tables) = mpsc::channel();
        let (wake, wake_tx) =
            UnixDatagram::pair().context(|| "cannot make the control thread's socket".into())?;
        wake.set_nonblocking(true)
            .context(|| "cannot make the control thread's socket non-blocking".into())?;
        std::thread::Builder::new()
            .name("control".into())
            .spawn(move || {
                while let Ok(w) = work_rx.recv() {
                    match w {
                        Work::Route(job) => {
                            // A panic would leave the forwarder waiting: it
                            // gets None and computes the table itself.
                            let table =
                                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                    base.run(&job)
                                }))
                                .ok();
                            if table_tx.send(table).is_err() {
                                return;
                            }
                            let _ = wake_tx.send(&[1]);
                        }
                        Work::Finish {
                            overrides,
                            answer,
                            client,
                        } => finish(&dir, &sock, &overrides, &answer, &client),
                    }
                }
            })
            .map_err(|e| Error::Setup(format!("cannot start the control thread: {e}")))?;
        Ok(Worker { work, tables, wake })
    }
}

/// Persists the overrides, then answers: once the client has its answer,
/// `status` shows the change.
fn finish(
    dir: &LabDir,
    sock: &UnixDatagram,
    overrides: &[LinkState],
    answer: &Answer,
    client: &SocketAddr,
) {
    if let Err(e) = dir.write_overrides(overrides) {
        eprintln!("netlab forwarder: cannot write the link overrides ({e})");
    }
    reply(sock, client, answer);
}

/// Answers a client. Non-blocking: a client that went away or does not read
/// loses its answer; nothing waits for it.
fn reply(sock: &UnixDatagram, client: &SocketAddr, answer: &Answer) {
    if let Ok(bytes) = serde_json::to_vec(answer) {
        let _ = sock.send_to_addr(&bytes, client);
    }
}

/// Adds `fd` to the epoll set with `token`, or changes what it waits for
/// (`events` 0: nothing, so a readable descriptor does not wake the loop).
fn epoll_set(
    ep: &OwnedFd,
    op: libc::c_int,
    fd: i32,
    events: u32,
    token: u64,
) -> std::io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: token };
    // SAFETY: both descriptors are open; ev is valid for the call.
    let r = unsafe { libc::epoll_ctl(ep.as_raw_fd(), op, fd, &mut ev) };
    crate::sys::cvt(r).map(|_| ())
}

impl ControlPort {
    /// Binds the lab's control socket, for root only (so is the lab), and
    /// starts the control thread.
    fn open(dir: &LabDir, base: RouteBase) -> Result<ControlPort> {
        let path = dir.file(control::SOCKET);
        let _ = std::fs::remove_file(&path);
        let sock =
            UnixDatagram::bind(&path).context(|| format!("cannot bind {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .context(|| format!("cannot restrict {}", path.display()))?;
        sock.set_nonblocking(true)
            .context(|| "cannot make the control socket non-blocking".into())?;
        let answers = sock
            .try_clone()
            .context(|| "cannot share the control socket".into())?;
        Ok(ControlPort {
            sock,
            buf: vec![0u8; control::MAX_MESSAGE],
            worker: Worker::spawn(base, answers, dir.clone())?,
            waiting: None,
        })
    }

    fn register(&self, ep: &OwnedFd) -> Result<()> {
        let rd = libc::EPOLLIN as u32;
        let (sock, wake) = (self.sock.as_raw_fd(), self.worker.wake.as_raw_fd());
        epoll_set(ep, libc::EPOLL_CTL_ADD, sock, rd, CONTROL_TOKEN)
            .context(|| "epoll_ctl (control socket)".into())?;
        epoll_set(ep, libc::EPOLL_CTL_ADD, wake, rd, ROUTING_TOKEN)
            .context(|| "epoll_ctl (control thread socket)".into())
    }

    /// Handles the requests waiting on the socket, up to a batch, until one
    /// needs new routes.
    fn serve(&mut self, ep: &OwnedFd, engine: &mut Engine, plan: &AddressPlan, dir: &LabDir) {
        for _ in 0..CONTROL_BATCH {
            if self.waiting.is_some() {
                return;
            }
            let (n, client) = match self.sock.recv_from(&mut self.buf) {
                Ok(got) => got,
                // Nothing (more) waiting; other errors are the client's problem.
                Err(_) => return,
            };
            let started = clock::mono_ns();
            let prepared = control::changes(plan, &self.buf[..n])
                .map_err(control::refuse)
                .and_then(|c| control::prepare(engine, &c).map_err(control::refuse));
            match prepared {
                Err(answer) => reply(&self.sock, &client, &answer),
                Ok((pending, None)) => {
                    let ixs = pending.interconnects().to_vec();
                    let links = engine.commit(pending, None);
                    self.done(engine, dir, client, (links, ixs), started);
                }
                Ok((pending, Some(job))) => {
                    if self.worker.work.send(Work::Route(job)).is_err() {
                        // No control thread: route here rather than not at all.
                        let ixs = pending.interconnects().to_vec();
                        let links = engine.commit(pending, None);
                        self.done(engine, dir, client, (links, ixs), started);
                        continue;
                    }
                    self.waiting = Some(Waiting {
                        pending,
                        client,
                        started,
                    });
                    let fd = self.sock.as_raw_fd();
                    let _ = epoll_set(ep, libc::EPOLL_CTL_MOD, fd, 0, CONTROL_TOKEN);
                }
            }
        }
    }

    /// The control thread has a table: the waiting change goes in force, and
    /// the socket is read again.
    fn routed(&mut self, ep: &OwnedFd, engine: &mut Engine, plan: &AddressPlan, dir: &LabDir) {
        let mut byte = [0u8; 8];
        while self.worker.wake.recv(&mut byte).is_ok() {}
        let Ok(table) = self.worker.tables.try_recv() else {
            return;
        };
        let Some(w) = self.waiting.take() else {
            return;
        };
        let ixs = w.pending.interconnects().to_vec();
        let links = engine.commit(w.pending, table);
        self.done(engine, dir, w.client, (links, ixs), w.started);
        let fd = self.sock.as_raw_fd();
        let _ = epoll_set(
            ep,
            libc::EPOLL_CTL_MOD,
            fd,
            libc::EPOLLIN as u32,
            CONTROL_TOKEN,
        );
        // Requests that came meanwhile.
        self.serve(ep, engine, plan, dir);
    }

    /// A change is in force: the control thread persists and acknowledges it.
    fn done(
        &self,
        engine: &Engine,
        dir: &LabDir,
        client: SocketAddr,
        (links, interconnects): (Vec<LinkState>, Vec<usize>),
        started: u64,
    ) {
        let apply_us = clock::mono_ns().saturating_sub(started) as f64 / 1e3;
        let work = Work::Finish {
            overrides: engine.overrides(),
            answer: control::answer_ok(engine, links, &interconnects, apply_us),
            client,
        };
        if let Err(mpsc::SendError(Work::Finish {
            overrides,
            answer,
            client,
        })) = self.worker.work.send(work)
        {
            finish(dir, &self.sock, &overrides, &answer, &client);
        }
    }
}

/// How early to wake before a release: a high percentile of how late recent
/// timed sleeps ended, so that nearly every release finds the loop already
/// awake and spinning.
#[derive(Debug)]
pub struct WakeMargin {
    samples: Vec<u64>,
    next: usize,
    filled: bool,
    since_update: usize,
    margin: u64,
}

impl Default for WakeMargin {
    fn default() -> Self {
        WakeMargin::new()
    }
}

impl WakeMargin {
    /// Samples kept, and how often the percentile is recomputed.
    const WINDOW: usize = 512;
    const UPDATE_EVERY: usize = 16;
    const QUANTILE: f64 = 0.995;

    pub fn new() -> WakeMargin {
        WakeMargin {
            samples: vec![0; Self::WINDOW],
            next: 0,
            filled: false,
            since_update: 0,
            margin: MIN_MARGIN_NS + MARGIN_PAD_NS,
        }
    }

    /// Records how late (ns) a timed sleep ended.
    pub fn record(&mut self, late_ns: u64) {
        self.samples[self.next] = late_ns;
        self.next = (self.next + 1) % Self::WINDOW;
        self.filled |= self.next == 0;
        self.since_update += 1;
        // A sleep later than the margin raises it at once; lowering waits.
        if late_ns + MARGIN_PAD_NS > self.margin {
            self.margin = (late_ns + MARGIN_PAD_NS).min(MAX_MARGIN_NS);
        }
        if self.since_update >= Self::UPDATE_EVERY {
            self.since_update = 0;
            let n = if self.filled { Self::WINDOW } else { self.next };
            let mut v = self.samples[..n].to_vec();
            let k = ((n as f64 * Self::QUANTILE) as usize).min(n.saturating_sub(1));
            let (_, q, _) = v.select_nth_unstable(k);
            self.margin = (*q + MARGIN_PAD_NS).clamp(MIN_MARGIN_NS, MAX_MARGIN_NS);
        }
    }

    pub fn get(&self) -> u64 {
        self.margin
    }
}

/// Longest a tap timestamp may lie in the past before it is distrusted (the
/// real-time clock was stepped).
const MAX_INGRESS_AGE_NS: u64 = 1_000_000_000;
/// How often the TUNs' own queues are drained, and at most how much at once.
const DRAIN_NS: u64 = 10_000_000;
const MAX_DRAIN: usize = 1024;

/// The forwarding loop. Returns only on a fatal error.
fn run(
    mut engine: Engine,
    mut control: ControlPort,
    plan: &AddressPlan,
    sites: &[SiteIo],
    dir: &LabDir,
) -> Result<()> {
    // SAFETY: epoll_create1 takes a flag and returns a new descriptor or -1.
    let ep = crate::sys::cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })
        .context(|| "epoll_create1".into())?;
    // SAFETY: ep is a new descriptor we own.
    let ep = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(ep) };
    for (i, site) in sites.iter().enumerate() {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: i as u64,
        };
        // SAFETY: both descriptors are open; ev is valid for the call.
        let r = unsafe {
            libc::epoll_ctl(
                ep.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                site.tap.as_raw_fd(),
                &mut ev,
            )
        };
        crate::sys::cvt(r).context(|| "epoll_ctl".into())?;
    }
    control.register(&ep)?;

    let shared: Arc<Mutex<Option<Status>>> = Arc::new(Mutex::new(None));
    {
        let shared = Arc::clone(&shared);
        let dir = dir.clone();
        std::thread::Builder::new()
            .name("status".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_millis(500));
                let snapshot = shared.lock().ok().and_then(|mut s| s.take());
                if let Some(s) = snapshot {
                    if let Ok(json) = serde_json::to_vec_pretty(&s) {
                        let _ = dir.write_atomic("status.json", &json);
                    }
                }
            })
            .map_err(|e| Error::Setup(format!("cannot start the status thread: {e}")))?;
    }

    // After spawning the status and control threads, which must not inherit these.
    if let Err(e) = clock::set_timer_slack(1) {
        eprintln!("netlab forwarder: cannot set timer slack ({e}); timing will be coarser");
    }
    if let Err(e) = clock::set_realtime_priority(RT_PRIORITY) {
        eprintln!("netlab forwarder: cannot use SCHED_FIFO ({e}); wake-ups may be late under load");
    }
    let started = clock::mono_ns();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 2 * sites.len() + 2];
    let mut batch = tap::Batch::new(READ_BATCH);
    let mut scratch = vec![0u8; tap::MAX_PACKET];
    let mut lateness = Lateness::new();
    let mut ingress_age = Lateness::new();
    let mut write_errors = 0u64;
    let mut tun_drained = 0u64;
    let mut tap_drops = 0u64;
    let mut margin = WakeMargin::new();
    let mut spin_credit: f64 = 0.0;
    let mut last = started;
    let mut next_publish = started;
    let mut next_drain = started;
    let mut dirty = vec![false; sites.len()];

    loop {
        let now = clock::mono_ns();
        spin_credit = (spin_credit + (now - last) as f64 * SPIN_SHARE).min(SPIN_CREDIT_CAP_NS);
        last = now;
        engine.poll(now, &mut |site, pkt: &[u8], due| {
            // Measured before the write: the write itself runs the receiving
            // stack (and may answer, e.g. an echo reply) before it returns.
            lateness.record(clock::mono_ns().saturating_sub(due));
            if let Some(s) = sites.get(site) {
                // SAFETY: pkt is a valid buffer of pkt.len() bytes; fd is open.
                let w = unsafe { libc::write(s.tun.as_raw_fd(), pkt.as_ptr().cast(), pkt.len()) };
                if w < 0 {
                    write_errors += 1;
                }
            }
        });

        let now = clock::mono_ns();
        if now >= next_drain {
            // The TUNs' own copies of what the taps gave us: drained now and
            // then rather than per packet (should a queue fill up meanwhile,
            // the TUN drops its copy, which nobody needs).
            next_drain = now + DRAIN_NS;
            for (io, d) in sites.iter().zip(dirty.iter_mut()) {
                if !std::mem::take(d) {
                    continue;
                }
                for _ in 0..MAX_DRAIN {
                    // SAFETY: scratch is a valid writable buffer of its length.
                    let r = unsafe {
                        libc::read(
                            io.tun.as_raw_fd(),
                            scratch.as_mut_ptr().cast(),
                            scratch.len(),
                        )
                    };
                    if r <= 0 {
                        break;
                    }
                    tun_drained += 1;
                }
            }
        }
        if now >= next_publish {
            next_publish = now + PUBLISH_NS;
            for io in sites {
                tap_drops += tap::drops(&io.tap).unwrap_or(0);
            }
            let status = Status {
                pid: std::process::id(),
                uptime_s: (now - started) as f64 / 1e9,
                stats: engine.stats().clone(),
                lateness: lateness.summary(),
                ingress_age: ingress_age.summary(),
                in_flight: engine.in_flight(),
                write_errors,
                tun_drained,
                tap_drops,
                wake_margin_us: margin.get() as f64 / 1000.0,
                edges: engine.edge_stats(),
                overrides: engine.overrides(),
                interconnects_down: engine.interconnects_down(),
            };
            if let Ok(mut s) = shared.lock() {
                *s = Some(status);
            }
        }

        let m = margin.get();
        let (timeout, timed) = match engine.next_deadline() {
            None => (
                IDLE_NS.min(next_publish.min(next_drain).saturating_sub(now)),
                false,
            ),
            Some(d) if d <= now => (0, false),
            Some(d) if d - now > m => (
                (d - now - m).min(next_drain.saturating_sub(now).max(1)),
                true,
            ),
            Some(_) if spin_credit > 0.0 => (0, false),
            Some(d) => (d - now, true),
        };
        let n = wait(&ep, &mut events, timeout);
        let woke = clock::mono_ns();
        if timeout == 0 {
            spin_credit -= (woke - now) as f64;
        } else if timed && n == 0 {
            // A sleep that ran its full course: how late did it end?
            margin.record(woke.saturating_sub(now + timeout));
        }

        for ev in &events[..n] {
            if ev.u64 == CONTROL_TOKEN {
                control.serve(&ep, &mut engine, plan, dir);
                continue;
            }
            if ev.u64 == ROUTING_TOKEN {
                control.routed(&ep, &mut engine, plan, dir);
                continue;
            }
            let site = ev.u64 as usize;
            let Some(io) = sites.get(site) else { continue };
            dirty[site] = true;
            for _ in 0..4 {
                let got = batch.recv(&io.tap).unwrap_or(0);
                if got == 0 {
                    break;
                }
                let (real, mono) = (clock::real_ns(), clock::mono_ns());
                for i in 0..got {
                    let (data, stamp, _) = batch.packet(i);
                    let age = if stamp == 0 {
                        0
                    } else {
                        real.saturating_sub(stamp).min(MAX_INGRESS_AGE_NS)
                    };
                    ingress_age.record(age);
                    engine.ingress(site, data, mono - age.min(mono));
                }
                if got < READ_BATCH {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn site_scripts() {
        let topo = topology::load::from_str(
            "version: 1
sites:
  - {id: x, kind: city, location: [25, 102.7]}
  - {id: y, kind: city, location: [25.1, 102.8], networks: [u]}
networks:
  - {id: t}
  - {id: u}
links:
  - {between: [x, y], network: u, delay_ms: 0.5}
",
            "t.yaml",
        )
        .unwrap();
        let plan = AddressPlan::new(&topo, "l").unwrap();
        let x = site_script(&plan, 0);
        assert!(
            x.contains("address add 198.18.0.1/32 dev hm0\naddress add 198.18.0.2/32 dev hm0\n")
        );
        assert!(x.contains("route add default dev hm0 src 198.18.0.1\n"));
        assert!(x.contains("rule add pref 100 iif lo from 198.18.0.2 to 198.18.0.1 lookup 100\n"));
        assert!(x.ends_with("rule del pref 0 lookup local\n"));
        let x6 = site_script6(&plan, 0);
        assert!(x6.starts_with(
            "address add 2001:2::1/128 dev hm0 nodad\naddress add 2001:2::2/128 dev hm0 nodad\n"
        ));
        assert!(x6.contains("route add default dev hm0 src 2001:2::1\n"));
        assert!(x6.contains("rule add pref 100 iif lo from 2001:2::2 to 2001:2::1 lookup 100\n"));
        assert!(x6.ends_with("rule del pref 0 lookup local\n"));
        assert_eq!(
            site_script6(&plan, 1),
            "address add 2001:2:0:1::2/128 dev hm0 nodad\nroute add default dev hm0 src 2001:2:0:1::2\n"
        );
        let y = site_script(&plan, 1);
        assert_eq!(
            y,
            "link set lo up\nlink set hm0 up\naddress add 198.18.1.2/32 dev hm0\nroute add default dev hm0 src 198.18.1.2\n"
        );
    }

    #[test]
    fn wake_margin_follows_a_high_percentile_of_oversleep() {
        let mut m = WakeMargin::new();
        assert_eq!(m.get(), MIN_MARGIN_NS + MARGIN_PAD_NS);
        // Mostly 10 us late, 1 in 400 very late: the margin covers the body,
        // jumps at once for an outlier, and comes back once it is rare.
        for i in 0..2000u64 {
            m.record(if i % 400 == 7 { 300_000 } else { 10_000 });
        }
        assert_eq!(m.get(), MIN_MARGIN_NS.max(10_000 + MARGIN_PAD_NS));
        m.record(300_000);
        assert_eq!(m.get(), 300_000 + MARGIN_PAD_NS);
        // 1% very late: past the 99.5th percentile's reach, so it is covered.
        for i in 0..2000u64 {
            m.record(if i % 100 == 0 { 80_000 } else { 10_000 });
        }
        assert_eq!(m.get(), 80_000 + MARGIN_PAD_NS);
        // Never above the cap.
        m.record(u64::MAX / 2);
        assert_eq!(m.get(), MAX_MARGIN_NS);
    }

    #[test]
    fn lateness_percentiles() {
        let mut l = Lateness::new();
        for i in 0..1000u64 {
            l.record(i * 1000);
        }
        let s = l.summary();
        assert_eq!(s.count, 1000);
        assert_eq!(s.p50_us, 499.0);
        assert_eq!(s.p99_us, 989.0);
        assert_eq!(s.max_us, 999.0);
        l.record(50_000_000);
        assert_eq!(l.summary().max_us, 50_000.0);
    }
}
