//! `mesh-controller serve`: the controller itself.

use super::fail;
use clap::Args;
use mesh_controller::server::serve::{self, ServeOptions};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// Controller configuration (YAML): topology, probes, secrets, settings.
    #[arg(long)]
    config: PathBuf,
    /// Database: an SQLite file (created and migrated as needed), or a
    /// postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE URL (replicas may
    /// share one).
    #[arg(long, default_value = "hubmesh.db")]
    db: PathBuf,
    /// Address to listen on (plain HTTP only on loopback unless
    /// --insecure-plaintext).
    #[arg(long, default_value = "127.0.0.1:8680")]
    listen: SocketAddr,
    /// Serve HTTPS with this certificate chain (PEM); reloaded on SIGHUP and
    /// when the file changes.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP on an address that is not loopback (tokens then
    /// cross the network in clear; warned about at start).
    #[arg(long, conflicts_with = "tls_cert")]
    insecure_plaintext: bool,
}

pub(crate) fn run(a: ServeArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    let opts = ServeOptions {
        config: a.config,
        db: a.db,
        listen: a.listen,
        tls: a.tls_cert.zip(a.tls_key),
        insecure_plaintext: a.insecure_plaintext,
    };
    match rt.block_on(serve::run(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}
