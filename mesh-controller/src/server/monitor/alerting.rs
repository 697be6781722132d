//! One evaluation of the budget alerts: what the rollups of the look-back say
//! about every covered route direction, through the state machine
//! (`monitor::alerts`), into the changes to store with the notifications
//! they queue. Everything here is computed from its arguments; the loop in
//! `server::monitor` reads them from the store and writes the result.
//!
//! A route is an unordered pair of endpoints, named `from` -> `to` in the
//! topology's order of endpoints; `direction` is `forward` for the delay
//! from -> to and `reverse` for to -> from. Only routes a budget rule covers
//! are judged.

use crate::monitor::alertmanager::{self, Labels, WebhookAlert, NOT_ENDED};
use crate::monitor::alerts::{
    read, read_clock, step, AlertKind, AlertState, Observation, Reading, Transition,
};
use crate::server::config::Config;
use crate::server::measured::Measured;
use crate::server::monitor::clock_subjects::{self, ProbeClock};
use crate::server::store::alerts::{Change, Notice, StoredState};
use crate::server::store::ProbeRow;
use std::collections::HashMap;
use topology::{analysis, budgets, Endpoint};

/// A covered route direction as alerts name it.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteDirection {
    /// The route's endpoints in topology order.
    pub from: String,
    pub to: String,
    /// `forward` (from -> to) or `reverse`.
    pub direction: &'static str,
    pub rule: String,
    pub budget_ms: f64,
    pub percentile: f64,
    /// The direction of travel.
    pub src: Endpoint,
    pub dst: Endpoint,
}

impl RouteDirection {
    /// The direction of travel, as `a -> b`.
    pub fn travel(&self) -> (&str, &str) {
        if self.direction == "forward" {
            (&self.from, &self.to)
        } else {
            (&self.to, &self.from)
        }
    }
}

/// Every direction of every covered route.
pub fn covered(config: &Config) -> Vec<RouteDirection> {
    let topo = &config.topology;
    let eps = analysis::endpoints(topo);
    let mut out = Vec::new();
    for (i, &a) in eps.iter().enumerate() {
        for &b in &eps[i + 1..] {
            for (src, dst, direction) in [(a, b, "forward"), (b, a, "reverse")] {
                if let Some(rule) = budgets::rule_for(topo, &config.budgets, src, dst) {
                    out.push(RouteDirection {
                        from: a.name(topo),
                        to: b.name(topo),
                        direction,
                        rule: rule.name.clone(),
                        budget_ms: rule.one_way_ms,
                        percentile: rule.percentile,
                        src,
                        dst,
                    });
                }
            }
        }
    }
    out
}

/// The labels of one alert.
pub fn labels(kind: AlertKind, r: &RouteDirection) -> Labels {
    [
        ("alertname", kind.name()),
        ("from", r.from.as_str()),
        ("to", r.to.as_str()),
        ("direction", r.direction),
        ("rule", r.rule.as_str()),
        ("severity", kind.severity()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// What the evaluation reads.
#[derive(Debug)]
pub struct Inputs<'a> {
    pub config: &'a Config,
    /// The look-back's measurements.
    pub measured: &'a Measured,
    /// When each direction of travel was last measured (end of its latest
    /// window, Unix ms).
    pub last_measured: &'a HashMap<(Endpoint, Endpoint), u64>,
    /// Alerts not inactive, by fingerprint.
    pub states: &'a HashMap<String, StoredState>,
    /// What each probe said in its last hello (its clock).
    pub probes: &'a HashMap<String, ProbeRow>,
    /// Link target for notifications.
    pub external_url: &'a str,
    pub now: u64,
}

/// The observation of one route direction.
pub fn observe(inp: &Inputs<'_>, r: &RouteDirection) -> Observation {
    let stats = inp.measured.pairs.get(&(r.src, r.dst));
    Observation {
        // The band the route's verdict uses (one-way, or RTT/2 where that
        // decides and the one-way band does not).
        delay: inp
            .measured
            .judged(r.src, r.dst, r.percentile, r.budget_ms)
            .map(|e| (e.one_way_ms, e.error_ms)),
        budget_ms: r.budget_ms,
        loss_pct: stats.and_then(|s| s.loss_pct()),
        last_measured_ms: inp.last_measured.get(&(r.src, r.dst)).copied(),
    }
}

fn annotations(
    kind: AlertKind,
    r: &RouteDirection,
    o: &Observation,
    inp: &Inputs<'_>,
) -> (Labels, Option<f64>, Option<f64>) {
    let (a, b) = r.travel();
    let t = &inp.config.alerts.timing;
    let (summary, description, value, threshold) = match kind {
        AlertKind::OverBudget | AlertKind::Uncertain => {
            let (v, err) = o.delay.unwrap_or((f64::NAN, 0.0));
            let what = if kind == AlertKind::OverBudget {
                "over"
            } else {
                "straddling"
            };
            (
                format!(
                    "{a} -> {b}: one-way {v:.2} ms (± {err:.2}) {what} its {} ms budget",
                    r.budget_ms
                ),
                format!(
                    "p{} of the last {} s against rule {}; resolves after {} s under {} ms",
                    r.percentile,
                    inp.config.alerts.window.as_secs(),
                    r.rule,
                    t.resolve_for.as_secs(),
                    r.budget_ms - t.hysteresis_ms
                ),
                Some(v),
                Some(r.budget_ms),
            )
        }
        AlertKind::Loss => {
            let l = o.loss_pct.unwrap_or(f64::NAN);
            (
                format!("{a} -> {b}: {l:.2} % loss (alerting at {} %)", t.loss_pct),
                format!(
                    "loss in this direction over the last {} s; resolves under {} %",
                    inp.config.alerts.window.as_secs(),
                    t.loss_pct / 2.0
                ),
                Some(l),
                Some(t.loss_pct),
            )
        }
        // Judged per probe (`clock_annotations`), never per route.
        AlertKind::ClockError => (
            format!("{a} -> {b}: a probe's clock"),
            String::new(),
            None,
            None,
        ),
        AlertKind::NoData => {
            let age = o
                .last_measured_ms
                .map_or(f64::NAN, |l| inp.now.saturating_sub(l) as f64 / 1000.0);
            (
                format!("{a} -> {b}: not measured for {age:.0} s"),
                format!(
                    "no windows of this route for more than {} s; its probes or the path to them may be down",
                    t.no_data_after.as_secs()
                ),
                Some(age),
                Some(t.no_data_after.as_secs_f64()),
            )
        }
    };
    let mut l = Labels::new();
    l.insert("summary".into(), summary);
    l.insert("description".into(), description);
    (l, value, threshold)
}

fn generator_url(base: &str, r: &RouteDirection) -> String {
    use crate::commands::fetch::encode_query_value as q;
    let (a, b) = r.travel();
    format!("{base}/?from={}&to={}", q(a), q(b))
}

/// What a notification says beside its labels: annotations, value and
/// threshold.
type Explained = (Labels, Option<f64>, Option<f64>);

/// One alert's step: the change to store, if any (with its notification
/// when it fires or resolves). `explain` and `link` are asked only then.
fn judge(
    inp: &Inputs<'_>,
    labels: Labels,
    reading: Reading,
    explain: impl FnOnce() -> Explained,
    link: impl FnOnce() -> String,
    seen: &mut std::collections::HashSet<String>,
) -> Option<Change> {
    let timing = &inp.config.alerts.timing;
    let fp = alertmanager::fingerprint(&labels);
    seen.insert(fp.clone());
    let before = inp
        .states
        .get(&fp)
        .map_or(AlertState::Inactive, |s| s.state);
    if before == AlertState::Inactive && reading != Reading::Bad {
        return None;
    }
    let (after, transition) = step(before, reading, timing, inp.now);
    if after == before && transition.is_none() {
        return None;
    }
    let notice = transition.map(|t| {
        let (annotations, value, threshold) = explain();
        let (status, fired, pending, resolved) = match t {
            Transition::Fired { at, pending_since } => ("firing", at, pending_since, None),
            Transition::Resolved { at, fired_at } => ("resolved", fired_at, fired_at, Some(at)),
        };
        let alert = WebhookAlert {
            status: status.to_string(),
            labels: labels.clone(),
            annotations: annotations.clone(),
            starts_at: alertmanager::rfc3339(fired),
            ends_at: resolved.map_or_else(|| NOT_ENDED.to_string(), alertmanager::rfc3339),
            generator_url: link(),
            fingerprint: fp.clone(),
        };
        Notice {
            status,
            annotations,
            pending_since_ms: pending,
            fired_ms: fired,
            resolved_ms: resolved,
            value,
            threshold,
            bodies: bodies(inp, &alert),
        }
    });
    Some(Change {
        fingerprint: fp,
        labels,
        state: after,
        notice,
    })
}

/// One notification body per receiver.
fn bodies(inp: &Inputs<'_>, alert: &WebhookAlert) -> Vec<(String, String)> {
    inp.config
        .alerts
        .receivers
        .iter()
        .map(|rc| {
            (
                rc.name.clone(),
                alertmanager::body(&rc.name, alert, inp.external_url),
            )
        })
        .collect()
}

/// The labels of a probe's clock alert.
pub fn clock_labels(p: &ProbeClock) -> Labels {
    [
        ("alertname", AlertKind::ClockError.name()),
        ("probe", p.probe.as_str()),
        ("rule", p.rule.as_str()),
        ("severity", AlertKind::ClockError.severity()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn clock_annotations(p: &ProbeClock, inp: &Inputs<'_>) -> Explained {
    let fraction = inp.config.alerts.timing.clock_error_fraction;
    let limit = fraction * p.tightest_budget_ms;
    let mut l = Labels::new();
    l.insert(
        "summary".into(),
        format!(
            "probe {}: clock error {:.3} ms ({}) over {:.0} % of its tightest budget, {} ms",
            p.probe,
            p.error_ms,
            p.source,
            fraction * 100.0,
            p.tightest_budget_ms
        ),
    );
    l.insert(
        "description".into(),
        format!(
            "one-way delays across its clock are off by up to {:.3} ms against a {limit:.3} ms allowance (rule {}); resolves under {:.3} ms",
            p.error_ms,
            p.rule,
            0.8 * limit
        ),
    );
    (l, Some(p.error_ms), Some(limit))
}

/// One evaluation: the changes to store (state changes, and with each
/// firing or resolution the notifications for every receiver).
pub fn evaluate(inp: &Inputs<'_>) -> Vec<Change> {
    let timing = &inp.config.alerts.timing;
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in covered(inp.config) {
        let obs = observe(inp, &r);
        for kind in AlertKind::ROUTE {
            let reading = read(kind, &obs, timing, inp.now);
            out.extend(judge(
                inp,
                labels(kind, &r),
                reading,
                || annotations(kind, &r, &obs, inp),
                || generator_url(inp.external_url, &r),
                &mut seen,
            ));
        }
    }
    for p in clock_subjects::judged(inp.config, inp.probes) {
        let reading = read_clock(p.error_ms, p.tightest_budget_ms, timing);
        out.extend(judge(
            inp,
            clock_labels(&p),
            reading,
            || clock_annotations(&p, inp),
            || format!("{}/?probe={}", inp.external_url, p.probe),
            &mut seen,
        ));
    }
    // Alerts of routes no rule covers any more (the configuration changed):
    // dropped, and a firing one resolved so its receivers are told.
    for (fp, s) in inp.states.iter().filter(|(fp, _)| !seen.contains(*fp)) {
        let notice = match s.state {
            AlertState::Firing { since, .. } => {
                let annotations: Labels = [(
                    "summary".to_string(),
                    "no budget rule covers this route any more".to_string(),
                )]
                .into_iter()
                .collect();
                let alert = WebhookAlert {
                    status: "resolved".into(),
                    labels: s.labels.clone(),
                    annotations: annotations.clone(),
                    starts_at: alertmanager::rfc3339(since),
                    ends_at: alertmanager::rfc3339(inp.now),
                    generator_url: format!("{}/", inp.external_url),
                    fingerprint: fp.clone(),
                };
                Some(Notice {
                    status: "resolved",
                    annotations,
                    pending_since_ms: since,
                    fired_ms: since,
                    resolved_ms: Some(inp.now),
                    value: None,
                    threshold: None,
                    bodies: bodies(inp, &alert),
                })
            }
            _ => None,
        };
        out.push(Change {
            fingerprint: fp.clone(),
            labels: s.labels.clone(),
            state: AlertState::Inactive,
            notice,
        });
    }
    out
}
