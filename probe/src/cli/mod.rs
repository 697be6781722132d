//! The subcommands of the `probe` binary, one file each: arguments and the
//! thin shell around the library that runs them.

pub(crate) mod bw;
pub(crate) mod clock;
pub(crate) mod flood_load;
pub(crate) mod ping_trace;
pub(crate) mod reflect;
pub(crate) mod run_agent;
pub(crate) mod stamp;
pub(crate) mod test_clock;
