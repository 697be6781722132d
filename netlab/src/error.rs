//! The errors netlab's commands report: one line each, mapped to exit status 2
//! by the binary.

use crate::address_plan::AddressPlanError;
use crate::control::ControlError;
use topology::error::LoadError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The topology file is unreadable or invalid (`file:line:col: ...`).
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    AddressPlan(#[from] AddressPlanError),
    /// No root and no usable user namespace.
    #[error("{0}")]
    NotPrivileged(String),
    #[error("lab {lab:?} is already up or was left behind ({detail}); run `netlab down --name {lab}` first, or pick another --name")]
    InUse { lab: String, detail: String },
    #[error("no lab named {0:?} is up (see `netlab status --all`)")]
    NoSuchLab(String),
    #[error("lab {lab:?} has no site or endpoint {name:?} (sites: {known})")]
    UnknownSite {
        lab: String,
        name: String,
        known: String,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// Bringing a lab up failed; everything made so far was removed.
    #[error("{0}")]
    Setup(String),
    /// A `link set` that cannot be carried out (checked before asking the
    /// forwarder, and by the forwarder again); nothing was changed.
    #[error("lab {lab:?}: {source}")]
    Control {
        lab: String,
        #[source]
        source: ControlError,
    },
    #[error("the forwarder of lab {lab:?} is not running, so its links cannot change (`netlab status --name {lab}`; `netlab down --name {lab}` cleans up)")]
    ForwarderDown { lab: String },
    /// The forwarder answered with an error; nothing was changed.
    #[error("the forwarder of lab {lab:?} refused: {message}")]
    Refused { lab: String, message: String },
    #[error("the forwarder of lab {lab:?} did not answer within {secs} s; the change may or may not be in force (see {log})")]
    NoAnswer { lab: String, secs: u64, log: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds what was being done to an I/O error.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::io::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            what: what(),
            source,
        })
    }
}
