//! `cargo run -p mesh-controller --example controller-docs -- OUTDIR`: the man pages and bash,
//! zsh and fish completions of `mesh-controller`, made from the clap definitions the
//! binary parses with (scripts/package.sh puts them in the .deb). Why an
//! example: see deploy/docs/gen_docs.rs.

// The binary's own source, as a module: only its `command()` is used here.
#[allow(dead_code, unused_imports)]
#[path = "../src/main.rs"]
mod app;

#[path = "../../deploy/docs/gen_docs.rs"]
mod gen_docs;

fn main() -> std::process::ExitCode {
    gen_docs::run("mesh-controller", app::command())
}
