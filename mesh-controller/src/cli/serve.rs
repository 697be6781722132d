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
    /// SQLite database file (created and migrated as needed); a
    /// postgres:// URL is refused until PostgreSQL is built in.
    #[arg(long, default_value = "hubmesh.db")]
    db: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8680")]
    listen: SocketAddr,
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
    };
    match rt.block_on(serve::run(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}
