//! `--ca-file` and `--pin-sha256` of the commands that ask a running
//! controller (`--server https://...`).

use clap::Args;
use mesh_controller::commands::fetch;
use protocol::tls::{parse_pin, TlsOptions};
use std::path::PathBuf;

#[derive(Args, Debug, Default)]
pub(crate) struct ServerTlsArgs {
    /// With an https --server: trust this CA (PEM) instead of the system's
    /// roots.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// With an https --server: the SHA-256 of the controller's public key
    /// (hex, or base64 as in sha256//...), checked on top of the chain.
    #[arg(long, value_name = "PIN")]
    pin_sha256: Option<String>,
}

impl ServerTlsArgs {
    /// Makes every `--server` fetch of this process use these options.
    pub(crate) fn apply(&self) -> Result<(), String> {
        let pin_sha256 = match &self.pin_sha256 {
            Some(p) => Some(parse_pin(p).map_err(|e| e.to_string())?),
            None => None,
        };
        fetch::set_tls(TlsOptions {
            ca_file: self.ca_file.clone(),
            pin_sha256,
        });
        Ok(())
    }
}
