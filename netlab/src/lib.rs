//! hubmesh netlab: an emulated WAN (network namespaces + TUN) built from a
//! topology file.
//!
//! Pure parts (tested without root): the address plan (`address_plan`), packet views and
//! ICMP (`wire` for IPv4, `wire6` for IPv6), link shaping (`shaping`), the forwarding engine (`engine`)
//! and the requests that change a running lab's links (`control`).
//! I/O parts, kept thin: namespaces and TUN devices (`sys`), the lab's state
//! directory (`state`), the forwarder process (`forwarder`), the commands
//! (`lab`), the measurements of `netlab selftest` (`selftest`) and the
//! ground-truth recorder of `netlab truth` (`truth_recorder`; its pure part is
//! `truth`).

/// `print!` that ignores a closed standard output (`netlab ... | head`)
/// instead of panicking halfway through a command.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// `println!` that ignores a closed standard output.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub mod address_plan;
pub mod control;
pub mod engine;
pub mod shaping;
pub mod truth;
pub mod wire;
pub mod wire6;

pub mod error;
pub mod forwarder;
pub mod lab;
pub mod report;
pub mod selftest;
pub mod state;
pub mod sys;
pub mod truth_recorder;

pub use error::{Error, Result};
