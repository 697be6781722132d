//! The running agent: it follows the controller's assignment (sessions, the
//! ICMP plan, bandwidth tests), tries an upload whenever a window is spooled
//! and on a tick, polls the target list, and on stop shuts down in order:
//! tasks aborted, sessions stopped and their last windows spooled, one last
//! upload pass.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use protocol::api::Assignment;
use protocol::client::{Backoff, Client};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tokio::sync::watch;

use super::bw_tasks::{self, BwSide};
use super::icmp_tasks::{self, IcmpPlan};
use super::log::log;
use super::results::{self, SharedResults};
use super::sessions::Sessions;
use super::spool::Spool;
use super::spool_writer::{lock, spool_writer, LoopMsg, SharedStore, Store, WriterMsg};
use super::summary::{self, Summary};
use super::upload::Uploads;
use super::{is_refusal, AgentError, AgentOptions};

/// Time allowed for one controller call.
pub(super) const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stopping agent waits for its sessions' last windows.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// The agent between its hello and its exit.
pub(super) struct Agent {
    opts: AgentOptions,
    client: Client,
    store: SharedStore,
    /// Bandwidth tests, pings and traces, spooled apart from the windows.
    results: SharedResults,
    /// What the ICMP tasks measure.
    icmp_plan: watch::Sender<IcmpPlan>,
    /// Whether the controller schedules bandwidth tests.
    bw_enabled: watch::Sender<bool>,
    /// The ICMP and bandwidth tasks, aborted on shutdown.
    tasks: Vec<tokio::task::JoinHandle<()>>,
    sessions: Sessions,
    uploads: Uploads,
    /// To the spool writer; None once shutting down.
    writer: Option<mpsc::Sender<WriterMsg>>,
    writer_thread: Option<JoinHandle<()>>,
}

impl Agent {
    /// Starts the spool writer thread and the ICMP and bandwidth tasks, then
    /// takes the first assignment. The receiver carries the spool writer's
    /// messages to [`Agent::main_loop`].
    pub(super) fn start(
        opts: AgentOptions,
        client: Client,
        spool: Spool,
        results: SharedResults,
        assignment: Assignment,
        backoff: Backoff,
    ) -> Result<(Agent, UnboundedReceiver<LoopMsg>), AgentError> {
        let (tx, rx) = unbounded_channel();
        let store = Arc::new(Mutex::new(Store::new(
            spool,
            &opts.id,
            opts.spool_dir.clone(),
            opts.spool_max_bytes,
        )));
        let (writer_tx, writer_rx) = mpsc::channel();
        let writer_thread = {
            let store = store.clone();
            std::thread::Builder::new()
                .name("spool".into())
                .spawn(move || spool_writer(writer_rx, store, tx))
                .map_err(|e| AgentError::Setup(format!("spool thread: {e}")))?
        };
        let (icmp_plan, icmp_rx) = watch::channel(IcmpPlan::default());
        let (bw_enabled, bw_rx) = watch::channel(false);
        let bw_client = super::client_for(&opts, CALL_TIMEOUT)?;
        let bw_side = BwSide {
            auth_key: opts.auth_key.clone(),
            bind: opts.source(),
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
        let sessions = Sessions::new(&opts, assignment.settings, assignment.generation);
        let mut agent = Agent {
            opts,
            client,
            store,
            results,
            icmp_plan,
            bw_enabled,
            tasks,
            sessions,
            uploads: Uploads::new(backoff),
            writer: Some(writer_tx),
            writer_thread: Some(writer_thread),
        };
        agent.apply(assignment)?;
        Ok((agent, rx))
    }

    /// Takes a new assignment: sequence floors, the ICMP and bandwidth
    /// plans, then the sessions.
    fn apply(&mut self, a: Assignment) -> Result<(), AgentError> {
        lock(&self.store)
            .spool
            .raise_floor(a.next_seq)
            .map_err(AgentError::Spool)?;
        results::lock(&self.results)
            .raise_floor(a.next_result_seq)
            .map_err(AgentError::Spool)?;
        let plan = IcmpPlan::new(
            a.icmp,
            &a.icmp_targets,
            &a.targets,
            a.settings.window_s,
            self.opts.source(),
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
        self.sessions
            .follow(a.settings, a.generation, a.targets, self.writer.as_ref());
        Ok(())
    }

    async fn poll_targets(&mut self) -> Result<(), AgentError> {
        match self.client.targets(self.sessions.generation()).await {
            Ok(Some(a)) => self.apply(a)?,
            Ok(None) => self.sessions.start_missing(self.writer.as_ref()),
            Err(e) if is_refusal(&e) => return Err(AgentError::refused(e)),
            Err(_) => self.sessions.start_missing(self.writer.as_ref()),
        }
        Ok(())
    }

    async fn try_upload(&mut self) -> Result<(), AgentError> {
        self.uploads
            .try_windows(&self.client, &self.opts.id, &self.store)
            .await
    }

    /// Runs until `stop`: uploads as windows are spooled and on a tick,
    /// follows the target list.
    pub(super) async fn main_loop(
        &mut self,
        rx: &mut UnboundedReceiver<LoopMsg>,
        stop: &AtomicBool,
    ) -> Result<(), AgentError> {
        let mut poll = tokio::time::interval(self.opts.poll);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        poll.tick().await;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(LoopMsg::Spooled) => self.try_upload().await?,
                    Some(LoopMsg::Ended { target, error }) => self.sessions.on_ended(target, error),
                    None => {}
                },
                _ = poll.tick() => self.poll_targets().await?,
                _ = tick.tick() => {
                    if stop.load(Ordering::SeqCst) {
                        return Ok(());
                    }
                    self.try_upload().await?;
                    self.uploads
                        .try_results(&self.client, &self.opts.id, &self.results)
                        .await?;
                }
            }
        }
    }

    /// Stops every session, waits until their last windows are spooled,
    /// tries one upload pass.
    pub(super) async fn shutdown(
        &mut self,
        rx: &mut UnboundedReceiver<LoopMsg>,
    ) -> Result<(), AgentError> {
        log("stopping: cutting the last windows");
        for t in &self.tasks {
            t.abort();
        }
        self.sessions.stop(|_| true);
        let deadline = tokio::time::Instant::now() + STOP_WAIT;
        while !self.sessions.is_empty() {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(LoopMsg::Spooled)) => {}
                Ok(Some(LoopMsg::Ended { target, error })) => self.sessions.on_ended(target, error),
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
        let last = self
            .uploads
            .windows(&self.client, &self.opts.id, &self.store)
            .await?;
        if let Err(e) = last {
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

    /// What the agent did, and what its spools still hold.
    pub(super) fn summary(&self) -> Summary {
        summary::at_exit(&self.store, &self.results)
    }
}
