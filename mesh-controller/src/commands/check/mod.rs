//! `mesh-controller check`: the CI gate. Judges a route table (analysed from a
//! proposed topology, or read from a file) against its budgets and, given a
//! baseline table, against the delays it had before; writes JUnit XML for the CI
//! and a Markdown summary for the pull request.
//!
//! This file is the verdict (what is judged and how); `output` writes it for
//! people and CI (text, JUnit XML, Markdown).

mod output;

pub use output::{
    junit, markdown, summary_line, text, MARKDOWN_MAX_GONE, MARKDOWN_MAX_ROWS, TEXT_MAX_ROWS,
};

use std::collections::{HashMap, HashSet};
use topology::analysis::{self, Options, RouteReport, RouteTable, Summary, Verdict};
use topology::error::LoadError;
use topology::routing::Routes;

/// A route regresses when it is slower than in the baseline by more than this (ms).
pub const DEFAULT_TOLERANCE_MS: f64 = 0.5;

/// Where the routes to check come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckSource {
    /// `national` or a topology file: its modelled routes, analysed here.
    Topology(String),
    /// A route table file (`plan --format json`, or a report's table).
    Routes(String),
    /// A running controller: its measured route table of the last `since`,
    /// judged exactly like `Routes` (the fetch lives with the server code).
    Server {
        url: String,
        since: std::time::Duration,
    },
}

/// What `check` was asked to do.
#[derive(Debug, Clone)]
pub struct CheckRequest {
    pub source: CheckSource,
    /// A preset or budgets file (topology sources only); `None` keeps the
    /// topology's own budgets.
    pub budgets: Option<String>,
    /// A route table to compare delays against.
    pub baseline: Option<String>,
    pub tolerance_ms: f64,
}

/// Why a route fails the check.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// Over its budget.
    Violation,
    /// The error band straddles the budget: not shown to be within it.
    Uncertain,
    /// Covered, but no delay is known (unreachable in the model, unmeasured).
    NoData,
    /// Slower than the baseline by more than the tolerance, or unreachable now.
    Regression { baseline_ms: f64 },
}

impl Problem {
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::Violation => "violation",
            Problem::Uncertain => "uncertain",
            Problem::NoData => "no-data",
            Problem::Regression { .. } => "regression",
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Problem::Violation => 0,
            Problem::NoData => 1,
            Problem::Regression { .. } => 2,
            Problem::Uncertain => 3,
        }
    }

    /// One sentence about the problem on this route.
    pub fn describe(&self, r: &RouteReport, tolerance_ms: f64) -> String {
        let rule = r.rule.as_deref().unwrap_or("uncovered");
        let budget = r.budget_ms.map_or_else(|| "-".to_string(), ms);
        match self {
            Problem::Violation => format!(
                "violation: {} ms one way, over the {budget} ms budget ({rule})",
                r.one_way_ms.map_or_else(|| "-".to_string(), ms)
            ),
            Problem::Uncertain => format!(
                "uncertain: {} ± {} ms straddles the {budget} ms budget ({rule})",
                r.one_way_ms.map_or_else(|| "-".to_string(), ms),
                r.error_ms.map_or_else(|| "-".to_string(), ms)
            ),
            Problem::NoData => {
                format!(
                    "no-data: no one-way delay known (unreachable?); budget {budget} ms ({rule})"
                )
            }
            Problem::Regression { baseline_ms } => match r.one_way_ms {
                Some(now) => format!(
                    "regression: {} ms one way, {} ms in the baseline (+{} ms, tolerance {} ms)",
                    ms(now),
                    ms(*baseline_ms),
                    ms(now - baseline_ms),
                    tolerance_ms
                ),
                None => format!(
                    "regression: unreachable now, {} ms in the baseline",
                    ms(*baseline_ms)
                ),
            },
        }
    }
}

pub(crate) fn ms(x: f64) -> String {
    format!("{x:.2}")
}

/// One route, judged.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteCheck {
    pub route: RouteReport,
    /// The route's one-way delay in the baseline (`None`: not there, or
    /// unreachable there).
    pub baseline_ms: Option<f64>,
    pub in_baseline: bool,
    /// Empty when the route passes.
    pub problems: Vec<Problem>,
}

/// A route the baseline has and this table does not.
#[derive(Debug, Clone, PartialEq)]
pub struct Gone {
    pub from: String,
    pub to: String,
    pub one_way_ms: Option<f64>,
}

/// The outcome of a check: every route with its problems, and the totals.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckOutcome {
    /// What was checked (file name or `national`).
    pub source: String,
    /// The baseline's file name, when one was given.
    pub baseline: Option<String>,
    pub tolerance_ms: f64,
    /// Verdict counts over the checked table.
    pub summary: Summary,
    pub routes: Vec<RouteCheck>,
    pub regressions: usize,
    /// Routes not in the baseline (not regressions).
    pub new_routes: usize,
    pub gone: Vec<Gone>,
}

impl CheckOutcome {
    /// Every covered route within budget and none regressed.
    pub fn passed(&self) -> bool {
        self.routes.iter().all(|r| r.problems.is_empty())
    }

    /// Failing routes, worst first: violations, unreachable, regressions,
    /// uncertain; slowest first within each.
    pub fn failures(&self) -> Vec<&RouteCheck> {
        let mut v: Vec<&RouteCheck> = self
            .routes
            .iter()
            .filter(|r| !r.problems.is_empty())
            .collect();
        v.sort_by(|a, b| {
            let rank = |r: &RouteCheck| r.problems.iter().map(Problem::rank).min().unwrap_or(9);
            rank(a).cmp(&rank(b)).then(
                b.route
                    .one_way_ms
                    .unwrap_or(f64::INFINITY)
                    .total_cmp(&a.route.one_way_ms.unwrap_or(f64::INFINITY)),
            )
        });
        v
    }

    /// Failing routes.
    pub fn failed(&self) -> usize {
        self.routes
            .iter()
            .filter(|r| !r.problems.is_empty())
            .count()
    }
}

/// Loads the inputs and judges the routes.
pub fn check(req: &CheckRequest) -> Result<CheckOutcome, LoadError> {
    if !(req.tolerance_ms.is_finite() && req.tolerance_ms >= 0.0) {
        return Err(LoadError::new(
            "--tolerance-ms",
            format!(
                "{} is not a tolerance (a number of ms >= 0)",
                req.tolerance_ms
            ),
        ));
    }
    let (name, table) = match &req.source {
        CheckSource::Topology(arg) => {
            let topo = topology::national::resolve(arg)?;
            let budgets = match &req.budgets {
                Some(b) => topology::load::budgets_arg(b, &topo)?,
                None => topo.budgets.clone(),
            };
            let routes = Routes::compute(&topo);
            let table = analysis::analyse(&topo, &budgets, &routes, &Options::default());
            (arg.clone(), table)
        }
        CheckSource::Routes(path) => {
            if req.budgets.is_some() {
                return Err(LoadError::new(
                    path.as_str(),
                    "--budgets applies to --topology: a route table carries each route's budget_ms",
                ));
            }
            (path.clone(), rejudge(read_route_table(path)?))
        }
        CheckSource::Server { url, since } => {
            if req.budgets.is_some() {
                return Err(LoadError::new(
                    url.as_str(),
                    "--budgets applies to --topology: the controller judges with its own budgets",
                ));
            }
            let fetched = crate::commands::fetch::fetch(
                url,
                *since,
                crate::server::report::ReportFormat::Json,
                None,
                None,
                false,
            )
            .map_err(|e| LoadError::new(url.as_str(), e))?;
            let table: RouteTable = serde_json::from_str(&fetched.body).map_err(|e| {
                LoadError::new(
                    url.as_str(),
                    format!("the report is not a route table: {e}"),
                )
            })?;
            (url.clone(), rejudge(table))
        }
    };
    let baseline = match &req.baseline {
        Some(path) => Some((path.as_str(), read_route_table(path)?)),
        None => None,
    };
    Ok(compare(
        &name,
        table,
        baseline.as_ref().map(|(n, t)| (*n, t)),
        req.tolerance_ms,
    ))
}

/// Reads a route table (`plan --format json`); errors name the file and, for
/// malformed JSON, the line and column.
pub fn read_route_table(path: &str) -> Result<RouteTable, LoadError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| LoadError::new(path, format!("cannot read route table: {e}")))?;
    parse_route_table(&text, path)
}

/// Parses a route table's JSON text; `origin` names it in errors.
pub fn parse_route_table(text: &str, origin: &str) -> Result<RouteTable, LoadError> {
    serde_json::from_str(text).map_err(|e| {
        // serde_json ends its message with " at line L column C"; the position
        // goes in front instead, like every other file error.
        let msg = e.to_string();
        let msg = match msg.rfind(" at line ") {
            Some(i) => msg[..i].to_string(),
            None => msg,
        };
        LoadError::at(
            origin,
            e.line(),
            e.column(),
            format!("not a route table (the `plan --format json` shape): {msg}"),
        )
    })
}

/// Re-derives every verdict from the route's own `one_way_ms` (± `error_ms`)
/// and `budget_ms`, so a stale or hand-edited `verdict` in a file cannot hide
/// a violation; the summary is recounted. The worse of the two stands: the
/// figures in a file are rounded, and a band that straddled its budget
/// before rounding must not come back `ok`.
pub fn rejudge(mut table: RouteTable) -> RouteTable {
    fn rank(v: Verdict) -> u8 {
        match v {
            Verdict::Ok => 0,
            Verdict::NoData => 1,
            Verdict::Uncertain => 2,
            Verdict::Violation => 3,
        }
    }
    for r in &mut table.routes {
        let est = r.one_way_ms.map(|v| (v, r.error_ms.unwrap_or(0.0)));
        let derived = match r.budget_ms {
            Some(limit) => analysis::verdict(est, limit),
            None if est.is_none() => Verdict::NoData,
            None => Verdict::Ok,
        };
        let stated = r.verdict;
        r.verdict = match (est, r.budget_ms) {
            (Some(_), Some(_)) if rank(stated) > rank(derived) && stated != Verdict::NoData => {
                stated
            }
            _ => derived,
        };
    }
    table.summary = analysis::summarize(&table.routes);
    table
}

/// Judges a table, and compares it with a baseline when there is one.
pub fn compare(
    source: &str,
    table: RouteTable,
    baseline: Option<(&str, &RouteTable)>,
    tolerance_ms: f64,
) -> CheckOutcome {
    let mut base: HashMap<(&str, &str), Option<f64>> = HashMap::new();
    if let Some((_, b)) = baseline {
        for r in &b.routes {
            base.entry((r.from.as_str(), r.to.as_str()))
                .or_insert(r.one_way_ms);
        }
    }
    let mut routes = Vec::with_capacity(table.routes.len());
    let (mut regressions, mut new_routes) = (0, 0);
    for r in &table.routes {
        let mut problems = Vec::new();
        if r.budget_ms.is_some() {
            match r.verdict {
                Verdict::Ok => {}
                Verdict::Violation => problems.push(Problem::Violation),
                Verdict::Uncertain => problems.push(Problem::Uncertain),
                Verdict::NoData => problems.push(Problem::NoData),
            }
        }
        let was = base.get(&(r.from.as_str(), r.to.as_str())).copied();
        if baseline.is_some() && was.is_none() {
            new_routes += 1;
        }
        if let Some(Some(b)) = was {
            let regressed = match r.one_way_ms {
                Some(now) => now > b + tolerance_ms,
                None => true,
            };
            if regressed {
                regressions += 1;
                problems.push(Problem::Regression { baseline_ms: b });
            }
        }
        routes.push(RouteCheck {
            route: r.clone(),
            baseline_ms: was.flatten(),
            in_baseline: was.is_some(),
            problems,
        });
    }
    let mut gone = Vec::new();
    if let Some((_, b)) = baseline {
        let now: HashSet<(&str, &str)> = table
            .routes
            .iter()
            .map(|r| (r.from.as_str(), r.to.as_str()))
            .collect();
        let mut seen = HashSet::new();
        for r in &b.routes {
            let key = (r.from.as_str(), r.to.as_str());
            if !now.contains(&key) && seen.insert(key) {
                gone.push(Gone {
                    from: r.from.clone(),
                    to: r.to.clone(),
                    one_way_ms: r.one_way_ms,
                });
            }
        }
    }
    CheckOutcome {
        source: source.to_string(),
        baseline: baseline.map(|(n, _)| n.to_string()),
        tolerance_ms,
        summary: table.summary,
        routes,
        regressions,
        new_routes,
        gone,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use topology::analysis::Basis;

    fn route(from: &str, to: &str, ms: Option<f64>, budget: Option<f64>) -> RouteReport {
        RouteReport {
            from: from.into(),
            to: to.into(),
            one_way_ms: ms,
            error_ms: None,
            basis: Some(Basis::Model),
            budget_ms: budget,
            rule: budget.map(|_| "r".to_string()),
            percentile: Some(99.0),
            verdict: Verdict::Ok,
            distance_km: 0.0,
            lower_bound_ms: 0.0,
            stretch: None,
            path: vec![],
            relay: None,
            note: None,
            clock: None,
        }
    }

    fn table(routes: Vec<RouteReport>) -> RouteTable {
        rejudge(RouteTable {
            routes,
            summary: Summary::default(),
        })
    }

    #[test]
    fn rejudges_from_delays_not_from_the_verdict_field() {
        let mut r = route("a", "b", Some(12.0), Some(10.0));
        r.verdict = Verdict::Ok;
        let mut u = route("a", "c", Some(9.5), Some(10.0));
        u.error_ms = Some(1.0);
        let t = table(vec![r, u, route("a", "d", None, Some(1.0))]);
        assert_eq!(t.routes[0].verdict, Verdict::Violation);
        assert_eq!(t.routes[1].verdict, Verdict::Uncertain);
        assert_eq!(t.routes[2].verdict, Verdict::NoData);
        assert_eq!(t.summary.violations, 1);
        let o = compare("t", t, None, 0.5);
        assert!(!o.passed());
        assert_eq!(o.failed(), 3);
        assert_eq!(o.failures()[0].route.to, "b", "violations first");
    }

    #[test]
    fn a_rounded_band_that_straddled_stays_uncertain() {
        // Straddled before rounding: 9.9996 ± 0.0005 against 10 reads
        // 10.000 ± 0.000 from the file.
        let mut r = route("a", "b", Some(10.0), Some(10.0));
        r.error_ms = Some(0.0);
        r.verdict = Verdict::Uncertain;
        let t = table(vec![r]);
        assert_eq!(t.routes[0].verdict, Verdict::Uncertain);
    }

    #[test]
    fn regression_new_and_gone() {
        let base = table(vec![
            route("a", "b", Some(5.0), Some(10.0)),
            route("a", "c", Some(5.0), Some(10.0)),
            route("a", "gone", Some(1.0), Some(10.0)),
            route("a", "lost", Some(1.0), None),
        ]);
        let now = table(vec![
            route("a", "b", Some(5.5), Some(10.0)),
            route("a", "c", Some(5.51), Some(10.0)),
            route("a", "new", Some(50.0), None),
            route("a", "lost", None, None),
        ]);
        let o = compare("now", now, Some(("base", &base)), 0.5);
        assert_eq!(
            o.regressions, 2,
            "a->c beyond tolerance, a->lost unreachable"
        );
        assert!(o.routes[0].problems.is_empty(), "exactly at the tolerance");
        assert_eq!(
            o.routes[1].problems,
            vec![Problem::Regression { baseline_ms: 5.0 }]
        );
        assert!(o.routes[2].problems.is_empty(), "new and uncovered");
        assert_eq!(o.new_routes, 1);
        assert_eq!(o.gone.len(), 1);
        assert_eq!(o.gone[0].to, "gone");
        assert!(summary_line(&o).contains("2 regressions beyond 0.5 ms against base (1 new"));
    }

    #[test]
    fn escapes_xml_and_markdown() {
        let t = table(vec![route("x|<y>", "z&", Some(20.0), Some(10.0))]);
        let o = compare("t", t, None, 0.5);
        let x = junit(&o);
        assert!(x.contains("name=\"x|&lt;y&gt; -&gt; z&amp;\""), "{x}");
        let md = markdown(&o);
        assert!(md.contains("| x\\|&lt;y&gt; | z&amp; |"), "{md}");
    }

    #[test]
    fn markdown_is_capped() {
        let routes = (0..MARKDOWN_MAX_ROWS + 7)
            .map(|i| route("a", &format!("c{i}"), Some(20.0 + i as f64), Some(10.0)))
            .collect();
        let md = markdown(&compare("t", table(routes), None, 0.5));
        assert!(md.contains("\n... and 7 more\n"), "{md}");
        assert_eq!(
            md.lines()
                .filter(|l| l.starts_with("| violation |"))
                .count(),
            MARKDOWN_MAX_ROWS
        );
        // Slowest first.
        assert!(md.contains(&format!("| c{} |", MARKDOWN_MAX_ROWS + 6)));
        assert!(!md.contains("| c0 |"));
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let e = parse_route_table("{\"routes\": [\n  {\"from\": 1}\n]}", "r.json").unwrap_err();
        assert_eq!(e.origin, "r.json");
        assert_eq!(e.line, Some(2));
        assert!(e.column.is_some());
        assert!(!e.message.contains(" at line "), "{}", e.message);
    }
}
