//! `mesh-controller series`: a route's history.

use super::{fail, print};
use clap::Args;
use mesh_controller::commands::series::{self, SeriesFormat, SeriesRequest, SeriesSource};
use mesh_controller::server::config::parse_duration;
use mesh_controller::server::series::Step;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub(crate) struct SeriesArgs {
    /// A running controller, e.g. http://127.0.0.1:8680 (GET /v1/series).
    #[arg(long, conflicts_with_all = ["db", "config"], required_unless_present = "db")]
    server: Option<String>,
    /// The controller's SQLite database, opened read-only (needs --config).
    #[arg(long, requires = "config")]
    db: Option<PathBuf>,
    /// Controller configuration (topology, probes, budgets) for --db.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The route's first endpoint (site or site@network): forward is from -> to.
    #[arg(long)]
    from: String,
    /// The route's other endpoint.
    #[arg(long)]
    to: String,
    /// Look-back (e.g. 1h, 24h, 30d).
    #[arg(long, default_value = "24h")]
    since: String,
    /// End of the range: Unix ms or RFC 3339; default now.
    #[arg(long)]
    until: Option<String>,
    /// Step between points (a multiple of the fine rollup bucket, e.g. 1m,
    /// 5m, 1h), or auto.
    #[arg(long, default_value = "auto")]
    step: String,
    /// Narrow to this probe's sessions (its raw and retained windows).
    #[arg(long)]
    probe: Option<String>,
    /// With --probe: only its sessions with this probe.
    #[arg(long, requires = "probe")]
    peer: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: SeriesFormat,
    #[command(flatten)]
    tls: super::server_tls::ServerTlsArgs,
}

pub(crate) fn run(a: SeriesArgs) -> ExitCode {
    if let Err(e) = a.tls.apply() {
        return fail(e);
    }
    let since = match parse_duration(&a.since) {
        Ok(s) => s,
        Err(e) => return fail(format!("--since: {e}")),
    };
    let step = if a.step == "auto" {
        Step::Auto
    } else {
        match parse_duration(&a.step) {
            Ok(d) => Step::Every(d),
            Err(e) => return fail(format!("--step: {e} (or auto)")),
        }
    };
    let source = match (a.server, a.db, a.config) {
        (Some(url), _, _) => SeriesSource::Server(url),
        (None, Some(db), Some(config)) => SeriesSource::Db { db, config },
        _ => return fail("series needs --server URL, or --db FILE with --config FILE"),
    };
    let req = SeriesRequest {
        source,
        from: a.from,
        to: a.to,
        since,
        until: a.until,
        step,
        probe: a.probe,
        peer: a.peer,
    };
    match series::run(&req) {
        Ok(s) => match print(&series::render(&s, a.format)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(code) => code,
        },
        Err(e) => fail(e),
    }
}
