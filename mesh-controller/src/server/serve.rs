//! `mesh-controller serve`: loads the configuration, opens the store, serves
//! the API, reloads the configuration (and secrets) on SIGHUP or when a file
//! changes, runs retention, and stops cleanly on SIGTERM/SIGINT.

use crate::server::api::{self, Live, Shared};
use crate::server::config::{self, Config};
use crate::server::duties;
use crate::server::secrets::{Secrets, SecretsError};
use crate::server::store::{self, StoreError};
use crate::server::tls::ServerTls;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
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
    /// Certificate chain and key (PEM): serve HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Serve plain HTTP on an address that is not loopback anyway.
    pub insecure_plaintext: bool,
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
    #[error("{0}")]
    Tls(#[from] crate::server::tls::TlsError),
    #[error("refusing plain HTTP on {0}, which is not a loopback address: probe tokens would cross the network in clear; give --tls-cert and --tls-key, or --insecure-plaintext on a network you trust")]
    Plaintext(SocketAddr),
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

/// Reloads the certificate; keeps the old one when the new pair is bad.
fn reload_tls(tls: &ServerTls, why: &str) {
    match tls.reload() {
        Ok(()) => eprintln!("mesh-controller: reloaded the TLS certificate ({why})"),
        Err(e) => eprintln!(
            "mesh-controller: TLS reload ({why}) failed, keeping the running certificate: {e}"
        ),
    }
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

async fn watch(state: Shared, path: PathBuf, tls: Option<Arc<ServerTls>>) {
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
        if let Some(t) = &tls {
            if by_signal || t.changed() {
                reload_tls(t, if by_signal { "SIGHUP" } else { "file changed" });
            }
        }
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
    let tls = match &opts.tls {
        Some((cert, key)) => Some(Arc::new(ServerTls::new(cert.clone(), key.clone())?)),
        None if !opts.listen.ip().is_loopback() && !opts.insecure_plaintext => {
            return Err(ServeError::Plaintext(opts.listen))
        }
        None => None,
    };
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
    let scheme = if tls.is_some() { "https" } else { "http" };
    let state = api::AppState::new(live, store, format!("{scheme}://{addr}"));
    if tls.is_none() && !addr.ip().is_loopback() {
        eprintln!(
            "mesh-controller: warning: --insecure-plaintext: serving plain HTTP on {addr}; probe tokens and measurements cross the network in clear"
        );
    }
    eprintln!("mesh-controller: listening on {scheme}://{addr}");
    tokio::spawn(watch(state.clone(), opts.config.clone(), tls.clone()));
    tokio::spawn(retention(state.clone()));
    tokio::spawn(crate::server::monitor::evaluate_loop(state.clone()));
    tokio::spawn(crate::server::monitor::deliver_loop(state.clone()));
    match tls {
        Some(tls) => {
            crate::server::tls::serve(listener, tls, api::router(state.clone()), shutdown_signal())
                .await?
        }
        None => {
            axum::serve(listener, api::router(state.clone()))
                .with_graceful_shutdown(shutdown_signal())
                .await?
        }
    }
    duties::release_all(&state).await;
    eprintln!("mesh-controller: stopped");
    Ok(())
}
