//! Which probes a clock alert judges, and against what: a probe whose
//! one-way delays are measured across two clocks (a partner with another or
//! an unknown boot id) on a route a budget covers. Probes that share one
//! kernel clock with every partner have no clock error between them, however
//! unsynchronized that clock is, so they are not judged. Pure: from the
//! configuration and the probes' last hellos.

use crate::server::config::Config;
use crate::server::monitor::alerting::covered;
use crate::server::store::ProbeRow;
use std::collections::HashMap;

/// A probe's clock against the tightest budget it is judged against.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeClock {
    pub probe: String,
    /// The error it announced in its last hello (ms).
    pub error_ms: f64,
    /// What keeps its clock (or "unknown"), and a test clock if one runs.
    pub source: String,
    pub tightest_budget_ms: f64,
    /// The rule of that budget.
    pub rule: String,
}

fn same_clock(a: Option<&ProbeRow>, b: Option<&ProbeRow>) -> bool {
    match (
        a.and_then(|r| r.boot_id.as_ref()),
        b.and_then(|r| r.boot_id.as_ref()),
    ) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Every probe judged, with its tightest budget across two clocks.
pub fn judged(config: &Config, probes: &HashMap<String, ProbeRow>) -> Vec<ProbeClock> {
    let routes = covered(config);
    let mut out = Vec::new();
    for p in &config.probes {
        let row = probes.get(&p.id);
        let Some(clock) = row.and_then(|r| r.clock) else {
            continue;
        };
        let mut tightest: Option<(f64, &str)> = None;
        for r in routes
            .iter()
            .filter(|r| r.src == p.endpoint || r.dst == p.endpoint)
        {
            let other = if r.src == p.endpoint { r.dst } else { r.src };
            let across_two_clocks = config
                .probes
                .iter()
                .filter(|q| q.endpoint == other)
                .any(|q| !same_clock(row, probes.get(&q.id)));
            if across_two_clocks && tightest.is_none_or(|(b, _)| r.budget_ms < b) {
                tightest = Some((r.budget_ms, r.rule.as_str()));
            }
        }
        let Some((budget, rule)) = tightest else {
            continue;
        };
        let mut source = clock
            .source
            .map_or("source unknown", |s| s.as_str())
            .to_owned();
        if let Some(t) = clock.test_clock {
            source += &format!(", {t}");
        }
        out.push(ProbeClock {
            probe: p.id.clone(),
            error_ms: clock.error_us as f64 / 1e3,
            source,
            tightest_budget_ms: budget,
            rule: rule.to_owned(),
        });
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use protocol::api::{ClockInfo, ClockSource, TestClock};
    use std::path::Path;

    /// A cluster and two cities of one real-time hub (plan-2021: 20 ms
    /// cluster <-> city in a hub; city <-> city not covered here).
    const SRC: &str = "topology:\n  version: 1\n  hubs: [{id: rt, role: realtime}]\n  sites:\n    - {id: cl, kind: cluster, hub: rt, location: [30, 104]}\n    - {id: a, kind: city, hub: rt, location: [31, 105]}\n    - {id: b, kind: city, hub: rt, location: [32, 106]}\n  budgets: plan-2021\nprobes:\n  - {id: cl-1, site: cl, stamp: 127.0.0.1:20000}\n  - {id: a-1, site: a, stamp: 127.0.0.1:20001}\n  - {id: b-1, site: b, stamp: 127.0.0.1:20002}\n";

    fn row(boot: Option<&str>, error_us: u64, test_clock: Option<TestClock>) -> ProbeRow {
        ProbeRow {
            boot_id: boot.map(str::to_owned),
            clock: Some(ClockInfo {
                synchronized: false,
                error_us,
                source: Some(ClockSource::FreeRunning),
                test_clock,
            }),
            ..ProbeRow::default()
        }
    }

    #[test]
    fn probes_sharing_one_kernel_clock_are_not_judged_and_the_others_are() {
        let c = crate::server::config::from_str(SRC, "t.yaml", Path::new("t.yaml")).unwrap();
        let sixteen_s = 16_000_000;
        let mut probes: HashMap<String, ProbeRow> = [
            ("cl-1", row(Some("k"), sixteen_s, None)),
            ("a-1", row(Some("k"), sixteen_s, None)),
            ("b-1", row(Some("k"), sixteen_s, None)),
        ]
        .into_iter()
        .map(|(id, r)| (id.to_owned(), r))
        .collect();
        assert!(judged(&c, &probes).is_empty(), "one kernel clock: no error");

        // b-1 on a test clock: no boot id, so b-1 and cl-1 (its partner on
        // a covered route) are judged; a-1 still shares cl-1's clock.
        let skew = TestClock {
            offset_ns: 2_500_000,
            drift_ppb: 0,
        };
        probes.insert("b-1".into(), row(None, 3_000, Some(skew)));
        let j = judged(&c, &probes);
        let ids: Vec<&str> = j.iter().map(|p| p.probe.as_str()).collect();
        assert_eq!(ids, ["cl-1", "b-1"]);
        assert_eq!(j[1].error_ms, 3.0);
        assert_eq!(j[1].tightest_budget_ms, 20.0);
        assert!(
            j[1].source.contains("TEST CLOCK +2.500 ms"),
            "{}",
            j[1].source
        );
        assert!(
            j[0].error_ms > 10_000.0,
            "cl-1's unsynchronized clock counts now"
        );
    }
}
