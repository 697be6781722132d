//! `netlab`: bring an emulated WAN up and down.

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "netlab",
    version,
    about = "hubmesh netlab: emulated WAN from a topology file"
)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
}
