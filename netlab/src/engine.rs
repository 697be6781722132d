//! The forwarding engine: pure packet logic with time passed in, so it is
//! tested without namespaces, TUN devices or a clock.
//!
//! A packet read from site S's TUN is matched to its source endpoint (by source
//! address, which must be one of S's) and destination endpoint (by destination
//! address), and follows the shortest path of `topology::routing` between them,
//! one directed edge (a link direction, or a crossing between networks at an
//! interconnect) at a time. Each edge applies loss, rate, delay and jitter
//! (see `shaping`) and schedules the packet's arrival at the edge's far end.
//! Arriving at the destination endpoint, the packet is handed out for delivery
//! to the destination site's TUN. Arriving at any other endpoint, the router
//! there lowers the TTL; when it would reach 0 the packet is dropped and an ICMP
//! time exceeded from that router's address (see `plan`) starts back to the
//! source along the shortest return path, from that point and at that time, so
//! traceroute sees each hop at its true round-trip time. The source's own hop
//! and the destination do not lower the TTL: a site is one router with its
//! hosts behind it, so traceroute across a two-link path shows the middle
//! site's router, then the destination.
//!
//! IPv6 takes the same paths with the same shaping: a site's IPv6 addresses
//! are the same endpoints (routing nodes) as its IPv4 ones, a router lowers
//! the hop limit instead of the TTL and answers in ICMPv6 from its IPv6
//! address (see `address_plan`). The IPv4 path only pays for a version check
//! where a packet is parsed.
//!
//! Every intermediate hop is computed at its scheduled (virtual) time, not at
//! the time the event loop gets to it, so lateness never adds up along a path.
//!
//! Links change while the lab runs (`netlab link set`, [`Engine::change_links`]):
//! - A delay or loss change applies to packets that start crossing the link
//!   afterwards; a packet already on it keeps the arrival time it was given.
//!   Routing does not follow delay or loss: its metrics stay as the topology
//!   file says (an IGP with static metrics), so a delay raise is a level shift
//!   on the same path.
//! - A link that goes down takes the packets on it with it
//!   (`dropped_link_down`), and routing is computed again without it, as a
//!   network does after it reconverges: traffic takes the next shortest path,
//!   and pairs left without one drop as `dropped_no_route`. Up again, it is
//!   routed over again.
//! - An interconnect goes down and up whole (`netlab link interconnect`,
//!   [`Engine::prepare_interconnects`]): every crossing between its carriers
//!   at its site, as when a direct-connect point fails. Routing then crosses
//!   carriers wherever the next interconnect is, as a link going down does.
//!
//! A packet in flight carries the edge it is crossing, its destination and
//! source endpoints, and the route (a path in the table) it follows with the
//! index of its next hop there. When the table is rebuilt, every packet still
//! in flight is re-anchored: it keeps its edge and arrival time, and its route
//! becomes the new shortest path from that edge's far end to its destination,
//! next hop 0: what a router there does with a packet it receives after
//! reconverging. So a packet only ever indexes the table it was anchored in,
//! and between two rebuilds it follows one loop-free shortest path; rebuilds
//! happen only on a user's change, so it cannot circle. A packet whose far end
//! has no path left to its destination is dropped there as `dropped_no_route`.

use crate::address_plan::AddressPlan;
use crate::shaping::{ms_to_ns, Delay, Rng, TokenBucket};
use crate::wire::{self, Ipv4Packet};
use crate::wire6::{self, Ipv6Packet};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};
use topology::routing::Routes;
use topology::Topology;

/// Most packets in flight at once; more are dropped (`dropped_overload`).
pub const MAX_IN_FLIGHT: usize = 65_536;
/// Spare packet buffers kept for reuse.
const MAX_POOLED: usize = 4096;

/// Packet counters of the whole lab.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Packets read from the sites' TUN devices.
    pub received: u64,
    /// Packets written to a destination site's TUN (ICMP messages included).
    pub delivered: u64,
    /// ICMP time-exceeded messages originated by the emulated routers.
    pub icmp_time_exceeded: u64,
    /// Echo replies and port unreachables the emulated routers sent for
    /// packets addressed to them.
    pub router_replies: u64,
    /// IPv6 packets read (also counted in `received`).
    #[serde(default)]
    pub received_ipv6: u64,
    /// IPv6 packets the lab does not route: from an unspecified, link-local
    /// or multicast source, or to a multicast or link-local destination (the
    /// kernel's neighbour discovery and MLD on the TUNs).
    pub dropped_ipv6: u64,
    /// Not a well-formed IPv4 packet.
    pub dropped_malformed: u64,
    /// Source address not one of the sending site's.
    pub dropped_bad_source: u64,
    /// Destination is no endpoint or router of the lab, or unreachable from
    /// the source.
    pub dropped_no_route: u64,
    /// Addressed to a router, but neither an echo request nor UDP.
    pub dropped_to_router: u64,
    /// Lost on a link (`loss_pct`).
    pub dropped_loss: u64,
    /// Over a link's rate for longer than the queue holds.
    pub dropped_rate: u64,
    /// TTL ran out at an emulated router.
    pub dropped_ttl: u64,
    /// More than [`MAX_IN_FLIGHT`] packets in flight.
    pub dropped_overload: u64,
    /// On a link when it was taken down (`netlab link set --down`).
    #[serde(default)]
    pub dropped_link_down: u64,
}

/// Counters of one direction of a link or interconnect crossing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeStats {
    /// `a -> b` endpoint names.
    pub from: String,
    pub to: String,
    /// `link N` or `interconnect N`.
    pub via: String,
    pub packets: u64,
    pub lost: u64,
    pub rate_dropped: u64,
}

#[derive(Debug)]
struct Edge {
    from: u32,
    to: u32,
    /// Router at the far end, which answers when a packet expires there.
    router: Ipv4Addr,
    /// The same router's IPv6 address.
    router6: Ipv6Addr,
    via: String,
    /// Loss probability (0..=1) and the percentage it came from, as now and
    /// as configured.
    loss: f64,
    loss_pct: f64,
    file_loss_pct: f64,
    delay: Delay,
    /// The configured delay: routing's metric, which link changes leave alone.
    metric_ns: u64,
    /// Taken down by `netlab link set --down` (both directions of a link).
    down: bool,
    bucket: Option<TokenBucket>,
    packets: u64,
    lost: u64,
    rate_dropped: u64,
}

#[derive(Debug)]
struct Event {
    at: u64,
    seq: u64,
    buf: Vec<u8>,
    /// The edge being crossed.
    edge: u32,
    /// The path followed, `from * n + destination`: from the source endpoint,
    /// or from where the packet was when routing last changed.
    route: u32,
    /// Index, in that path, of the edge to take at the far end of this one.
    next: u16,
    /// The source endpoint, which ICMP answers go back to.
    src: u32,
    /// Addressed to an emulated router at the path's end, not to the site.
    to_router: bool,
}

impl Edge {
    fn route_edge(&self) -> RouteEdge {
        RouteEdge {
            from: self.from,
            to: self.to,
            metric_ns: self.metric_ns,
            down: self.down,
        }
    }
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Event {}
impl Ord for Event {
    fn cmp(&self, other: &Self) -> Ordering {
        // Min-heap on time; the sequence number keeps equal times in FIFO order.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}
impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The forwarding state of one lab.
#[derive(Debug)]
pub struct Engine {
    /// Number of endpoints (routing nodes).
    n: usize,
    endpoint_site: Vec<u32>,
    endpoint_names: Vec<String>,
    by_address: HashMap<Ipv4Addr, u32>,
    /// Router addresses and the endpoint (routing node) each router sits at.
    routers: HashMap<Ipv4Addr, u32>,
    /// The same for IPv6.
    by_address6: HashMap<Ipv6Addr, u32>,
    routers6: HashMap<Ipv6Addr, u32>,
    edges: Vec<Edge>,
    /// Per topology link: its names and edges.
    links: Vec<LinkInfo>,
    /// Per topology interconnect: its names and crossing edges.
    interconnects: Vec<InterconnectInfo>,
    /// What routing runs on.
    base: RouteBase,
    /// Per (source, destination) pair `s * n + t`: (start, length) in `hops`.
    routes: Vec<(u32, u16)>,
    hops: Vec<u32>,
    queue: BinaryHeap<Event>,
    seq: u64,
    pool: Vec<Vec<u8>>,
    rng: Rng,
    stats: Stats,
    icmp_ident: u16,
}

/// A link's names and edges, by topology link index.
#[derive(Debug)]
struct LinkInfo {
    a: String,
    b: String,
    network: Option<String>,
    /// Edges `a -> b` and `b -> a`; `None` when routing has no nodes for the
    /// link's ends (not expected of a validated topology).
    edges: Option<[u32; 2]>,
}

/// An interconnect's names and crossing edges, by topology interconnect index.
#[derive(Debug)]
struct InterconnectInfo {
    site: String,
    networks: Vec<String>,
    /// One edge per ordered pair of its carriers present in routing.
    edges: Vec<u32>,
}

/// An interconnect's state in a running lab.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterconnectState {
    /// Index in the topology's `interconnects`.
    pub interconnect: usize,
    pub site: String,
    pub networks: Vec<String>,
    pub down: bool,
}

/// A change to one link, directions as the topology file lists the link
/// (`forward` = from `between[0]` to `between[1]`). `None` leaves a value as
/// it is. Values are validated by the caller (`control`); out-of-range ones
/// are clamped, never trusted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverse_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_pct: Option<f64>,
    /// `Some(false)`: take the link down; `Some(true)`: bring it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up: Option<bool>,
}

impl LinkChange {
    /// Whether it changes anything at all.
    pub fn is_empty(&self) -> bool {
        *self == LinkChange::default()
    }

    /// The same change seen from the other end of the link.
    pub fn reversed(&self) -> LinkChange {
        LinkChange {
            forward_ms: self.reverse_ms,
            reverse_ms: self.forward_ms,
            ..*self
        }
    }
}

/// Delay per direction and loss of a link (directions as in the topology file).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinkShape {
    pub forward_ms: f64,
    pub reverse_ms: f64,
    pub loss_pct: f64,
}

/// A link's state in a running lab next to what the topology file says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkState {
    /// Index in the topology's `links`.
    pub link: usize,
    /// The link's sites as the file lists them; `forward` is first to second.
    pub between: [String; 2],
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    pub down: bool,
    pub current: LinkShape,
    /// As the topology file says.
    pub configured: LinkShape,
}

impl LinkState {
    /// Whether the link is not as the topology file says.
    pub fn differs(&self) -> bool {
        self.down || self.current != self.configured
    }
}

/// Why [`Engine::change_links`] changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error("the lab has no link {0}")]
    NoSuchLink(usize),
    #[error("the lab has no interconnect {0}")]
    NoSuchInterconnect(usize),
}

/// Delays in ms, as the engine holds them (whole nanoseconds).
fn ns_to_ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// What routing needs of an edge.
#[derive(Debug, Clone, Copy)]
struct RouteEdge {
    from: u32,
    to: u32,
    metric_ns: u64,
    down: bool,
}

/// What routing runs on: the topology and the edges as configured. A copy
/// can compute route tables on another thread (shortest paths of a large lab
/// take milliseconds) while the engine forwards.
#[derive(Debug, Clone)]
pub struct RouteBase {
    topo: Topology,
    /// Per topology link, its `a -> b` edge (both directions go down together).
    link_edges: Vec<Option<u32>>,
    /// Per topology interconnect, one of its edges (all go down together).
    interconnect_edges: Vec<Option<u32>>,
    edges: Vec<RouteEdge>,
}

/// A route table to compute, made by [`Engine::prepare`]: which edges will be
/// down.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingJob {
    down: Vec<bool>,
}

/// A computed route table: per (source, destination) pair `s * n + t`,
/// (start, length) in `hops`, which holds edge indices.
#[derive(Debug)]
pub struct RouteTable {
    routes: Vec<(u32, u16)>,
    hops: Vec<u32>,
    /// Which edges were down when it was computed.
    down: Vec<bool>,
}

impl RouteBase {
    /// The route table with the job's edges down: shortest paths of
    /// `topology::routing` over the topology less the links that are down;
    /// between two adjacent nodes, the configured fastest edge that is up, as
    /// routing chooses.
    pub fn run(&self, job: &RoutingJob) -> RouteTable {
        let is_down = |e: usize| job.down.get(e).copied().unwrap_or(false);
        // Keeps the items (links, interconnects) whose edge is up; `edges`
        // gives each item's edge by position.
        fn keep_up<T>(items: &mut Vec<T>, edges: &[Option<u32>], is_down: impl Fn(usize) -> bool) {
            let mut i = 0;
            items.retain(|_| {
                let gone = edges
                    .get(i)
                    .copied()
                    .flatten()
                    .is_some_and(|e| is_down(e as usize));
                i += 1;
                !gone
            });
        }
        let mut topo = self.topo.clone();
        keep_up(&mut topo.links, &self.link_edges, is_down);
        keep_up(&mut topo.interconnects, &self.interconnect_edges, is_down);
        let edges: Vec<RouteEdge> = self
            .edges
            .iter()
            .enumerate()
            .map(|(i, e)| RouteEdge {
                down: is_down(i),
                ..*e
            })
            .collect();
        let routes_all = Routes::compute(&topo);
        let graph = routes_all.graph();
        let eps = graph.endpoints();
        let n = eps.len();
        // Dense (from, to) -> edge: the route table is n x n already.
        let mut best = vec![u32::MAX; n * n];
        for (i, e) in edges.iter().enumerate().filter(|(_, e)| !e.down) {
            let (from, to) = (e.from as usize, e.to as usize);
            let Some(slot) = best.get_mut(from * n + to).filter(|_| from < n && to < n) else {
                continue;
            };
            let better = edges
                .get(*slot as usize)
                .is_none_or(|cur| e.metric_ns < cur.metric_ns);
            if better {
                *slot = i as u32;
            }
        }
        let mut routes = vec![(0u32, 0u16); n * n];
        let mut hops = Vec::new();
        for (s, &se) in eps.iter().enumerate() {
            for (t, &te) in eps.iter().enumerate() {
                let path = routes_all.path(se, te);
                let start = hops.len() as u32;
                let mut ok = path.len() >= 2 && path.len() <= usize::from(u16::MAX);
                if ok {
                    for w in path.windows(2) {
                        let hop = graph
                            .node(w[0])
                            .zip(graph.node(w[1]))
                            .and_then(|(u, v)| best.get(u * n + v))
                            .filter(|&&e| e != u32::MAX);
                        match hop {
                            Some(&e) => hops.push(e),
                            None => {
                                ok = false;
                                break;
                            }
                        }
                    }
                }
                if ok {
                    routes[s * n + t] = (start, (path.len() - 1) as u16);
                } else {
                    hops.truncate(start as usize);
                }
            }
        }
        RouteTable {
            routes,
            hops,
            down: edges.iter().map(|e| e.down).collect(),
        }
    }
}

/// A checked change waiting for [`Engine::commit`].
#[derive(Debug)]
pub struct PendingChange {
    changes: Vec<(usize, LinkChange)>,
    /// Interconnects going down or up.
    interconnects: Vec<usize>,
    /// Which edges will be down once it is in force.
    down: Vec<bool>,
}

impl PendingChange {
    /// The interconnects it takes down or brings up.
    pub fn interconnects(&self) -> &[usize] {
        &self.interconnects
    }
}

impl Engine {
    /// Builds the engine for a topology and its plan (`AddressPlan::new(topo, ..)`).
    /// `seed` drives losses and jitter; `now` starts the token buckets full.
    pub fn new(topo: &Topology, plan: &AddressPlan, seed: u64, now: u64) -> Engine {
        let graph = topology::routing::Graph::new(topo);
        let n = graph.endpoints().len();
        let mut edges = Vec::new();
        let mut links = Vec::with_capacity(topo.links.len());
        for (i, link) in topo.links.iter().enumerate() {
            let name = |site: usize| topo.sites.get(site).map(|s| s.id.clone());
            let mut info = LinkInfo {
                a: name(link.a).unwrap_or_default(),
                b: name(link.b).unwrap_or_default(),
                network: link
                    .network
                    .and_then(|n| topo.networks.get(n))
                    .map(|n| n.id.clone()),
                edges: None,
            };
            let node = |site| {
                graph.node(topology::Endpoint {
                    site,
                    network: link.network,
                })
            };
            let (Some(a), Some(b), Some(lp)) = (node(link.a), node(link.b), plan.links.get(i))
            else {
                links.push(info);
                continue;
            };
            let bucket = link
                .rate_mbit
                .filter(|r| *r > 0.0)
                .map(|r| TokenBucket::new(r, now));
            let loss_pct = link.loss_pct.clamp(0.0, 100.0);
            let jitter = ms_to_ns(link.jitter_ms);
            info.edges = Some([edges.len() as u32, edges.len() as u32 + 1]);
            for (from, to, ms, router, router6) in [
                (a, b, link.forward_ms, lp.b_router, lp.b_router6),
                (b, a, link.reverse_ms, lp.a_router, lp.a_router6),
            ] {
                edges.push(Edge {
                    from: from as u32,
                    to: to as u32,
                    router,
                    router6,
                    via: format!("link {i}"),
                    loss: loss_pct / 100.0,
                    loss_pct,
                    file_loss_pct: loss_pct,
                    delay: Delay::new(ms_to_ns(ms), jitter),
                    metric_ns: ms_to_ns(ms),
                    down: false,
                    bucket: bucket.clone(),
                    packets: 0,
                    lost: 0,
                    rate_dropped: 0,
                });
            }
            links.push(info);
        }
        let mut interconnects = Vec::with_capacity(topo.interconnects.len());
        for (i, ix) in topo.interconnects.iter().enumerate() {
            let mut info = InterconnectInfo {
                site: topo
                    .sites
                    .get(ix.site)
                    .map(|s| s.id.clone())
                    .unwrap_or_default(),
                networks: ix
                    .networks
                    .iter()
                    .filter_map(|&n| topo.networks.get(n).map(|n| n.id.clone()))
                    .collect(),
                edges: Vec::new(),
            };
            for &n1 in &ix.networks {
                for &n2 in &ix.networks {
                    let node = |network| {
                        graph.node(topology::Endpoint {
                            site: ix.site,
                            network: Some(network),
                        })
                    };
                    let (Some(a), Some(b)) = (node(n1), node(n2)) else {
                        continue;
                    };
                    let Some(router) = plan.port(i, &topo.networks[n2].id) else {
                        continue;
                    };
                    let router6 = plan
                        .port6(i, &topo.networks[n2].id)
                        .unwrap_or(Ipv6Addr::UNSPECIFIED);
                    if n1 == n2 {
                        continue;
                    }
                    info.edges.push(edges.len() as u32);
                    edges.push(Edge {
                        from: a as u32,
                        to: b as u32,
                        router,
                        router6,
                        via: format!("interconnect {i}"),
                        loss: 0.0,
                        loss_pct: 0.0,
                        file_loss_pct: 0.0,
                        delay: Delay::new(ms_to_ns(ix.delay_ms), 0),
                        metric_ns: ms_to_ns(ix.delay_ms),
                        down: false,
                        bucket: None,
                        packets: 0,
                        lost: 0,
                        rate_dropped: 0,
                    });
                }
            }
            interconnects.push(info);
        }
        let base = RouteBase {
            topo: topo.clone(),
            link_edges: links.iter().map(|l| l.edges.map(|[f, _]| f)).collect(),
            interconnect_edges: interconnects
                .iter()
                .map(|ix| ix.edges.first().copied())
                .collect(),
            edges: edges.iter().map(Edge::route_edge).collect(),
        };
        let RouteTable { routes, hops, .. } = base.run(&RoutingJob {
            down: vec![false; edges.len()],
        });
        let by_address = plan
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| (e.address, i as u32))
            .collect();
        let routers = edges.iter().map(|e| (e.router, e.to)).collect();
        let by_address6 = plan
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| (e.address6, i as u32))
            .filter(|(a, _)| !a.is_unspecified())
            .collect();
        let routers6 = edges
            .iter()
            .map(|e| (e.router6, e.to))
            .filter(|(a, _)| !a.is_unspecified())
            .collect();
        Engine {
            n,
            routers,
            by_address6,
            routers6,
            endpoint_site: plan.endpoints.iter().map(|e| e.site as u32).collect(),
            endpoint_names: plan.endpoints.iter().map(|e| e.name.clone()).collect(),
            by_address,
            edges,
            links,
            interconnects,
            base,
            routes,
            hops,
            queue: BinaryHeap::new(),
            seq: 0,
            pool: Vec::new(),
            rng: Rng::new(seed),
            stats: Stats::default(),
            icmp_ident: 0,
        }
    }

    /// Applies link changes (topology link index, change) all at once: either
    /// every link is known and all are changed, or nothing is. Returns the
    /// changed links' states. [`prepare`](Self::prepare), the routing job
    /// when there is one, and [`commit`](Self::commit) in one go.
    pub fn change_links(
        &mut self,
        changes: &[(usize, LinkChange)],
    ) -> Result<Vec<LinkState>, ChangeError> {
        let (pending, job) = self.prepare(changes)?;
        let table = job.map(|j| self.base.run(&j));
        Ok(self.commit(pending, table))
    }

    /// A copy of what routing runs on, for computing route tables elsewhere.
    pub fn route_base(&self) -> RouteBase {
        self.base.clone()
    }

    /// Checks link changes and, when links go down or come up, makes the
    /// routing job for the new route table. Changes nothing yet.
    pub fn prepare(
        &self,
        changes: &[(usize, LinkChange)],
    ) -> Result<(PendingChange, Option<RoutingJob>), ChangeError> {
        let mut down: Vec<bool> = self.edges.iter().map(|e| e.down).collect();
        for &(link, c) in changes {
            let Some(pair) = self.links.get(link).and_then(|l| l.edges) else {
                return Err(ChangeError::NoSuchLink(link));
            };
            if let Some(up) = c.up {
                for e in pair {
                    if let Some(d) = down.get_mut(e as usize) {
                        *d = !up;
                    }
                }
            }
        }
        let now: Vec<bool> = self.edges.iter().map(|e| e.down).collect();
        let job = (down != now).then(|| RoutingJob { down: down.clone() });
        Ok((
            PendingChange {
                changes: changes.to_vec(),
                interconnects: Vec::new(),
                down,
            },
            job,
        ))
    }

    /// Checks interconnect changes (topology interconnect index, up) and
    /// makes the routing job when any goes down or comes up: every crossing
    /// of an interconnect goes with it. Changes nothing yet; either every
    /// interconnect is known or nothing is prepared.
    pub fn prepare_interconnects(
        &self,
        changes: &[(usize, bool)],
    ) -> Result<(PendingChange, Option<RoutingJob>), ChangeError> {
        let mut down: Vec<bool> = self.edges.iter().map(|e| e.down).collect();
        for &(ix, up) in changes {
            let Some(info) = self.interconnects.get(ix) else {
                return Err(ChangeError::NoSuchInterconnect(ix));
            };
            for &e in &info.edges {
                if let Some(d) = down.get_mut(e as usize) {
                    *d = !up;
                }
            }
        }
        let now: Vec<bool> = self.edges.iter().map(|e| e.down).collect();
        let job = (down != now).then(|| RoutingJob { down: down.clone() });
        Ok((
            PendingChange {
                changes: Vec::new(),
                interconnects: changes.iter().map(|&(ix, _)| ix).collect(),
                down,
            },
            job,
        ))
    }

    /// The state of topology interconnect `ix`.
    pub fn interconnect_state(&self, ix: usize) -> Option<InterconnectState> {
        let info = self.interconnects.get(ix)?;
        Some(InterconnectState {
            interconnect: ix,
            site: info.site.clone(),
            networks: info.networks.clone(),
            down: info
                .edges
                .first()
                .and_then(|&e| self.edges.get(e as usize))
                .is_some_and(|e| e.down),
        })
    }

    /// Every interconnect that is down.
    pub fn interconnects_down(&self) -> Vec<InterconnectState> {
        (0..self.interconnects.len())
            .filter_map(|i| self.interconnect_state(i))
            .filter(|s| s.down)
            .collect()
    }

    /// Puts a prepared change in force, with the route table of its routing
    /// job (computed here when it is missing or was made for other links).
    /// Packets on links going down are dropped; every other packet in flight
    /// keeps its edge and arrival time and is re-anchored at the edge's far
    /// end (see the module documentation). Returns the changed links' states.
    pub fn commit(&mut self, pending: PendingChange, table: Option<RouteTable>) -> Vec<LinkState> {
        let PendingChange { changes, down, .. } = pending;
        for &(link, c) in &changes {
            let Some(pair) = self.links.get(link).and_then(|l| l.edges) else {
                continue;
            };
            for (ei, ms) in pair.into_iter().zip([c.forward_ms, c.reverse_ms]) {
                let Some(e) = self.edges.get_mut(ei as usize) else {
                    continue;
                };
                if let Some(ms) = ms {
                    e.delay.set_base(ms_to_ns(ms));
                }
                if let Some(pct) = c.loss_pct {
                    let pct = if pct.is_finite() {
                        pct.clamp(0.0, 100.0)
                    } else {
                        0.0
                    };
                    e.loss_pct = pct;
                    e.loss = pct / 100.0;
                }
            }
        }
        let now: Vec<bool> = self.edges.iter().map(|e| e.down).collect();
        if down.len() == now.len() && down != now {
            let table = match table {
                Some(t) if t.down == down => t,
                _ => self.base.run(&RoutingJob { down: down.clone() }),
            };
            for (e, d) in self.edges.iter_mut().zip(&down) {
                e.down = *d;
            }
            self.install(table);
        }
        changes
            .iter()
            .filter_map(|&(link, _)| self.link_state(link))
            .collect()
    }

    /// Swaps in a new route table: drops the packets on edges that are down
    /// and re-anchors every other packet in flight at the far end of the edge
    /// it is crossing.
    fn install(&mut self, table: RouteTable) {
        self.routes = table.routes;
        self.hops = table.hops;
        let n = self.n.max(1);
        let events = std::mem::take(&mut self.queue).into_vec();
        let mut kept = Vec::with_capacity(events.len());
        for mut ev in events {
            let (down, far) = match self.edges.get(ev.edge as usize) {
                Some(e) => (e.down, e.to as usize),
                None => (true, 0),
            };
            if down {
                self.stats.dropped_link_down += 1;
                self.recycle(ev.buf);
                continue;
            }
            let dst = ev.route as usize % n;
            ev.route = (far * n + dst) as u32;
            ev.next = 0;
            kept.push(ev);
        }
        self.queue = BinaryHeap::from(kept);
    }

    /// The state of topology link `link`, now and as configured.
    pub fn link_state(&self, link: usize) -> Option<LinkState> {
        let info = self.links.get(link)?;
        let [f, r] = info.edges?;
        let (f, r) = (self.edges.get(f as usize)?, self.edges.get(r as usize)?);
        Some(LinkState {
            link,
            between: [info.a.clone(), info.b.clone()],
            network: info.network.clone(),
            down: f.down,
            current: LinkShape {
                forward_ms: ns_to_ms(f.delay.base_ns),
                reverse_ms: ns_to_ms(r.delay.base_ns),
                loss_pct: f.loss_pct,
            },
            configured: LinkShape {
                forward_ms: ns_to_ms(f.metric_ns),
                reverse_ms: ns_to_ms(r.metric_ns),
                loss_pct: f.file_loss_pct,
            },
        })
    }

    /// Every link whose state differs from the topology file.
    pub fn overrides(&self) -> Vec<LinkState> {
        (0..self.links.len())
            .filter_map(|i| self.link_state(i))
            .filter(LinkState::differs)
            .collect()
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Counters of every edge that carried or dropped anything.
    pub fn edge_stats(&self) -> Vec<EdgeStats> {
        self.edges
            .iter()
            .filter(|e| e.packets > 0)
            .map(|e| EdgeStats {
                from: self.endpoint_names[e.from as usize].clone(),
                to: self.endpoint_names[e.to as usize].clone(),
                via: e.via.clone(),
                packets: e.packets,
                lost: e.lost,
                rate_dropped: e.rate_dropped,
            })
            .collect()
    }

    /// Packets scheduled and not yet delivered or dropped.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// When the next scheduled event is due.
    pub fn next_deadline(&self) -> Option<u64> {
        self.queue.peek().map(|e| e.at)
    }

    fn take_buf(&mut self, data: &[u8]) -> Vec<u8> {
        let mut b = self.pool.pop().unwrap_or_default();
        b.clear();
        b.extend_from_slice(data);
        b
    }

    fn recycle(&mut self, buf: Vec<u8>) {
        if self.pool.len() < MAX_POOLED {
            self.pool.push(buf);
        }
    }

    /// A packet read from site `site`'s TUN at `now`.
    pub fn ingress(&mut self, site: usize, data: &[u8], now: u64) {
        self.stats.received += 1;
        let ip = match Ipv4Packet::new_checked(data) {
            Ok(ip) => ip,
            Err(_) if wire::ip_version(data) == Some(6) => {
                self.ingress6(site, data, now);
                return;
            }
            Err(_) => {
                self.stats.dropped_malformed += 1;
                return;
            }
        };
        let src = self.by_address.get(&ip.src()).copied();
        let dst = match self.by_address.get(&ip.dst()) {
            Some(&t) => Some((t, false)),
            None => self.routers.get(&ip.dst()).map(|&t| (t, true)),
        };
        self.route_in(site, src, dst, ip.packet(), now);
    }

    /// Sends a packet read from site `site`'s TUN on its route, once its
    /// addresses are looked up (either family): `src` the sending endpoint,
    /// `dst` the endpoint or router it is for (true: a router).
    fn route_in(
        &mut self,
        site: usize,
        src: Option<u32>,
        dst: Option<(u32, bool)>,
        packet: &[u8],
        now: u64,
    ) {
        let Some(s) = src.filter(|&s| self.endpoint_site[s as usize] as usize == site) else {
            self.stats.dropped_bad_source += 1;
            return;
        };
        let Some((t, to_router)) = dst else {
            self.stats.dropped_no_route += 1;
            return;
        };
        let route = s as usize * self.n + t as usize;
        if self.routes[route].1 == 0 {
            self.stats.dropped_no_route += 1;
            return;
        }
        let buf = self.take_buf(packet);
        self.cross(buf, s, route as u32, 0, now, to_router);
    }

    /// An IPv6 packet read from site `site`'s TUN at `now`: as
    /// [`ingress`](Self::ingress), by the IPv6 addresses.
    fn ingress6(&mut self, site: usize, data: &[u8], now: u64) {
        self.stats.received_ipv6 += 1;
        let Ok(ip) = Ipv6Packet::new_checked(data) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        let (src, dst) = (ip.src(), ip.dst());
        let unroutable =
            |a: Ipv6Addr| a.is_unspecified() || a.is_multicast() || a.is_unicast_link_local();
        if unroutable(src) || unroutable(dst) {
            self.stats.dropped_ipv6 += 1;
            return;
        }
        let s = self.by_address6.get(&src).copied();
        let to = match self.by_address6.get(&dst) {
            Some(&t) => Some((t, false)),
            None => self.routers6.get(&dst).map(|&t| (t, true)),
        };
        self.route_in(site, s, to, ip.packet(), now);
    }

    /// Starts a packet from endpoint `src` across hop `hop` of route `route`
    /// at time `t`.
    fn cross(&mut self, buf: Vec<u8>, src: u32, route: u32, hop: u16, t: u64, to_router: bool) {
        let (start, len) = self.routes[route as usize];
        // Callers pass a hop of the route; checked all the same, so that a
        // mistake drops a packet instead of sending it down another route.
        let edge = match self.hops.get((start + u32::from(hop)) as usize) {
            Some(&e) if hop < len => e,
            _ => {
                self.stats.dropped_no_route += 1;
                self.recycle(buf);
                return;
            }
        };
        let e = &mut self.edges[edge as usize];
        e.packets += 1;
        if e.loss > 0.0 && self.rng.next_f64() < e.loss {
            e.lost += 1;
            self.stats.dropped_loss += 1;
            self.recycle(buf);
            return;
        }
        let depart = match &mut e.bucket {
            None => t,
            Some(b) => match b.admit(t, buf.len()) {
                Some(d) => d,
                None => {
                    e.rate_dropped += 1;
                    self.stats.dropped_rate += 1;
                    self.recycle(buf);
                    return;
                }
            },
        };
        let at = e.delay.arrival(depart, &mut self.rng);
        if self.queue.len() >= MAX_IN_FLIGHT {
            self.stats.dropped_overload += 1;
            self.recycle(buf);
            return;
        }
        self.seq += 1;
        self.queue.push(Event {
            at,
            seq: self.seq,
            buf,
            edge,
            route,
            next: hop + 1,
            src,
            to_router,
        });
    }

    /// Handles every event due at or before `now`; `deliver(site, packet, due)`
    /// is called for each packet reaching its destination site, in order of due
    /// time. Returns how many were delivered.
    pub fn poll<F: FnMut(usize, &[u8], u64)>(&mut self, now: u64, deliver: &mut F) -> usize {
        let mut delivered = 0;
        while self.queue.peek().is_some_and(|e| e.at <= now) {
            let Some(ev) = self.queue.pop() else { break };
            if self.arrive(ev, deliver) {
                delivered += 1;
            }
        }
        delivered
    }

    fn arrive<F: FnMut(usize, &[u8], u64)>(&mut self, ev: Event, deliver: &mut F) -> bool {
        let Event {
            at,
            mut buf,
            edge,
            route,
            next,
            src,
            to_router,
            ..
        } = ev;
        let edge = &self.edges[edge as usize];
        let (node, router, router6) = (edge.to, edge.router, edge.router6);
        // A path's only node that is its destination is its last, so arriving
        // there is the end of the path (also for a re-anchored packet).
        if node as usize == route as usize % self.n {
            if to_router {
                self.router_reply(buf, src, node, at);
                return false;
            }
            let site = self.endpoint_site[node as usize] as usize;
            deliver(site, &buf, at);
            self.stats.delivered += 1;
            self.recycle(buf);
            return true;
        }
        if next >= self.routes[route as usize].1 {
            // Re-anchored here by a reroute that left no path onwards.
            self.stats.dropped_no_route += 1;
            self.recycle(buf);
            return false;
        }
        if wire::ip_version(&buf) == Some(6) {
            self.hop6(buf, src, route, next, node, router6, at, to_router);
            return false;
        }
        let Ok(mut ip) = Ipv4Packet::new_checked(&mut buf[..]) else {
            self.stats.dropped_malformed += 1;
            self.recycle(buf);
            return false;
        };
        if ip.ttl() <= 1 {
            self.stats.dropped_ttl += 1;
            if !ip.is_icmp_error() && ip.frag_offset() == 0 {
                let back = node as usize * self.n + src as usize;
                if self.routes[back].1 > 0 {
                    let mut msg = self.pool.pop().unwrap_or_default();
                    self.icmp_ident = self.icmp_ident.wrapping_add(1);
                    wire::write_time_exceeded(&ip, router, self.icmp_ident, &mut msg);
                    self.stats.icmp_time_exceeded += 1;
                    self.cross(msg, node, back as u32, 0, at, false);
                }
            }
            self.recycle(buf);
            return false;
        }
        ip.decrement_ttl();
        self.cross(buf, src, route, next, at, to_router);
        false
    }

    /// An IPv6 packet arriving at the router of intermediate endpoint
    /// `node` (answering as `router6`): the hop limit runs out there (an
    /// ICMPv6 time exceeded goes back to the source, unless no error may be
    /// sent about the packet), or it is lowered and the packet goes on.
    #[allow(clippy::too_many_arguments)]
    fn hop6(
        &mut self,
        mut buf: Vec<u8>,
        src: u32,
        route: u32,
        next: u16,
        node: u32,
        router6: Ipv6Addr,
        at: u64,
        to_router: bool,
    ) {
        let Ok(mut ip) = Ipv6Packet::new_checked(&mut buf[..]) else {
            self.stats.dropped_malformed += 1;
            self.recycle(buf);
            return;
        };
        if ip.hop_limit() <= 1 {
            self.stats.dropped_ttl += 1;
            if !ip.is_no_error_about() && !router6.is_unspecified() {
                let back = node as usize * self.n + src as usize;
                if self.routes[back].1 > 0 {
                    let mut msg = self.pool.pop().unwrap_or_default();
                    wire6::write_time_exceeded6(&ip, router6, &mut msg);
                    self.stats.icmp_time_exceeded += 1;
                    self.cross(msg, node, back as u32, 0, at, false);
                }
            }
            self.recycle(buf);
            return;
        }
        ip.decrement_hop_limit();
        self.cross(buf, src, route, next, at, to_router);
    }

    /// A packet reached the router it was addressed to, at endpoint `node`:
    /// an echo request is answered with an echo reply, UDP (traceroute's last
    /// probe) with port unreachable, both from the router's address and back
    /// along the shortest path from `node`; anything else is dropped.
    fn router_reply(&mut self, buf: Vec<u8>, src: u32, node: u32, at: u64) {
        if wire::ip_version(&buf) == Some(6) {
            self.router_reply6(buf, src, node, at);
            return;
        }
        let back = node as usize * self.n + src as usize;
        let Ok(ip) = Ipv4Packet::new_checked(&buf[..]) else {
            self.stats.dropped_malformed += 1;
            self.recycle(buf);
            return;
        };
        if self.routes[back].1 == 0 {
            self.stats.dropped_no_route += 1;
            self.recycle(buf);
            return;
        }
        let mut msg = self.pool.pop().unwrap_or_default();
        self.icmp_ident = self.icmp_ident.wrapping_add(1);
        if wire::is_echo_request(&ip) {
            wire::write_echo_reply(&ip, self.icmp_ident, &mut msg);
        } else if ip.protocol() == wire::PROTO_UDP && ip.frag_offset() == 0 {
            let from = ip.dst();
            wire::write_icmp_error(
                &ip,
                wire::ICMP_DEST_UNREACHABLE,
                wire::ICMP_PORT_UNREACHABLE,
                from,
                self.icmp_ident,
                &mut msg,
            );
        } else {
            self.stats.dropped_to_router += 1;
            self.recycle(msg);
            self.recycle(buf);
            return;
        }
        self.stats.router_replies += 1;
        self.recycle(buf);
        self.cross(msg, node, back as u32, 0, at, false);
    }

    /// [`router_reply`](Self::router_reply) in ICMPv6: an echo reply to an
    /// echo request, port unreachable to UDP.
    fn router_reply6(&mut self, buf: Vec<u8>, src: u32, node: u32, at: u64) {
        let back = node as usize * self.n + src as usize;
        let Ok(ip) = Ipv6Packet::new_checked(&buf[..]) else {
            self.stats.dropped_malformed += 1;
            self.recycle(buf);
            return;
        };
        if self.routes[back].1 == 0 {
            self.stats.dropped_no_route += 1;
            self.recycle(buf);
            return;
        }
        let mut msg = self.pool.pop().unwrap_or_default();
        if let Some(echo) = wire6::echo_request6(&ip) {
            wire6::write_echo_reply6(&ip, echo, &mut msg);
        } else if ip.upper().is_some_and(|(p, _)| p == wire6::PROTO_UDP) {
            let from = ip.dst();
            wire6::write_icmp6_error(
                &ip,
                wire6::ICMP6_DEST_UNREACHABLE,
                wire6::ICMP6_PORT_UNREACHABLE,
                from,
                &mut msg,
            );
        } else {
            self.stats.dropped_to_router += 1;
            self.recycle(msg);
            self.recycle(buf);
            return;
        }
        self.stats.router_replies += 1;
        self.recycle(buf);
        self.cross(msg, node, back as u32, 0, at, false);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use topology::testkit::Kit;

    const MS: u64 = 1_000_000;

    /// The engine over a hand-built topology.
    fn build(topo: &Topology) -> (AddressPlan, Engine) {
        let plan = AddressPlan::new(topo, "t").unwrap();
        let engine = Engine::new(topo, &plan, 7, 0);
        (plan, engine)
    }

    /// The engine over a topology file's text (where the link attributes it
    /// spells out are what the test is about).
    fn lab(src: &str) -> (AddressPlan, Engine) {
        build(&topology::load::from_str(src, "t.yaml").unwrap())
    }

    /// a -- b 4 ms forward and 9 ms back, b -- c 2 ms.
    fn three() -> (AddressPlan, Engine) {
        build(
            &Kit::new(&[])
                .cities(&["a", "b", "c"])
                .link("a", "b", 4.0, 9.0)
                .link("b", "c", 2.0, 2.0)
                .topo,
        )
    }

    fn udp(src: [u8; 4], dst: [u8; 4], ttl: u8, len: usize) -> Vec<u8> {
        let total = len.max(28);
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[8] = ttl;
        p[9] = 17;
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&dst);
        p[20..22].copy_from_slice(&40000u16.to_be_bytes());
        p[22..24].copy_from_slice(&33434u16.to_be_bytes());
        Ipv4Packet::new_checked(&mut p[..]).unwrap().fill_checksum();
        p
    }

    /// Runs the engine until idle; returns (site, packet, due) of every delivery.
    fn drain(e: &mut Engine) -> Vec<(usize, Vec<u8>, u64)> {
        let mut out = Vec::new();
        while let Some(t) = e.next_deadline() {
            e.poll(t, &mut |site, p: &[u8], due| {
                out.push((site, p.to_vec(), due))
            });
        }
        out
    }

    const A: [u8; 4] = [198, 18, 0, 1];
    const B: [u8; 4] = [198, 18, 1, 1];
    const C: [u8; 4] = [198, 18, 2, 1];

    #[test]
    fn per_direction_delay_and_two_hops() {
        let (_, mut e) = three();
        e.ingress(0, &udp(A, B, 64, 100), 1000);
        e.ingress(1, &udp(B, A, 64, 100), 1000);
        e.ingress(0, &udp(A, C, 64, 100), 1000);
        e.ingress(2, &udp(C, A, 64, 100), 1000);
        let out = drain(&mut e);
        let got: Vec<(usize, u64)> = out.iter().map(|(s, _, t)| (*s, *t)).collect();
        assert_eq!(
            got,
            [
                (1, 1000 + 4 * MS),
                (2, 1000 + 6 * MS),
                (0, 1000 + 9 * MS),
                (0, 1000 + 11 * MS)
            ]
        );
        // One router hop on a -> c: TTL 63 on arrival, checksum still right.
        let (_, p, _) = &out[1];
        let ip = Ipv4Packet::new_checked(&p[..]).unwrap();
        assert_eq!(ip.ttl(), 63);
        assert!(ip.verify_checksum());
        // Direct neighbour: no TTL change.
        assert_eq!(Ipv4Packet::new_checked(&out[0].1[..]).unwrap().ttl(), 64);
        assert_eq!(e.stats().delivered, 4);
        assert_eq!(e.in_flight(), 0);
    }

    #[test]
    fn ttl_expiry_answers_from_the_middle_router_after_the_round_trip() {
        let (plan, mut e) = three();
        let probe = udp(A, C, 1, 60);
        e.ingress(0, &probe, 0);
        let out = drain(&mut e);
        assert_eq!(out.len(), 1);
        let (site, msg, due) = &out[0];
        // Back at a, after a -> b (4 ms) and b -> a (9 ms).
        assert_eq!((*site, *due), (0, 13 * MS));
        let ip = Ipv4Packet::new_checked(&msg[..]).unwrap();
        assert_eq!(ip.src(), plan.links[0].b_router);
        assert_eq!(ip.dst(), Ipv4Addr::from(A));
        assert!(ip.verify_checksum());
        assert_eq!(wire::checksum(ip.payload()), 0);
        assert_eq!(ip.payload()[0], wire::ICMP_TIME_EXCEEDED);
        // The quoted header is the probe's as it arrived, and its ports follow.
        assert_eq!(&ip.payload()[8..8 + 28], &probe[..28]);
        assert_eq!(e.stats().dropped_ttl, 1);
        assert_eq!(e.stats().icmp_time_exceeded, 1);
        // TTL 2 reaches the destination (one router in between).
        e.ingress(0, &udp(A, C, 2, 60), 0);
        let out = drain(&mut e);
        assert_eq!((out[0].0, out[0].2), (2, 6 * MS));
    }

    #[test]
    fn no_icmp_error_about_icmp_errors() {
        let (_, mut e) = three();
        let mut p = udp(A, C, 1, 60);
        p[9] = wire::PROTO_ICMP;
        p[20] = 3; // destination unreachable
        Ipv4Packet::new_checked(&mut p[..]).unwrap().fill_checksum();
        e.ingress(0, &p, 0);
        assert!(drain(&mut e).is_empty());
        assert_eq!(e.stats().icmp_time_exceeded, 0);
        assert_eq!(e.stats().dropped_ttl, 1);
    }

    #[test]
    fn bad_packets_are_counted_not_forwarded() {
        let (_, mut e) = three();
        e.ingress(0, &udp(B, C, 64, 60), 0); // b's address from a's TUN
        e.ingress(0, &udp(A, [198, 18, 9, 1], 64, 60), 0);
        e.ingress(0, &udp(A, [8, 8, 8, 8], 64, 60), 0);
        let mut v6 = vec![0u8; 40];
        v6[0] = 0x60;
        e.ingress(0, &v6, 0);
        e.ingress(0, &[0x45, 0, 0], 0);
        assert!(drain(&mut e).is_empty());
        let s = e.stats();
        assert_eq!(
            (
                s.received,
                s.dropped_bad_source,
                s.dropped_no_route,
                s.dropped_ipv6,
                s.dropped_malformed
            ),
            (5, 1, 2, 1, 1)
        );
    }

    #[test]
    fn loss_rate_and_jitter() {
        let (_, mut e) = lab("version: 1
sites:
  - {id: a, kind: city, location: [30, 100]}
  - {id: b, kind: city, location: [31, 101]}
links:
  - {between: [a, b], delay_ms: 5, loss_pct: 20, jitter_ms: 1}
");
        let n = 10_000u64;
        for i in 0..n {
            e.ingress(0, &udp(A, B, 64, 100), i * MS);
        }
        let out = drain(&mut e);
        let lost = n - out.len() as u64;
        assert!((1700..2300).contains(&lost), "{lost}");
        let mut prev = 0;
        for (_, _, due) in &out {
            assert!(*due >= prev, "reordered");
            prev = *due;
        }
        let edges = e.edge_stats();
        assert_eq!(edges.len(), 1);
        assert_eq!((edges[0].packets, edges[0].lost), (n, lost));
        // Delay within 5 +- 1 ms of each send (sends are 1 ms apart, so FIFO
        // clamping can only push a packet to its predecessor's time).
        let (_, mut e) = lab("version: 1
sites:
  - {id: a, kind: city, location: [30, 100]}
  - {id: b, kind: city, location: [31, 101]}
links:
  - {between: [a, b], delay_ms: 5, jitter_ms: 1}
");
        for i in 0..1000u64 {
            e.ingress(0, &udp(A, B, 64, 100), i * 10 * MS);
            let out = drain(&mut e);
            let d = out[0].2 - i * 10 * MS;
            assert!((4 * MS..=6 * MS).contains(&d), "{d}");
        }

        // 8 Mbit/s: 1,000-byte packets offered at 2,000/s for 1 s leave at ~1,000/s.
        let (_, mut e) = lab("version: 1
sites:
  - {id: a, kind: city, location: [30, 100]}
  - {id: b, kind: city, location: [31, 101]}
links:
  - {between: [a, b], delay_ms: 1, rate_mbit: 8}
");
        for i in 0..2000u64 {
            e.ingress(0, &udp(A, B, 64, 1000), i * MS / 2);
            e.poll(i * MS / 2, &mut |_, _, _| {});
        }
        let out = drain(&mut e);
        let delivered = e.stats().delivered;
        assert!(
            (1000..=1060).contains(&delivered),
            "{delivered} {}",
            out.len()
        );
        assert_eq!(e.stats().dropped_rate, 2000 - delivered);
    }

    #[test]
    fn carriers_cross_at_interconnects_and_the_crossing_router_answers() {
        let (plan, mut e) = lab("version: 1
sites:
  - {id: x, kind: city, location: [25, 102.7]}
  - {id: z, kind: city, location: [30.6, 104.1]}
networks:
  - {id: t}
  - {id: u}
links:
  - {between: [x, z], network: t, delay_ms: 8}
  - {between: [x, z], network: u, delay_ms: 9}
interconnects:
  - {site: z, kind: internet-exchange, networks: [t, u], delay_ms: 0.3}
");
        let xt = plan.endpoint("x@t").unwrap().address.octets();
        let xu = plan.endpoint("x@u").unwrap().address.octets();
        // Same site, other carrier: out to z, across, back: 8 + 0.3 + 9 ms.
        e.ingress(0, &udp(xt, xu, 64, 60), 0);
        let out = drain(&mut e);
        assert_eq!((out[0].0, out[0].2), (0, 17 * MS + 3 * MS / 10));
        assert_eq!(Ipv4Packet::new_checked(&out[0].1[..]).unwrap().ttl(), 62);
        // TTL 2 expires at unicom's router at the exchange.
        e.ingress(0, &udp(xt, xu, 2, 60), 0);
        let out = drain(&mut e);
        let ip = Ipv4Packet::new_checked(&out[0].1[..]).unwrap();
        assert_eq!(ip.src(), plan.port(0, "u").unwrap());
        assert_eq!(ip.dst(), Ipv4Addr::from(xt));
        // Back from z@u to x@t: z@u -> z@t (0.3) -> x@t (8), or z@u -> x@u ... no:
        // x@t is only reachable on t, so 0.3 + 8 after the 8.3 out.
        assert_eq!(out[0].2, 16 * MS + 6 * MS / 10);
    }

    #[test]
    fn routers_answer_pings_and_udp_addressed_to_them() {
        let (plan, mut e) = three();
        let router_b = plan.links[0].b_router; // b's side of a -- b
        let router_c = plan.links[1].b_router; // c's side of b -- c
        let mut ping = udp(A, router_c.octets(), 64, 40);
        ping[9] = wire::PROTO_ICMP;
        ping[20..28].copy_from_slice(&[8, 0, 0, 0, 0, 1, 0, 1]);
        let sum = wire::checksum(&ping[20..]);
        ping[22..24].copy_from_slice(&sum.to_be_bytes());
        Ipv4Packet::new_checked(&mut ping[..])
            .unwrap()
            .fill_checksum();
        e.ingress(0, &ping, 0);
        let out = drain(&mut e);
        assert_eq!(out.len(), 1);
        // a -> c is 6 ms, c -> a 11 ms.
        assert_eq!((out[0].0, out[0].2), (0, 17 * MS));
        let rep = Ipv4Packet::new_checked(&out[0].1[..]).unwrap();
        assert_eq!((rep.src(), rep.dst()), (router_c, Ipv4Addr::from(A)));
        assert_eq!(rep.payload()[0], wire::ICMP_ECHO_REPLY);
        // UDP to a router: port unreachable from it.
        e.ingress(0, &udp(A, router_b.octets(), 64, 40), 100 * MS);
        let out = drain(&mut e);
        let rep = Ipv4Packet::new_checked(&out[0].1[..]).unwrap();
        assert_eq!(rep.src(), router_b);
        assert_eq!(
            (rep.payload()[0], rep.payload()[1]),
            (wire::ICMP_DEST_UNREACHABLE, wire::ICMP_PORT_UNREACHABLE)
        );
        assert_eq!(out[0].2, 113 * MS);
        // Anything else addressed to a router is dropped.
        let mut tcp = udp(A, router_b.octets(), 64, 40);
        tcp[9] = 6;
        Ipv4Packet::new_checked(&mut tcp[..])
            .unwrap()
            .fill_checksum();
        e.ingress(0, &tcp, 0);
        assert!(drain(&mut e).is_empty());
        assert_eq!(
            (e.stats().router_replies, e.stats().dropped_to_router),
            (2, 1)
        );
    }

    /// A UDP-in-IPv6 packet.
    fn udp6(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, len: usize) -> Vec<u8> {
        let total = len.max(48);
        let mut p = vec![0u8; total];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&((total - 40) as u16).to_be_bytes());
        p[6] = wire6::PROTO_UDP;
        p[7] = hop_limit;
        p[8..24].copy_from_slice(&src.octets());
        p[24..40].copy_from_slice(&dst.octets());
        p[40..42].copy_from_slice(&40000u16.to_be_bytes());
        p[42..44].copy_from_slice(&33434u16.to_be_bytes());
        p
    }

    fn a6(plan: &AddressPlan, name: &str) -> Ipv6Addr {
        plan.endpoint(name).unwrap().address6
    }

    #[test]
    fn ipv6_takes_the_same_paths_and_delays() {
        let (plan, mut e) = three();
        let (a, b, c) = (a6(&plan, "a"), a6(&plan, "b"), a6(&plan, "c"));
        e.ingress(0, &udp6(a, b, 64, 100), 1000);
        e.ingress(1, &udp6(b, a, 64, 100), 1000);
        e.ingress(0, &udp6(a, c, 64, 100), 1000);
        e.ingress(2, &udp6(c, a, 64, 100), 1000);
        // IPv4 beside it, on the same links at the same time.
        e.ingress(0, &udp(A, C, 64, 100), 1000);
        let out = drain(&mut e);
        let got: Vec<(usize, u64)> = out.iter().map(|(s, _, t)| (*s, *t)).collect();
        assert_eq!(
            got,
            [
                (1, 1000 + 4 * MS),
                (2, 1000 + 6 * MS),
                (2, 1000 + 6 * MS),
                (0, 1000 + 9 * MS),
                (0, 1000 + 11 * MS)
            ]
        );
        let hop_limits: Vec<u8> = [&out[0].1, &out[1].1]
            .iter()
            .map(|p| Ipv6Packet::new_checked(&p[..]).unwrap().hop_limit())
            .collect();
        assert_eq!(hop_limits, [64, 63], "one router between a and c");
        assert_eq!(ttl(&out[2].1), 63);
        assert_eq!(e.stats().received_ipv6, 4);
        assert_eq!(e.stats().delivered, 5);
    }

    #[test]
    fn ipv6_hop_limit_expiry_answers_in_icmpv6_from_the_middle_router() {
        let (plan, mut e) = three();
        let (a, c) = (a6(&plan, "a"), a6(&plan, "c"));
        let probe = udp6(a, c, 1, 60);
        e.ingress(0, &probe, 0);
        let out = drain(&mut e);
        assert_eq!(out.len(), 1);
        let (site, msg, due) = &out[0];
        assert_eq!((*site, *due), (0, 13 * MS));
        let ip = Ipv6Packet::new_checked(&msg[..]).unwrap();
        assert_eq!(ip.src(), plan.links[0].b_router6);
        assert_eq!(ip.dst(), a);
        assert_eq!(ip.next_header(), wire6::PROTO_ICMPV6);
        let icmp = ip.payload();
        assert_eq!((icmp[0], icmp[1]), (wire6::ICMP6_TIME_EXCEEDED, 0));
        assert_eq!(wire6::icmp6_checksum(ip.src(), ip.dst(), icmp), 0);
        assert_eq!(&icmp[8..], &probe[..]);
        assert_eq!(e.stats().icmp_time_exceeded, 1);
        // No error about an ICMPv6 error.
        let mut err = udp6(a, c, 1, 60);
        err[6] = wire6::PROTO_ICMPV6;
        err[40] = wire6::ICMP6_DEST_UNREACHABLE;
        e.ingress(0, &err, 0);
        assert!(drain(&mut e).is_empty());
        assert_eq!(e.stats().icmp_time_exceeded, 1);
        assert_eq!(e.stats().dropped_ttl, 2);
    }

    #[test]
    fn ipv6_routers_answer_pings_and_udp_addressed_to_them() {
        let (plan, mut e) = three();
        let a = a6(&plan, "a");
        let router_c = plan.links[1].b_router6;
        let mut ping = udp6(a, router_c, 64, 56);
        ping[6] = wire6::PROTO_ICMPV6;
        ping[40..48].copy_from_slice(&[wire6::ICMP6_ECHO_REQUEST, 0, 0, 0, 0, 1, 0, 1]);
        let sum = wire6::icmp6_checksum(a, router_c, &ping[40..]);
        ping[42..44].copy_from_slice(&sum.to_be_bytes());
        e.ingress(0, &ping, 0);
        let out = drain(&mut e);
        assert_eq!((out[0].0, out[0].2), (0, 17 * MS));
        let rep = Ipv6Packet::new_checked(&out[0].1[..]).unwrap();
        assert_eq!((rep.src(), rep.dst()), (router_c, a));
        assert_eq!(rep.payload()[0], wire6::ICMP6_ECHO_REPLY);
        e.ingress(0, &udp6(a, plan.links[0].b_router6, 64, 60), 100 * MS);
        let out = drain(&mut e);
        let rep = Ipv6Packet::new_checked(&out[0].1[..]).unwrap();
        assert_eq!(
            (rep.payload()[0], rep.payload()[1]),
            (wire6::ICMP6_DEST_UNREACHABLE, wire6::ICMP6_PORT_UNREACHABLE)
        );
        assert_eq!(out[0].2, 113 * MS);
        assert_eq!(e.stats().router_replies, 2);
    }

    #[test]
    fn ipv6_bad_and_link_local_packets_are_counted_not_forwarded() {
        let (plan, mut e) = three();
        let (a, b) = (a6(&plan, "a"), a6(&plan, "b"));
        e.ingress(0, &udp6(b, a, 64, 60), 0); // b's address from a's TUN
        e.ingress(0, &udp6(a, "2001:2:0:9::1".parse().unwrap(), 64, 60), 0);
        e.ingress(
            0,
            &udp6(
                "fe80::1".parse().unwrap(),
                "ff02::16".parse().unwrap(),
                1,
                60,
            ),
            0,
        );
        let mut short = udp6(a, b, 64, 60);
        short[4..6].copy_from_slice(&500u16.to_be_bytes());
        e.ingress(0, &short, 0);
        assert!(drain(&mut e).is_empty());
        let s = e.stats();
        assert_eq!(
            (
                s.received_ipv6,
                s.dropped_bad_source,
                s.dropped_no_route,
                s.dropped_ipv6,
                s.dropped_malformed
            ),
            (4, 1, 1, 1, 1)
        );
    }

    /// a -- b 5 ms (link 0), a -- c 7 ms (link 1), c -- b 7 ms (link 2), and d
    /// hanging off b (link 3, 1 ms): a -> b goes direct, a -> c direct, and
    /// without a -- b, a -> b goes by way of c (14 ms).
    fn triangle() -> (AddressPlan, Engine) {
        build(
            &Kit::new(&[])
                .cities(&["a", "b", "c", "d"])
                .link("a", "b", 5.0, 5.0)
                .link("a", "c", 7.0, 7.0)
                .link("c", "b", 7.0, 7.0)
                .link("b", "d", 1.0, 1.0)
                .topo,
        )
    }

    const D: [u8; 4] = [198, 18, 3, 1];

    fn set(e: &mut Engine, link: usize, c: LinkChange) -> Vec<LinkState> {
        e.change_links(&[(link, c)]).unwrap()
    }

    fn ttl(p: &[u8]) -> u8 {
        Ipv4Packet::new_checked(p).unwrap().ttl()
    }

    #[test]
    fn a_delay_change_applies_per_direction_to_packets_sent_after_it() {
        let (_, mut e) = triangle();
        e.ingress(0, &udp(A, B, 64, 60), 0); // on a -> b when it changes
        e.ingress(0, &udp(A, C, 64, 60), 0); // on another link
        let st = set(
            &mut e,
            0,
            LinkChange {
                forward_ms: Some(20.0),
                ..LinkChange::default()
            },
        );
        assert_eq!(st[0].current.forward_ms, 20.0);
        assert_eq!(st[0].current.reverse_ms, 5.0);
        assert_eq!(st[0].configured.forward_ms, 5.0);
        e.ingress(0, &udp(A, B, 64, 60), MS);
        e.ingress(1, &udp(B, A, 64, 60), MS);
        let got: Vec<(usize, u64, u8)> = drain(&mut e)
            .iter()
            .map(|(s, p, t)| (*s, *t, ttl(p)))
            .collect();
        // The packet already on the link keeps its 5 ms; the new one takes 20,
        // still on the direct path (routing keeps its configured metric), and
        // the other direction is as before.
        assert_eq!(
            got,
            [
                (1, 5 * MS, 64),
                (0, 6 * MS, 64),
                (2, 7 * MS, 64),
                (1, 21 * MS, 64)
            ]
        );
        assert_eq!(e.overrides().len(), 1);
        // Back to the file's value: no longer an override.
        set(
            &mut e,
            0,
            LinkChange {
                forward_ms: Some(5.0),
                ..LinkChange::default()
            },
        );
        assert!(e.overrides().is_empty());
    }

    #[test]
    fn down_drops_what_is_on_the_link_and_reroutes_the_rest() {
        let (plan, mut e) = triangle();
        e.ingress(0, &udp(A, B, 64, 60), 0); // on a -> b: lost with the link
        e.ingress(1, &udp(B, A, 64, 60), 0); // on b -> a: lost too
        e.ingress(0, &udp(A, C, 64, 60), 0); // on a -> c: untouched
        e.ingress(3, &udp(D, A, 64, 60), 0); // on d -> b, then b -> a: rerouted at b
        let st = set(
            &mut e,
            0,
            LinkChange {
                up: Some(false),
                ..LinkChange::default()
            },
        );
        assert!(st[0].down);
        assert_eq!(e.stats().dropped_link_down, 2);
        e.ingress(0, &udp(A, B, 64, 60), MS);
        let got: Vec<(usize, u64, u8)> = drain(&mut e)
            .iter()
            .map(|(s, p, t)| (*s, *t, ttl(p)))
            .collect();
        assert_eq!(
            got,
            [
                // a -> c as scheduled.
                (2, 7 * MS, 64),
                // a -> c -> b: 14 ms, one router (c) on the way.
                (1, 15 * MS, 63),
                // d -> b (1 ms), then from b the new way: b -> c -> a (14 ms),
                // lowered at b and c.
                (0, 15 * MS, 62),
            ]
        );
        assert_eq!(e.stats().dropped_link_down, 2);
        assert_eq!(e.overrides().len(), 1);
        // Traceroute now sees c's router first: the one at c on a -- c (link 1).
        e.ingress(0, &udp(A, B, 1, 60), 100 * MS);
        let out = drain(&mut e);
        let ip = Ipv4Packet::new_checked(&out[0].1[..]).unwrap();
        assert_eq!(ip.src(), plan.links[1].b_router);
        assert_eq!(out[0].2, 114 * MS);
        // Up again: the direct path and its 5 ms are back.
        let st = set(
            &mut e,
            0,
            LinkChange {
                up: Some(true),
                ..LinkChange::default()
            },
        );
        assert!(!st[0].down);
        assert!(e.overrides().is_empty());
        e.ingress(0, &udp(A, B, 64, 60), 200 * MS);
        let out = drain(&mut e);
        assert_eq!((out[0].0, out[0].2, ttl(&out[0].1)), (1, 205 * MS, 64));
    }

    #[test]
    fn a_packet_under_way_when_a_link_comes_up_goes_on_from_where_it_is() {
        // a -- b 5 ms, b -- d 1 ms, and a shortcut a -- d 2 ms that starts down.
        let (_, mut e) = build(
            &Kit::new(&[])
                .cities(&["a", "b", "c", "d"])
                .link("a", "b", 5.0, 5.0)
                .link("b", "d", 1.0, 1.0)
                .link("a", "d", 2.0, 2.0)
                .topo,
        );
        let (down, up) = (
            LinkChange {
                up: Some(false),
                ..LinkChange::default()
            },
            LinkChange {
                up: Some(true),
                ..LinkChange::default()
            },
        );
        set(&mut e, 2, down);
        e.ingress(0, &udp(A, D, 64, 60), 0); // a -> b -> d, on a -> b
        set(&mut e, 2, up);
        // The source's path is now the shortcut, which the packet has missed:
        // from b it goes on to d, the shortest way from where it is.
        e.ingress(0, &udp(A, D, 64, 60), MS);
        let got: Vec<(usize, u64, u8)> = drain(&mut e)
            .iter()
            .map(|(s, p, t)| (*s, *t, ttl(p)))
            .collect();
        assert_eq!(got, [(3, 3 * MS, 64), (3, 6 * MS, 63)]);
        assert_eq!(e.stats().dropped_no_route, 0);
    }

    #[test]
    fn a_change_is_in_force_at_commit_with_routes_computed_elsewhere() {
        let (_, mut e) = triangle();
        let base = e.route_base();
        let down = [(
            0,
            LinkChange {
                up: Some(false),
                ..LinkChange::default()
            },
        )];
        let (pending, job) = e.prepare(&down).unwrap();
        // Prepared, not yet in force: a -> b still direct.
        e.ingress(0, &udp(A, B, 64, 60), 0);
        let job = job.expect("a link going down needs new routes");
        let table = std::thread::spawn(move || base.run(&job)).join().unwrap();
        e.commit(pending, Some(table));
        assert_eq!(e.stats().dropped_link_down, 1);
        e.ingress(0, &udp(A, B, 64, 60), MS);
        let out = drain(&mut e);
        assert_eq!((out[0].2, ttl(&out[0].1)), (15 * MS, 63));
        // A table made for other links is not trusted: commit routes itself.
        let up = [(
            0,
            LinkChange {
                up: Some(true),
                ..LinkChange::default()
            },
        )];
        let (pending, _) = e.prepare(&up).unwrap();
        let (_, stale) = e.prepare(&down).unwrap();
        assert!(stale.is_none(), "link 0 is down already");
        let stale = e.route_base().run(&RoutingJob {
            down: vec![true; 8],
        });
        e.commit(pending, Some(stale));
        e.ingress(0, &udp(A, B, 64, 60), 100 * MS);
        let out = drain(&mut e);
        assert_eq!((out[0].2, ttl(&out[0].1)), (105 * MS, 64));
        // No up or down: no routing job.
        let (_, job) = e
            .prepare(&[(
                1,
                LinkChange {
                    loss_pct: Some(1.0),
                    ..LinkChange::default()
                },
            )])
            .unwrap();
        assert!(job.is_none());
    }

    #[test]
    fn a_packet_left_without_a_path_is_dropped_where_it_arrives() {
        let (_, mut e) = triangle();
        e.ingress(0, &udp(A, D, 64, 60), 0); // on a -> b, then b -> d
        set(
            &mut e,
            3,
            LinkChange {
                up: Some(false),
                ..LinkChange::default()
            },
        );
        assert!(drain(&mut e).is_empty());
        assert_eq!(
            (e.stats().dropped_no_route, e.stats().dropped_link_down),
            (1, 0)
        );
        e.ingress(0, &udp(A, D, 64, 60), MS);
        assert_eq!(e.stats().dropped_no_route, 2);
    }

    #[test]
    fn full_loss_drops_everything_and_keeps_the_route() {
        let (_, mut e) = triangle();
        set(
            &mut e,
            0,
            LinkChange {
                loss_pct: Some(100.0),
                ..LinkChange::default()
            },
        );
        for i in 0..100 {
            e.ingress(0, &udp(A, B, 64, 60), i * MS);
        }
        assert!(drain(&mut e).is_empty());
        assert_eq!(e.stats().dropped_loss, 100);
        let st = e.overrides();
        assert_eq!(
            (st[0].current.loss_pct, st[0].configured.loss_pct),
            (100.0, 0.0)
        );
        set(
            &mut e,
            0,
            LinkChange {
                loss_pct: Some(0.0),
                ..LinkChange::default()
            },
        );
        e.ingress(0, &udp(A, B, 64, 60), 200 * MS);
        assert_eq!(drain(&mut e).len(), 1);
    }

    #[test]
    fn an_unknown_link_changes_nothing() {
        let (_, mut e) = triangle();
        let down = LinkChange {
            up: Some(false),
            ..LinkChange::default()
        };
        assert_eq!(
            e.change_links(&[(0, down), (9, down)]),
            Err(ChangeError::NoSuchLink(9))
        );
        assert!(e.overrides().is_empty());
    }

    proptest::proptest! {
        /// Any mix of traffic and link changes: nothing panics, every packet
        /// ends delivered or counted as dropped, and the queue drains.
        #[test]
        fn every_packet_is_accounted_for_whatever_changes(
            ops in proptest::collection::vec((0u8..6, 0usize..5, 0u8..4, 0u8..4, 0u64..20), 1..200)
        ) {
            let (_, mut e) = triangle();
            let addr = [A, B, C, D];
            let mut now = 0;
            for (op, link, x, y, dt) in ops {
                now += dt * MS / 4;
                match op {
                    0 | 1 => {
                        let (s, t) = (x as usize, y as usize);
                        e.ingress(s, &udp(addr[s], addr[t], 64, 60), now);
                    }
                    2 => {
                        let c = LinkChange { up: Some(x % 2 == 0), ..LinkChange::default() };
                        let _ = e.change_links(&[(link, c)]);
                    }
                    3 => {
                        let c = LinkChange {
                            forward_ms: Some(f64::from(x) * 3.0),
                            reverse_ms: Some(f64::from(y)),
                            ..LinkChange::default()
                        };
                        let _ = e.change_links(&[(link, c)]);
                    }
                    _ => {
                        e.poll(now, &mut |_, _, _| {});
                    }
                }
            }
            let mut polls = 0;
            while let Some(t) = e.next_deadline() {
                e.poll(t, &mut |_, _, _| {});
                polls += 1;
                proptest::prop_assert!(polls < 10_000, "the queue does not drain");
            }
            let s = e.stats();
            let dropped = s.dropped_no_route + s.dropped_link_down + s.dropped_ttl
                + s.dropped_loss + s.dropped_rate + s.dropped_overload;
            proptest::prop_assert_eq!(s.received, s.delivered + dropped);
        }
    }

    #[test]
    fn unreachable_pairs_are_dropped() {
        let (_, mut e) = build(&Kit::new(&[]).cities(&["a", "b"]).topo);
        e.ingress(0, &udp(A, B, 64, 60), 0);
        assert!(drain(&mut e).is_empty());
        assert_eq!(e.stats().dropped_no_route, 1);
    }
}
