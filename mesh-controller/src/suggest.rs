//! `mesh-controller suggest`: where a direct link or an exchange point would
//! bring routes within budget, from a topology's modelled routes.

use topology::error::LoadError;
use topology::routing::Routes;
use topology::suggest::{self, SuggestOptions, Suggestions};

/// Where the delays come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuggestSource {
    /// `national` or a topology file: modelled routes over its links.
    Topology(String),
    // Measurements come with the controller (issues 5 and 6): `--server URL`
    // and `--db FILE` will add variants here that build a
    // `topology::analysis::LatencySource` from stored windows and hand it to
    // `topology::suggest::suggest` exactly as `Routes` is handed over below.
}

/// What `suggest` was asked to do.
#[derive(Debug, Clone)]
pub struct SuggestRequest {
    pub source: SuggestSource,
    /// A preset name or a budgets file; `None` keeps the topology's own budgets.
    pub budgets: Option<String>,
    pub options: SuggestOptions,
}

/// Output formats of `suggest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SuggestFormat {
    Table,
    Json,
}

/// Loads the inputs and runs the suggestion search.
pub fn run(req: &SuggestRequest) -> Result<Suggestions, LoadError> {
    let o = &req.options;
    if !(o.route_factor.is_finite() && o.route_factor >= 1.0) {
        return Err(LoadError::new(
            "--route-factor",
            format!(
                "{} is not a route factor (fibre length over great-circle distance: a number >= 1)",
                o.route_factor
            ),
        ));
    }
    match &req.source {
        SuggestSource::Topology(arg) => {
            let topo = topology::national::resolve(arg)?;
            let budgets = match &req.budgets {
                Some(b) => topology::load::budgets_arg(b, &topo)?,
                None => topo.budgets.clone(),
            };
            let routes = Routes::compute(&topo);
            Ok(suggest::suggest(&topo, &budgets, &routes, o))
        }
    }
}

/// Renders suggestions in the requested format.
pub fn render(s: &Suggestions, format: SuggestFormat) -> String {
    match format {
        SuggestFormat::Table => suggest::suggestions_table(s),
        SuggestFormat::Json => {
            let mut out = suggest::suggestions_json(s);
            out.push('\n');
            out
        }
    }
}
