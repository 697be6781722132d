//! `mesh-controller check`: the CI gate. Judges a route table (analysed from a
//! proposed topology, or read from a file) against its budgets and, given a
//! baseline table, against the delays it had before; writes JUnit XML for the CI
//! and a Markdown summary for the pull request.

use std::collections::{HashMap, HashSet};
use topology::analysis::{self, Options, RouteReport, RouteTable, Summary, Verdict};
use topology::error::LoadError;
use topology::render::Table;
use topology::routing::Routes;

/// A route regresses when it is slower than in the baseline by more than this (ms).
pub const DEFAULT_TOLERANCE_MS: f64 = 0.5;

/// Failing routes listed on stdout.
pub const TEXT_MAX_ROWS: usize = 20;

/// Failing routes listed in the Markdown summary (a PR comment must stay short).
pub const MARKDOWN_MAX_ROWS: usize = 50;

/// Routes gone from the baseline listed in the Markdown summary.
pub const MARKDOWN_MAX_GONE: usize = 20;

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

fn ms(x: f64) -> String {
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
            let fetched =
                crate::report::fetch(url, *since, crate::report::ReportFormat::Json, None, None)
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
/// a violation; the summary is recounted.
pub fn rejudge(mut table: RouteTable) -> RouteTable {
    for r in &mut table.routes {
        let est = r.one_way_ms.map(|v| (v, r.error_ms.unwrap_or(0.0)));
        r.verdict = match r.budget_ms {
            Some(limit) => analysis::verdict(est, limit),
            None if est.is_none() => Verdict::NoData,
            None => Verdict::Ok,
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

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// The one-line summary: verdict counts, then the baseline comparison.
pub fn summary_line(o: &CheckOutcome) -> String {
    let s = &o.summary;
    let mut line = format!(
        "check {}: {} ({} ok, {}, {} uncertain, {} no data)",
        if o.passed() { "passed" } else { "failed" },
        plural(s.routes, "route"),
        s.ok,
        plural(s.violations, "violation"),
        s.uncertain,
        s.no_data,
    );
    if let Some(b) = &o.baseline {
        line.push_str(&format!(
            "; {} beyond {} ms against {b} ({} new, {} gone)",
            plural(o.regressions, "regression"),
            o.tolerance_ms,
            o.new_routes,
            o.gone.len(),
        ));
    }
    line
}

/// Table cells of a failing route; the baseline column only with a baseline.
fn cells(r: &RouteCheck, with_baseline: bool) -> Vec<String> {
    let opt = |x: Option<f64>| x.map_or_else(|| "-".to_string(), ms);
    let mut c = vec![
        r.problems
            .iter()
            .map(Problem::kind)
            .collect::<Vec<_>>()
            .join("+"),
        r.route.from.clone(),
        r.route.to.clone(),
        opt(r.route.one_way_ms),
        opt(r.route.budget_ms),
    ];
    if with_baseline {
        c.push(opt(r.baseline_ms));
    }
    c.push(r.route.rule.clone().unwrap_or_else(|| "-".to_string()));
    c
}

fn headers(with_baseline: bool) -> Vec<&'static str> {
    let mut h = vec!["PROBLEM", "FROM", "TO", "ONE-WAY ms", "BUDGET ms"];
    if with_baseline {
        h.push("BASELINE ms");
    }
    h.push("RULE");
    h
}

/// Columns holding numbers (right-aligned).
fn numeric(with_baseline: bool) -> Vec<usize> {
    if with_baseline {
        vec![3, 4, 5]
    } else {
        vec![3, 4]
    }
}

/// Stdout: a short table of failures, then the summary line.
pub fn text(o: &CheckOutcome) -> String {
    let mut out = String::new();
    let failures = o.failures();
    if !failures.is_empty() {
        let b = o.baseline.is_some();
        let mut t = Table::new(headers(b).iter().map(|h| h.to_string()).collect());
        t.right_align(&numeric(b));
        for r in failures.iter().take(TEXT_MAX_ROWS) {
            t.row(cells(r, b));
        }
        out.push_str(&t.render());
        if failures.len() > TEXT_MAX_ROWS {
            out.push_str(&format!(
                "... and {} more\n",
                failures.len() - TEXT_MAX_ROWS
            ));
        }
    }
    if let Some(first) = o.gone.first() {
        out.push_str(&format!(
            "{} in the baseline, not in this table (first: {} -> {})\n",
            plural(o.gone.len(), "route"),
            first.from,
            first.to
        ));
    }
    out.push_str(&summary_line(o));
    out.push('\n');
    out
}

/// Escapes text for XML attributes and content; characters XML 1.0 cannot
/// carry become U+FFFD.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one test case per route (class name: its budget rule), a
/// failure for every violation or regression; routes gone from the baseline
/// as skipped cases.
pub fn junit(o: &CheckOutcome) -> String {
    let failed = o.failed();
    let tests = o.routes.len() + o.gone.len();
    let skipped = o.gone.len();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuites name=\"hubmesh check\" tests=\"{tests}\" failures=\"{failed}\" errors=\"0\" skipped=\"{skipped}\">\n"
    ));
    x.push_str(&format!(
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failed}\" errors=\"0\" skipped=\"{skipped}\" time=\"0\">\n",
        xml_escape(&format!("hubmesh check {}", o.source))
    ));
    x.push_str("    <properties>\n");
    x.push_str(&format!(
        "      <property name=\"source\" value=\"{}\"/>\n",
        xml_escape(&o.source)
    ));
    if let Some(b) = &o.baseline {
        x.push_str(&format!(
            "      <property name=\"baseline\" value=\"{}\"/>\n      <property name=\"tolerance_ms\" value=\"{}\"/>\n",
            xml_escape(b),
            o.tolerance_ms
        ));
    }
    x.push_str("    </properties>\n");
    for r in &o.routes {
        let class = r.route.rule.as_deref().unwrap_or("uncovered");
        let name = format!("{} -> {}", r.route.from, r.route.to);
        let open = format!(
            "    <testcase classname=\"{}\" name=\"{}\" time=\"0\"",
            xml_escape(class),
            xml_escape(&name)
        );
        if r.problems.is_empty() {
            x.push_str(&open);
            x.push_str("/>\n");
            continue;
        }
        let kinds: Vec<&str> = r.problems.iter().map(Problem::kind).collect();
        let lines: Vec<String> = r
            .problems
            .iter()
            .map(|p| p.describe(&r.route, o.tolerance_ms))
            .collect();
        let mut body = lines.join("\n");
        if !r.route.path.is_empty() {
            body.push_str(&format!("\npath: {}", r.route.path.join(" > ")));
        }
        x.push_str(&open);
        x.push_str(">\n");
        x.push_str(&format!(
            "      <failure type=\"{}\" message=\"{}\">{}</failure>\n",
            xml_escape(&kinds.join("+")),
            xml_escape(&format!("{name}: {}", lines.join("; "))),
            xml_escape(&body)
        ));
        x.push_str("    </testcase>\n");
    }
    for g in &o.gone {
        let was = g
            .one_way_ms
            .map_or_else(|| "unreachable".to_string(), |v| format!("{} ms", ms(v)));
        x.push_str(&format!(
            "    <testcase classname=\"baseline\" name=\"{}\" time=\"0\">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
            xml_escape(&format!("{} -> {}", g.from, g.to)),
            xml_escape(&format!("in the baseline ({was}), not in this table"))
        ));
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

fn md_cell(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// A Markdown summary for a pull-request comment: the outcome, a table of
/// failures (worst first, capped), and the routes gone from the baseline.
pub fn markdown(o: &CheckOutcome) -> String {
    let mut out = format!(
        "### hubmesh check: {}\n\n**{}**\n",
        if o.passed() { "passed" } else { "failed" },
        md_cell(&summary_line(o))
    );
    let failures = o.failures();
    if !failures.is_empty() {
        let b = o.baseline.is_some();
        out.push_str("\n|");
        for h in headers(b) {
            out.push_str(&format!(" {} |", h.to_lowercase()));
        }
        out.push_str("\n|");
        let right = numeric(b);
        for i in 0..headers(b).len() {
            out.push_str(if right.contains(&i) {
                " ---: |"
            } else {
                " --- |"
            });
        }
        out.push('\n');
        for r in failures.iter().take(MARKDOWN_MAX_ROWS) {
            out.push('|');
            for c in cells(r, b) {
                out.push_str(&format!(" {} |", md_cell(&c)));
            }
            out.push('\n');
        }
        if failures.len() > MARKDOWN_MAX_ROWS {
            out.push_str(&format!(
                "\n... and {} more\n",
                failures.len() - MARKDOWN_MAX_ROWS
            ));
        }
    }
    if !o.gone.is_empty() {
        out.push_str(&format!(
            "\n<details><summary>{} in the baseline, not in this table</summary>\n\n",
            plural(o.gone.len(), "route")
        ));
        for g in o.gone.iter().take(MARKDOWN_MAX_GONE) {
            let was = g.one_way_ms.map_or_else(|| "unreachable".to_string(), ms);
            out.push_str(&format!(
                "- {} -> {} ({was})\n",
                md_cell(&g.from),
                md_cell(&g.to)
            ));
        }
        if o.gone.len() > MARKDOWN_MAX_GONE {
            out.push_str(&format!(
                "- ... and {} more\n",
                o.gone.len() - MARKDOWN_MAX_GONE
            ));
        }
        out.push_str("\n</details>\n");
    }
    out
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
        assert_eq!(
            xml_escape("a<b>&\"c'\u{1}"),
            "a&lt;b&gt;&amp;&quot;c&apos;\u{fffd}"
        );
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
