//! hubmesh controller: inventory, analysis, reports, and `plan`/`check` for CI.

#[cfg(feature = "server")]
pub mod bwsched;
pub mod check;
pub mod plan;
pub mod suggest;

// `serve` and its parts (feature `server`).
#[cfg(feature = "server")]
pub mod api;
#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub mod measured;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod report;
#[cfg(feature = "server")]
pub mod secrets;
#[cfg(feature = "server")]
pub mod serve;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub mod targets;
#[cfg(feature = "server")]
pub mod token;
#[cfg(feature = "server")]
pub mod window;

// The probe agent's client of the API (feature `client`).
#[cfg(feature = "client")]
pub mod client;
