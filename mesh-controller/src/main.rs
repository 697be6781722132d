//! `mesh-controller`: plans, checks and runs the measured mesh. A thin shell
//! over the library: parse arguments, call, print, map the outcome to an exit
//! code (0 fine, 1 a budget violated, 2 bad input). Each subcommand's
//! arguments and shell live in `cli/`, one file each.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::process::ExitCode;

mod cli;
use cli::check::CheckArgs;
use cli::plan::PlanArgs;
use cli::report::ReportArgs;
use cli::series::SeriesArgs;
use cli::serve::ServeArgs;
use cli::suggest::SuggestArgs;
use cli::token::TokenArgs;

#[derive(Parser, Debug)]
#[command(
    name = "mesh-controller",
    version,
    about = "hubmesh controller: plan, check and run the measured mesh"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Analyse a topology's modelled routes against latency budgets (no measurements).
    ///
    /// Exit status: 0 when no route violates its budget, 1 when any does, 2 on bad input.
    Plan(PlanArgs),
    /// Suggest direct links and exchange points that bring routes within budget.
    ///
    /// Greedy: first the change that brings the most violating routes within
    /// budget, then the one saving the most one-way delay. Exit status: 0, or 2 on
    /// bad input.
    Suggest(SuggestArgs),
    /// CI gate: every covered route within budget, none slower than the baseline.
    ///
    /// Exit status: 0 when every covered route is within budget and none regressed,
    /// 1 otherwise, 2 on bad input.
    Check(CheckArgs),
    /// The measured mesh: latency matrix (forward/reverse one-way, RTT, loss,
    /// jitter), budget verdicts, detours and suggestions.
    ///
    /// From the store (`--db` with `--config`) or a running controller
    /// (`--server`). Exit status: 0 when no route violates its budget, 1 when any
    /// does, 2 on bad input.
    Report(ReportArgs),
    /// A route's history: forward and reverse one-way percentiles, RTT, loss
    /// and jitter per step, from exactly merged histograms.
    ///
    /// From a running controller (`--server`) or its store (`--db` with
    /// `--config`). Exit status: 0, or 2 on bad input (an unknown endpoint, a
    /// bad duration or step).
    Series(SeriesArgs),
    /// Run the controller: HTTP API for probes, SQLite storage, routes and metrics.
    ///
    /// Reloads the configuration on SIGHUP or when a file changes; stops on
    /// SIGTERM. Exit status 2 when it cannot start (bad configuration, database,
    /// address in use).
    Serve(ServeArgs),
    /// Manage probe tokens.
    Token(TokenArgs),
}

/// The whole command line as clap sees it: what `main` parses, and what the
/// man pages and shell completions are made from (`examples/controller-docs.rs`
/// includes this file as a module for that).
pub(crate) fn command() -> clap::Command {
    Cli::command()
}

fn main() -> ExitCode {
    let parsed = Cli::from_arg_matches(&command().get_matches()).unwrap_or_else(|e| e.exit());
    match parsed.command {
        Command::Plan(a) => cli::plan::run(a),
        Command::Suggest(a) => cli::suggest::run(a),
        Command::Check(a) => cli::check::run(a),
        Command::Report(a) => cli::report::run(a),
        Command::Series(a) => cli::series::run(a),
        Command::Serve(a) => cli::serve::run(a),
        Command::Token(a) => cli::token::run(a),
    }
}
