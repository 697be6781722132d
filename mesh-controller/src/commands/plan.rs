//! `mesh-controller plan`: the route analysis from the topology's links alone,
//! with no measurements, so a proposed change is checked before it is made.

use topology::analysis::{self, Options, RouteTable};
use topology::error::LoadError;
use topology::render::{self, Format};
use topology::routing::Routes;
use topology::Topology;

/// What `plan` was asked to do.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    /// `national` or a topology file path.
    pub topology: String,
    /// A preset name or a budgets file; `None` keeps the topology's own budgets.
    pub budgets: Option<String>,
    pub options: Options,
}

/// The analysed plan and the topology it came from.
#[derive(Debug, Clone)]
pub struct Plan {
    pub topology: Topology,
    pub table: RouteTable,
}

/// Loads the topology and budgets and analyses every covered route.
pub fn plan(req: &PlanRequest) -> Result<Plan, LoadError> {
    let topology = topology::national::resolve(&req.topology)?;
    let budgets = match &req.budgets {
        Some(arg) => topology::load::budgets_arg(arg, &topology)?,
        None => topology.budgets.clone(),
    };
    let routes = Routes::compute(&topology);
    let table = analysis::analyse(&topology, &budgets, &routes, &req.options);
    Ok(Plan { topology, table })
}

/// Renders a plan in the requested format.
pub fn render(plan: &Plan, format: Format) -> String {
    match format {
        Format::Table => render::routes_table(&plan.table),
        Format::Json => {
            let mut s = render::routes_json(&plan.table);
            s.push('\n');
            s
        }
        Format::Markdown => render::routes_markdown(&plan.table),
        Format::Dot => render::map_dot(&plan.topology, Some(&plan.table)),
    }
}
