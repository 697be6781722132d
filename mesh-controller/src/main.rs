//! `mesh-controller`: plans, checks and runs the measured mesh. A thin shell over
//! the library: parse arguments, call, print, map the outcome to an exit code
//! (0 fine, 1 a budget violated, 2 bad input).

use clap::{Parser, Subcommand};
use mesh_controller::check::{self, CheckRequest, CheckSource, DEFAULT_TOLERANCE_MS};
use mesh_controller::plan::{self, PlanRequest};
use mesh_controller::suggest::{self, SuggestFormat, SuggestRequest, SuggestSource};
use std::io::Write;
use std::process::ExitCode;
use topology::analysis::{Options, DEFAULT_RELAY_MARGIN_MS};
use topology::render::Format;
use topology::suggest::{SuggestOptions, DEFAULT_K, DEFAULT_ROUTE_FACTOR};

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
    Plan {
        /// Topology file (YAML v1), or `national` for the embedded national topology.
        #[arg(long, default_value = "national")]
        topology: String,
        /// Budget preset (plan-2021, plan-2023) or a budgets file; default: the topology's own.
        #[arg(long)]
        budgets: Option<String>,
        /// Output format: table, json, md or dot.
        #[arg(long, default_value = "table")]
        format: Format,
        /// List every ordered pair of endpoints, not only those a budget covers.
        #[arg(long)]
        all: bool,
        /// A relay through a third site must save more than this to be reported (ms).
        #[arg(long, default_value_t = DEFAULT_RELAY_MARGIN_MS)]
        relay_margin_ms: f64,
    },
    /// Suggest direct links and exchange points that bring routes within budget.
    ///
    /// Greedy: first the change that brings the most violating routes within
    /// budget, then the one saving the most one-way delay. Exit status: 0, or 2 on
    /// bad input.
    Suggest {
        /// Topology file (YAML v1), or `national` for the embedded national topology.
        #[arg(long, default_value = "national")]
        topology: String,
        /// Budget preset (plan-2021, plan-2023) or a budgets file; default: the topology's own.
        #[arg(long)]
        budgets: Option<String>,
        /// At most this many suggestions.
        #[arg(long, default_value_t = DEFAULT_K)]
        k: usize,
        /// Fibre length of a suggested direct link over the great-circle distance.
        #[arg(long, default_value_t = DEFAULT_ROUTE_FACTOR)]
        route_factor: f64,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: SuggestFormat,
    },
    /// CI gate: every covered route within budget, none slower than the baseline.
    ///
    /// Exit status: 0 when every covered route is within budget and none regressed,
    /// 1 otherwise, 2 on bad input.
    Check {
        /// Topology file (YAML v1) or `national`: its modelled routes are checked.
        #[arg(long, required_unless_present = "routes", conflicts_with = "routes")]
        topology: Option<String>,
        /// Route table JSON (`plan --format json`): verdicts are re-derived from
        /// each route's one_way_ms and budget_ms.
        #[arg(long, conflicts_with = "budgets")]
        routes: Option<String>,
        /// Budget preset or budgets file (with --topology); default: the topology's own.
        #[arg(long)]
        budgets: Option<String>,
        /// Route table JSON to compare against (e.g. `plan --format json` on main).
        #[arg(long)]
        baseline: Option<String>,
        /// A route regresses when slower than the baseline by more than this (ms).
        #[arg(long, default_value_t = DEFAULT_TOLERANCE_MS)]
        tolerance_ms: f64,
        /// Write JUnit XML here (one test case per route).
        #[arg(long)]
        junit: Option<String>,
        /// Write a Markdown summary here (for a pull-request comment).
        #[arg(long)]
        markdown: Option<String>,
    },
    /// Run the controller: HTTP API for probes, SQLite storage, routes and metrics.
    ///
    /// Reloads the configuration on SIGHUP or when a file changes; stops on
    /// SIGTERM. Exit status 2 when it cannot start (bad configuration, database,
    /// address in use).
    Serve {
        /// Controller configuration (YAML): topology, probes, secrets, settings.
        #[arg(long)]
        config: std::path::PathBuf,
        /// SQLite database file (created and migrated as needed).
        #[arg(long, default_value = "hubmesh.db")]
        db: std::path::PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8680")]
        listen: std::net::SocketAddr,
    },
    /// Manage probe tokens.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
}

#[derive(Subcommand, Debug)]
enum TokenAction {
    /// Make a new token for a configured probe: printed once on stdout, only its
    /// SHA-256 kept in the secrets file. Replaces the probe's earlier token.
    Add {
        /// Controller configuration (names the probes and the secrets file).
        #[arg(long)]
        config: std::path::PathBuf,
        /// Probe id.
        probe: String,
    },
}

/// Writes to stdout; a failure to do so is exit 2.
fn print(out: &str) -> Result<(), ExitCode> {
    std::io::stdout()
        .lock()
        .write_all(out.as_bytes())
        .map_err(|e| {
            eprintln!("mesh-controller: writing output: {e}");
            ExitCode::from(2)
        })
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("mesh-controller: {e}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, db, listen } => serve(config, db, listen),
        Command::Token {
            action: TokenAction::Add { config, probe },
        } => token_add(&config, &probe),
        Command::Plan {
            topology,
            budgets,
            format,
            all,
            relay_margin_ms,
        } => {
            let req = PlanRequest {
                topology,
                budgets,
                options: Options {
                    all,
                    relay_margin_ms,
                },
            };
            match plan::plan(&req) {
                Ok(p) => {
                    let out = plan::render(&p, format);
                    if let Err(e) = std::io::stdout().lock().write_all(out.as_bytes()) {
                        eprintln!("mesh-controller: writing output: {e}");
                        return ExitCode::from(2);
                    }
                    if p.table.summary.violations > 0 {
                        ExitCode::from(1)
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(e) => {
                    eprintln!("mesh-controller: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Suggest {
            topology,
            budgets,
            k,
            route_factor,
            format,
        } => {
            let req = SuggestRequest {
                source: SuggestSource::Topology(topology),
                budgets,
                options: SuggestOptions {
                    k,
                    route_factor,
                    ..SuggestOptions::default()
                },
            };
            match suggest::run(&req) {
                Ok(s) => match print(&suggest::render(&s, format)) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(code) => code,
                },
                Err(e) => fail(e),
            }
        }
        Command::Check {
            topology,
            routes,
            budgets,
            baseline,
            tolerance_ms,
            junit,
            markdown,
        } => {
            let source = match (topology, routes) {
                (_, Some(r)) => CheckSource::Routes(r),
                (Some(t), None) => CheckSource::Topology(t),
                (None, None) => return fail("check needs --topology FILE or --routes FILE"),
            };
            let req = CheckRequest {
                source,
                budgets,
                baseline,
                tolerance_ms,
            };
            let outcome = match check::check(&req) {
                Ok(o) => o,
                Err(e) => return fail(e),
            };
            for (path, text) in [
                (junit, check::junit(&outcome)),
                (markdown, check::markdown(&outcome)),
            ] {
                if let Some(path) = path {
                    if let Err(e) = std::fs::write(&path, text) {
                        return fail(format!("{path}: cannot write: {e}"));
                    }
                }
            }
            if let Err(code) = print(&check::text(&outcome)) {
                return code;
            }
            if outcome.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn serve(
    config: std::path::PathBuf,
    db: std::path::PathBuf,
    listen: std::net::SocketAddr,
) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mesh-controller: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let opts = mesh_controller::serve::ServeOptions { config, db, listen };
    match rt.block_on(mesh_controller::serve::run(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mesh-controller: {e}");
            ExitCode::from(2)
        }
    }
}

fn token_add(config: &std::path::Path, probe: &str) -> ExitCode {
    match mesh_controller::token::add(config, probe) {
        Ok((token, secrets)) => {
            if let Err(e) = writeln!(std::io::stdout().lock(), "{token}") {
                eprintln!("mesh-controller: writing output: {e}");
                return ExitCode::from(2);
            }
            eprintln!(
                "mesh-controller: token for {probe} printed above (shown once); its SHA-256 is in {}",
                secrets.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mesh-controller: {e}");
            ExitCode::from(2)
        }
    }
}
