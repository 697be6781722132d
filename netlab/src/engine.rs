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
//! Every intermediate hop is computed at its scheduled (virtual) time, not at
//! the time the event loop gets to it, so lateness never adds up along a path.

use crate::plan::Plan;
use crate::shaping::{ms_to_ns, Delay, Rng, TokenBucket};
use crate::wire::{self, Ipv4Packet};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::net::Ipv4Addr;
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
    /// IPv6 packets (not forwarded).
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
    via: String,
    loss: f64,
    delay: Delay,
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
    /// Index of the (source, destination) pair whose path the packet follows.
    route: u32,
    /// Index, in that path, of the edge being crossed.
    hop: u16,
    /// Addressed to an emulated router at the path's end, not to the site.
    to_router: bool,
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
    edges: Vec<Edge>,
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

impl Engine {
    /// Builds the engine for a topology and its plan (`Plan::new(topo, ..)`).
    /// `seed` drives losses and jitter; `now` starts the token buckets full.
    pub fn new(topo: &Topology, plan: &Plan, seed: u64, now: u64) -> Engine {
        let routes_all = Routes::compute(topo);
        let graph = routes_all.graph();
        let eps = graph.endpoints().to_vec();
        let n = eps.len();
        let mut edges = Vec::new();
        for (i, link) in topo.links.iter().enumerate() {
            let node = |site| {
                graph.node(topology::Endpoint {
                    site,
                    network: link.network,
                })
            };
            let (Some(a), Some(b)) = (node(link.a), node(link.b)) else {
                continue;
            };
            let Some(lp) = plan.links.get(i) else {
                continue;
            };
            let bucket = link
                .rate_mbit
                .filter(|r| *r > 0.0)
                .map(|r| TokenBucket::new(r, now));
            let loss = (link.loss_pct / 100.0).clamp(0.0, 1.0);
            let jitter = ms_to_ns(link.jitter_ms);
            for (from, to, ms, router) in [
                (a, b, link.forward_ms, lp.b_router),
                (b, a, link.reverse_ms, lp.a_router),
            ] {
                edges.push(Edge {
                    from: from as u32,
                    to: to as u32,
                    router,
                    via: format!("link {i}"),
                    loss,
                    delay: Delay::new(ms_to_ns(ms), jitter),
                    bucket: bucket.clone(),
                    packets: 0,
                    lost: 0,
                    rate_dropped: 0,
                });
            }
        }
        for (i, ix) in topo.interconnects.iter().enumerate() {
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
                    if n1 == n2 {
                        continue;
                    }
                    edges.push(Edge {
                        from: a as u32,
                        to: b as u32,
                        router,
                        via: format!("interconnect {i}"),
                        loss: 0.0,
                        delay: Delay::new(ms_to_ns(ix.delay_ms), 0),
                        bucket: None,
                        packets: 0,
                        lost: 0,
                        rate_dropped: 0,
                    });
                }
            }
        }
        // Between two adjacent nodes routing uses the fastest edge; so do we.
        let mut best: HashMap<(u32, u32), u32> = HashMap::new();
        for (i, e) in edges.iter().enumerate() {
            let slot = best.entry((e.from, e.to)).or_insert(i as u32);
            if e.delay.base_ns < edges[*slot as usize].delay.base_ns {
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
                            .and_then(|(u, v)| best.get(&(u as u32, v as u32)));
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
        let by_address = plan
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| (e.address, i as u32))
            .collect();
        let routers = edges.iter().map(|e| (e.router, e.to)).collect();
        Engine {
            n,
            routers,
            endpoint_site: plan.endpoints.iter().map(|e| e.site as u32).collect(),
            endpoint_names: plan.endpoints.iter().map(|e| e.name.clone()).collect(),
            by_address,
            edges,
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
                self.stats.dropped_ipv6 += 1;
                return;
            }
            Err(_) => {
                self.stats.dropped_malformed += 1;
                return;
            }
        };
        let src = self.by_address.get(&ip.src()).copied();
        let Some(s) = src.filter(|&s| self.endpoint_site[s as usize] as usize == site) else {
            self.stats.dropped_bad_source += 1;
            return;
        };
        let (t, to_router) = match self.by_address.get(&ip.dst()) {
            Some(&t) => (t, false),
            None => match self.routers.get(&ip.dst()) {
                Some(&t) => (t, true),
                None => {
                    self.stats.dropped_no_route += 1;
                    return;
                }
            },
        };
        let route = s as usize * self.n + t as usize;
        if self.routes[route].1 == 0 {
            self.stats.dropped_no_route += 1;
            return;
        }
        let buf = self.take_buf(ip.packet());
        self.cross(buf, route as u32, 0, now, to_router);
    }

    /// Starts the packet across hop `hop` of its route at time `t`.
    fn cross(&mut self, buf: Vec<u8>, route: u32, hop: u16, t: u64, to_router: bool) {
        let (start, _) = self.routes[route as usize];
        let e = &mut self.edges[self.hops[(start + u32::from(hop)) as usize] as usize];
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
            route,
            hop,
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
            route,
            hop,
            to_router,
            ..
        } = ev;
        let (start, len) = self.routes[route as usize];
        let edge = &self.edges[self.hops[(start + u32::from(hop)) as usize] as usize];
        let (node, router) = (edge.to, edge.router);
        if hop + 1 >= len && to_router {
            self.router_reply(buf, route, node, at);
            return false;
        }
        if hop + 1 >= len {
            let site = self.endpoint_site[node as usize] as usize;
            deliver(site, &buf, at);
            self.stats.delivered += 1;
            self.recycle(buf);
            return true;
        }
        let Ok(mut ip) = Ipv4Packet::new_checked(&mut buf[..]) else {
            self.stats.dropped_malformed += 1;
            self.recycle(buf);
            return false;
        };
        if ip.ttl() <= 1 {
            self.stats.dropped_ttl += 1;
            if !ip.is_icmp_error() && ip.frag_offset() == 0 {
                let source = route as usize / self.n;
                let back = node as usize * self.n + source;
                if self.routes[back].1 > 0 {
                    let mut msg = self.pool.pop().unwrap_or_default();
                    self.icmp_ident = self.icmp_ident.wrapping_add(1);
                    wire::write_time_exceeded(&ip, router, self.icmp_ident, &mut msg);
                    self.stats.icmp_time_exceeded += 1;
                    self.cross(msg, back as u32, 0, at, false);
                }
            }
            self.recycle(buf);
            return false;
        }
        ip.decrement_ttl();
        self.cross(buf, route, hop + 1, at, to_router);
        false
    }

    /// A packet reached the router it was addressed to, at endpoint `node`:
    /// an echo request is answered with an echo reply, UDP (traceroute's last
    /// probe) with port unreachable, both from the router's address and back
    /// along the shortest path from `node`; anything else is dropped.
    fn router_reply(&mut self, buf: Vec<u8>, route: u32, node: u32, at: u64) {
        let source = route as usize / self.n;
        let back = node as usize * self.n + source;
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
        self.cross(msg, back as u32, 0, at, false);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn lab(src: &str) -> (Plan, Engine) {
        let topo = topology::load::from_str(src, "t.yaml").unwrap();
        let plan = Plan::new(&topo, "t").unwrap();
        let engine = Engine::new(&topo, &plan, 7, 0);
        (plan, engine)
    }

    fn three() -> (Plan, Engine) {
        lab("version: 1
sites:
  - {id: a, kind: city, location: [30, 100]}
  - {id: b, kind: city, location: [31, 101]}
  - {id: c, kind: city, location: [32, 102]}
links:
  - {between: [a, b], delay_ms: {forward: 4, reverse: 9}}
  - {between: [b, c], delay_ms: 2}
")
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

    #[test]
    fn unreachable_pairs_are_dropped() {
        let (_, mut e) = lab("version: 1
sites:
  - {id: a, kind: city, location: [30, 100]}
  - {id: b, kind: city, location: [31, 101]}
");
        e.ingress(0, &udp(A, B, 64, 60), 0);
        assert!(drain(&mut e).is_empty());
        assert_eq!(e.stats().dropped_no_route, 1);
    }
}
