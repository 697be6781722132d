//! `probe`: the measuring agent on every cluster and city host. A thin shell:
//! the library does the work; this maps arguments in and errors to exit codes
//! (0 ok, 1 no reply at all, 2 bad input or cannot start).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use probe::bw::{self as bwlib, parse_rate, BwRequest};
use probe::clock::{boot_id, ClockStatus};
use probe::reflector::{self, Cidr, Policy, RunOptions};
use probe::sender::{self, ReflectorType, SameClock, Schedule, StampConfig};
use probe::units::{parse_duration, read_key_file};
use probe::{agent, flood, icmp, signals};

mod cli;
use cli::bw::*;
use cli::clock::*;
use cli::flood_load::*;
use cli::ping_trace::*;
use cli::reflect::*;
use cli::run_agent::*;
use cli::stamp::*;
use cli::test_clock::*;

#[derive(Parser, Debug)]
#[command(
    name = "probe",
    version,
    about = "hubmesh probe: STAMP (RFC 8762/8972) sender and reflector with kernel timestamps"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a STAMP Session-Reflector (stateful, per sender address and SSID).
    Reflect(ReflectArgs),
    /// Measure to a STAMP reflector: RTT, one-way delays, loss per direction.
    Stamp(StampArgs),
    /// Measure under a controller: reflector, STAMP sessions to the assigned
    /// targets, windows spooled on disk and uploaded.
    Agent(AgentArgs),
    /// Print the local clock status (adjtimex) and boot id.
    Clock(ClockArgs),
    /// ICMP echo round trips to a host (IPv4 or IPv6).
    Ping(PingArgs),
    /// The path to a host: ICMP echo (default) or UDP probes with rising TTL,
    /// hops named by the site a topology places them at.
    Trace(TraceArgs),
    /// Measure throughput to a probe (reflect or agent): TCP with parallel
    /// streams, or paced UDP with loss and jitter.
    Bw(BwArgs),
    /// Load generator for reflector throughput figures (bench only).
    #[command(hide = true)]
    Flood(FloodArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

/// The whole command line as clap sees it: what `main` parses, and what the
/// man pages and shell completions are made from (`examples/probe-docs.rs`
/// includes this file as a module for that).
pub(crate) fn command() -> clap::Command {
    Cli::command()
}

/// Exit statuses.
const EXIT_NO_REPLY: u8 = 1;
const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    let parsed = command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            let text = e.to_string();
            eprintln!("{}", text.lines().next().unwrap_or("error: bad arguments"));
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let outcome = match cli.command {
        Command::Reflect(args) => reflect(args),
        Command::Stamp(args) => stamp(args),
        Command::Agent(args) => agent(args),
        Command::Clock(args) => clock(args),
        Command::Ping(args) => ping_cmd(args),
        Command::Trace(args) => trace_cmd(args),
        Command::Bw(args) => bw(args),
        Command::Flood(args) => flood_cmd(args),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("probe: {e:#}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn resolve(target: &str) -> Result<SocketAddr> {
    let mut addrs = target
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {target:?} (expected host:port)"))?;
    addrs
        .next()
        .ok_or_else(|| anyhow!("{target:?} resolves to no address"))
}

/// A host name or address to its first address.
fn resolve_host(host: &str) -> Result<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip);
    }
    (host, 0)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {host:?}"))?
        .next()
        .map(|a| a.ip())
        .ok_or_else(|| anyhow!("{host:?} resolves to no address"))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
