//! The subcommands of the `mesh-controller` binary, one file each: their
//! arguments and the thin shell that calls the library and maps the outcome to
//! an exit code (0 fine, 1 a budget violated or a check failed, 2 bad input).

pub(crate) mod check;
pub(crate) mod plan;
pub(crate) mod report;
pub(crate) mod series;
pub(crate) mod serve;
pub(crate) mod server_tls;
pub(crate) mod suggest;
pub(crate) mod token;

use std::io::Write;
use std::process::ExitCode;

/// Exit status of bad input or a failure to run.
pub(crate) const EXIT_BAD_INPUT: u8 = 2;
/// Exit status of "found something": a budget violated, a check failed.
pub(crate) const EXIT_FOUND: u8 = 1;

/// Writes to stdout; a failure to do so is exit 2.
pub(crate) fn print(out: &str) -> Result<(), ExitCode> {
    std::io::stdout()
        .lock()
        .write_all(out.as_bytes())
        .map_err(|e| {
            eprintln!("mesh-controller: writing output: {e}");
            ExitCode::from(EXIT_BAD_INPUT)
        })
}

/// One line on stderr, exit 2.
pub(crate) fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("mesh-controller: {e}");
    ExitCode::from(EXIT_BAD_INPUT)
}

/// Exit 1 when something was found, else 0.
pub(crate) fn found(yes: bool) -> ExitCode {
    if yes {
        ExitCode::from(EXIT_FOUND)
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints the output, then exits 1 when something was found.
pub(crate) fn print_then(out: &str, found_something: bool) -> ExitCode {
    match print(out) {
        Ok(()) => found(found_something),
        Err(code) => code,
    }
}
