//! hubmesh's pure core: the topology model and its file format, geodesy, routing,
//! budgets, route analysis (verdicts, detours) and renderers. No network or
//! database I/O happens here, so everything is testable without sockets.

pub mod budgets;
pub mod clock_bounds;
pub mod error;
pub mod geo;
pub mod intercarrier;
pub mod lab_addresses;
pub mod load;
pub mod model;
pub mod national;
pub mod yaml;

pub use model::*;
pub mod analysis;
pub mod render;
pub mod routing;
pub mod suggest;
#[cfg(any(test, feature = "testkit"))]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub mod testkit;
pub mod write;
