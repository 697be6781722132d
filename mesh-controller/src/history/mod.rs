//! History: windows rolled up per session direction (sender endpoint ->
//! reflector endpoint) into fine (one minute by default) and coarse (one
//! hour) buckets as they arrive, so the route table, the report, the series
//! and the alerts read a few rows per endpoint pair instead of every window.
//! Pure: the record and its bytes ([`rollup`]), bucket arithmetic and read
//! plans ([`buckets`]), and the per-direction figures of a pair ([`pair`]).
//! The store keeps the rows (`server::store::rollups`).

pub mod buckets;
pub mod pair;
pub mod rollup;
pub mod series;

pub use buckets::{Kept, Levels, Span, COARSE_MS, DEFAULT_FINE_MS, MID_MS};
pub use pair::{directions, PairStats};
pub use rollup::{ClockFacts, Rollup, RollupError};
