//! Monitoring over time, the pure part: the budget alerts' state machine
//! ([`alerts`]), Alertmanager's webhook format ([`alertmanager`]), and the
//! events that say what changed ([`level_shift`], [`path_change`], and their
//! [`attribution`]). Time is passed in; nothing here reads a clock, a socket
//! or the store. `server::monitor` drives it.

pub mod alertmanager;
pub mod alerts;
pub mod attribution;
pub mod level_shift;
pub mod path_change;
