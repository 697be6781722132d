//! Per-probe tokens: made by `mesh-controller token add`, shown once, and kept
//! only as SHA-256 hashes in the secrets file (mode 0600, replaced atomically).
//! A token is 32 random bytes, so a plain hash is enough (nothing to
//! brute-force); presented tokens are compared with every stored hash in
//! constant time.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;
use subtle::ConstantTimeEq;

/// Why the secrets file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("{path}: cannot read secrets file: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("{path}: cannot write secrets file: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretsFile {
    /// probe id -> hex SHA-256 of its token.
    #[serde(default)]
    probes: BTreeMap<String, String>,
}

/// The token hashes of all probes, and the probe of each hash.
///
/// A presented token is looked up by its SHA-256 in a hash map: one lookup
/// whatever the number of probes (comparing it with every stored hash cost
/// about 1 ms a request at 10,000 probes). The lookup's timing can depend
/// only on the SHA-256 of what the client sent, which it knows already; it
/// says nothing about a stored hash a client could use without a preimage of
/// it. The match found is then confirmed in constant time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    hashes: BTreeMap<String, [u8; 32]>,
    by_hash: HashMap<[u8; 32], String>,
}

const HEADER: &str = "\
# hubmesh probe secrets: the SHA-256 (hex) of each probe's token, written by
# `mesh-controller token add`. Tokens themselves are never stored.
";

impl Secrets {
    /// Reads the secrets file; a missing file holds no secrets.
    pub fn load(path: &Path) -> Result<Secrets, SecretsError> {
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Secrets::default()),
            Err(source) => {
                return Err(SecretsError::Read {
                    path: shown,
                    source,
                })
            }
        };
        let file: SecretsFile = if text.trim().is_empty() {
            SecretsFile::default()
        } else {
            serde_yaml::from_str(&text).map_err(|e| SecretsError::Invalid {
                path: shown.clone(),
                message: topology::yaml::yaml_error(&shown, &e).to_string(),
            })?
        };
        let mut hashes = BTreeMap::new();
        for (probe, hex) in file.probes {
            let hash = from_hex(&hex).ok_or_else(|| SecretsError::Invalid {
                path: shown.clone(),
                message: format!("probes.{probe}: expected 64 hex digits (a SHA-256)"),
            })?;
            hashes.insert(probe, hash);
        }
        let by_hash = hashes.iter().map(|(p, h)| (*h, p.clone())).collect();
        Ok(Secrets { hashes, by_hash })
    }

    /// Writes the file atomically (temporary file in the same directory, fsync,
    /// rename, fsync of the directory), readable by the owner only.
    pub fn save(&self, path: &Path) -> Result<(), SecretsError> {
        let shown = path.display().to_string();
        let wrap = |source| SecretsError::Write {
            path: shown.clone(),
            source,
        };
        let file = SecretsFile {
            probes: self
                .hashes
                .iter()
                .map(|(k, v)| (k.clone(), to_hex(v)))
                .collect(),
        };
        let body = serde_yaml::to_string(&file).map_err(|e| SecretsError::Invalid {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "secrets.yaml".to_string());
        let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(HEADER.as_bytes())?;
            f.write_all(body.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
            std::fs::File::open(dir)?.sync_all()
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            wrap(e)
        })
    }

    /// Stores the hash of `token` for `probe`, replacing any earlier one.
    pub fn set(&mut self, probe: &str, token: &str) {
        let hash = hash_token(token);
        if let Some(old) = self.hashes.insert(probe.to_string(), hash) {
            self.by_hash.remove(&old);
        }
        self.by_hash.insert(hash, probe.to_string());
    }

    pub fn has(&self, probe: &str) -> bool {
        self.hashes.contains_key(probe)
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The probe whose token this is (see [`Secrets`] on timing).
    pub fn verify(&self, token: &str) -> Option<&str> {
        let presented = hash_token(token);
        let (hash, probe) = self.by_hash.get_key_value(&presented)?;
        bool::from(presented.ct_eq(hash)).then_some(probe.as_str())
    }
}

/// A new random token: 32 bytes from the OS generator, hex.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    to_hex(&bytes)
}

/// SHA-256 of a token's text.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(s: &str) -> Option<[u8; 32]> {
    let s = s.trim().as_bytes();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in s.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn verify_finds_the_right_probe() {
        let mut s = Secrets::default();
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        s.set("a", &a);
        s.set("b", &b);
        assert_eq!(s.verify(&a), Some("a"));
        assert_eq!(s.verify(&b), Some("b"));
        assert_eq!(s.verify("nope"), None);
        assert_eq!(s.verify(""), None);
        // A new token for a probe replaces its old one.
        let c = new_token();
        s.set("a", &c);
        assert_eq!(s.verify(&a), None);
        assert_eq!(s.verify(&c), Some("a"));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn save_and_load_round_trip_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.yaml");
        let mut s = Secrets::default();
        let t = new_token();
        s.set("bj-1", &t);
        s.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&t));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = Secrets::load(&path).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.verify(&t), Some("bj-1"));
    }
}
