//! The parts of the report built from results other than STAMP windows: the
//! throughput matrix per direction (bandwidth tests), ICMP targets (hosts
//! without a probe) and measured paths (traceroutes), named by site.

use super::round3;
use crate::server::config::Config;
use crate::server::store::{StoreError, StoreRead};
use serde::{Deserialize, Serialize};

use crate::server::store::StoredResult;
use protocol::api::{ResultBody, TraceHop};
use std::collections::BTreeMap;

/// Bandwidth from one endpoint to another over the look-back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    pub from: String,
    pub to: String,
    /// `tcp` or `udp` (of the latest test).
    pub protocol: String,
    pub tests: u64,
    pub latest_mbit: f64,
    pub median_mbit: f64,
    pub min_mbit: f64,
    pub max_mbit: f64,
    /// Of the latest test: TCP retransmits, UDP loss and jitter.
    pub retransmits: Option<u64>,
    pub loss_pct: Option<f64>,
    pub jitter_us: Option<f64>,
    /// When the latest test started (Unix ms).
    pub latest_unix_ms: u64,
}

/// ICMP echo from a probe's endpoint to a host without a probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IcmpRoute {
    pub from: String,
    /// The site pinged.
    pub to: String,
    pub sent: u64,
    pub received: u64,
    pub loss_pct: f64,
    /// Median of the windows' median RTT, and the worst p99 (ms).
    pub rtt_p50_ms: Option<f64>,
    pub rtt_p99_ms: Option<f64>,
    pub windows: u64,
}

/// The latest traceroute between two endpoints, by site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasuredPath {
    pub from: String,
    pub to: String,
    /// The sites the path crosses, in order: the source, every hop the
    /// topology can name (consecutive repeats merged), and the destination
    /// when it was reached.
    pub sites: Vec<String>,
    pub hops: Vec<TraceHop>,
    pub reached: bool,
    pub at_unix_ms: u64,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn endpoint_of(config: &Config, probe: &str) -> Option<String> {
    config.probe(probe).map(|p| config.endpoint_name(p))
}

/// Per ordered endpoint pair: every bandwidth test of the look-back.
pub fn throughput(config: &Config, rows: &[StoredResult]) -> Vec<Throughput> {
    let mut by_pair: BTreeMap<(String, String), Vec<(&StoredResult, &protocol::api::BwResult)>> =
        BTreeMap::new();
    for r in rows {
        let ResultBody::Bandwidth(b) = &r.body else {
            continue;
        };
        let (Some(client), Some(server)) = (
            endpoint_of(config, &r.probe),
            endpoint_of(config, &r.target),
        ) else {
            continue;
        };
        // Forward: the client sent; reverse: the server sent.
        let key = if b.direction == "reverse" {
            (server, client)
        } else {
            (client, server)
        };
        by_pair.entry(key).or_default().push((r, b));
    }
    by_pair
        .into_iter()
        .map(|((from, to), tests)| {
            let mut mbit: Vec<f64> = tests.iter().map(|(_, b)| b.throughput_mbit).collect();
            let (r, latest) = tests
                .iter()
                .max_by_key(|(r, _)| r.start_ms)
                .copied()
                .unwrap_or(tests[0]);
            let min = mbit.iter().copied().fold(f64::INFINITY, f64::min);
            let max = mbit.iter().copied().fold(0.0, f64::max);
            Throughput {
                from,
                to,
                protocol: latest.protocol.clone(),
                tests: tests.len() as u64,
                latest_mbit: round3(latest.throughput_mbit),
                median_mbit: round3(median(&mut mbit)),
                min_mbit: round3(min),
                max_mbit: round3(max),
                retransmits: latest.retransmits,
                loss_pct: latest.loss_pct,
                jitter_us: latest.jitter_us,
                latest_unix_ms: r.start_ms,
            }
        })
        .collect()
}

/// Per (probe endpoint, site): the ping windows of the look-back.
pub fn icmp(config: &Config, rows: &[StoredResult]) -> Vec<IcmpRoute> {
    type Acc = (u64, u64, Vec<f64>, f64, u64);
    let mut by_pair: BTreeMap<(String, String), Acc> = BTreeMap::new();
    for r in rows {
        let ResultBody::Ping(p) = &r.body else {
            continue;
        };
        let Some(from) = endpoint_of(config, &r.probe) else {
            continue;
        };
        let e = by_pair
            .entry((from, r.target.clone()))
            .or_insert_with(|| (0, 0, Vec::new(), 0.0, 0));
        e.0 += p.sent;
        e.1 += p.received;
        if let Some(rtt) = &p.rtt_us {
            e.2.push(rtt.p50 / 1e3);
            e.3 = e.3.max(rtt.p99 / 1e3);
        }
        e.4 += 1;
    }
    by_pair
        .into_iter()
        .map(
            |((from, to), (sent, received, mut p50s, p99, windows))| IcmpRoute {
                from,
                to,
                sent,
                received,
                loss_pct: if sent == 0 {
                    0.0
                } else {
                    round3(sent.saturating_sub(received) as f64 * 100.0 / sent as f64)
                },
                rtt_p50_ms: (!p50s.is_empty()).then(|| round3(median(&mut p50s))),
                rtt_p99_ms: (!p50s.is_empty()).then(|| round3(p99)),
                windows,
            },
        )
        .collect()
}

/// The latest trace per (probe endpoint, target endpoint or site), for the
/// ordered pairs in `wanted` (all when `None`).
pub fn paths(
    config: &Config,
    rows: &[StoredResult],
    wanted: Option<&std::collections::HashSet<(String, String)>>,
) -> Vec<MeasuredPath> {
    let topo = &config.topology;
    let mut latest: BTreeMap<(String, String), (&StoredResult, &protocol::api::TraceResult)> =
        BTreeMap::new();
    for r in rows {
        let ResultBody::Trace(t) = &r.body else {
            continue;
        };
        let Some(from) = endpoint_of(config, &r.probe) else {
            continue;
        };
        let to = endpoint_of(config, &r.target).unwrap_or_else(|| r.target.clone());
        if wanted.is_some_and(|w| !w.contains(&(from.clone(), to.clone()))) {
            continue;
        }
        let e = latest.entry((from, to)).or_insert((r, t));
        if r.start_ms >= e.0.start_ms {
            *e = (r, t);
        }
    }
    latest
        .into_iter()
        .map(|((from, to), (r, t))| {
            let (hops, sites) = trace_sites(topo, &from, &to, t);
            MeasuredPath {
                from,
                to,
                sites,
                hops,
                reached: t.reached,
                at_unix_ms: r.start_ms,
            }
        })
        .collect()
}

/// A trace's hops with the site of every address the topology knows, and the
/// sites the path crosses, in order: the source, every hop the topology can
/// name (consecutive repeats merged), and the destination when it was
/// reached. `from` and `to` are endpoint or site names.
pub fn trace_sites(
    topo: &topology::Topology,
    from: &str,
    to: &str,
    t: &protocol::api::TraceResult,
) -> (Vec<TraceHop>, Vec<String>) {
    let site_name = |name: &str| name.split('@').next().unwrap_or(name).to_string();
    let hops: Vec<TraceHop> = t
        .hops
        .iter()
        .map(|h| {
            let mut h = h.clone();
            if h.site.is_none() {
                h.site = h
                    .address
                    .as_deref()
                    .and_then(|a| a.parse().ok())
                    .and_then(|ip| topology::lab_addresses::site_of(topo, ip))
                    .map(str::to_string);
            }
            h
        })
        .collect();
    let mut sites = vec![site_name(from)];
    for s in hops.iter().filter_map(|h| h.site.clone()) {
        if sites.last() != Some(&s) {
            sites.push(s);
        }
    }
    let dest = site_name(to);
    if t.reached && sites.last() != Some(&dest) {
        sites.push(dest);
    }
    (hops, sites)
}

/// Whether a trace tells its path: it reached the destination and every hop
/// before the last answered.
pub fn trace_usable(t: &protocol::api::TraceResult) -> bool {
    t.reached && t.hops.iter().rev().skip(1).all(|h| h.address.is_some())
}

/// The report's sections built from results.
#[derive(Debug, Default)]
pub struct Sections {
    pub throughput: Vec<Throughput>,
    pub icmp: Vec<IcmpRoute>,
    pub paths: Vec<MeasuredPath>,
}

/// The three sections, from the results of the look-back. Paths are kept for
/// the detours and the routes over budget.
pub fn sections(
    conn: &dyn StoreRead,
    config: &Config,
    since_ms: u64,
    interesting: &std::collections::HashSet<(String, String)>,
) -> Result<Sections, StoreError> {
    let bw = conn.results_since("bandwidth", since_ms)?;
    let ping = conn.results_since("ping", since_ms)?;
    let trace = conn.results_since("trace", since_ms)?;
    Ok(Sections {
        throughput: throughput(config, &bw),
        icmp: icmp(config, &ping),
        paths: paths(config, &trace, Some(interesting)),
    })
}
