//! Starting and ending the agent: the reflector on its own thread (first, so
//! a port already taken fails at once), the bandwidth server beside it, a
//! single-threaded tokio runtime for the rest: the spools opened, the hello,
//! then the [`Agent`] until stop, and the summary.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use protocol::client::Backoff;

use super::hello::hello;
use super::log::log;
use super::main_loop::{Agent, CALL_TIMEOUT};
use super::results;
use super::spool::Spool;
use super::summary::Summary;
use super::{AgentError, AgentOptions};
use crate::bw::{spawn_server, BwServerConfig, BwServerHandle};
use crate::reflector::{self, Policy, RunOptions};
use crate::timestamping::TimestampedSocket;

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
                let mut reflector_log = |line: &str| log(&format!("reflector: {line}"));
                if let Err(e) =
                    reflector::run(&socket, &reflector_options, &stop, &mut reflector_log)
                {
                    log(&format!("reflector stopped: {e}"));
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
    socket: &TimestampedSocket,
) -> Result<Option<BwServerHandle>, AgentError> {
    let Some(mut addr) = opts.bw_listen else {
        return Ok(None);
    };
    if addr == opts.listen {
        if let Ok(udp) = socket.local_addr() {
            addr.set_port(udp.port());
        }
    }
    let mut cfg = BwServerConfig::new(addr);
    cfg.auth_key = opts.auth_key.clone();
    cfg.log = Some(|line| log(&format!("bw: {line}")));
    let handle = spawn_server(cfg)
        .map_err(|e| AgentError::Setup(format!("bandwidth server on {addr} (TCP): {e}")))?;
    log(&format!("bw server on {} (tcp)", handle.local_addr()));
    Ok(Some(handle))
}

async fn run_async(opts: AgentOptions, stop: &'static AtomicBool) -> Result<Summary, AgentError> {
    let client = super::client_for(&opts, CALL_TIMEOUT)?;
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
    let mut backoff = Backoff::new(opts.backoff_initial, opts.backoff_max);
    let Some(assignment) = hello(&client, &opts, &mut backoff, stop).await? else {
        // Stopped before the controller ever answered.
        return Ok(Summary {
            probe: opts.id.clone(),
            windows_pending: spool.len() as u64,
            ..Summary::default()
        });
    };
    backoff.reset();
    let (mut agent, mut rx) = Agent::start(opts, client, spool, results, assignment, backoff)?;
    agent.main_loop(&mut rx, stop).await?;
    agent.shutdown(&mut rx).await?;
    Ok(agent.summary())
}
