//! hubmesh controller: inventory, analysis, reports, and `plan`/`check` for CI.

pub mod bwsched;
pub mod check;
pub mod plan;
pub mod suggest;

// `serve` and its parts (feature `server`).
pub mod api;
pub mod config;
pub mod measured;
pub mod metrics;
pub mod report;
pub mod secrets;
pub mod serve;
pub mod store;
pub mod targets;
pub mod token;
