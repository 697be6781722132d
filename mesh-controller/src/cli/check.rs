//! `mesh-controller check`: the CI gate.

use super::{fail, found, print};
use clap::Args;
use mesh_controller::commands::check::{self, CheckRequest, CheckSource, DEFAULT_TOLERANCE_MS};
use mesh_controller::server::report::parse_since;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub(crate) struct CheckArgs {
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
    #[command(flatten)]
    tls: super::server_tls::ServerTlsArgs,
}

pub(crate) fn run(a: CheckArgs) -> ExitCode {
    if let Err(e) = a.tls.apply() {
        return fail(e);
    }
    let source = match (a.topology, a.routes, a.server) {
        (_, _, Some(url)) => match parse_since(&a.since) {
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
        budgets: a.budgets,
        baseline: a.baseline,
        tolerance_ms: a.tolerance_ms,
    };
    let outcome = match check::check(&req) {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    for (path, text) in [
        (a.junit, check::junit(&outcome)),
        (a.markdown, check::markdown(&outcome)),
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
    found(!outcome.passed())
}
