//! The commands: bring a lab up, take it down (also after a crash), report its
//! state and addresses, run a command in a site's namespace, change a running
//! lab's links.
//!
//! `up` checks everything it can before making anything (topology, plan,
//! privileges, name), then takes the lab's name by creating its state
//! directory, starts the forwarder (which makes namespaces and devices) and
//! waits for it to say "ready". Whatever fails after that point, `up` removes
//! all it made with the same code as `down`, so nothing is left half made.

use crate::address_plan::{self, AddressPlan};
use crate::control::{self, Answer, InterconnectSet, LinkSet, Request};
use crate::engine::{InterconnectState, LinkState};
use crate::error::{Context, Error, Result};
use crate::forwarder::Status;
use crate::state::{self, LabDir, FORWARDER_ARG};
use crate::sys::{netns, privileges};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long `up` waits for the forwarder to be ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `down` waits for a process to end after SIGTERM, then SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);
/// How long `link set` waits for the forwarder's answer. It answers within
/// microseconds to milliseconds; this only bounds a forwarder that hangs.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// The topology source named on the command line: its text and the name used
/// in error messages.
pub fn read_topology(arg: &str) -> Result<(String, String)> {
    if arg == topology::national::NATIONAL_NAME {
        return Ok((
            topology::national::NATIONAL_YAML.to_string(),
            "national".into(),
        ));
    }
    let text = std::fs::read_to_string(Path::new(arg)).map_err(|e| {
        topology::error::LoadError::new(arg, format!("cannot read topology file: {e}"))
    })?;
    Ok((text, arg.to_string()))
}

/// What `up` made.
#[derive(Debug)]
pub struct UpReport {
    pub plan: AddressPlan,
    pub pid: u32,
    pub elapsed: Duration,
}

/// `netlab up TOPOLOGY --name LAB`.
pub fn up(topology_arg: &str, lab: &str) -> Result<UpReport> {
    address_plan::check_lab_name(lab)?;
    let (text, origin) = read_topology(topology_arg)?;
    up_text(&text, &origin, lab)
}

/// Brings lab `lab` up from topology file text; `origin` names it in errors.
pub fn up_text(text: &str, origin: &str, lab: &str) -> Result<UpReport> {
    let started = Instant::now();
    address_plan::check_lab_name(lab)?;
    let topo = topology::load::from_str(text, origin)?;
    let plan = AddressPlan::new(&topo, lab)?;
    privileges::check().map_err(Error::NotPrivileged)?;
    let dir = LabDir::create(lab)?;
    let leftovers = netns::list_with_prefix(&address_plan::namespace_prefix(lab));
    if !leftovers.is_empty() {
        let _ = dir.remove();
        return Err(Error::InUse {
            lab: lab.into(),
            detail: format!("namespaces {} exist", leftovers.join(", ")),
        });
    }
    match start(&dir, text, &plan) {
        Ok(pid) => Ok(UpReport {
            plan,
            pid,
            elapsed: started.elapsed(),
        }),
        Err(e) => {
            let _ = teardown(lab);
            Err(e)
        }
    }
}

fn start(dir: &LabDir, text: &str, plan: &AddressPlan) -> Result<u32> {
    dir.write("topology.yaml", text.as_bytes())?;
    dir.write_plan(plan)?;
    let log = std::fs::File::create(dir.file("forwarder.log"))
        .context(|| format!("cannot create {}", dir.file("forwarder.log").display()))?;
    let exe = std::env::current_exe().context(|| "cannot find the netlab executable".into())?;
    let mut cmd = Command::new(exe);
    cmd.args([FORWARDER_ARG, "--name", &dir.lab])
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log));
    // SAFETY: setsid is async-signal-safe; it detaches the forwarder from the
    // terminal and process group of `up`.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .context(|| "cannot start the forwarder".into())?;
    let pid = child.id();
    dir.write("forwarder.pid", format!("{pid}\n").as_bytes())?;
    let Some(mut stdout) = child.stdout.take() else {
        return Err(Error::Setup("forwarder has no standard output".into()));
    };
    let line = read_line_until(&mut stdout, Instant::now() + READY_TIMEOUT);
    match line.as_deref() {
        Some("ready") => Ok(pid),
        Some(msg) => Err(Error::Setup(
            msg.strip_prefix("error: ").unwrap_or(msg).to_string(),
        )),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.file("forwarder.log")).unwrap_or_default();
            let last = log.lines().last().unwrap_or("no message").to_string();
            Err(Error::Setup(format!(
                "the forwarder did not become ready ({last})"
            )))
        }
    }
}

/// Reads one line from a pipe, giving up at `deadline` or end of file.
fn read_line_until(pipe: &mut impl ReadFd, deadline: Instant) -> Option<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        let mut pfd = libc::pollfd {
            fd: pipe.raw(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: pfd is one valid pollfd.
        let r = unsafe {
            libc::poll(
                &mut pfd,
                1,
                left.as_millis().min(i32::MAX as u128) as libc::c_int,
            )
        };
        if r < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return None;
        }
        if r == 0 {
            continue;
        }
        match pipe.read(&mut byte) {
            Ok(0) | Err(_) => return None,
            Ok(_) if byte[0] == b'\n' => return Some(String::from_utf8_lossy(&line).into_owned()),
            Ok(_) => line.push(byte[0]),
        }
    }
}

trait ReadFd: Read {
    fn raw(&self) -> i32;
}
impl<T: Read + AsRawFd> ReadFd for T {
    fn raw(&self) -> i32 {
        self.as_raw_fd()
    }
}

/// What `down` found and removed.
#[derive(Debug, Default)]
pub struct DownReport {
    /// Whether there was anything of the lab at all.
    pub existed: bool,
    pub forwarder_stopped: bool,
    pub processes_killed: usize,
    pub namespaces_removed: usize,
}

/// `netlab down --name LAB`: removes everything of the lab; safe to repeat.
pub fn down(lab: &str) -> Result<DownReport> {
    address_plan::check_lab_name(lab)?;
    privileges::check().map_err(Error::NotPrivileged)?;
    teardown(lab)
}

/// Stops the forwarder, kills processes left in the lab's namespaces, removes
/// the namespaces (those in the plan and any with the lab's prefix) and the
/// state directory.
pub fn teardown(lab: &str) -> Result<DownReport> {
    let dir = LabDir::of(lab);
    let mut report = DownReport {
        existed: dir.exists(),
        ..DownReport::default()
    };
    if let Some(pid) = dir.read_pid() {
        if state::forwarder_alive(pid, lab) {
            stop_process(pid);
            report.forwarder_stopped = true;
        }
    }
    let mut names = netns::list_with_prefix(&address_plan::namespace_prefix(lab));
    if let Ok(plan) = dir.read_plan() {
        names.extend(plan.sites.iter().map(|s| s.namespace.clone()));
    }
    names.sort();
    names.dedup();
    let pids = netns::pids_in(&names);
    for &pid in &pids {
        // SAFETY: kill takes a pid and a signal number.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    }
    let until = Instant::now() + TERM_GRACE;
    while pids.iter().any(|&p| state::process_alive(p)) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    report.processes_killed = pids.len();
    let mut failed = Vec::new();
    for n in &names {
        if netns::path(n).exists() {
            report.existed = true;
            match netns::delete(n) {
                Ok(()) => report.namespaces_removed += 1,
                Err(e) => failed.push(format!("{n}: {e}")),
            }
        }
    }
    dir.remove()
        .context(|| format!("cannot remove {}", dir.path.display()))?;
    if !failed.is_empty() {
        return Err(Error::Setup(format!(
            "cannot remove namespaces: {}",
            failed.join("; ")
        )));
    }
    Ok(report)
}

/// SIGTERM, then SIGKILL after the grace time.
fn stop_process(pid: u32) {
    // SAFETY: kill takes a pid and a signal number.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    let until = Instant::now() + TERM_GRACE;
    while state::process_alive(pid) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    if state::process_alive(pid) {
        // SAFETY: as above.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        let until = Instant::now() + TERM_GRACE;
        while state::process_alive(pid) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// The state of one lab.
#[derive(Debug)]
pub struct LabStatus {
    pub lab: String,
    pub plan: Option<AddressPlan>,
    pub pid: Option<u32>,
    pub running: bool,
    /// Namespaces of the lab that exist.
    pub namespaces: Vec<String>,
    pub status: Option<Status>,
    /// Links changed by `netlab link set` (as the forwarder last wrote them).
    pub overrides: Vec<LinkState>,
}

/// `netlab status --name LAB`.
pub fn status(lab: &str) -> Result<LabStatus> {
    address_plan::check_lab_name(lab)?;
    let dir = LabDir::of(lab);
    let namespaces = netns::list_with_prefix(&address_plan::namespace_prefix(lab));
    if !dir.exists() && namespaces.is_empty() {
        return Err(Error::NoSuchLab(lab.into()));
    }
    let pid = dir.read_pid();
    let running = pid.is_some_and(|p| state::forwarder_alive(p, lab));
    let overrides = dir.read_overrides();
    let status = dir
        .read_to_string("status.json")
        .ok()
        .and_then(|s| serde_json::from_str::<Status>(&s).ok())
        .map(|mut s| {
            // Written on every change, where status.json lags up to a second.
            s.overrides = overrides.clone();
            s
        });
    Ok(LabStatus {
        lab: lab.into(),
        plan: dir.read_plan().ok(),
        pid,
        running,
        namespaces,
        status,
        overrides,
    })
}

/// What `link set` did.
#[derive(Debug)]
pub struct LinkSetReport {
    pub lab: String,
    /// The request as given (`forward` = `a -> b` as written).
    pub request: LinkSet,
    /// The changed links' states, as the forwarder reported them.
    pub links: Vec<LinkState>,
    /// From the forwarder reading the request to the change being in force.
    pub apply_us: f64,
    /// From sending the request to reading the answer.
    pub round_trip: Duration,
}

/// `netlab link set A B ...`: changes the link(s) between two sites of a
/// running lab and returns once the forwarder has them in force. Everything
/// that can be checked here is checked before the forwarder is asked, and the
/// forwarder checks again; on any error nothing changed.
pub fn link_set(lab: &str, request: LinkSet) -> Result<LinkSetReport> {
    let control_error = |source| Error::Control {
        lab: lab.into(),
        source,
    };
    address_plan::check_lab_name(lab)?;
    let dir = LabDir::of(lab);
    if !dir.exists() {
        return Err(Error::NoSuchLab(lab.into()));
    }
    // Before anything is sent: JSON cannot carry NaN, so it must not get that far.
    request.check().map_err(control_error)?;
    // The control socket and the lab's directory are root's.
    privileges::check().map_err(Error::NotPrivileged)?;
    let plan = dir.read_plan()?;
    request.resolve(&plan).map_err(control_error)?;
    let alive = dir
        .read_pid()
        .is_some_and(|pid| state::forwarder_alive(pid, lab));
    if !alive {
        return Err(Error::ForwarderDown { lab: lab.into() });
    }
    let bytes = serde_json::to_vec(&Request::LinkSet(request.clone()))
        .map_err(|e| Error::Setup(format!("cannot encode the request: {e}")))?;
    let (answer, round_trip) = ask(&dir, &bytes)?;
    match answer {
        Answer::Ok {
            links, apply_us, ..
        } => Ok(LinkSetReport {
            lab: lab.into(),
            request,
            links,
            apply_us,
            round_trip,
        }),
        Answer::Error { message } => Err(Error::Refused {
            lab: lab.into(),
            message,
        }),
    }
}

/// What `link interconnect` did.
#[derive(Debug)]
pub struct InterconnectSetReport {
    pub lab: String,
    pub request: InterconnectSet,
    /// The changed interconnects' states, as the forwarder reported them.
    pub interconnects: Vec<InterconnectState>,
    pub apply_us: f64,
    pub round_trip: Duration,
}

/// `netlab link interconnect SITE --down|--up`: takes every interconnect at a
/// site of a running lab down (or back up) and returns once the forwarder
/// has routed around it. Checked here first; on any error nothing changed.
pub fn interconnect_set(lab: &str, request: InterconnectSet) -> Result<InterconnectSetReport> {
    address_plan::check_lab_name(lab)?;
    let dir = LabDir::of(lab);
    if !dir.exists() {
        return Err(Error::NoSuchLab(lab.into()));
    }
    privileges::check().map_err(Error::NotPrivileged)?;
    let plan = dir.read_plan()?;
    request.resolve(&plan).map_err(|source| Error::Control {
        lab: lab.into(),
        source,
    })?;
    let alive = dir
        .read_pid()
        .is_some_and(|pid| state::forwarder_alive(pid, lab));
    if !alive {
        return Err(Error::ForwarderDown { lab: lab.into() });
    }
    let bytes = serde_json::to_vec(&Request::InterconnectSet(request.clone()))
        .map_err(|e| Error::Setup(format!("cannot encode the request: {e}")))?;
    let (answer, round_trip) = ask(&dir, &bytes)?;
    match answer {
        Answer::Ok {
            interconnects,
            apply_us,
            ..
        } => Ok(InterconnectSetReport {
            lab: lab.into(),
            request,
            interconnects,
            apply_us,
            round_trip,
        }),
        Answer::Error { message } => Err(Error::Refused {
            lab: lab.into(),
            message,
        }),
    }
}

/// Removes the client's socket file when the request is over.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Sends one request datagram to the lab's forwarder and waits for the answer.
fn ask(dir: &LabDir, request: &[u8]) -> Result<(Answer, Duration)> {
    let lab = dir.lab.clone();
    // A path of our own for the answer: pathname sockets work from any
    // network namespace (abstract ones do not), and the directory is root's.
    let me = dir.file(&format!(".client-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&me);
    let sock = UnixDatagram::bind(&me)
        .context(|| format!("cannot make a socket for the answer at {}", me.display()))?;
    let _cleanup = RemoveOnDrop(me);
    sock.set_read_timeout(Some(ANSWER_TIMEOUT))
        .context(|| "cannot set a socket timeout".into())?;
    let target = dir.file(control::SOCKET);
    let sent = Instant::now();
    if let Err(e) = sock.send_to(request, &target) {
        // No socket, or nobody reading it: the forwarder is gone (or is an
        // older one without a control socket).
        return Err(match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                Error::ForwarderDown { lab }
            }
            _ => Error::Io {
                what: format!("cannot reach the forwarder at {}", target.display()),
                source: e,
            },
        });
    }
    let mut buf = vec![0u8; control::MAX_MESSAGE];
    let n = match sock.recv(&mut buf) {
        Ok(n) => n,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            return Err(Error::NoAnswer {
                lab,
                secs: ANSWER_TIMEOUT.as_secs(),
                log: dir.file("forwarder.log").display().to_string(),
            })
        }
        Err(e) => {
            return Err(Error::Io {
                what: "cannot read the forwarder's answer".into(),
                source: e,
            })
        }
    };
    let round_trip = sent.elapsed();
    let answer = serde_json::from_slice(&buf[..n]).map_err(|e| Error::Setup(format!(
        "the forwarder of lab {lab:?} gave an unreadable answer ({e}); the change may or may not be in force"
    )))?;
    Ok((answer, round_trip))
}

/// Every lab with a state directory or namespaces left behind.
pub fn all_labs() -> Vec<String> {
    let mut labs = state::labs();
    for n in netns::list_with_prefix("hm-") {
        if let Some((lab, _)) = n["hm-".len()..].split_once('.') {
            labs.push(lab.to_string());
        }
    }
    labs.sort();
    labs.dedup();
    labs
}

/// The plan of a lab that is up.
pub fn plan_of(lab: &str) -> Result<AddressPlan> {
    address_plan::check_lab_name(lab)?;
    let dir = LabDir::of(lab);
    if !dir.exists() {
        return Err(Error::NoSuchLab(lab.into()));
    }
    dir.read_plan()
}

fn unknown_site(plan: &AddressPlan, name: &str) -> Error {
    let mut known: Vec<&str> = plan.sites.iter().map(|s| s.id.as_str()).collect();
    if known.len() > 12 {
        known.truncate(12);
        known.push("...");
    }
    Error::UnknownSite {
        lab: plan.lab.clone(),
        name: name.into(),
        known: known.join(", "),
    }
}

/// `netlab addr SITE[@NETWORK]`: the endpoint's address.
pub fn addr(lab: &str, name: &str) -> Result<std::net::Ipv4Addr> {
    let plan = plan_of(lab)?;
    plan.endpoint(name)
        .map(|e| e.address)
        .ok_or_else(|| unknown_site(&plan, name))
}

/// `netlab addr [-6] SITE[@NETWORK]`: the endpoint's address in one family.
pub fn addr_of(lab: &str, name: &str, ipv6: bool) -> Result<std::net::IpAddr> {
    let plan = plan_of(lab)?;
    plan.endpoint(name)
        .map(|e| e.address_of(ipv6))
        .ok_or_else(|| unknown_site(&plan, name))
}

/// `netlab exec SITE -- CMD...`: replaces this process with CMD running in the
/// site's namespace. Returns only on failure.
pub fn exec(lab: &str, site: &str, argv: &[String]) -> Error {
    let plan = match plan_of(lab) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let Some(s) = plan.site(site) else {
        return unknown_site(&plan, site);
    };
    let Some((program, args)) = argv.split_first() else {
        return Error::Setup("no command given".into());
    };
    let ns = match netns::open(&s.namespace) {
        Ok(fd) => fd,
        Err(e) => {
            return Error::Io {
                what: format!("cannot open namespace {}", s.namespace),
                source: e,
            }
        }
    };
    if let Err(e) = netns::enter(&ns) {
        return Error::Io {
            what: format!("cannot enter namespace {}", s.namespace),
            source: e,
        };
    }
    drop(ns);
    let e = Command::new(program).args(args).exec();
    Error::Io {
        what: format!("cannot run {program:?}"),
        source: e,
    }
}
