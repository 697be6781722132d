//! hubmesh's pure core: the topology model and its file format, geodesy, routing,
//! budgets, route analysis (verdicts, detours) and renderers. No network or
//! database I/O happens here, so everything is testable without sockets.

pub mod budgets;
pub mod geo;
pub mod model;

pub use model::*;
