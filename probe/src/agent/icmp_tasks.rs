//! The agent's ICMP side, when the controller asks for it (`icmp:` in its
//! configuration): echo windows to every host without a probe it lists, and a
//! traceroute to every peer (and those hosts) once per trace period, each
//! result spooled like a window. Hop addresses are named by site on the
//! controller, which knows the topology.

use super::log::log;
use super::results::{lock, SharedResults};
use crate::icmp::{self, PingOptions, TraceOptions};
use protocol::api::{
    IcmpSettings, IcmpTarget, PingResult, ResultBody, RttStats, Target, TraceHop, TraceResult,
};
use protocol::window::Summary;
use std::net::{IpAddr, ToSocketAddrs};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// What the ICMP side measures; replaced whenever the assignment changes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IcmpPlan {
    pub settings: Option<IcmpSettings>,
    pub hosts: Vec<IcmpTarget>,
    /// Peer probes: (id, reflector address).
    pub peers: Vec<(String, IpAddr)>,
    /// Length of a ping window (the STAMP window).
    pub window: Duration,
    /// Where pings and traces leave from (the agent's listen address).
    pub source: Option<IpAddr>,
}

impl IcmpPlan {
    pub fn new(
        settings: Option<IcmpSettings>,
        hosts: &[IcmpTarget],
        peers: &[Target],
        window_s: u64,
        source: Option<IpAddr>,
    ) -> IcmpPlan {
        IcmpPlan {
            settings,
            hosts: hosts.to_vec(),
            peers: peers
                .iter()
                .filter_map(|t| {
                    let ip = t.stamp.to_socket_addrs().ok()?.next()?.ip();
                    Some((t.probe.clone(), ip))
                })
                .collect(),
            window: Duration::from_secs(window_s.max(1)),
            source,
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The wire form of an RTT summary (µs).
fn rtt(s: &Summary) -> RttStats {
    RttStats {
        min: s.min as f64,
        mean: s.mean as f64,
        p50: s.p50 as f64,
        p90: s.p90 as f64,
        p99: s.p99 as f64,
        max: s.max as f64,
    }
}

fn ping_result(r: &icmp::PingReport) -> PingResult {
    PingResult {
        sent: r.sent,
        received: r.received,
        rtt_us: r.rtt_us.as_ref().map(rtt),
        loss_pct: r.loss_pct,
    }
}

fn trace_result(r: &icmp::TraceReport) -> TraceResult {
    TraceResult {
        address: r.target.to_string(),
        hops: r
            .hops
            .iter()
            .map(|h| TraceHop {
                ttl: h.ttl,
                address: h.address.map(|a| a.to_string()),
                site: h.site.clone(),
                rtt_us: h.rtt_us.as_ref().map(rtt),
                loss_pct: h.loss_pct,
            })
            .collect(),
        reached: r.reached,
    }
}

/// The source address for a target: ours when it is of the target's family
/// (a dual-stack agent listens on one address, and peers may be measured
/// over the other family), else whatever the kernel picks.
fn same_family(source: Option<IpAddr>, target: IpAddr) -> Option<IpAddr> {
    source.filter(|s| s.is_ipv4() == target.is_ipv4())
}

/// Echo windows to every listed host, back to back, all hosts at once.
pub async fn ping_loop(mut plan: watch::Receiver<IcmpPlan>, results: SharedResults) {
    let mut warned = false;
    loop {
        let p = plan.borrow_and_update().clone();
        let Some(settings) = p.settings.filter(|_| !p.hosts.is_empty()) else {
            if plan.changed().await.is_err() {
                return;
            }
            continue;
        };
        let interval = Duration::from_millis(settings.ping_interval_ms.max(10));
        let count = (p.window.as_millis() / interval.as_millis().max(1)).clamp(1, 65_536) as u32;
        let start = now_ms();
        let mut set = tokio::task::JoinSet::new();
        for host in p.hosts.iter().cloned() {
            let Ok(ip) = host.address.parse::<IpAddr>() else {
                continue;
            };
            let mut o = PingOptions::new(ip);
            o.count = count;
            o.interval = interval;
            o.timeout = Duration::from_secs(1);
            o.source = same_family(p.source, ip);
            set.spawn(async move { (host.site, icmp::ping(&o).await) });
        }
        while let Some(done) = set.join_next().await {
            match done {
                Ok((site, Ok(report))) => {
                    lock(&results).push(&site, start, ResultBody::Ping(ping_result(&report)));
                }
                Ok((site, Err(e))) => {
                    if !warned {
                        log(&format!("ping {site}: {e}"));
                        warned = true;
                    }
                }
                Err(_) => {}
            }
        }
        if now_ms() < start + 1_000 {
            // Failed at once (no socket): do not spin.
            tokio::time::sleep(p.window).await;
        }
    }
}

/// A trace to every peer and host, one after another, once per period; the
/// first round a few seconds after the start.
pub async fn trace_loop(mut plan: watch::Receiver<IcmpPlan>, results: SharedResults) {
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut warned = false;
    loop {
        let p = plan.borrow_and_update().clone();
        let Some(settings) = p.settings.filter(|s| s.trace_period_s > 0) else {
            if plan.changed().await.is_err() {
                return;
            }
            continue;
        };
        let started = tokio::time::Instant::now();
        let hosts = p
            .hosts
            .iter()
            .filter_map(|h| Some((h.site.clone(), h.address.parse::<IpAddr>().ok()?)));
        for (target, ip) in p.peers.iter().cloned().chain(hosts) {
            let mut o = TraceOptions::new(ip);
            o.max_hops = settings.max_hops.clamp(1, 64);
            o.queries = 2;
            o.source = same_family(p.source, ip);
            let start = now_ms();
            match icmp::trace(&o, None).await {
                Ok(report) => {
                    lock(&results).push(&target, start, ResultBody::Trace(trace_result(&report)));
                }
                Err(e) => {
                    if !warned {
                        log(&format!("trace {target} ({ip}): {e}"));
                        warned = true;
                    }
                }
            }
        }
        let next = started + Duration::from_secs(settings.trace_period_s);
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            changed = plan.changed() => if changed.is_err() { return },
        }
    }
}
