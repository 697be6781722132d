//! hubmesh controller, as a library under the `mesh-controller` binary.
//!
//! - [`server`]: what `serve` runs: the HTTP API for probes and operators,
//!   the store, secrets, target lists, bandwidth slots, the measured route
//!   table, reports, the console page and Prometheus metrics.
//! - [`commands`]: the operator's and CI's commands (`plan`, `check`,
//!   `suggest`, `report`, `token`), which read topologies, route tables, a
//!   store or a running controller and print their verdicts.
//! - [`escape`]: the one HTML/XML text escape both use.
//!
//! `commands` may use `server` (a report from a store file is the server's
//! report); `server` never uses `commands`.

pub mod commands;
pub mod escape;
pub mod history;
pub mod monitor;
pub mod server;
