//! hubmesh controller: inventory, analysis, reports, and `plan`/`check` for CI.

pub mod plan;
