//! `mesh-controller suggest`: direct links and exchange points that would
//! bring routes within budget.

use super::{fail, print_then};
use clap::Args;
use mesh_controller::commands::suggest::{
    self, SuggestFormat, SuggestRequest, SuggestSource, WriteTopology,
};
use mesh_controller::server::report::parse_since;
use std::path::PathBuf;
use std::process::ExitCode;
use topology::suggest::{SuggestOptions, DEFAULT_K, DEFAULT_ROUTE_FACTOR};

#[derive(Args, Debug)]
pub(crate) struct SuggestArgs {
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
    db: Option<PathBuf>,
    /// Controller configuration (topology, probes, budgets) for --db.
    #[arg(long, requires = "db")]
    config: Option<PathBuf>,
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
    /// Write a topology file (YAML v1) with the first --apply suggestions
    /// added: direct links on each of their carriers, exchange points as
    /// interconnects. For `check --topology`.
    #[arg(long, value_name = "OUT.yaml")]
    write_topology: Option<PathBuf>,
    /// How many suggestions (best first) --write-topology adds.
    #[arg(
        long,
        value_name = "N",
        requires = "write_topology",
        default_value_t = 1
    )]
    apply: usize,
    /// The topology --write-topology adds them to (`national` or a file);
    /// default: --topology's, or the configuration's with --db. Required with
    /// --server (say, the network as it is now, a fault included).
    #[arg(long, value_name = "FILE|national", requires = "write_topology")]
    base: Option<String>,
    #[command(flatten)]
    tls: super::server_tls::ServerTlsArgs,
}

pub(crate) fn run(a: SuggestArgs) -> ExitCode {
    if let Err(e) = a.tls.apply() {
        return fail(e);
    }
    let source = match (a.server, a.db.zip(a.config)) {
        (Some(url), _) => match parse_since(&a.since) {
            Ok(since) => SuggestSource::Server { url, since },
            Err(e) => return fail(e),
        },
        (None, Some((db, config))) => match parse_since(&a.since) {
            Ok(since) => SuggestSource::Db { db, config, since },
            Err(e) => return fail(e),
        },
        (None, None) => SuggestSource::Topology(a.topology.unwrap_or_else(|| "national".into())),
    };
    let req = SuggestRequest {
        source,
        budgets: a.budgets,
        options: SuggestOptions {
            k: a.k,
            route_factor: a.route_factor,
            ..SuggestOptions::default()
        },
    };
    let s = match suggest::run(&req) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let mut out = suggest::render(&s, a.format);
    if let Some(path) = a.write_topology {
        let w = WriteTopology {
            base: a.base,
            apply: a.apply,
            out: path.clone(),
        };
        match suggest::write_topology(&req, &s, &w) {
            Ok(done) => {
                let line = format!(
                    "wrote {}: {} with {} suggestion(s) added",
                    path.display(),
                    done.base,
                    done.added.len()
                );
                // JSON stays one document on stdout.
                match a.format {
                    SuggestFormat::Json => eprintln!("{line}"),
                    SuggestFormat::Table => {
                        out.push_str(&line);
                        out.push('\n');
                    }
                }
            }
            Err(e) => return fail(e),
        }
    }
    print_then(&out, false)
}
