//! Man pages and shell completions from a binary's clap definitions, shared
//! by `probe/examples/probe-docs.rs` and
//! `mesh-controller/examples/controller-docs.rs`
//! (each includes this file and its crate's `src/main.rs` as modules).
//!
//! Why an example and not a build script or a hidden subcommand: the clap
//! definitions use the crates' own value parsers and types, which a build
//! script cannot link; an example compiles the very same `main.rs` on the
//! build host, needs nothing but dev-dependencies (clap_mangen and
//! clap_complete stay out of the shipped binaries), and never runs the
//! packaged binary (which could be built for another target).

use std::path::Path;
use std::process::ExitCode;

use clap_complete::Shell;

/// With OUTDIR as the one argument: writes OUTDIR/man/NAME.1 and NAME-SUBCOMMAND.1 (every
/// visible subcommand), and OUTDIR/completions/NAME.bash, _NAME (zsh) and
/// NAME.fish.
pub fn run(name: &str, cmd: clap::Command) -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(out), None) = (args.next(), args.next()) else {
        eprintln!("usage: OUTDIR (where man/ and completions/ go)");
        return ExitCode::from(2);
    };
    match write_all(name, cmd, Path::new(&out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen-docs: {}: {e}", Path::new(&out).display());
            ExitCode::from(2)
        }
    }
}

fn write_all(name: &str, cmd: clap::Command, out: &Path) -> std::io::Result<()> {
    let man = out.join("man");
    std::fs::create_dir_all(&man)?;
    clap_mangen::generate_to(cmd.clone(), &man)?;
    let completions = out.join("completions");
    std::fs::create_dir_all(&completions)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut cmd.clone(), name, &completions)?;
    }
    Ok(())
}
