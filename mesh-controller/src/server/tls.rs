//! HTTPS for `serve`: a certificate chain and key (PEM) loaded into a rustls
//! server configuration that can be swapped while the controller runs (on
//! SIGHUP, or when either file changes), so a renewed certificate is served
//! to every new connection without a restart; connections already open keep
//! the one they were made with. A bad new pair is refused and the running
//! one kept.
//!
//! The accept loop is ours, not `axum::serve`'s: the TLS handshake of each
//! connection runs in its own task (with a time limit), so a slow or
//! malicious client cannot hold up accepting others.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

/// Time allowed for a client's TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("--tls-cert {path}: {why}")]
    Cert { path: String, why: String },
    #[error("--tls-key {path}: {why}")]
    Key { path: String, why: String },
    #[error("--tls-cert and --tls-key do not go together: {0}")]
    Pair(String),
}

/// The certificate files and the configuration made from them.
#[derive(Debug)]
pub struct ServerTls {
    cert: PathBuf,
    key: PathBuf,
    config: RwLock<Arc<ServerConfig>>,
    /// Modification times at the last load.
    stamps: RwLock<Vec<Option<SystemTime>>>,
}

fn stamps(paths: &[&Path]) -> Vec<Option<SystemTime>> {
    paths
        .iter()
        .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .collect()
}

/// Reads the pair into a server configuration.
pub fn load(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_err = |why: String| TlsError::Cert {
        path: cert.display().to_string(),
        why,
    };
    let key_err = |why: String| TlsError::Key {
        path: key.display().to_string(),
        why,
    };
    let pem = std::fs::read(cert).map_err(|e| cert_err(e.to_string()))?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(format!("not PEM certificates: {e}")))?;
    if chain.is_empty() {
        return Err(cert_err("no certificate in it".to_string()));
    }
    let pem = std::fs::read(key).map_err(|e| key_err(e.to_string()))?;
    let private =
        PrivateKeyDer::from_pem_slice(&pem).map_err(|e| key_err(format!("no private key: {e}")))?;
    let mut config = ServerConfig::builder_with_provider(protocol::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Pair(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| TlsError::Pair(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

impl ServerTls {
    /// Loads the pair (an error here stops `serve` with exit 2).
    pub fn new(cert: PathBuf, key: PathBuf) -> Result<ServerTls, TlsError> {
        let config = load(&cert, &key)?;
        let now = stamps(&[&cert, &key]);
        Ok(ServerTls {
            cert,
            key,
            config: RwLock::new(config),
            stamps: RwLock::new(now),
        })
    }

    /// The configuration new connections get.
    pub fn current(&self) -> Arc<ServerConfig> {
        match self.config.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Whether either file changed since the last load.
    pub fn changed(&self) -> bool {
        let now = stamps(&[&self.cert, &self.key]);
        match self.stamps.read() {
            Ok(g) => *g != now,
            Err(p) => *p.into_inner() != now,
        }
    }

    /// Loads the files again; on error the running pair stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let now = stamps(&[&self.cert, &self.key]);
        // Seen, even if bad: a bad pair is reported once, not every poll.
        match self.stamps.write() {
            Ok(mut g) => *g = now,
            Err(p) => *p.into_inner() = now,
        }
        let config = load(&self.cert, &self.key)?;
        match self.config.write() {
            Ok(mut g) => *g = config,
            Err(p) => *p.into_inner() = config,
        }
        Ok(())
    }
}

/// Serves `router` over TLS on `listener` until `shutdown` resolves, then
/// waits for the open connections' requests to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Arc<ServerTls>,
    router: axum::Router,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: pause, do not spin.
                    eprintln!("mesh-controller: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
        let service = TowerToHyperService::new(router.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                // A client that gives up or does not trust us: nothing to do.
                _ => return,
            };
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            let _ = watcher.watch(conn).await;
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => {}
    }
    Ok(())
}
