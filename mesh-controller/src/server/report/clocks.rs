//! The report's clocks section: per measured endpoint pair the interval its
//! clock offset lies in (`server::clock_offset`), where that comes from, and
//! the pairs whose clocks claim more than physics allows.

use super::Report;
use topology::clock_bounds::PairOffset;

pub const CLOCK_HEADERS: [&str; 5] = ["FROM", "TO", "OFFSET us (to - from)", "SOURCE", "NOTE"];

/// Each unordered pair once (as its first route lists it), with its offset.
fn pairs(r: &Report) -> Vec<(&str, &str, &PairOffset)> {
    let mut seen = std::collections::HashSet::new();
    r.routes
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
    pairs(r)
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
    pairs(r)
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
