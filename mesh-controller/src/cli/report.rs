//! `mesh-controller report`: the measured mesh, from a store or a running
//! controller.

use super::{fail, found, print};
use clap::Args;
use mesh_controller::commands::report::{self, ReportRequest, ReportSource};
use mesh_controller::server::report::{parse_since, ReportFormat};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub(crate) struct ReportArgs {
    /// A running controller, e.g. http://127.0.0.1:8680 (GET /v1/report).
    #[arg(long, conflicts_with_all = ["db", "config"], required_unless_present = "db")]
    server: Option<String>,
    /// The controller's SQLite database, opened read-only (needs --config).
    #[arg(long, requires = "config")]
    db: Option<PathBuf>,
    /// Controller configuration (topology, probes, budgets) for --db.
    #[arg(long)]
    config: Option<PathBuf>,
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
    out: Option<PathBuf>,
    /// Every table (all routes, the measured matrix, inter-carrier pairs,
    /// throughput, ICMP targets, traced paths), not only the lead (summary,
    /// firing alerts, routes over budget, events, suggestions).
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    tls: super::server_tls::ServerTlsArgs,
}

pub(crate) fn run(a: ReportArgs) -> ExitCode {
    if let Err(e) = a.tls.apply() {
        return fail(e);
    }
    let since = match parse_since(&a.since) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let source = match (a.server, a.db, a.config) {
        (Some(url), _, _) => ReportSource::Server(url),
        (None, Some(db), Some(config)) => ReportSource::Db { db, config },
        _ => return fail("report needs --server URL, or --db FILE with --config FILE"),
    };
    let req = ReportRequest {
        source,
        since,
        budgets: a.budgets,
        format: a.format,
        all: a.all,
    };
    let out = match report::run(&req) {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    let written = match &a.out {
        Some(path) => report::write_atomic(path, &out.text)
            .map_err(|e| fail(format!("{}: cannot write: {e}", path.display()))),
        None => print(&out.text),
    };
    match written {
        Ok(()) => found(out.violations),
        Err(code) => code,
    }
}
