//! Where the agent's lines go: stderr, each with the `probe agent:` prefix
//! (the reflector's and the bandwidth server's add their own after it), so
//! an operator greps one prefix; stdout carries only the final summary.

/// Writes one line to stderr.
pub(super) fn log(line: &str) {
    eprintln!("probe agent: {line}");
}
