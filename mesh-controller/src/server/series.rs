//! Reading a route's history from the store (`GET /v1/series`, `series
//! --db`): the rollups of both session directions between two endpoints, or,
//! narrowed to one probe (and peer), that probe pair's raw and retained
//! windows, handed to `history::series::Builder` point by point.

use crate::history::series::{auto_step, Builder, PairContext, Series, MAX_POINTS};
use crate::history::{buckets, Rollup, COARSE_MS};
use crate::server::config::Config;
use crate::server::measured::endpoint_names;
use crate::server::measured::Ends;
use crate::server::store::rollups::Directions;
use crate::server::store::{StoreError, StoreRead};
use std::collections::HashMap;
use std::time::Duration;
use topology::budgets;

/// The step of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// At most `history::series::AUTO_MAX_POINTS` points.
    Auto,
    Every(Duration),
}

/// What a series is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesQuery {
    /// Endpoint names (`site` or `site@network`).
    pub from: String,
    pub to: String,
    /// `[since, until)`, Unix ms.
    pub since: u64,
    pub until: u64,
    pub step: Step,
    /// Narrow to this probe's sessions (at `from` or `to`), and to those with
    /// `peer`.
    pub probe: Option<String>,
    pub peer: Option<String>,
}

/// Why a series cannot be answered.
#[derive(Debug, thiserror::Error)]
pub enum SeriesError {
    /// The request is wrong (400, exit 2): the text says what.
    #[error("{0}")]
    Bad(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

fn bad(s: impl Into<String>) -> SeriesError {
    SeriesError::Bad(s.into())
}

/// Answers a series query over the store.
pub fn series(
    conn: &dyn StoreRead,
    config: &Config,
    q: &SeriesQuery,
    now: u64,
) -> Result<Series, SeriesError> {
    let topo = &config.topology;
    let names = endpoint_names(topo);
    let endpoint = |which: &str, name: &str| {
        names.get(name).copied().ok_or_else(|| {
            let mut known: Vec<&str> = names.keys().map(String::as_str).collect();
            known.sort_unstable();
            let more = if known.len() > 8 { ", ..." } else { "" };
            known.truncate(8);
            bad(format!(
                "{which}: unknown endpoint {name:?} (expected site or site@network, e.g. {}{more})",
                known.join(", ")
            ))
        })
    };
    let (a, b) = (endpoint("from", &q.from)?, endpoint("to", &q.to)?);
    if a == b {
        return Err(bad("from and to are the same endpoint"));
    }
    if q.since >= q.until {
        return Err(bad("since must be before until"));
    }
    let fine = config.history.fine_ms;
    let range = q.until - q.since;
    let step = match q.step {
        Step::Auto => auto_step(range, fine),
        Step::Every(d) => {
            let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
            if ms < fine || !ms.is_multiple_of(fine) {
                return Err(bad(format!(
                    "step: expected a multiple of the fine rollup bucket ({} s)",
                    fine / 1000
                )));
            }
            if ms > COARSE_MS && !ms.is_multiple_of(COARSE_MS) {
                return Err(bad("step: a step over an hour must be whole hours"));
            }
            ms
        }
    };
    if range.div_ceil(step) > MAX_POINTS {
        return Err(bad(format!(
            "step: {} points asked for, at most {MAX_POINTS}: use a longer step",
            range.div_ceil(step)
        )));
    }
    let (from_name, to_name) = (a.name(topo), b.name(topo));
    let rule = budgets::rule_for(topo, &config.budgets, a, b);
    let mut builder = Builder::new(step);
    let ends = Ends::of(config);
    let mut pair = PairContext {
        fibre_us: ends.fibre_us(a, b),
        one_probe_each: ends.one_probe_each(a, b),
    };
    let source = match &q.probe {
        None => {
            if q.peer.is_some() {
                return Err(bad("peer needs probe"));
            }
            let raw_ms = u64::try_from(config.retention.raw.as_millis()).unwrap_or(u64::MAX);
            let spans =
                config
                    .history
                    .plan_series(q.since, q.until, step, now.saturating_sub(raw_ms));
            conn.for_each_rollup(
                &spans,
                Directions::Between(&from_name, &to_name),
                &mut |row| {
                    builder.add(
                        row.bucket_ms,
                        row.level_ms,
                        row.sender == from_name,
                        &row.rollup()?,
                    );
                    Ok(())
                },
            )?;
            "rollups"
        }
        Some(probe) => {
            let pairs = probe_pairs(config, probe, q.peer.as_deref(), &from_name, &to_name)?;
            // One probe pair: its minima are one pair of clocks' whatever
            // else stands at its ends.
            let peers: std::collections::HashSet<&String> = pairs
                .iter()
                .map(|(s, r, _)| if s == probe { r } else { s })
                .collect();
            pair.one_probe_each = peers.len() == 1;
            let boots: HashMap<String, String> = conn
                .probe_rows()?
                .into_iter()
                .filter_map(|(id, r)| r.boot_id.map(|b| (id, b)))
                .collect();
            for (sender, reflector, forward) in pairs {
                let same = matches!((boots.get(&sender), boots.get(&reflector)), (Some(x), Some(y)) if x == y);
                for_each_session_window(
                    conn,
                    &sender,
                    &reflector,
                    q.since,
                    q.until,
                    |start, len, r| {
                        let r = if same { r.same_clock() } else { r };
                        builder.add(start, len, forward, &r);
                    },
                )?;
            }
            "windows"
        }
    };
    Ok(Series {
        from: from_name,
        to: to_name,
        probe: q.probe.clone(),
        peer: q.peer.clone(),
        since: q.since,
        until: q.until,
        step_ms: step,
        budget_ms: rule.map(|r| r.one_way_ms),
        percentile: rule.map(|r| r.percentile),
        rule: rule.map(|r| r.name.clone()),
        source: source.to_string(),
        points: builder
            .points(&pair)
            .into_iter()
            .filter(|p| p.t < q.until && p.t + p.duration_ms > buckets::floor(q.since, fine))
            .collect(),
    })
}

/// The sessions (sender, reflector, sent from -> to) of `probe` with the
/// probes at the other end (or `peer`).
fn probe_pairs(
    config: &Config,
    probe: &str,
    peer: Option<&str>,
    from: &str,
    to: &str,
) -> Result<Vec<(String, String, bool)>, SeriesError> {
    let spec = config
        .probe(probe)
        .ok_or_else(|| bad(format!("probe: {probe:?} is not a configured probe")))?;
    let here = config.endpoint_name(spec);
    let (probe_at_from, other) = if here == from {
        (true, to)
    } else if here == to {
        (false, from)
    } else {
        return Err(bad(format!(
            "probe: {probe:?} stands at {here}, neither {from} nor {to}"
        )));
    };
    let peers: Vec<&str> = match peer {
        Some(p) => {
            let s = config
                .probe(p)
                .ok_or_else(|| bad(format!("peer: {p:?} is not a configured probe")))?;
            if config.endpoint_name(s) != other {
                return Err(bad(format!("peer: {p:?} does not stand at {other}")));
            }
            vec![p]
        }
        None => config
            .probes
            .iter()
            .filter(|p| config.endpoint_name(p) == other)
            .map(|p| p.id.as_str())
            .collect(),
    };
    let mut out = Vec::new();
    for p in peers {
        out.push((probe.to_string(), p.to_string(), probe_at_from));
        out.push((p.to_string(), probe.to_string(), !probe_at_from));
    }
    Ok(out)
}

/// Calls `f(start, length, rollup)` for each raw window and each retained
/// (coarse) row of one session that started in `[since, until)`.
fn for_each_session_window(
    conn: &dyn StoreRead,
    probe: &str,
    target: &str,
    since: u64,
    until: u64,
    mut f: impl FnMut(u64, u64, Rollup),
) -> Result<(), StoreError> {
    conn.for_each_session_rollup(probe, target, since, until, &mut f)
}
