//! `mesh-controller token`: per-probe tokens.

use super::{fail, print};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub(crate) struct TokenArgs {
    #[command(subcommand)]
    action: TokenAction,
}

#[derive(Subcommand, Debug)]
enum TokenAction {
    /// Make a new token for a configured probe: printed once on stdout, only its
    /// SHA-256 kept in the secrets file. Replaces the probe's earlier token.
    Add {
        /// Controller configuration (names the probes and the secrets file).
        #[arg(long)]
        config: PathBuf,
        /// Probe id.
        probe: String,
    },
}

pub(crate) fn run(a: TokenArgs) -> ExitCode {
    let TokenAction::Add { config, probe } = a.action;
    match mesh_controller::commands::token::add(&config, &probe) {
        Ok((token, secrets)) => {
            if let Err(code) = print(&format!("{token}\n")) {
                return code;
            }
            eprintln!(
                "mesh-controller: token for {probe} printed above (shown once); its SHA-256 is in {}",
                secrets.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
