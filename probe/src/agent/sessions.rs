//! The agent's STAMP sessions: one thread each, started for every target of
//! the assignment and stopped when the target leaves it.

use super::*;

impl Agent {
    pub(super) fn stop_sessions(&mut self, which: impl Fn(&Target) -> bool) {
        for (t, r) in self.sessions.iter().filter(|(t, _)| which(t)) {
            log(&format!(
                "stopping the session to {} ({})",
                t.probe, t.stamp
            ));
            r.stop.store(true, Ordering::SeqCst);
        }
        // Their threads send their last window and `Ended`; they leave the
        // map then.
    }

    /// Starts a session for every target without one.
    pub(super) fn start_missing(&mut self) {
        let targets = self.targets.clone();
        for t in targets {
            if self.sessions.contains_key(&t) {
                continue;
            }
            match self.start_session(&t) {
                Ok(r) => {
                    self.sessions.insert(t, r);
                }
                Err(e) => log(&format!(
                    "cannot start the session to {} ({}): {e}; retrying later",
                    t.probe, t.stamp
                )),
            }
        }
    }

    pub(super) fn start_session(&self, t: &Target) -> Result<Running, String> {
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
        config.clock_error = self.opts.clock_error;
        // Sessions leave from the reflector's address: on a host with an
        // address per carrier, that is the carrier this probe stands for.
        config.source = (!self.opts.listen.ip().is_unspecified()).then(|| self.opts.listen.ip());
        config.key = match s.mode {
            StampMode::Authenticated => Some(
                self.opts
                    .auth_key
                    .clone()
                    .ok_or("authenticated STAMP asked for, and no --auth-key-file given")?,
            ),
            StampMode::Unauthenticated => None,
        };
        let window = Duration::from_secs(s.window_s.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let tx = self.writer.clone().ok_or("the agent is stopping")?;
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

    pub(super) fn on_ended(&mut self, target: Target, error: Option<String>) {
        if let Some(e) = error {
            log(&format!(
                "session to {} ({}) failed: {e}",
                target.probe, target.stamp
            ));
        }
        if let Some(r) = self.sessions.remove(&target) {
            let _ = r.thread.join();
        }
    }
}
