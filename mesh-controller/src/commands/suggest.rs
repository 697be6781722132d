//! `mesh-controller suggest`: where a direct link or an exchange point would
//! bring routes within budget, from a topology's modelled routes, from the
//! measurements in a controller's store, or from a running controller.

use topology::error::LoadError;
use topology::routing::Routes;
use topology::suggest::{self, SuggestOptions, Suggestions};

/// Where the delays come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuggestSource {
    /// `national` or a topology file: modelled routes over its links.
    Topology(String),
    /// A controller's SQLite store (read-only) and its configuration: measured
    /// delays of the last `since`, modelled ones for pairs not measured.
    Db {
        db: std::path::PathBuf,
        config: std::path::PathBuf,
        since: std::time::Duration,
    },
    /// A running controller: the suggestions of its `/v1/report`, computed
    /// there over the same blend of measured and modelled delays.
    Server {
        url: String,
        since: std::time::Duration,
    },
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
        SuggestSource::Db { db, config, since } => {
            let cfg = crate::server::config::load(config)?;
            let cfg = crate::server::report::with_budgets(cfg, req.budgets.as_deref())
                .map_err(|e| LoadError::new("--budgets", e))?;
            let at = crate::server::store::db_label(db);
            if crate::server::store::missing_file(db) {
                return Err(LoadError::new(at, "no such database"));
            }
            let conn = crate::server::store::open_for_reports(db)
                .map_err(|e| LoadError::new(at.as_str(), e.to_string()))?;
            let r = crate::server::report::build_with(conn.as_ref(), &cfg, *since, o)
                .map_err(|e| LoadError::new(at.as_str(), e.to_string()))?;
            Ok(Suggestions {
                suggestions: r.suggestions,
                summary: r.suggest_summary,
            })
        }
        SuggestSource::Server { url, since } => {
            if let Some(b) = &req.budgets {
                if topology::budgets::preset(b).is_none() {
                    return Err(LoadError::new(
                        "--budgets",
                        format!("{b:?}: with --server only a preset (plan-2021, plan-2023)"),
                    ));
                }
            }
            let fetched = crate::commands::fetch::fetch(
                url,
                *since,
                crate::server::report::ReportFormat::Json,
                req.budgets.as_deref(),
                Some(o),
                false,
            )
            .map_err(|e| LoadError::new("--server", e))?;
            let r: crate::server::report::Report =
                serde_json::from_str(&fetched.body).map_err(|e| {
                    LoadError::new(url.as_str(), format!("not a report from a controller: {e}"))
                })?;
            Ok(Suggestions {
                suggestions: r.suggestions,
                summary: r.suggest_summary,
            })
        }
    }
}

/// Where `--write-topology` writes: the base topology with the first `apply`
/// suggestions added.
#[derive(Debug, Clone)]
pub struct WriteTopology {
    /// `national` or a topology file; `None`: the source's own topology
    /// (`--topology`, or the configuration's with `--db`).
    pub base: Option<String>,
    pub apply: usize,
    pub out: std::path::PathBuf,
}

/// What [`write_topology`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub base: String,
    /// One line per suggestion added.
    pub added: Vec<String>,
}

/// Writes the base topology with the first `w.apply` suggestions added
/// (YAML v1, atomically: a temporary file beside it, then rename).
pub fn write_topology(
    req: &SuggestRequest,
    s: &Suggestions,
    w: &WriteTopology,
) -> Result<Written, LoadError> {
    let (base_name, base) = match (&w.base, &req.source) {
        (Some(b), _) => (b.clone(), topology::national::resolve(b)?),
        (None, SuggestSource::Topology(t)) => (t.clone(), topology::national::resolve(t)?),
        (None, SuggestSource::Db { config, .. }) => (
            format!("the topology of {}", config.display()),
            crate::server::config::load(config)?.topology,
        ),
        (None, SuggestSource::Server { .. }) => {
            return Err(LoadError::new(
                "--write-topology",
                "with --server, say which topology the suggestions go on: --base FILE|national",
            ))
        }
    };
    if w.apply > s.suggestions.len() {
        return Err(LoadError::new(
            "--apply",
            format!(
                "{} suggestions asked for, {} made",
                w.apply,
                s.suggestions.len()
            ),
        ));
    }
    let changed = suggest::apply_first(&base, &s.suggestions, w.apply)
        .map_err(|e| LoadError::new(base_name.as_str(), e.to_string()))?;
    let added: Vec<String> = s
        .suggestions
        .iter()
        .take(w.apply)
        .enumerate()
        .map(|(i, x)| {
            format!(
                "{}. {} {} on {}: {:.2} ms",
                i + 1,
                x.kind.as_str(),
                x.sites.join(" -- "),
                x.networks.join(", "),
                x.one_way_ms
            )
        })
        .collect();
    let mut header = format!(
        "Written by mesh-controller suggest --write-topology: {base_name} with {} suggestion(s) added:\n",
        w.apply
    );
    for a in &added {
        header.push_str(a);
        header.push('\n');
    }
    let text = topology::write::to_yaml(&changed, &header);
    let at = w.out.display().to_string();
    let tmp = w.out.with_extension("yaml.tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &w.out))
        .map_err(|e| LoadError::new(at.as_str(), format!("cannot write: {e}")))?;
    Ok(Written {
        base: base_name,
        added,
    })
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
