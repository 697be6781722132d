//! Finding what changed, on every evaluation: level shifts in the window
//! medians of each route direction over the last few windows, and changes
//! of each route direction's traced path over the last few traces; each new
//! event recorded once (by its key) and linked to its counterpart when one
//! explains the other.
//!
//! Level shifts are looked for in one-way medians where the route's clocks
//! allow one-way figures, in RTT/2 medians otherwise (direction
//! `round-trip`). Several sessions measure a route direction (its probes,
//! both ways); their medians are merged per window slot (the median of the
//! slot) into one series.

use crate::monitor::attribution::{pick, same_direction, Candidate};
use crate::monitor::level_shift::{self, ShiftParams};
use crate::monitor::path_change::{self, Trace};
use crate::server::config::Config;
use crate::server::measured::{endpoint_names, open_end, Measured};
use crate::server::report::{trace_sites, trace_usable};
use crate::server::store::events::{Detail, NewEvent};
use crate::server::store::{StoreError, StoreRead, StoreWrite};
use protocol::api::ResultBody;
use std::collections::{BTreeMap, HashMap};
use topology::analysis::{self, Basis};
use topology::Endpoint;

/// Traces read back per evaluation: this many trace periods (at least ten
/// minutes).
const TRACE_PERIODS: u64 = 20;

/// A route as events name it: endpoints in topology order.
fn route_of(config: &Config, a: Endpoint, b: Endpoint) -> (String, String, &'static str) {
    let topo = &config.topology;
    let order: HashMap<Endpoint, usize> = analysis::endpoints(topo)
        .into_iter()
        .enumerate()
        .map(|(i, e)| (e, i))
        .collect();
    let (ia, ib) = (order.get(&a), order.get(&b));
    if ia <= ib {
        (a.name(topo), b.name(topo), "forward")
    } else {
        (b.name(topo), a.name(topo), "reverse")
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The level shifts of the last `9W + 4` windows, per route direction. A
/// route with that much history is judged only where the detector has its
/// full history before the candidate (`detect_settled`): each shift is then
/// found once, when `W` windows follow it, the same way on every later run. A
/// younger route (first measured inside the horizon, so all of its history is
/// in view) is judged with what there is, so a fault in a route's first
/// minutes is not missed.
pub fn level_shifts(
    conn: &dyn StoreRead,
    config: &Config,
    now: u64,
) -> Result<Vec<NewEvent>, StoreError> {
    let p = ShiftParams::default();
    let window_ms = config.settings.window_s.max(1) * 1000;
    let horizon_points = 9 * p.window + 4;
    let horizon = window_ms * horizon_points as u64;
    let since = now.saturating_sub(horizon);
    let from = since;
    let measured = Measured::load_range(conn, config, from, open_end(now), now)?;
    let names = endpoint_names(&config.topology);
    // When each unordered pair was first measured.
    let mut first: HashMap<(Endpoint, Endpoint), u64> = HashMap::new();
    for d in conn.directions_seen()? {
        if let (Some(&a), Some(&b)) = (names.get(&d.sender), names.get(&d.reflector)) {
            let e = first.entry((a.min(b), a.max(b))).or_insert(d.first_ms);
            *e = (*e).min(d.first_ms);
        }
    }
    // (travel from, travel to) -> slot -> medians; and per unordered pair the
    // RTT/2 medians.
    type Slots = BTreeMap<u64, Vec<f64>>;
    let mut one_way: HashMap<(Endpoint, Endpoint), Slots> = HashMap::new();
    let mut rtt: HashMap<(Endpoint, Endpoint), Slots> = HashMap::new();
    conn.for_each_window_medians(from, &mut |w| {
        let (Some(&a), Some(&b)) = (names.get(w.sender), names.get(w.reflector)) else {
            return;
        };
        let slot = w.start_ms / window_ms * window_ms;
        let ms = |v: Option<u64>| v.map(|us| us as f64 / 1000.0);
        if let Some(f) = ms(w.medians.forward_us) {
            one_way
                .entry((a, b))
                .or_default()
                .entry(slot)
                .or_default()
                .push(f);
        }
        if let Some(v) = ms(w.medians.reverse_us) {
            one_way
                .entry((b, a))
                .or_default()
                .entry(slot)
                .or_default()
                .push(v);
        }
        if let Some(v) = ms(w.medians.rtt_us) {
            rtt.entry((a.min(b), a.max(b)))
                .or_default()
                .entry(slot)
                .or_default()
                .push(v / 2.0);
        }
    })?;
    let series = |slots: &mut Slots| -> Vec<(u64, f64)> {
        slots.iter_mut().map(|(t, v)| (*t, median(v))).collect()
    };
    let mut out = Vec::new();
    let mut push = |a: Endpoint,
                    b: Endpoint,
                    direction: Option<&str>,
                    basis: &str,
                    points: Vec<(u64, f64)>| {
        let (from, to, dir) = route_of(config, a, b);
        let young = first.get(&(a.min(b), a.max(b))).is_none_or(|&f| f >= since);
        let shifts = if young {
            level_shift::detect(&points, &p)
        } else {
            level_shift::detect_settled(&points, &p)
        };
        for s in shifts {
            out.push(NewEvent {
                from: from.clone(),
                to: to.clone(),
                direction: direction.unwrap_or(dir).to_string(),
                at_ms: s.at_ms,
                detail: Detail::LevelShift {
                    before_ms: s.before_ms,
                    after_ms: s.after_ms,
                    basis: basis.to_string(),
                },
            });
        }
    };
    let trusted = |a: Endpoint, b: Endpoint| {
        measured
            .bands(a, b, 50.0)
            .0
            .is_some_and(|e| e.basis == Basis::OneWay)
    };
    // One-way where both directions of the pair may be trusted, else the
    // round trip once per pair.
    for (&(a, b), slots) in one_way.iter_mut() {
        if trusted(a, b) && trusted(b, a) {
            push(a, b, None, "one-way", series(slots));
        }
    }
    for (&(a, b), slots) in rtt.iter_mut() {
        if !(trusted(a, b) && trusted(b, a)) {
            push(a, b, Some("round-trip"), "rtt-half", series(slots));
        }
    }
    Ok(out)
}

/// The path changes of the last traces, per probe and target.
pub fn path_changes(
    conn: &dyn StoreRead,
    config: &Config,
    now: u64,
) -> Result<Vec<NewEvent>, StoreError> {
    let Some(icmp) = config.icmp.filter(|i| i.trace_period_s > 0) else {
        return Ok(Vec::new());
    };
    let horizon = (icmp.trace_period_s * 1000 * TRACE_PERIODS).max(600_000);
    let topo = &config.topology;
    let mut by_session: BTreeMap<(String, String), Vec<Trace>> = BTreeMap::new();
    for r in conn.results_since("trace", now.saturating_sub(horizon))? {
        let ResultBody::Trace(t) = &r.body else {
            continue;
        };
        let (Some(p), Some(q)) = (config.probe(&r.probe), config.probe(&r.target)) else {
            continue;
        };
        let (from, to) = (config.endpoint_name(p), config.endpoint_name(q));
        let (_, sites) = trace_sites(topo, &from, &to, t);
        by_session
            .entry((r.probe.clone(), r.target.clone()))
            .or_default()
            .push(Trace {
                at_ms: r.start_ms,
                sites,
                usable: trace_usable(t),
            });
    }
    let mut out = Vec::new();
    for ((probe, target), traces) in by_session {
        let (Some(p), Some(q)) = (config.probe(&probe), config.probe(&target)) else {
            continue;
        };
        if p.endpoint == q.endpoint {
            continue;
        }
        let (from, to, direction) = route_of(config, p.endpoint, q.endpoint);
        for c in path_change::detect(&traces).1 {
            out.push(NewEvent {
                from: from.clone(),
                to: to.clone(),
                direction: direction.to_string(),
                at_ms: c.at_ms,
                detail: Detail::PathChange {
                    old: c.old,
                    new: c.new,
                    probe: probe.clone(),
                    target: target.clone(),
                },
            });
        }
    }
    Ok(out)
}

/// Records the new events (once each), drops a repeat of one just recorded
/// (another probe pair seeing the same change), and links each to its
/// counterpart; returns the ids recorded.
pub fn record(
    db: &mut dyn StoreWrite,
    found: &[NewEvent],
    config: &Config,
    now: u64,
) -> Result<Vec<i64>, StoreError> {
    let window_ms = config.settings.window_s.max(1) * 1000;
    let trace_ms = config.icmp.map_or(0, |i| i.trace_period_s * 1000);
    let shift_w = ShiftParams::default().window as u64 * window_ms;
    let slack = trace_ms + window_ms;
    let mut ids = Vec::new();
    for e in found {
        let near = db.events_since(
            e.at_ms.saturating_sub(shift_w.max(2 * trace_ms)),
            Some((&e.from, &e.to)),
        )?;
        let repeat = near.iter().any(|x| {
            x.direction == e.direction
                && x.at_ms != e.at_ms
                && match (&x.detail, &e.detail) {
                    (Detail::LevelShift { .. }, Detail::LevelShift { .. }) => {
                        x.at_ms.abs_diff(e.at_ms) < shift_w
                    }
                    (Detail::PathChange { new: a, .. }, Detail::PathChange { new: b, .. }) => {
                        a == b && x.at_ms.abs_diff(e.at_ms) <= 2 * trace_ms
                    }
                    _ => false,
                }
        });
        if repeat {
            continue;
        }
        let Some(id) = db.record_event(e, now)? else {
            continue;
        };
        ids.push(id);
        // Link to the closest unlinked event of the other kind on this route.
        let others: Vec<Candidate> = db
            .events_since(e.at_ms.saturating_sub(slack), Some((&e.from, &e.to)))?
            .into_iter()
            .filter(|x| {
                x.id != id && x.detail.kind() != e.detail.kind() && x.at_ms <= e.at_ms + slack
            })
            .map(|x| Candidate {
                id: x.id,
                direction: x.direction,
                at_ms: x.at_ms,
                linked: x.linked.is_some(),
            })
            .collect();
        let partner = match e.detail {
            Detail::LevelShift { .. } => {
                pick(e.at_ms, slack, &others, |d| same_direction(&e.direction, d))
            }
            Detail::PathChange { .. } => {
                pick(e.at_ms, slack, &others, |d| same_direction(d, &e.direction))
            }
        };
        if let Some(p) = partner {
            db.link_events(id, p)?;
        }
    }
    Ok(ids)
}
