//! The report's clocks section: per measured endpoint pair the interval its
//! clock offset lies in (`server::clock_offset`), where that comes from, and
//! the pairs whose clocks claim more than physics allows.

use super::{Report, ReportRoute};
use topology::clock_bounds::PairOffset;

pub const CLOCK_HEADERS: [&str; 5] = ["FROM", "TO", "OFFSET us (to - from)", "SOURCE", "NOTE"];

/// Each unordered pair once (as its first route lists it), with its offset.
fn pairs(routes: &[ReportRoute]) -> Vec<(&str, &str, &PairOffset)> {
    let mut seen = std::collections::HashSet::new();
    routes
        .iter()
        .filter_map(|rr| {
            let c = rr.route.clock.as_ref()?;
            let (a, b) = (rr.route.from.as_str(), rr.route.to.as_str());
            seen.insert((a.min(b), a.max(b))).then_some((a, b, c))
        })
        .collect()
}

fn us(x: f64) -> String {
    format!("{x:.1}")
}

pub fn clock_rows(r: &Report) -> Vec<Vec<String>> {
    pairs(&r.routes)
        .into_iter()
        .map(|(a, b, c)| {
            let note = if c.contradiction {
                "CONTRADICTION: claims ignored".to_string()
            } else {
                c.note.clone().unwrap_or_default()
            };
            vec![
                a.to_string(),
                b.to_string(),
                format!("[{}, {}]", us(c.lo_us), us(c.hi_us)),
                c.source.as_str().to_string(),
                note,
            ]
        })
        .collect()
}

/// One line per pair whose clocks' claims contradict physics.
pub fn contradiction_lines(r: &Report) -> Vec<String> {
    contradictions(&r.routes)
}

fn contradictions(routes: &[ReportRoute]) -> Vec<String> {
    pairs(routes)
        .into_iter()
        .filter(|(_, _, c)| c.contradiction)
        .map(|(a, b, c)| {
            let physics = c.physics.unwrap_or_else(|| c.interval());
            format!(
                "clock claims contradict physics: {a}↔{b} claims ±{} us, physics allows [{}, {}] us",
                us(c.claimed_us.unwrap_or(0.0)),
                us(physics.lo_us),
                us(physics.hi_us)
            )
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use topology::analysis::{RouteReport, Verdict};
    use topology::clock_bounds::from_physics;

    fn route(from: &str, to: &str, clock: Option<PairOffset>) -> ReportRoute {
        ReportRoute {
            route: RouteReport {
                from: from.into(),
                to: to.into(),
                one_way_ms: Some(5.0),
                error_ms: None,
                basis: None,
                budget_ms: None,
                rule: None,
                percentile: None,
                verdict: Verdict::Ok,
                distance_km: 1_000.0,
                lower_bound_ms: 4.9,
                stretch: None,
                path: vec![],
                relay: None,
                note: None,
                clock,
            },
            measured: None,
        }
    }

    #[test]
    fn contradictions_are_named_once_per_pair() {
        // Claims of ±10 us; the minima need θ in [2.4, 2.6] ms.
        let bad = PairOffset::resolve(
            Some(10.0),
            Some(from_physics(7_500.0, 2_500.0, 4_900.0, 0.0)),
            None,
        )
        .unwrap();
        let routes = vec![
            route("a", "b", Some(bad.clone())),
            route("b", "a", Some(bad.reversed())),
            route("a", "c", Some(PairOffset::same_clock())),
            route("c", "d", None),
        ];
        assert_eq!(
            contradictions(&routes),
            vec!["clock claims contradict physics: a↔b claims ±10.0 us, physics allows [2400.0, 2600.0] us"]
        );
        assert_eq!(pairs(&routes).len(), 2);
    }
}
