//! `mesh-controller plan`: the budget analysis of a topology's modelled routes.

use super::{fail, print_then};
use clap::Args;
use mesh_controller::commands::plan::{self, PlanRequest};
use std::process::ExitCode;
use topology::analysis::{Options, DEFAULT_RELAY_MARGIN_MS};
use topology::render::Format;

#[derive(Args, Debug)]
pub(crate) struct PlanArgs {
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
}

pub(crate) fn run(a: PlanArgs) -> ExitCode {
    let req = PlanRequest {
        topology: a.topology,
        budgets: a.budgets,
        options: Options {
            all: a.all,
            relay_margin_ms: a.relay_margin_ms,
        },
    };
    match plan::plan(&req) {
        Ok(p) => print_then(&plan::render(&p, a.format), p.table.summary.violations > 0),
        Err(e) => fail(e),
    }
}
