//! `mesh-controller token add --config mesh.yaml PROBE`: a new token for a
//! configured probe, its hash stored in the secrets file, the token returned to
//! be printed once.

use crate::server::config;
use crate::server::secrets::{new_token, Secrets, SecretsError};
use std::path::Path;
use topology::error::LoadError;

/// Why no token was made (all exit 2).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    Config(#[from] LoadError),
    #[error("{config}: unknown probe {probe:?} (configured: {known})")]
    UnknownProbe {
        config: String,
        probe: String,
        known: String,
    },
    #[error("{0}")]
    Secrets(#[from] SecretsError),
}

/// Makes a token for `probe` (replacing any earlier one) and stores its hash.
/// Returns the token and the secrets file written.
pub fn add(config_path: &Path, probe: &str) -> Result<(String, std::path::PathBuf), TokenError> {
    let cfg = config::load(config_path)?;
    if cfg.probe(probe).is_none() {
        let known: Vec<&str> = cfg.probes.iter().map(|p| p.id.as_str()).collect();
        return Err(TokenError::UnknownProbe {
            config: config_path.display().to_string(),
            probe: probe.to_string(),
            known: if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            },
        });
    }
    let mut secrets = Secrets::load(&cfg.secrets)?;
    let token = new_token();
    secrets.set(probe, &token);
    secrets.save(&cfg.secrets)?;
    Ok((token, cfg.secrets))
}
