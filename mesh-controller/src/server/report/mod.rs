//! The measured report (`mesh-controller report`, `GET /v1/report`, what
//! the console shows): the measured route
//! table (`plan`'s JSON, each route with a `measured` object: forward and
//! reverse one-way delay, RTT, loss per direction, jitter), the detours, and
//! suggestions computed over the measured delays.
//!
//! The report is built in one place, [`build`], from a read-only connection to
//! the store and the controller's configuration; `report --db` calls it
//! directly, the API calls it for `GET /v1/report` (any format,
//! `server::api::report`; the console polls its JSON), and `report
//! --server` fetches the latter (`commands::fetch`).

mod build;
mod clocks;
pub mod probe_clocks;
mod render;
mod results;

pub use build::{build, build_with};
pub use render::{render, render_with, since_text};
pub use results::{
    icmp, throughput, trace_sites, trace_usable, IcmpRoute, MeasuredPath, Throughput,
};

use crate::server::config::{parse_duration, Config};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use topology::analysis::{Basis, RouteReport, RouteTable, Summary, Verdict};
use topology::suggest::{SuggestSummary, Suggestion};

/// Default look-back.
pub const DEFAULT_SINCE: Duration = Duration::from_secs(3600);

/// A route whose one-way delay is at least this many times the fibre lower
/// bound counts as a detour (as does one with a faster relay).
pub const DETOUR_STRETCH: f64 = 3.0;

/// Response header of `/v1/report` with the number of violations (so
/// `report --server` can exit 1 without parsing every format).
pub const VIOLATIONS_HEADER: &str = "x-hubmesh-violations";

/// Output formats of `report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    Md,
    Html,
    Dot,
}

impl ReportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportFormat::Table => "table",
            ReportFormat::Json => "json",
            ReportFormat::Md => "md",
            ReportFormat::Html => "html",
            ReportFormat::Dot => "dot",
        }
    }

    pub fn parse(s: &str) -> Option<ReportFormat> {
        Some(match s {
            "table" => ReportFormat::Table,
            "json" => ReportFormat::Json,
            "md" | "markdown" => ReportFormat::Md,
            "html" => ReportFormat::Html,
            "dot" => ReportFormat::Dot,
            _ => return None,
        })
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ReportFormat::Json => "application/json",
            ReportFormat::Html => "text/html; charset=utf-8",
            ReportFormat::Md => "text/markdown; charset=utf-8",
            ReportFormat::Table | ReportFormat::Dot => "text/plain; charset=utf-8",
        }
    }
}

/// A distribution's median and 99th percentile (ms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Dist {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
}

impl Dist {
    fn half(self) -> Dist {
        Dist {
            p50: self.p50.map(|v| round3(v / 2.0)),
            p99: self.p99.map(|v| round3(v / 2.0)),
        }
    }
    fn is_empty(&self) -> bool {
        self.p50.is_none() && self.p99.is_none()
    }
}

/// What was measured between the two ends of a route. `forward` is from ->
/// to, `reverse` to -> from. Where the clocks do not allow one-way figures
/// (`basis: rtt-half`), both are half the round trip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasuredFields {
    pub basis: Basis,
    pub forward: Dist,
    pub reverse: Dist,
    /// Clock error bound of the one-way figures (0: one kernel clock);
    /// null with `rtt-half`.
    pub error_ms: Option<f64>,
    pub rtt: Dist,
    /// Loss from -> to and to -> from (%); null where the reflector's sequence
    /// numbers could not tell the directions apart.
    pub loss_forward_pct: Option<f64>,
    pub loss_reverse_pct: Option<f64>,
    pub loss_round_trip_pct: Option<f64>,
    /// |IPDV| of consecutive round trips.
    pub jitter: Dist,
    /// Uploaded windows behind the figures.
    pub windows: u64,
    /// Address families of the sessions behind the figures (`ipv4`,
    /// `ipv6`), as the configuration plans them (`server::family`); absent
    /// from reports made before dual stack.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub family: Vec<String>,
    /// Why the basis is what it is, when it is not `one-way`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
}

/// A route of the report: `plan`'s fields plus what was measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportRoute {
    #[serde(flatten)]
    pub route: RouteReport,
    pub measured: Option<MeasuredFields>,
}

/// The report: what `report --format json` prints, in the order every format
/// reads: the summary, firing alerts, routes over budget, what changed, the
/// fix; then everything else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Look-back of the measurements (seconds).
    pub since_s: u64,
    /// End of the newest window stored (Unix ms; any route, any age), null
    /// when none: how fresh the data is.
    #[serde(default)]
    pub newest_window_end_ms: Option<u64>,
    pub summary: Summary,
    /// Covered routes with an end where no probe stands: counted apart from
    /// the measured ones (they are `no-data` in `routes`).
    #[serde(default)]
    pub not_instrumented: NotInstrumented,
    /// Alerts firing now.
    #[serde(default)]
    pub alerts: Vec<crate::server::monitor::alert_list::AlertView>,
    /// The covered routes over budget (also in `routes`).
    #[serde(default)]
    pub violations: Vec<ReportRoute>,
    /// What changed in the look-back, newest first.
    #[serde(default)]
    pub events: Vec<crate::server::monitor::event_list::EventView>,
    /// Direct links and exchange points that would help (best first), over
    /// the measured delays, and the modelled ones for pairs not measured.
    pub suggestions: Vec<Suggestion>,
    pub suggest_summary: SuggestSummary,
    /// Routes with a faster relay or a stretch of at least [`DETOUR_STRETCH`].
    pub detours: Vec<RouteReport>,
    /// The latest traceroute of each detour and each route over budget, by site.
    #[serde(default)]
    pub paths: Vec<MeasuredPath>,
    /// Every route a budget covers and every measured one.
    pub routes: Vec<ReportRoute>,
    /// Inter-carrier latency inside a city, on its own (these pairs are not
    /// in the measured matrix of the text formats).
    #[serde(default)]
    pub inter_carrier: Vec<InterCarrierRoute>,
    /// Bandwidth per ordered endpoint pair (forward and reverse tests).
    #[serde(default)]
    pub throughput: Vec<Throughput>,
    /// ICMP echo to hosts without a probe.
    #[serde(default)]
    pub icmp: Vec<IcmpRoute>,
    /// Each probe's clock as its last hello described it.
    #[serde(default)]
    pub probe_clocks: Vec<probe_clocks::ProbeClock>,
}

/// Covered routes no probe can measure: an end has no probe.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NotInstrumented {
    /// Covered routes with such an end.
    pub routes: usize,
    /// The endpoints without a probe that budgets cover, sorted.
    pub endpoints: Vec<String>,
}

/// Two carriers in one city: a slow pair here is a missing or unused local
/// interconnect, not distance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterCarrierRoute {
    pub city: String,
    pub from: String,
    pub to: String,
    /// Measured where measured (`basis` one-way or rtt-half), modelled
    /// otherwise (`basis` model).
    pub one_way_ms: Option<f64>,
    pub basis: Option<Basis>,
    pub budget_ms: Option<f64>,
    pub verdict: Verdict,
    /// A site of the city with an interconnect joining both carriers.
    pub local_exchange: Option<String>,
    /// Where the modelled path changes carrier (a far city when the city has
    /// no local exchange).
    pub model_crosses_at: Vec<String>,
    pub measured: Option<MeasuredFields>,
}

impl Report {
    pub fn table(&self) -> RouteTable {
        RouteTable {
            routes: self.routes.iter().map(|r| r.route.clone()).collect(),
            summary: self.summary.clone(),
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Applies `--budgets` (a preset or a file) to a configuration.
pub fn with_budgets(mut config: Config, budgets: Option<&str>) -> Result<Config, String> {
    if let Some(b) = budgets {
        config.budgets =
            topology::load::budgets_arg(b, &config.topology).map_err(|e| e.to_string())?;
    }
    Ok(config)
}

/// Whether any covered route violates its budget.
pub fn violates(r: &Report) -> bool {
    r.routes
        .iter()
        .any(|x| x.route.budget_ms.is_some() && x.route.verdict == Verdict::Violation)
}

/// Parses `--since` / `?since=`.
pub fn parse_since(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| format!("--since: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip() {
        for f in [
            ReportFormat::Table,
            ReportFormat::Json,
            ReportFormat::Md,
            ReportFormat::Html,
            ReportFormat::Dot,
        ] {
            assert_eq!(ReportFormat::parse(f.as_str()), Some(f));
        }
    }
}
