//! `mesh-controller serve` and its parts: configuration, the HTTP API, the
//! store, per-probe secrets, target lists and bandwidth slots, the measured
//! route table, reports and the console, Prometheus metrics.

pub mod api;
pub mod bwsched;
pub mod clock_offset;
pub mod config;
pub mod console;
pub mod duties;
pub mod family;
pub mod measured;
pub mod monitor;
pub mod prometheus;
pub mod report;
pub mod secrets;
pub mod series;
pub mod serve;
pub mod store;
pub mod targets;
pub mod tls;
