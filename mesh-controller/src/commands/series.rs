//! `mesh-controller series`: a route's history, from a running controller
//! (`GET /v1/series`) or from its store file, as a table, JSON or CSV.

use crate::commands::fetch::get;
use crate::history::series::{Point, Series};
use crate::server::api::series::parse_time;
use crate::server::series::{series, SeriesError, SeriesQuery, Step};
use crate::server::{config, store};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;
use topology::render::Table;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SeriesFormat {
    Table,
    Json,
    Csv,
}

/// Where the history comes from.
#[derive(Debug, Clone)]
pub enum SeriesSource {
    Server(String),
    Db { db: PathBuf, config: PathBuf },
}

/// What `series` was asked for.
#[derive(Debug, Clone)]
pub struct SeriesRequest {
    pub source: SeriesSource,
    pub from: String,
    pub to: String,
    pub since: Duration,
    /// Unix ms or RFC 3339; default now.
    pub until: Option<String>,
    pub step: Step,
    pub probe: Option<String>,
    pub peer: Option<String>,
}

/// Fetches or reads the series; errors are one line.
pub fn run(req: &SeriesRequest) -> Result<Series, String> {
    match &req.source {
        SeriesSource::Server(url) => {
            let mut q = vec![
                ("from", req.from.clone()),
                ("to", req.to.clone()),
                ("since", format!("{}s", req.since.as_secs().max(1))),
                (
                    "step",
                    match req.step {
                        Step::Auto => "auto".to_string(),
                        Step::Every(d) => format!("{}ms", d.as_millis()),
                    },
                ),
            ];
            for (k, v) in [
                ("until", &req.until),
                ("probe", &req.probe),
                ("peer", &req.peer),
            ] {
                if let Some(v) = v {
                    q.push((k, v.clone()));
                }
            }
            let a = get(url, "/v1/series", &q)?;
            serde_json::from_str(&a.body).map_err(|e| format!("--server {url}: /v1/series: {e}"))
        }
        SeriesSource::Db { db, config } => {
            let cfg = config::load(config).map_err(|e| e.to_string())?;
            if crate::server::store::missing_file(db) {
                return Err(format!("{}: no such database", db.display()));
            }
            let conn = store::open_for_reports(db)
                .map_err(|e| format!("{}: {e}", crate::server::store::db_label(db)))?;
            let now = store::now_ms();
            let until = match &req.until {
                Some(t) => parse_time(t).map_err(|e| format!("--until: {e}"))?,
                None => now,
            };
            let q = SeriesQuery {
                from: req.from.clone(),
                to: req.to.clone(),
                since: until
                    .saturating_sub(u64::try_from(req.since.as_millis()).unwrap_or(u64::MAX)),
                until,
                step: req.step,
                probe: req.probe.clone(),
                peer: req.peer.clone(),
            };
            series(conn.as_ref(), &cfg, &q, now).map_err(|e| match e {
                SeriesError::Bad(e) => e,
                SeriesError::Store(e) => format!("{}: {e}", crate::server::store::db_label(db)),
            })
        }
    }
}

fn ms(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"))
}

fn time(t: u64) -> String {
    let st = std::time::UNIX_EPOCH + Duration::from_millis(t);
    humantime::format_rfc3339_seconds(st).to_string()
}

const COLUMNS: [&str; 15] = [
    "time",
    "duration_s",
    "basis",
    "fwd_p50_ms",
    "fwd_p90_ms",
    "fwd_p99_ms",
    "rev_p50_ms",
    "rev_p90_ms",
    "rev_p99_ms",
    "error_ms",
    "rtt_p50_ms",
    "rtt_p99_ms",
    "loss_fwd_pct",
    "loss_rev_pct",
    "windows",
];

fn row(p: &Point) -> Vec<String> {
    vec![
        time(p.t),
        (p.duration_ms / 1000).to_string(),
        match p.basis {
            topology::analysis::Basis::OneWay => "one-way",
            topology::analysis::Basis::RttHalf => "rtt-half",
            topology::analysis::Basis::Model => "model",
        }
        .to_string(),
        ms(p.forward.p50),
        ms(p.forward.p90),
        ms(p.forward.p99),
        ms(p.reverse.p50),
        ms(p.reverse.p90),
        ms(p.reverse.p99),
        ms(p.error_ms),
        ms(p.rtt.p50),
        ms(p.rtt.p99),
        ms(p.loss_forward_pct),
        ms(p.loss_reverse_pct),
        p.windows.to_string(),
    ]
}

/// The series in a format.
pub fn render(s: &Series, format: SeriesFormat) -> String {
    match format {
        SeriesFormat::Json => {
            serde_json::to_string_pretty(s).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
                + "\n"
        }
        SeriesFormat::Csv => {
            let mut out = COLUMNS.join(",");
            out.push('\n');
            for p in &s.points {
                out.push_str(&row(p).join(","));
                out.push('\n');
            }
            out
        }
        SeriesFormat::Table => {
            let mut out = String::new();
            let budget = s.budget_ms.map_or_else(
                || "no budget rule covers it".to_string(),
                |b| {
                    format!(
                        "budget {b} ms at p{} ({})",
                        s.percentile.unwrap_or(50.0),
                        s.rule.as_deref().unwrap_or("-")
                    )
                },
            );
            let _ = writeln!(
                out,
                "{} -> {}: {} points, step {} s, from {} to {}; {budget}; forward is {} -> {}",
                s.from,
                s.to,
                s.points.len(),
                s.step_ms / 1000,
                time(s.since),
                time(s.until),
                s.from,
                s.to
            );
            let mut t = Table::new(COLUMNS.iter().map(|c| c.to_uppercase()).collect());
            for p in &s.points {
                t.row(row(p));
            }
            out.push_str(&t.render());
            out
        }
    }
}
