//! `mesh-controller report`: the measured mesh from a store file (with its
//! configuration) or from a running controller, in any format, to stdout or
//! written atomically to a file.

use crate::commands::fetch::fetch;
use crate::server::report::{self, ReportFormat};
use crate::server::{config, console, store};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the report comes from.
#[derive(Debug, Clone)]
pub enum ReportSource {
    /// A running controller (`GET /v1/report`).
    Server(String),
    /// The controller's SQLite store, read-only, with its configuration.
    Db { db: PathBuf, config: PathBuf },
}

/// What `report` was asked for.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    pub source: ReportSource,
    pub since: Duration,
    /// A preset or budgets file (presets only with a server).
    pub budgets: Option<String>,
    pub format: ReportFormat,
    /// Every table, not only the lead.
    pub all: bool,
}

/// The rendered report and whether a covered route violates its budget.
#[derive(Debug)]
pub struct ReportOutput {
    pub text: String,
    pub violations: bool,
}

/// Builds (or fetches) and renders the report; errors are one line.
pub fn run(req: &ReportRequest) -> Result<ReportOutput, String> {
    match &req.source {
        ReportSource::Server(url) => {
            if let Some(b) = &req.budgets {
                if topology::budgets::preset(b).is_none() {
                    return Err(format!(
                        "--budgets {b:?}: with --server only a preset (plan-2021, plan-2023)"
                    ));
                }
            }
            let f = fetch(
                url,
                req.since,
                req.format,
                req.budgets.as_deref(),
                None,
                req.all,
            )?;
            Ok(ReportOutput {
                text: f.body,
                violations: f.violations > 0,
            })
        }
        ReportSource::Db { db, config } => {
            let cfg = config::load(config).map_err(|e| e.to_string())?;
            let cfg = report::with_budgets(cfg, req.budgets.as_deref())?;
            if crate::server::store::missing_file(db) {
                return Err(format!("{}: no such database", db.display()));
            }
            let conn = store::open_for_reports(db)
                .map_err(|e| format!("{}: {e}", crate::server::store::db_label(db)))?;
            let r = report::build(conn.as_ref(), &cfg, req.since)
                .map_err(|e| format!("{}: {e}", crate::server::store::db_label(db)))?;
            let text = if req.format == ReportFormat::Html {
                let snap = console::snapshot(conn.as_ref(), &cfg, &r, store::now_ms())
                    .map_err(|e| format!("{}: {e}", crate::server::store::db_label(db)))?;
                console::snapshot_page(&snap)
            } else {
                report::render_with(&r, &cfg.topology, req.format, req.all)
            };
            Ok(ReportOutput {
                text,
                violations: report::violates(&r),
            })
        }
    }
}

/// Writes `text` to `path` atomically: a temporary file beside it, then rename.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".to_string());
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
