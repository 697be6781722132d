//! Budget alerts as a state machine per covered route, direction and kind,
//! driven by observations with the time passed in (no clock, no store), so
//! every transition is tested without a controller.
//!
//! ```text
//! inactive --bad--> pending --bad for `for`--> firing --good for `resolve_for`--> resolved (inactive)
//!              \<--not bad--/                     (not good: stays firing, the good streak restarts)
//! ```
//!
//! "Bad" and "good" are not each other's negation: a delay alert goes bad over
//! the budget (a `violation` verdict: the whole error band above it) and good
//! only within the budget minus the hysteresis (the whole band below), so a
//! route hovering at its budget neither flaps nor resolves. An `uncertain`
//! verdict (the band straddles the budget) is never bad for the over-budget
//! alert; it has its own, milder alert. Without data a delay or loss alert
//! keeps its state (a route that stops being measured has its own alert,
//! `no-data`, rather than resolving silently).

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AlertKind {
    /// One-way delay over the budget (verdict `violation`).
    OverBudget,
    /// The error band straddles the budget for long: the clocks cannot say.
    Uncertain,
    /// Loss at or above `loss_pct`.
    Loss,
    /// A route measured before has had no windows for `no_data_after`.
    NoData,
    /// A probe's clock error is over `clock_error_fraction` of the tightest
    /// budget it is judged against across two clocks (per probe, not per
    /// route).
    ClockError,
}

impl AlertKind {
    /// The kinds judged per route direction.
    pub const ROUTE: [AlertKind; 4] = [
        AlertKind::OverBudget,
        AlertKind::Uncertain,
        AlertKind::Loss,
        AlertKind::NoData,
    ];
    pub const ALL: [AlertKind; 5] = [
        AlertKind::OverBudget,
        AlertKind::Uncertain,
        AlertKind::Loss,
        AlertKind::NoData,
        AlertKind::ClockError,
    ];

    /// The `alertname` label.
    pub fn name(self) -> &'static str {
        match self {
            AlertKind::OverBudget => "HubmeshRouteOverBudget",
            AlertKind::Uncertain => "HubmeshRouteUncertain",
            AlertKind::Loss => "HubmeshRouteLoss",
            AlertKind::NoData => "HubmeshRouteNoData",
            AlertKind::ClockError => "HubmeshProbeClockError",
        }
    }

    pub fn from_name(s: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The `severity` label.
    pub fn severity(self) -> &'static str {
        match self {
            AlertKind::OverBudget => "critical",
            AlertKind::Loss | AlertKind::NoData | AlertKind::ClockError => "warning",
            AlertKind::Uncertain => "info",
        }
    }
}

/// The settings of `alerts:` the state machine needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertTiming {
    /// Bad this long before firing.
    pub hold: Duration,
    /// Good this long before resolving.
    pub resolve_for: Duration,
    /// A delay alert resolves only this far under the budget (ms).
    pub hysteresis_ms: f64,
    /// Loss at or above this fires a loss alert (%).
    pub loss_pct: f64,
    /// No windows for this long fires no-data.
    pub no_data_after: Duration,
    /// A probe's clock error over this fraction of the tightest budget it is
    /// judged against fires a clock alert.
    pub clock_error_fraction: f64,
}

impl Default for AlertTiming {
    fn default() -> Self {
        AlertTiming {
            hold: Duration::from_secs(180),
            resolve_for: Duration::from_secs(180),
            hysteresis_ms: 0.5,
            loss_pct: 1.0,
            no_data_after: Duration::from_secs(300),
            clock_error_fraction: 0.25,
        }
    }
}

/// What one evaluation saw of one route direction.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Observation {
    /// One-way delay at the rule's percentile and its error bound (ms), when
    /// measured in the look-back.
    pub delay: Option<(f64, f64)>,
    pub budget_ms: f64,
    /// Loss in this direction over the look-back (%), when known.
    pub loss_pct: Option<f64>,
    /// When the route was last measured (Unix ms of its latest window's end),
    /// if ever.
    pub last_measured_ms: Option<u64>,
}

/// Whether an observation is bad, good, or neither, for one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    Bad,
    Good,
    /// In the hysteresis band, or nothing to judge by.
    Neither,
}

/// How `obs` reads for `kind`; see the module documentation.
pub fn read(kind: AlertKind, obs: &Observation, t: &AlertTiming, now_ms: u64) -> Reading {
    match kind {
        AlertKind::OverBudget => match obs.delay {
            Some((v, err)) if v - err > obs.budget_ms => Reading::Bad,
            Some((v, err)) if v + err <= obs.budget_ms - t.hysteresis_ms => Reading::Good,
            _ => Reading::Neither,
        },
        AlertKind::Uncertain => match obs.delay {
            Some((v, err)) if v - err <= obs.budget_ms && v + err > obs.budget_ms => Reading::Bad,
            Some(_) => Reading::Good,
            None => Reading::Neither,
        },
        AlertKind::Loss => match obs.loss_pct {
            Some(l) if l >= t.loss_pct => Reading::Bad,
            // Resolves under half the threshold: loss is noisy at low counts.
            Some(l) if l < t.loss_pct / 2.0 => Reading::Good,
            _ => Reading::Neither,
        },
        AlertKind::NoData => match obs.last_measured_ms {
            None => Reading::Neither,
            Some(last) => {
                let limit = u64::try_from(t.no_data_after.as_millis()).unwrap_or(u64::MAX);
                if now_ms.saturating_sub(last) > limit {
                    Reading::Bad
                } else {
                    Reading::Good
                }
            }
        },
        // Per probe, not per route: see [`read_clock`].
        AlertKind::ClockError => Reading::Neither,
    }
}

/// How a probe's clock reads for [`AlertKind::ClockError`]: bad over the
/// fraction of its tightest budget, good only under four fifths of that (an
/// error hovering at the limit neither flaps nor resolves).
pub fn read_clock(error_ms: f64, tightest_budget_ms: f64, t: &AlertTiming) -> Reading {
    let limit = t.clock_error_fraction * tightest_budget_ms;
    if error_ms > limit {
        Reading::Bad
    } else if error_ms <= 0.8 * limit {
        Reading::Good
    } else {
        Reading::Neither
    }
}

/// Where an alert stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum AlertState {
    #[default]
    Inactive,
    /// Bad since `since`.
    Pending { since: u64 },
    /// Firing since `since` (Unix ms); good since `good_since`, if it is.
    Firing { since: u64, good_since: Option<u64> },
}

/// A change worth telling someone about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Started firing at this time (it had been pending since `pending_since`).
    Fired { at: u64, pending_since: u64 },
    /// Resolved at this time; it had fired at `fired_at`.
    Resolved { at: u64, fired_at: u64 },
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One step of the state machine at `now`.
pub fn step(
    state: AlertState,
    reading: Reading,
    t: &AlertTiming,
    now: u64,
) -> (AlertState, Option<Transition>) {
    match (state, reading) {
        (AlertState::Inactive, Reading::Bad) => {
            let pending = AlertState::Pending { since: now };
            if t.hold.is_zero() {
                step(pending, reading, t, now)
            } else {
                (pending, None)
            }
        }
        (AlertState::Inactive, _) => (AlertState::Inactive, None),
        (AlertState::Pending { since }, Reading::Bad) => {
            if now.saturating_sub(since) >= ms(t.hold) {
                (
                    AlertState::Firing {
                        since: now,
                        good_since: None,
                    },
                    Some(Transition::Fired {
                        at: now,
                        pending_since: since,
                    }),
                )
            } else {
                (state, None)
            }
        }
        (AlertState::Pending { .. }, _) => (AlertState::Inactive, None),
        (AlertState::Firing { since, good_since }, Reading::Good) => {
            let good = good_since.unwrap_or(now);
            if now.saturating_sub(good) >= ms(t.resolve_for) {
                (
                    AlertState::Inactive,
                    Some(Transition::Resolved {
                        at: now,
                        fired_at: since,
                    }),
                )
            } else {
                (
                    AlertState::Firing {
                        since,
                        good_since: Some(good),
                    },
                    None,
                )
            }
        }
        (AlertState::Firing { since, .. }, _) => (
            AlertState::Firing {
                since,
                good_since: None,
            },
            None,
        ),
    }
}

#[cfg(test)]
mod clock_tests {
    use super::*;

    #[test]
    fn a_clock_alert_reads_bad_over_its_share_of_the_budget_with_hysteresis() {
        let t = AlertTiming::default(); // a quarter of the budget
        assert_eq!(read_clock(2.6, 10.0, &t), Reading::Bad);
        assert_eq!(read_clock(2.5, 10.0, &t), Reading::Neither);
        assert_eq!(read_clock(2.1, 10.0, &t), Reading::Neither);
        assert_eq!(read_clock(2.0, 10.0, &t), Reading::Good);
        assert_eq!(
            read_clock(16_000.0, 20.0, &t),
            Reading::Bad,
            "unsynchronized"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1000;

    fn timing() -> AlertTiming {
        AlertTiming {
            hold: Duration::from_secs(30),
            resolve_for: Duration::from_secs(20),
            hysteresis_ms: 1.0,
            loss_pct: 1.0,
            no_data_after: Duration::from_secs(60),
            clock_error_fraction: 0.25,
        }
    }

    fn obs(v: f64, err: f64) -> Observation {
        Observation {
            delay: Some((v, err)),
            budget_ms: 10.0,
            ..Observation::default()
        }
    }

    /// Runs the machine over (seconds, reading) pairs; returns transitions.
    fn run(kind: AlertKind, seq: &[(u64, Observation)]) -> (AlertState, Vec<Transition>) {
        let t = timing();
        let mut state = AlertState::Inactive;
        let mut out = Vec::new();
        for (sec, o) in seq {
            let now = sec * S;
            let (s, tr) = step(state, read(kind, o, &t, now), &t, now);
            state = s;
            out.extend(tr);
        }
        (state, out)
    }

    #[test]
    fn fires_after_the_hold_and_resolves_after_resolve_for_under_the_hysteresis() {
        let over = obs(12.0, 0.0);
        let seq: Vec<(u64, Observation)> = (0..=30)
            .step_by(10)
            .map(|s| (s, over))
            // In the hysteresis band (9.5 > 10 - 1): still firing.
            .chain([
                (40, obs(9.5, 0.0)),
                (50, obs(8.0, 0.0)),
                (60, obs(8.5, 0.0)),
            ])
            // A bad reading restarts the good streak.
            .chain([
                (65, over),
                (70, obs(8.0, 0.0)),
                (80, obs(8.0, 0.0)),
                (90, obs(8.0, 0.0)),
            ])
            .collect();
        let (state, tr) = run(AlertKind::OverBudget, &seq);
        assert_eq!(
            tr,
            vec![
                Transition::Fired {
                    at: 30 * S,
                    pending_since: 0
                },
                Transition::Resolved {
                    at: 90 * S,
                    fired_at: 30 * S
                }
            ]
        );
        assert_eq!(state, AlertState::Inactive);
    }

    #[test]
    fn a_short_spike_does_not_fire_and_uncertain_is_never_a_violation() {
        let seq = [
            (0, obs(12.0, 0.0)),
            (10, obs(12.0, 0.0)),
            (20, obs(9.0, 0.0)),
            (30, obs(12.0, 0.0)),
        ];
        let (state, tr) = run(AlertKind::OverBudget, &seq);
        assert!(tr.is_empty());
        assert_eq!(state, AlertState::Pending { since: 30 * S });
        // 10.5 +- 1: the band straddles 10 for a minute.
        let straddle: Vec<_> = (0..=60).step_by(10).map(|s| (s, obs(10.5, 1.0))).collect();
        let (_, tr) = run(AlertKind::OverBudget, &straddle);
        assert!(tr.is_empty(), "uncertain never fires over-budget");
        let (_, tr) = run(AlertKind::Uncertain, &straddle);
        assert_eq!(tr.len(), 1, "it fires its own alert");
    }

    #[test]
    fn no_data_keeps_a_delay_alert_firing_and_fires_its_own() {
        let nothing = Observation {
            budget_ms: 10.0,
            last_measured_ms: Some(0),
            ..Observation::default()
        };
        let seq = [
            (0, obs(12.0, 0.0)),
            (30, obs(12.0, 0.0)),
            (40, nothing),
            (100, nothing),
        ];
        let (state, tr) = run(AlertKind::OverBudget, &seq);
        assert_eq!(tr.len(), 1);
        assert!(matches!(state, AlertState::Firing { .. }));
        // Last measured at 0 s: no data after 60 s, fires 30 s later.
        let seq = [(30, nothing), (61, nothing), (91, nothing)];
        let (_, tr) = run(AlertKind::NoData, &seq);
        assert_eq!(
            tr,
            vec![Transition::Fired {
                at: 91 * S,
                pending_since: 61 * S
            }]
        );
        // Never measured: never no-data.
        let never = Observation::default();
        assert_eq!(
            read(AlertKind::NoData, &never, &timing(), 10_000 * S),
            Reading::Neither
        );
    }

    #[test]
    fn loss_fires_at_the_threshold_and_resolves_under_half_of_it() {
        let l = |p: f64| Observation {
            loss_pct: Some(p),
            ..Observation::default()
        };
        let t = timing();
        assert_eq!(read(AlertKind::Loss, &l(1.0), &t, 0), Reading::Bad);
        assert_eq!(read(AlertKind::Loss, &l(0.7), &t, 0), Reading::Neither);
        assert_eq!(read(AlertKind::Loss, &l(0.4), &t, 0), Reading::Good);
        assert_eq!(
            read(AlertKind::Loss, &Observation::default(), &t, 0),
            Reading::Neither
        );
    }

    #[test]
    fn zero_hold_fires_at_once() {
        let t = AlertTiming {
            hold: Duration::ZERO,
            ..timing()
        };
        let (s, tr) = step(AlertState::Inactive, Reading::Bad, &t, 5 * S);
        assert!(matches!(s, AlertState::Firing { since, .. } if since == 5 * S));
        assert!(tr.is_some());
    }
}
