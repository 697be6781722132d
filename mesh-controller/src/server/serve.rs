//! `mesh-controller serve`: loads the configuration, opens the store, serves
//! the API, reloads the configuration (and secrets) on SIGHUP or when a file
//! changes, runs retention, and stops cleanly on SIGTERM/SIGINT.

use crate::server::api::{self, Live, Shared};
use crate::server::config::{self, Config};
use crate::server::duties;
use crate::server::secrets::{Secrets, SecretsError};
use crate::server::store::{self, StoreError};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use topology::error::LoadError;

/// How often the configuration files are checked for changes.
pub const RELOAD_POLL: Duration = Duration::from_millis(500);

/// What `serve` needs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub config: PathBuf,
    pub db: PathBuf,
    pub listen: SocketAddr,
}

/// Why the server could not start (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Config(#[from] LoadError),
    #[error("{0}")]
    Secrets(#[from] SecretsError),
    #[error("{db}: {source}")]
    Store { db: String, source: StoreError },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

fn load_live(path: &Path) -> Result<Live, ServeError> {
    let cfg = config::load(path)?;
    let secrets = Secrets::load(&cfg.secrets)?;
    Ok(Live::new(cfg, secrets))
}

/// Modification times of every file the configuration was built from.
fn stamps(cfg: &Config) -> Vec<Option<SystemTime>> {
    std::iter::once(&cfg.path)
        .chain(&cfg.sources)
        .chain(std::iter::once(&cfg.secrets))
        .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .collect()
}

/// Reloads; keeps the old configuration when the new one is bad.
fn reload(state: &Shared, path: &Path, why: &str) {
    match load_live(path) {
        Ok(live) => {
            let old = state.live();
            let changed = live
                .plans
                .iter()
                .filter(|(id, p)| old.plans.get(*id).map(|o| o.generation) != Some(p.generation))
                .count();
            eprintln!(
                "mesh-controller: reloaded {} ({why}): {} probes, {changed} with new assignments, {} tokens",
                path.display(),
                live.config.probes.len(),
                live.secrets.len()
            );
            state.replace(live);
        }
        Err(e) => eprintln!(
            "mesh-controller: reload ({why}) failed, keeping the running configuration: {e}"
        ),
    }
}

async fn watch(state: Shared, path: PathBuf) {
    let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("mesh-controller: no SIGHUP reload ({e}); polling files only");
            None
        }
    };
    let mut seen = stamps(&state.live().config);
    let mut tick = tokio::time::interval(RELOAD_POLL);
    loop {
        let by_signal = tokio::select! {
            _ = tick.tick() => false,
            Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => true,
        };
        let now = stamps(&state.live().config);
        if by_signal || now != seen {
            reload(
                &state,
                &path,
                if by_signal { "SIGHUP" } else { "file changed" },
            );
            seen = stamps(&state.live().config);
        }
    }
}

async fn retention(state: Shared) {
    loop {
        let r = state.live().config.retention;
        let period = (r.raw / 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
        if duties::hold(&state, duties::RETENTION, duties::ttl_for(period)).await {
            match state.store.retain(r).await {
                Ok(s) if s.merged > 0 || s.dropped > 0 => eprintln!(
                    "mesh-controller: retention merged {} windows into {} coarse rows, dropped {}",
                    s.merged, s.coarse_rows, s.dropped
                ),
                Ok(_) => {}
                Err(e) => eprintln!("mesh-controller: retention failed: {e}"),
            }
        }
        tokio::time::sleep(period).await;
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = term => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}

/// Runs the controller until SIGTERM/SIGINT.
pub async fn run(opts: ServeOptions) -> Result<(), ServeError> {
    let live = load_live(&opts.config)?;
    let store = store::open(&opts.db).map_err(|source| ServeError::Store {
        db: store::db_label(&opts.db),
        source,
    })?;
    if live.secrets.is_empty() {
        eprintln!(
            "mesh-controller: warning: no probe tokens in {} yet: add them with `mesh-controller token add --config {} PROBE`",
            live.config.secrets.display(),
            opts.config.display()
        );
    }
    match store
        .backfill(live.config.history, crate::server::store::resolver(&live.config))
        .await
    {
        Ok(b) if b.raw + b.coarse_rows > 0 => eprintln!(
            "mesh-controller: rolled up {} raw windows and {} coarse rows stored before rollups ({} of probes not configured left raw)",
            b.raw, b.coarse_rows, b.unresolved
        ),
        Ok(_) => {}
        Err(source) => {
            return Err(ServeError::Store {
                db: store::db_label(&opts.db),
                source,
            })
        }
    }
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: opts.listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    let state = api::AppState::new(live, store, format!("http://{addr}"));
    eprintln!("mesh-controller: listening on http://{addr}");
    tokio::spawn(watch(state.clone(), opts.config.clone()));
    tokio::spawn(retention(state.clone()));
    tokio::spawn(crate::server::monitor::evaluate_loop(state.clone()));
    tokio::spawn(crate::server::monitor::deliver_loop(state.clone()));
    axum::serve(listener, api::router(state.clone()))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    duties::release_all(&state).await;
    eprintln!("mesh-controller: stopped");
    Ok(())
}
