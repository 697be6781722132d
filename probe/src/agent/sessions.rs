//! The agent's STAMP sessions: one thread each, started for every target of
//! the assignment, stopped when the target leaves it, all restarted when the
//! measurement settings change. Each session hands its windows, and finally
//! its end, to the spool writer.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use protocol::api::{Settings, StampMode, Target};

use super::log::log;
use super::spool_writer::WriterMsg;
use super::AgentOptions;
use crate::sender::{self, ReflectorType, SameClock, Schedule, StampConfig, WindowCut};

/// A session's thread and how to stop it.
struct Running {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// The sessions of this probe and the assignment they follow.
pub(super) struct Sessions {
    /// From the options: an error stated for the local clock, the source
    /// address, the key for authenticated STAMP.
    clock_error: Option<Duration>,
    source: Option<IpAddr>,
    auth_key: Option<Vec<u8>>,
    settings: Settings,
    generation: u64,
    targets: Vec<Target>,
    running: HashMap<Target, Running>,
}

impl Sessions {
    /// No session yet; `settings` and `generation` are the first
    /// assignment's.
    pub(super) fn new(opts: &AgentOptions, settings: Settings, generation: u64) -> Sessions {
        Sessions {
            clock_error: opts.clock_error,
            source: opts.source(),
            auth_key: opts.auth_key.clone(),
            settings,
            generation,
            targets: Vec::new(),
            running: HashMap::new(),
        }
    }

    /// The target-list generation followed.
    pub(super) fn generation(&self) -> u64 {
        self.generation
    }

    /// Sessions still running (stopping ones included).
    pub(super) fn len(&self) -> usize {
        self.running.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// Follows an assignment: stops sessions no longer wanted (all of them
    /// when the settings changed), starts new ones through `writer`.
    pub(super) fn follow(
        &mut self,
        settings: Settings,
        generation: u64,
        targets: Vec<Target>,
        writer: Option<&mpsc::Sender<WriterMsg>>,
    ) {
        if settings != self.settings {
            log("measurement settings changed: restarting every session");
            self.stop(|_| true);
            self.settings = settings;
        }
        let wanted: HashSet<&Target> = targets.iter().collect();
        let removed = self.running.keys().filter(|t| !wanted.contains(t)).count();
        self.stop(|t| !wanted.contains(t));
        if generation != self.generation || removed > 0 {
            log(&format!(
                "target list generation {}: {} targets",
                generation,
                targets.len()
            ));
        }
        self.generation = generation;
        self.targets = targets;
        self.start_missing(writer);
    }

    /// Asks the sessions `which` picks to stop. Their threads send their last
    /// window and `Ended`; they leave the map then ([`Sessions::on_ended`]).
    pub(super) fn stop(&mut self, which: impl Fn(&Target) -> bool) {
        for (t, r) in self.running.iter().filter(|(t, _)| which(t)) {
            log(&format!(
                "stopping the session to {} ({})",
                t.probe, t.stamp
            ));
            r.stop.store(true, Ordering::SeqCst);
        }
    }

    /// Starts a session for every target without one; a target that cannot
    /// start now is tried again on the next call.
    pub(super) fn start_missing(&mut self, writer: Option<&mpsc::Sender<WriterMsg>>) {
        let targets = self.targets.clone();
        for t in targets {
            if self.running.contains_key(&t) {
                continue;
            }
            match self.start(&t, writer) {
                Ok(r) => {
                    self.running.insert(t, r);
                }
                Err(e) => log(&format!(
                    "cannot start the session to {} ({}): {e}; retrying later",
                    t.probe, t.stamp
                )),
            }
        }
    }

    fn start(
        &self,
        t: &Target,
        writer: Option<&mpsc::Sender<WriterMsg>>,
    ) -> Result<Running, String> {
        let addr = t
            .stamp
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve: {e}"))?
            .next()
            .ok_or("resolves to no address")?;
        let s = &self.settings;
        let mut config = StampConfig::new(addr);
        config.interval = Duration::from_millis(s.interval_ms.max(1));
        config.schedule = Schedule::Jitter;
        config.size = Some(s.size as usize);
        config.ssid = t.ssid;
        config.timeout = Some(Duration::from_millis(s.timeout_ms.max(1)));
        config.same_clock = SameClock::Auto;
        config.reflector = ReflectorType::Stateful;
        config.clock_error = self.clock_error;
        config.source = self.source;
        config.key = match s.mode {
            StampMode::Authenticated => Some(
                self.auth_key
                    .clone()
                    .ok_or("authenticated STAMP asked for, and no --auth-key-file given")?,
            ),
            StampMode::Unauthenticated => None,
        };
        let window = Duration::from_secs(s.window_s.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let tx = writer.cloned().ok_or("the agent is stopping")?;
        let target = t.clone();
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("stamp-{}", t.probe))
            .spawn(move || {
                let (name, ssid) = (target.probe.clone(), target.ssid);
                let window_tx = tx.clone();
                let mut sink = move |cut: WindowCut| {
                    let _ = window_tx.send(WriterMsg::Window {
                        target: name.clone(),
                        ssid,
                        cut: Box::new(cut),
                    });
                };
                let result = sender::run_windowed(&config, &thread_stop, Some((window, &mut sink)));
                let _ = tx.send(WriterMsg::Ended {
                    target,
                    error: result.err().map(|e| e.to_string()),
                });
            })
            .map_err(|e| e.to_string())?;
        log(&format!("session to {} ({}) started", t.probe, t.stamp));
        Ok(Running { stop, thread })
    }

    /// A session's thread ended (its last window is spooled): forget it.
    pub(super) fn on_ended(&mut self, target: Target, error: Option<String>) {
        if let Some(e) = error {
            log(&format!(
                "session to {} ({}) failed: {e}",
                target.probe, target.stamp
            ));
        }
        if let Some(r) = self.running.remove(&target) {
            let _ = r.thread.join();
        }
    }
}
