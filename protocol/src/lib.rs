//! What a probe and the controller exchange, in one place so the two sides
//! cannot drift apart: the JSON wire types of the `/v1` API ([`api`]), the
//! measurement window a probe fills and the controller merges ([`window`]:
//! counters and HdrHistograms that add up exactly, and the checks an uploaded
//! window and a batch of them must pass), the syntax of a probe id ([`id`]),
//! and the agent's HTTP client ([`client`]) with its TLS ([`tls`]).
//!
//! Pure except for [`client`], which does the network I/O of the agent's side.

pub mod api;
pub mod client;
pub mod id;
pub mod tls;
pub mod window;
