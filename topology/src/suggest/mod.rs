//! Suggestions: where a direct link or an exchange point would bring routes
//! within budget, or failing that save the most latency. Candidates come from
//! the routes that matter (violations, then the most stretched routes); each is
//! judged by what its new edges do to the all-pairs delay table (see
//! [`metric`]), never by routing the whole network again; picks are greedy.
//!
//! The delays come from any [`LatencySource`]: the modelled [`Routes`] of a
//! topology today, measurements later (`--server`, `--db`).
//!
//! [`Routes`]: crate::routing::Routes

pub mod apply;
mod candidate;
mod metric;
mod render;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;

pub use apply::{apply, apply_first, ApplyError};
pub use render::{suggestions_json, suggestions_table};

use crate::analysis::{self, round3, LatencySource};
use crate::budgets;
use crate::geo;
use crate::load::DEFAULT_INTERCONNECT_DELAY_MS;
use crate::model::{Budgets, Endpoint, Topology};
use candidate::{Candidate, Key};
use metric::{Metric, Shortcuts, EPS_MS};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Route factor of a suggested direct link: the 2023 plan's target for direct
/// links between clusters (fibre no longer than 1.5 x the great-circle distance).
pub const DEFAULT_ROUTE_FACTOR: f64 = 1.5;

/// How many suggestions to make.
pub const DEFAULT_K: usize = 5;

/// Once no candidate fixes a violation, one must save more than this much
/// one-way delay in total over the covered routes to be suggested.
pub const DEFAULT_MIN_SAVED_MS: f64 = 1.0;

/// At most this many candidates are evaluated against every covered route in
/// each round (the best by what they do for the routes that nominated them).
pub const DEFAULT_MAX_CANDIDATES: usize = 1000;

/// Route evaluations a greedy round may cost: fewer candidates are kept when
/// the covered routes are many.
const ROUTE_EVALS_PER_ROUND: usize = 200_000_000;

/// ... but never fewer than this many candidates.
const MIN_CANDIDATES: usize = 50;

/// When there are more candidates than are kept, they are ranked on a sample
/// of the routes over budget (spread evenly over them) of this size, smaller
/// the more candidates there are.
const MAX_SAMPLE_ROUTES: usize = 2000;
const MIN_SAMPLE_ROUTES: usize = 200;
const RANKING_EVALS: usize = 24_000_000;

/// Routes remembered as having nominated a candidate (they rank it too).
const MAX_NOMINATORS: usize = 32;

/// How many of the most stretched covered routes nominate candidates for
/// saving latency.
pub const DEFAULT_STRETCH_ROUTES: usize = 64;

/// Knobs of the suggestion search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SuggestOptions {
    /// At most this many suggestions.
    pub k: usize,
    /// Fibre length of a suggested direct link over the great-circle distance.
    pub route_factor: f64,
    /// One-way delay through a suggested exchange point.
    pub exchange_delay_ms: f64,
    /// A suggestion that fixes nothing must save more than this in total.
    pub min_saved_ms: f64,
    /// Candidates kept for the full evaluation.
    pub max_candidates: usize,
    /// Most-stretched routes that nominate candidates.
    pub stretch_routes: usize,
}

impl Default for SuggestOptions {
    fn default() -> Self {
        SuggestOptions {
            k: DEFAULT_K,
            route_factor: DEFAULT_ROUTE_FACTOR,
            exchange_delay_ms: DEFAULT_INTERCONNECT_DELAY_MS,
            min_saved_ms: DEFAULT_MIN_SAVED_MS,
            max_candidates: DEFAULT_MAX_CANDIDATES,
            stretch_routes: DEFAULT_STRETCH_ROUTES,
        }
    }
}

/// What kind of change a suggestion is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SuggestionKind {
    /// A new link between two sites, on every carrier present at both.
    DirectLink,
    /// A new interconnect joining every carrier present at a site.
    ExchangePoint,
}

impl SuggestionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SuggestionKind::DirectLink => "direct-link",
            SuggestionKind::ExchangePoint => "exchange-point",
        }
    }
}

/// A route a suggestion brings within budget. Delays are one way, in ms,
/// before and after this suggestion (the ones above it already made).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    pub from: String,
    pub to: String,
    /// `None` when the route was unreachable.
    pub before_ms: Option<f64>,
    pub after_ms: f64,
    pub budget_ms: f64,
    pub rule: String,
}

/// One suggested change. Field order is the JSON order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    pub kind: SuggestionKind,
    /// Two sites for a direct link, one for an exchange point.
    pub sites: Vec<String>,
    /// Great-circle distance between the sites; 0 for an exchange point.
    pub distance_km: f64,
    /// Routes brought within budget, worst first.
    pub fixes: Vec<Fix>,
    /// One-way delay saved, summed over every covered route (ms).
    pub saved_ms_total: f64,
    pub why: String,
    /// The carriers the change joins (empty when the topology declares none).
    pub networks: Vec<String>,
    /// Estimated one-way delay of the new link (each direction) or through
    /// the new exchange point.
    pub one_way_ms: f64,
    /// Covered routes made faster.
    pub routes_improved: usize,
}

/// Totals over the suggestion run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SuggestSummary {
    /// Routes a budget rule covers.
    pub routes: usize,
    /// Covered routes over budget (or unreachable) before any suggestion.
    pub violations_before: usize,
    /// ... and after all of them.
    pub violations_after: usize,
    pub saved_ms_total: f64,
    /// Candidates evaluated against every covered route.
    pub candidates: usize,
}

/// The suggestions, best first: what `suggest --format json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestions {
    pub suggestions: Vec<Suggestion>,
    pub summary: SuggestSummary,
}

/// A covered route and its delay as the search goes on.
#[derive(Debug, Clone)]
struct Route {
    s: u32,
    t: u32,
    budget_ms: f64,
    rule: usize,
    /// One-way delay now (after the suggestions picked so far).
    cur: f64,
    /// One-way delay as the source gave it.
    orig: f64,
}

impl Route {
    fn over(&self) -> bool {
        self.cur > self.budget_ms
    }
}

/// Covered routes grouped by source node (contiguous runs).
struct RouteSet {
    routes: Vec<Route>,
    groups: Vec<(usize, usize)>,
}

impl RouteSet {
    fn new(routes: Vec<Route>) -> RouteSet {
        let mut groups = Vec::new();
        let mut i = 0;
        while i < routes.len() {
            let mut j = i;
            while j < routes.len() && routes[j].s == routes[i].s {
                j += 1;
            }
            groups.push((i, j));
            i = j;
        }
        RouteSet { routes, groups }
    }

    /// Calls `f(route index, new delay)` for every route the shortcuts speed up.
    fn for_each_gain(&self, m: &Metric, sc: &Shortcuts, mut f: impl FnMut(usize, f64)) {
        let mut g = Vec::new();
        for &(a, b) in &self.groups {
            if !m.reach_heads(sc, self.routes[a].s as usize, &mut g) {
                continue;
            }
            for (i, r) in self.routes[a..b].iter().enumerate() {
                let v = m.via(sc, &g, r.t as usize);
                if v < r.cur - EPS_MS {
                    f(a + i, v);
                }
            }
        }
    }

    /// Like `for_each_gain`, over a few routes only.
    fn for_each_gain_in(
        &self,
        m: &Metric,
        sc: &Shortcuts,
        which: &[usize],
        mut f: impl FnMut(usize, f64),
    ) {
        let mut g = Vec::new();
        let mut last: Option<(u32, bool)> = None;
        for &i in which {
            let r = &self.routes[i];
            // Routes of one source are contiguous: reach the heads once.
            let reach = match last {
                Some((s, reach)) if s == r.s => reach,
                _ => m.reach_heads(sc, r.s as usize, &mut g),
            };
            last = Some((r.s, reach));
            if reach {
                let v = m.via(sc, &g, r.t as usize);
                if v < r.cur - EPS_MS {
                    f(i, v);
                }
            }
        }
    }
}

/// How good a candidate is: violations fixed first, then latency saved.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Score {
    fixes: usize,
    saved: f64,
    improved: usize,
}

impl Score {
    fn add(&mut self, r: &Route, new: f64) {
        if r.over() && new <= r.budget_ms {
            self.fixes += 1;
        }
        if r.cur.is_finite() {
            self.saved += r.cur - new;
        }
        self.improved += 1;
    }

    fn better_than(&self, other: &Score) -> bool {
        (self.fixes, self.saved) > (other.fixes, other.saved)
    }
}

/// Suggests up to `opts.k` changes for the routes that `budgets` covers, with
/// delays from `src` (the modelled [`crate::routing::Routes`] of `topo`, or
/// measurements). Best first.
pub fn suggest<S: LatencySource + ?Sized>(
    topo: &Topology,
    budgets: &Budgets,
    src: &S,
    opts: &SuggestOptions,
) -> Suggestions {
    let eps = analysis::endpoints(topo);
    let mut metric = Metric::from_source(topo, &eps, src);
    let set = covered_routes(topo, budgets, src, &eps);
    let violations_before = set.routes.iter().filter(|r| r.over()).count();
    let cands = candidates(topo, budgets, src, &metric, &set, opts);
    let mut search = Search {
        topo,
        budgets,
        src,
        opts,
        set,
    };
    let mut alive: Vec<Option<Candidate>> = cands.into_iter().map(Some).collect();
    let evaluated = alive.len();
    let mut out = Vec::new();
    let mut saved_total = 0.0;
    while out.len() < opts.k {
        let mut best: Option<(usize, Score, Shortcuts)> = None;
        for (i, c) in alive.iter().enumerate() {
            let Some(c) = c else { continue };
            let sc = metric.shortcuts(&c.edges(&metric));
            let mut score = Score::default();
            search.set.for_each_gain(&metric, &sc, |ri, new| {
                score.add(&search.set.routes[ri], new)
            });
            if best.as_ref().is_none_or(|b| score.better_than(&b.1)) {
                best = Some((i, score, sc));
            }
        }
        let Some((i, score, sc)) = best else { break };
        if score.fixes == 0 && score.saved <= opts.min_saved_ms {
            break;
        }
        let Some(c) = alive[i].take() else { break };
        let s = search.commit(&mut metric, &c, &sc, score);
        saved_total += score.saved;
        out.push(s);
    }
    let violations_after = search.set.routes.iter().filter(|r| r.over()).count();
    Suggestions {
        suggestions: out,
        summary: SuggestSummary {
            routes: search.set.routes.len(),
            violations_before,
            violations_after,
            saved_ms_total: round3(saved_total),
            candidates: evaluated,
        },
    }
}

/// Every covered ordered pair with its rule and delay, grouped by source.
fn covered_routes<S: LatencySource + ?Sized>(
    topo: &Topology,
    budgets: &Budgets,
    src: &S,
    eps: &[Endpoint],
) -> RouteSet {
    let mut routes = Vec::new();
    for (s, &from) in eps.iter().enumerate() {
        for (t, &to) in eps.iter().enumerate() {
            if s == t {
                continue;
            }
            let Some(rule) = budgets::rule_for(topo, budgets, from, to) else {
                continue;
            };
            let ri = budgets
                .rules
                .iter()
                .position(|r| std::ptr::eq(r, rule))
                .unwrap_or(0);
            // The route itself is held to its rule's percentile; the table's
            // central delays are what a new path would be pieced together from.
            let cur = src
                .estimate(from, to, rule.percentile)
                .map_or(f64::INFINITY, |e| e.one_way_ms);
            routes.push(Route {
                s: s as u32,
                t: t as u32,
                budget_ms: rule.one_way_ms,
                rule: ri,
                cur,
                orig: cur,
            });
        }
    }
    RouteSet::new(routes)
}

/// Candidates nominated by the routes that matter, each with the routes that
/// nominated it; the `max_candidates` best by what they do for those routes.
fn candidates<S: LatencySource + ?Sized>(
    topo: &Topology,
    budgets: &Budgets,
    src: &S,
    metric: &Metric,
    set: &RouteSet,
    opts: &SuggestOptions,
) -> Vec<Candidate> {
    let mut index: HashMap<Key, Option<usize>> = HashMap::new();
    let mut cands: Vec<(Candidate, Vec<usize>)> = Vec::new();
    let mut nominate = |key: Option<Key>, make: &dyn Fn() -> Option<Candidate>, route: usize| {
        let Some(key) = key else { return };
        // Ineligible keys are remembered too (as `None`), so each is tried once.
        let slot = *index.entry(key).or_insert_with(|| {
            let c = make()?;
            cands.push((c, Vec::new()));
            Some(cands.len() - 1)
        });
        let Some(i) = slot else { return };
        let who = &mut cands[i].1;
        if who.len() < MAX_NOMINATORS && who.last() != Some(&route) {
            who.push(route);
        }
    };
    let multi_carrier = topo.networks.len() >= 2;
    let xp_key = |site: usize| Some(Key::ExchangePoint(site));
    let xp = |site: usize| move || Candidate::exchange_point(topo, site, opts.exchange_delay_ms);
    let dl_key = |a: usize, b: usize| (a != b).then(|| Key::DirectLink(a.min(b), a.max(b)));
    let dl = |a: usize, b: usize| move || Candidate::direct_link(topo, a, b, opts.route_factor);
    let ends = |r: &Route| (metric.endpoint(r.s as usize), metric.endpoint(r.t as usize));
    // Violations: a direct link between the ends, exchange points at the ends
    // and wherever the route goes today.
    for (ri, r) in set.routes.iter().enumerate().filter(|(_, r)| r.over()) {
        let (from, to) = ends(r);
        nominate(dl_key(from.site, to.site), &dl(from.site, to.site), ri);
        if multi_carrier {
            nominate(xp_key(from.site), &xp(from.site), ri);
            nominate(xp_key(to.site), &xp(to.site), ri);
            let pct = budgets.rules[r.rule].percentile;
            let path = src.estimate(from, to, pct).map(|e| e.path);
            for e in path.unwrap_or_default() {
                nominate(xp_key(e.site), &xp(e.site), ri);
            }
        }
    }
    // Saving latency: the most stretched routes, and the slowest crossings
    // between carriers within one site (where stretch means nothing).
    let mut stretched: Vec<(f64, usize)> = Vec::new();
    for (ri, r) in set.routes.iter().enumerate() {
        if !r.cur.is_finite() {
            continue;
        }
        let (from, to) = ends(r);
        if from.site == to.site {
            if r.cur > 2.0 * opts.exchange_delay_ms {
                nominate(xp_key(from.site), &xp(from.site), ri);
            }
            continue;
        }
        let (a, b) = (topo.sites[from.site].location, topo.sites[to.site].location);
        let lb = geo::fibre_lower_bound_ms(a, b);
        if geo::great_circle_km(a, b) >= 1.0 {
            stretched.push((r.cur / lb, ri));
        }
    }
    stretched.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
    for &(_, ri) in stretched.iter().take(opts.stretch_routes) {
        let (from, to) = ends(&set.routes[ri]);
        nominate(dl_key(from.site, to.site), &dl(from.site, to.site), ri);
        if multi_carrier {
            nominate(xp_key(from.site), &xp(from.site), ri);
            nominate(xp_key(to.site), &xp(to.site), ri);
        }
    }
    // Keep what shortens anything at all; when that is too many, the best by
    // what they do for their own nominators and for a sample of the routes
    // over budget and most stretched (evenly spread, so every source region
    // is represented).
    let useful: Vec<(Candidate, Vec<usize>, Shortcuts)> = cands
        .into_iter()
        .filter_map(|(c, who)| {
            let sc = metric.shortcuts(&c.edges(metric));
            (!sc.is_empty()).then_some((c, who, sc))
        })
        .collect();
    // A round evaluates every kept candidate on every covered route: keep
    // fewer when the routes are many, so a round's cost stays bounded.
    let cap = opts
        .max_candidates
        .min((ROUTE_EVALS_PER_ROUND / set.routes.len().max(1)).max(MIN_CANDIDATES));
    if useful.len() <= cap {
        return useful.into_iter().map(|(c, _, _)| c).collect();
    }
    let over: Vec<usize> = (0..set.routes.len())
        .filter(|&i| set.routes[i].over())
        .collect();
    let sample_size = (RANKING_EVALS / useful.len()).clamp(MIN_SAMPLE_ROUTES, MAX_SAMPLE_ROUTES);
    let step = over.len().div_ceil(sample_size).max(1);
    let mut sample: Vec<usize> = over.iter().step_by(step).copied().collect();
    sample.extend(stretched.iter().take(opts.stretch_routes).map(|x| x.1));
    sample.sort_unstable();
    sample.dedup();
    let mut ranked: Vec<(Score, usize, Candidate)> = Vec::new();
    let mut which = Vec::new();
    for (order, (c, mut who, sc)) in useful.into_iter().enumerate() {
        who.sort_unstable();
        merge_sorted(&sample, &who, &mut which);
        let mut score = Score::default();
        set.for_each_gain_in(metric, &sc, &which, |ri, new| {
            score.add(&set.routes[ri], new)
        });
        if score.improved > 0 {
            ranked.push((score, order, c));
        }
    }
    ranked.sort_by(|x, y| {
        y.0.fixes
            .cmp(&x.0.fixes)
            .then(y.0.saved.total_cmp(&x.0.saved))
            .then(x.1.cmp(&y.1))
    });
    ranked.truncate(cap);
    ranked.into_iter().map(|(_, _, c)| c).collect()
}

/// The sorted union of two sorted lists, into `out`.
fn merge_sorted(a: &[usize], b: &[usize], out: &mut Vec<usize>) {
    out.clear();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let next = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) if x <= y => {
                i += 1;
                if x == y {
                    j += 1;
                }
                x
            }
            (_, Some(&y)) => {
                j += 1;
                y
            }
            (Some(&x), None) => {
                i += 1;
                x
            }
            (None, None) => break,
        };
        out.push(next);
    }
}

/// The search state a pick is committed to.
struct Search<'a, S: ?Sized> {
    topo: &'a Topology,
    budgets: &'a Budgets,
    src: &'a S,
    opts: &'a SuggestOptions,
    set: RouteSet,
}

impl<S: LatencySource + ?Sized> Search<'_, S> {
    /// Applies a picked candidate to the routes and the table, and describes it.
    fn commit(
        &mut self,
        metric: &mut Metric,
        c: &Candidate,
        sc: &Shortcuts,
        score: Score,
    ) -> Suggestion {
        let mut gains: Vec<(usize, f64)> = Vec::new();
        self.set
            .for_each_gain(metric, sc, |ri, new| gains.push((ri, new)));
        let today = self.today_between(metric, c);
        let mut fixes = Vec::new();
        let mut biggest: Option<(f64, usize, f64)> = None;
        for &(ri, new) in &gains {
            let r = &self.set.routes[ri];
            if r.over() && new <= r.budget_ms {
                fixes.push((ri, new));
            }
            if r.cur.is_finite() && biggest.is_none_or(|b| r.cur - new > b.0) {
                biggest = Some((r.cur - new, ri, new));
            }
        }
        fixes.sort_by(|x, y| {
            let (a, b) = (&self.set.routes[x.0], &self.set.routes[y.0]);
            b.cur.total_cmp(&a.cur).then(x.0.cmp(&y.0))
        });
        let example = fixes
            .first()
            .copied()
            .or(biggest.map(|(_, ri, new)| (ri, new)));
        let why = self.why(metric, c, score, &fixes, example, today);
        let fix_list = fixes
            .iter()
            .map(|&(ri, new)| {
                let r = &self.set.routes[ri];
                Fix {
                    from: metric.endpoint(r.s as usize).name(self.topo),
                    to: metric.endpoint(r.t as usize).name(self.topo),
                    before_ms: r.cur.is_finite().then(|| round3(r.cur)),
                    after_ms: round3(new),
                    budget_ms: r.budget_ms,
                    rule: self.budgets.rules[r.rule].name.clone(),
                }
            })
            .collect();
        for &(ri, new) in &gains {
            self.set.routes[ri].cur = new;
        }
        metric.commit(sc);
        Suggestion {
            kind: c.kind,
            sites: c.site_ids(self.topo),
            distance_km: (c.distance_km * 10.0).round() / 10.0,
            fixes: fix_list,
            saved_ms_total: round3(score.saved),
            why,
            networks: c.network_ids(self.topo),
            one_way_ms: round3(c.one_way_ms),
            routes_improved: score.improved,
        }
    }

    /// The best delay between a direct link's two sites today, on any of the
    /// networks it would be on.
    fn today_between(&self, m: &Metric, c: &Candidate) -> Option<f64> {
        if c.sites.len() != 2 {
            return None;
        }
        let mut best = f64::INFINITY;
        for &network in &c.networks {
            let a = m.node(Endpoint {
                site: c.sites[0],
                network,
            });
            let b = m.node(Endpoint {
                site: c.sites[1],
                network,
            });
            if let (Some(a), Some(b)) = (a, b) {
                best = best.min(m.get(a, b)).min(m.get(b, a));
            }
        }
        best.is_finite().then_some(best)
    }

    /// A sentence an operator can act on.
    fn why(
        &self,
        m: &Metric,
        c: &Candidate,
        score: Score,
        fixes: &[(usize, f64)],
        example: Option<(usize, f64)>,
        today: Option<f64>,
    ) -> String {
        let topo = self.topo;
        let sites = c.site_ids(topo);
        let nets = c.network_ids(topo).join(", ");
        let mut crossing = None;
        let mut eg = String::new();
        if let Some((ri, new)) = example {
            let r = &self.set.routes[ri];
            let (from, to) = (m.endpoint(r.s as usize), m.endpoint(r.t as usize));
            let before = if r.cur.is_finite() {
                format!("{:.2}", r.cur)
            } else {
                "unreachable".to_string()
            };
            eg = format!(
                "e.g. {} -> {}: {} -> {:.2} ms",
                from.name(topo),
                to.name(topo),
                before,
                new
            );
            // The path as the source gave it is still today's path when no
            // earlier suggestion changed this route.
            if r.cur == r.orig {
                let pct = self.budgets.rules[r.rule].percentile;
                if let Some(est) = self.src.estimate(from, to, pct) {
                    if est.path.len() > 2 {
                        let names: Vec<String> = est.path.iter().map(|e| e.name(topo)).collect();
                        eg.push_str(&format!(" (today {})", names.join(" > ")));
                    }
                    crossing = est
                        .path
                        .windows(2)
                        .find(|w| w[0].site == w[1].site && w[0].network != w[1].network)
                        .map(|w| topo.sites[w[0].site].id.clone());
                }
            }
        }
        let impact = if score.fixes > 0 {
            let mut by_rule: Vec<(usize, usize)> = Vec::new();
            for &(ri, _) in fixes {
                let rule = self.set.routes[ri].rule;
                match by_rule.iter_mut().find(|x| x.0 == rule) {
                    Some(x) => x.1 += 1,
                    None => by_rule.push((rule, 1)),
                }
            }
            let rules: Vec<String> = by_rule
                .iter()
                .map(|&(rule, n)| {
                    let r = &self.budgets.rules[rule];
                    format!("{n} {}, {} ms", r.name, r.one_way_ms)
                })
                .collect();
            format!(
                "brings {} within budget ({}) and saves {:.2} ms over {}",
                plural(score.fixes, "route"),
                rules.join("; "),
                score.saved,
                plural(score.improved, "covered route"),
            )
        } else {
            format!(
                "saves {:.2} ms over {}",
                score.saved,
                plural(score.improved, "covered route")
            )
        };
        let head = match c.kind {
            SuggestionKind::ExchangePoint => {
                let site = &sites[0];
                let elsewhere = match &crossing {
                    Some(x) if x != site => format!("crosses over at {x}"),
                    _ => "crosses over elsewhere".to_string(),
                };
                format!(
                    "no interconnect joins {nets} at {site}, so traffic between them {elsewhere}; \
                     an exchange point there (+{:.2} ms) {impact}",
                    c.one_way_ms
                )
            }
            SuggestionKind::DirectLink => {
                let now = today.map_or_else(
                    || "no route between them today".to_string(),
                    |t| format!("{t:.2} ms between them today"),
                );
                format!(
                    "{} and {} are {:.0} km apart ({now}); a direct link at route factor {} \
                     would take {:.2} ms one way and {impact}",
                    sites[0], sites[1], c.distance_km, self.opts.route_factor, c.one_way_ms
                )
            }
        };
        if eg.is_empty() {
            head
        } else {
            format!("{head}; {eg}")
        }
    }
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}
