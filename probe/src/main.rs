//! `probe`: the measuring agent on every cluster and city host.

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "probe",
    version,
    about = "hubmesh probe: STAMP sender and reflector"
)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
}
