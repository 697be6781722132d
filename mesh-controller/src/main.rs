//! `mesh-controller`: plans, checks and runs the measured mesh. A thin shell over
//! the library: parse arguments, call, print, map the outcome to an exit code
//! (0 fine, 1 a budget violated, 2 bad input).

use clap::{Parser, Subcommand};
use mesh_controller::check::{self, CheckRequest, CheckSource, DEFAULT_TOLERANCE_MS};
use mesh_controller::plan::{self, PlanRequest};
use mesh_controller::report::{self, ReportFormat};
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
        /// Topology file (YAML v1), or `national` for the embedded national
        /// topology: its modelled routes (the default, with `national`).
        #[arg(long, conflicts_with_all = ["server", "db"])]
        topology: Option<String>,
        /// A running controller (http://HOST:PORT): over its measurements of
        /// the last `--since` (modelled delays for pairs not measured).
        #[arg(long, conflicts_with = "db")]
        server: Option<String>,
        /// The controller's SQLite database, read-only (needs --config): as
        /// --server, without a running controller.
        #[arg(long, requires = "config")]
        db: Option<std::path::PathBuf>,
        /// Controller configuration (topology, probes, budgets) for --db.
        #[arg(long, requires = "db")]
        config: Option<std::path::PathBuf>,
        /// Look-back of the measurements with --server or --db (e.g. 10m, 1h).
        #[arg(long, default_value = "1h")]
        since: String,
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
        #[arg(long, required_unless_present_any = ["routes", "server"], conflicts_with_all = ["routes", "server"])]
        topology: Option<String>,
        /// Route table JSON (`plan --format json`): verdicts are re-derived from
        /// each route's one_way_ms and budget_ms.
        #[arg(long, conflicts_with_all = ["budgets", "server"])]
        routes: Option<String>,
        /// A running controller (http://HOST:PORT): its measured routes of the
        /// last `--since` are checked, judged like `--routes`.
        #[arg(long, conflicts_with = "budgets")]
        server: Option<String>,
        /// Look-back of the measurements with --server (e.g. 10m, 1h).
        #[arg(long, default_value = "1h", requires = "server")]
        since: String,
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
    /// The measured mesh: latency matrix (forward/reverse one-way, RTT, loss,
    /// jitter), budget verdicts, detours and suggestions.
    ///
    /// From the store (`--db` with `--config`) or a running controller
    /// (`--server`). Exit status: 0 when no route violates its budget, 1 when any
    /// does, 2 on bad input.
    Report {
        /// A running controller, e.g. http://127.0.0.1:8680 (GET /v1/report).
        #[arg(long, conflicts_with_all = ["db", "config"], required_unless_present = "db")]
        server: Option<String>,
        /// The controller's SQLite database, opened read-only (needs --config).
        #[arg(long, requires = "config")]
        db: Option<std::path::PathBuf>,
        /// Controller configuration (topology, probes, budgets) for --db.
        #[arg(long)]
        config: Option<std::path::PathBuf>,
        /// Look-back of the measurements (e.g. 10m, 1h).
        #[arg(long, default_value = "1h")]
        since: String,
        /// Budget preset (plan-2021, plan-2023) or a budgets file (presets only
        /// with --server); default: the configuration's.
        #[arg(long)]
        budgets: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: ReportFormat,
        /// Write here (atomically: a temporary file, then rename) instead of stdout.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
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
        Command::Report {
            server,
            db,
            config,
            since,
            budgets,
            format,
            out,
        } => report_cmd(ReportArgs {
            server,
            db,
            config,
            since,
            budgets,
            format,
            out,
        }),
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
            server,
            db,
            config,
            since,
            budgets,
            k,
            route_factor,
            format,
        } => {
            let source = match (server, db.zip(config)) {
                (Some(url), _) => match report::parse_since(&since) {
                    Ok(since) => SuggestSource::Server { url, since },
                    Err(e) => return fail(e),
                },
                (None, Some((db, config))) => match report::parse_since(&since) {
                    Ok(since) => SuggestSource::Db { db, config, since },
                    Err(e) => return fail(e),
                },
                (None, None) => {
                    SuggestSource::Topology(topology.unwrap_or_else(|| "national".into()))
                }
            };
            let req = SuggestRequest {
                source,
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
            server,
            since,
            budgets,
            baseline,
            tolerance_ms,
            junit,
            markdown,
        } => {
            let source = match (topology, routes, server) {
                (_, _, Some(url)) => match mesh_controller::report::parse_since(&since) {
                    Ok(since) => CheckSource::Server { url, since },
                    Err(e) => return fail(format!("--since: {e}")),
                },
                (_, Some(r), None) => CheckSource::Routes(r),
                (Some(t), None, None) => CheckSource::Topology(t),
                (None, None, None) => {
                    return fail("check needs --topology FILE, --routes FILE or --server URL")
                }
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

struct ReportArgs {
    server: Option<String>,
    db: Option<std::path::PathBuf>,
    config: Option<std::path::PathBuf>,
    since: String,
    budgets: Option<String>,
    format: ReportFormat,
    out: Option<std::path::PathBuf>,
}

fn report_cmd(a: ReportArgs) -> ExitCode {
    let since = match report::parse_since(&a.since) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let (text, violations) = if let Some(url) = &a.server {
        if let Some(b) = &a.budgets {
            if topology::budgets::preset(b).is_none() {
                return fail(format!(
                    "--budgets {b:?}: with --server only a preset (plan-2021, plan-2023)"
                ));
            }
        }
        match report::fetch(url, since, a.format, a.budgets.as_deref(), None) {
            Ok(f) => (f.body, f.violations > 0),
            Err(e) => return fail(e),
        }
    } else {
        let (Some(db), Some(config)) = (&a.db, &a.config) else {
            return fail("report needs --server URL, or --db FILE with --config FILE");
        };
        let cfg = match mesh_controller::config::load(config) {
            Ok(c) => c,
            Err(e) => return fail(e),
        };
        let cfg = match report::with_budgets(cfg, a.budgets.as_deref()) {
            Ok(c) => c,
            Err(e) => return fail(e),
        };
        if !db.is_file() {
            return fail(format!("{}: no such database", db.display()));
        }
        let conn = match mesh_controller::store::open_reader(db) {
            Ok(c) => c,
            Err(e) => return fail(format!("{}: {e}", db.display())),
        };
        let r = match report::build(&conn, &cfg, since) {
            Ok(r) => r,
            Err(e) => return fail(format!("{}: {e}", db.display())),
        };
        (
            report::render(&r, &cfg.topology, a.format),
            report::violates(&r),
        )
    };
    let written = match &a.out {
        Some(path) => report::write_atomic(path, &text)
            .map_err(|e| fail(format!("{}: cannot write: {e}", path.display()))),
        None => print(&text),
    };
    if let Err(code) = written {
        return code;
    }
    if violations {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
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
