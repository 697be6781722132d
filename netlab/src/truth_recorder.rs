//! `netlab truth`: records every packet crossing the TUN device of chosen
//! sites of a running lab, with the kernel's timestamp, as JSON lines of
//! [`TruthRecord`]s. One thread per site reads a packet socket inside the
//! site's namespace; the calling thread writes. Stops by itself after a
//! duration or a packet count, or at SIGINT/SIGTERM.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::address_plan::TUN_NAME;
use crate::error::{Context, Error, Result};
use crate::sys::netns;
use crate::sys::packet_socket::PacketSocket;
use crate::truth::{packet_id, Direction, TruthRecord};

/// How long a read waits, so threads notice the end in time.
const READ_TIMEOUT: Duration = Duration::from_millis(50);
/// How long the site threads get to open their sockets.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// What to record.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    pub lab: String,
    /// Site ids; empty: every site of the lab.
    pub sites: Vec<String>,
    pub out: PathBuf,
    pub duration: Duration,
    /// Stop after this many packets (all sites together).
    pub max_packets: u64,
}

/// What was recorded.
#[derive(Debug, Clone, Default)]
pub struct RecordSummary {
    pub sites: Vec<String>,
    /// Packets written, and packets seen that were not IP (not written).
    pub packets: u64,
    pub skipped: u64,
    /// Records without a kernel timestamp (written with t_ns 0).
    pub unstamped: u64,
    pub elapsed: Duration,
}

static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALLED.store(true, Ordering::Relaxed);
}

fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe.
        unsafe {
            libc::signal(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            )
        };
    }
}

enum Event {
    Ready(std::io::Result<()>),
    Packet(TruthRecord),
    Skipped,
}

/// Reads site `site`'s TUN until `stop`, sending what it sees to `tx`.
fn site_thread(
    site: String,
    namespace: String,
    tx: mpsc::Sender<Event>,
    stop: Arc<AtomicBool>,
    deadline: Instant,
) {
    let socket = netns::open(&namespace)
        .and_then(|fd| netns::enter(&fd))
        .and_then(|()| PacketSocket::bind(TUN_NAME, READ_TIMEOUT));
    let socket = match socket {
        Ok(s) => {
            let _ = tx.send(Event::Ready(Ok(())));
            s
        }
        Err(e) => {
            let _ = tx.send(Event::Ready(Err(e)));
            return;
        }
    };
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let Ok(c) = socket.recv(&mut buf) else {
            continue; // the read timeout, or an interrupted read
        };
        let event = match packet_id(buf.get(..c.len).unwrap_or(&[])) {
            Some(id) => Event::Packet(TruthRecord {
                site: site.clone(),
                dir: if c.outgoing {
                    Direction::Out
                } else {
                    Direction::In
                },
                t_ns: c.t_ns,
                id,
            }),
            None => Event::Skipped,
        };
        if tx.send(event).is_err() {
            return;
        }
    }
}

/// Records as `options` says; `ready` is called once every site's socket is
/// open (packets before that are not seen).
pub fn record(options: &RecordOptions, ready: impl FnOnce(&[String])) -> Result<RecordSummary> {
    let plan = crate::lab::plan_of(&options.lab)?;
    let sites: Vec<(String, String)> = if options.sites.is_empty() {
        plan.sites
            .iter()
            .map(|s| (s.id.clone(), s.namespace.clone()))
            .collect()
    } else {
        options
            .sites
            .iter()
            .map(|id| {
                plan.site(id)
                    .map(|s| (s.id.clone(), s.namespace.clone()))
                    .ok_or_else(|| Error::UnknownSite {
                        lab: plan.lab.clone(),
                        name: id.clone(),
                        known: plan
                            .sites
                            .iter()
                            .map(|s| s.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
            })
            .collect::<Result<_>>()?
    };
    let file = std::fs::File::create(&options.out)
        .context(|| format!("cannot create {}", options.out.display()))?;
    let mut out = BufWriter::new(file);
    install_signal_handlers();

    let start = Instant::now();
    let deadline = start + options.duration;
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let mut threads = Vec::new();
    for (site, namespace) in &sites {
        let (site, namespace, tx, stop) =
            (site.clone(), namespace.clone(), tx.clone(), stop.clone());
        let t = std::thread::Builder::new()
            .name(format!("truth-{site}"))
            .spawn(move || site_thread(site, namespace, tx, stop, deadline))
            .context(|| "cannot start a recording thread".into())?;
        threads.push(t);
    }
    drop(tx);

    let finish = |threads: Vec<std::thread::JoinHandle<()>>| {
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            let _ = t.join();
        }
    };
    let mut summary = RecordSummary {
        sites: sites.iter().map(|(s, _)| s.clone()).collect(),
        ..RecordSummary::default()
    };
    let mut written: u64 = 0;
    let mut ready_count = 0;
    let mut ready_fn = Some(ready);
    let ready_by = Instant::now() + READY_TIMEOUT;
    loop {
        if SIGNALLED.load(Ordering::Relaxed) || written >= options.max_packets {
            stop.store(true, Ordering::Relaxed);
        }
        if ready_count < sites.len() && Instant::now() > ready_by {
            finish(threads);
            return Err(Error::Setup(format!(
                "the recording sockets did not open within {} s",
                READY_TIMEOUT.as_secs()
            )));
        }
        match rx.recv_timeout(READ_TIMEOUT) {
            Ok(Event::Ready(Ok(()))) => {
                ready_count += 1;
                if ready_count == sites.len() {
                    if let Some(f) = ready_fn.take() {
                        f(&summary.sites);
                    }
                }
            }
            Ok(Event::Ready(Err(e))) => {
                finish(threads);
                return Err(Error::Io {
                    what: format!("cannot open a packet socket on {TUN_NAME}"),
                    source: e,
                });
            }
            Ok(Event::Packet(r)) => {
                if written >= options.max_packets {
                    continue;
                }
                summary.unstamped += u64::from(r.t_ns == 0);
                serde_json::to_writer(&mut out, &r)
                    .map_err(std::io::Error::from)
                    .and_then(|()| out.write_all(b"\n"))
                    .context(|| format!("cannot write {}", options.out.display()))?;
                written += 1;
            }
            Ok(Event::Skipped) => summary.skipped += 1,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    finish(threads);
    out.flush()
        .context(|| format!("cannot write {}", options.out.display()))?;
    summary.packets = written;
    summary.elapsed = start.elapsed();
    Ok(summary)
}
