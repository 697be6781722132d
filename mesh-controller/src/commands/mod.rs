//! The controller's commands for operators and CI, as library calls the
//! binary's thin shell (`src/cli/`) maps to exit codes: `plan`, `check`,
//! `suggest`, `report`, `series`, `token`, and the HTTP fetch of a running
//! controller's report that `--server` uses.

pub mod check;
pub mod fetch;
pub mod plan;
pub mod report;
pub mod series;
pub mod suggest;
pub mod token;
