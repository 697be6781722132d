//! Shortest one-way-delay routing over the link graph, per direction.
//!
//! With networks declared, every site present on a network is one node per
//! network (`site@network`); a link joins two nodes of its own network, and an
//! interconnect joins the nodes of its site across networks, adding its delay.
//! So traffic between two carriers crosses over only where an interconnect
//! exists, and a missing local one shows up as a long detour.

use crate::model::{Endpoint, Topology};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// The directed graph routing runs on.
#[derive(Debug, Clone)]
pub struct Graph {
    endpoints: Vec<Endpoint>,
    /// Dense endpoint -> node table: `lookup[site * stride + network]`.
    lookup: Vec<u32>,
    stride: usize,
    /// Adjacency: (target node, one-way delay in ms).
    adj: Vec<Vec<(u32, f64)>>,
}

impl Graph {
    /// Builds the endpoint graph of a validated topology.
    pub fn new(topo: &Topology) -> Graph {
        let mut endpoints = Vec::new();
        for (i, site) in topo.sites.iter().enumerate() {
            if topo.networks.is_empty() {
                endpoints.push(Endpoint {
                    site: i,
                    network: None,
                });
            } else {
                for &n in &site.networks {
                    endpoints.push(Endpoint {
                        site: i,
                        network: Some(n),
                    });
                }
            }
        }
        let stride = topo.networks.len().max(1);
        let mut lookup = vec![NONE; topo.sites.len() * stride];
        for (i, e) in endpoints.iter().enumerate() {
            lookup[e.site * stride + e.network.unwrap_or(0)] = i as u32;
        }
        let index = |e: &Endpoint| Self::find(&lookup, stride, *e);
        let mut adj = vec![Vec::new(); endpoints.len()];
        for link in &topo.links {
            let a = index(&Endpoint {
                site: link.a,
                network: link.network,
            });
            let b = index(&Endpoint {
                site: link.b,
                network: link.network,
            });
            if let (Some(a), Some(b)) = (a, b) {
                adj[a as usize].push((b, link.forward_ms));
                adj[b as usize].push((a, link.reverse_ms));
            }
        }
        for ix in &topo.interconnects {
            for &n1 in &ix.networks {
                for &n2 in &ix.networks {
                    if n1 == n2 {
                        continue;
                    }
                    let a = index(&Endpoint {
                        site: ix.site,
                        network: Some(n1),
                    });
                    let b = index(&Endpoint {
                        site: ix.site,
                        network: Some(n2),
                    });
                    if let (Some(a), Some(b)) = (a, b) {
                        adj[a as usize].push((b, ix.delay_ms));
                    }
                }
            }
        }
        Graph {
            endpoints,
            lookup,
            stride,
            adj,
        }
    }

    fn find(lookup: &[u32], stride: usize, e: Endpoint) -> Option<u32> {
        let n = e.network.unwrap_or(0);
        if n >= stride {
            return None;
        }
        let i = *lookup.get(e.site.checked_mul(stride)?.checked_add(n)?)?;
        (i != NONE).then_some(i)
    }

    /// Every endpoint, in site order then network order.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    pub fn node(&self, e: Endpoint) -> Option<usize> {
        Self::find(&self.lookup, self.stride, e).map(|i| i as usize)
    }
}

#[derive(PartialEq)]
struct Queued(f64, u32);
impl Eq for Queued {}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> Ordering {
        // Min-heap on delay; node index breaks ties so the order is total.
        other.0.total_cmp(&self.0).then(other.1.cmp(&self.1))
    }
}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

const NONE: u32 = u32::MAX;

/// Shortest one-way delays and paths between every ordered pair of endpoints.
#[derive(Debug, Clone)]
pub struct Routes {
    graph: Graph,
    n: usize,
    /// `dist[s * n + t]`: one-way ms from s to t (infinite when unreachable).
    dist: Vec<f64>,
    /// `pred[s * n + t]`: the node before t on the path from s.
    pred: Vec<u32>,
}

impl Routes {
    /// Runs Dijkstra from every endpoint.
    pub fn compute(topo: &Topology) -> Routes {
        let graph = Graph::new(topo);
        let n = graph.endpoints.len();
        let mut dist = vec![f64::INFINITY; n * n];
        let mut pred = vec![NONE; n * n];
        let mut heap = BinaryHeap::new();
        for s in 0..n {
            let d = &mut dist[s * n..(s + 1) * n];
            let p = &mut pred[s * n..(s + 1) * n];
            d[s] = 0.0;
            heap.clear();
            heap.push(Queued(0.0, s as u32));
            while let Some(Queued(du, u)) = heap.pop() {
                let u = u as usize;
                if du > d[u] {
                    continue;
                }
                for &(v, w) in &graph.adj[u] {
                    let nd = du + w;
                    let v = v as usize;
                    if nd < d[v] {
                        d[v] = nd;
                        p[v] = u as u32;
                        heap.push(Queued(nd, v as u32));
                    }
                }
            }
        }
        Routes {
            graph,
            n,
            dist,
            pred,
        }
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// One-way delay in ms from `from` to `to`; `None` when unreachable or unknown.
    pub fn one_way_ms(&self, from: Endpoint, to: Endpoint) -> Option<f64> {
        let (s, t) = (self.graph.node(from)?, self.graph.node(to)?);
        let d = self.dist[s * self.n + t];
        d.is_finite().then_some(d)
    }

    /// The endpoints along the shortest path, both ends included; empty when
    /// unreachable.
    pub fn path(&self, from: Endpoint, to: Endpoint) -> Vec<Endpoint> {
        let (Some(s), Some(t)) = (self.graph.node(from), self.graph.node(to)) else {
            return Vec::new();
        };
        if !self.dist[s * self.n + t].is_finite() {
            return Vec::new();
        }
        let mut path = vec![self.graph.endpoints[t]];
        let mut cur = t;
        while cur != s {
            let p = self.pred[s * self.n + cur];
            if p == NONE {
                return Vec::new();
            }
            cur = p as usize;
            path.push(self.graph.endpoints[cur]);
        }
        path.reverse();
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SiteKind::*;
    use crate::testkit::Kit;
    use proptest::prelude::*;

    fn line() -> Kit {
        // a -- b -- c, plus a slow direct a -- c.
        Kit::new(&[])
            .site("a", City, None, 30.0, 100.0)
            .site("b", City, None, 31.0, 101.0)
            .site("c", City, None, 32.0, 102.0)
            .link("a", "b", 4.0, 9.0)
            .link("b", "c", 2.0, 2.0)
            .link("a", "c", 20.0, 5.0)
    }

    #[test]
    fn shortest_paths_per_direction() {
        let k = line();
        let r = Routes::compute(&k.topo);
        let (a, b, c) = (k.ep("a", None), k.ep("b", None), k.ep("c", None));
        assert_eq!(r.one_way_ms(a, b), Some(4.0));
        // b -> a: the link's reverse is 9, but b -> c -> a is 2 + 5.
        assert_eq!(r.one_way_ms(b, a), Some(7.0));
        assert_eq!(r.path(b, a), vec![b, c, a]);
        // a -> c: via b (6) beats the direct 20.
        assert_eq!(r.one_way_ms(a, c), Some(6.0));
        assert_eq!(r.path(a, c), vec![a, b, c]);
        // c -> a: the direct link's reverse (5) beats c -> b -> a (11).
        assert_eq!(r.one_way_ms(c, a), Some(5.0));
        assert_eq!(r.path(c, a), vec![c, a]);
        assert_eq!(r.one_way_ms(a, a), Some(0.0));
        assert_eq!(r.path(a, a), vec![a]);
    }

    #[test]
    fn unreachable_is_none() {
        let k = Kit::new(&[])
            .site("a", City, None, 30.0, 100.0)
            .site("b", City, None, 31.0, 101.0);
        let r = Routes::compute(&k.topo);
        assert_eq!(r.one_way_ms(k.ep("a", None), k.ep("b", None)), None);
        assert!(r.path(k.ep("a", None), k.ep("b", None)).is_empty());
    }

    #[test]
    fn carriers_cross_only_at_interconnects() {
        // Two carriers in city x and city y; they meet only at far-away z.
        let k = Kit::new(&["t", "u"])
            .site("x", City, None, 25.0, 102.7)
            .site("y", City, None, 25.1, 102.8)
            .site("z", City, None, 30.6, 104.1)
            .link_on("x", "y", Some(0), 0.5, 0.5)
            .link_on("x", "y", Some(1), 0.5, 0.5)
            .link_on("x", "z", Some(0), 8.0, 8.0)
            .link_on("x", "z", Some(1), 9.0, 9.0)
            .interconnect("z", 0.3);
        let r = Routes::compute(&k.topo);
        let (xt, xu) = (k.ep("x", Some(0)), k.ep("x", Some(1)));
        // Same city, other carrier: out to z and back, 8 + 0.3 + 9.
        assert!((r.one_way_ms(xt, xu).unwrap() - 17.3).abs() < 1e-9);
        let zt = k.ep("z", Some(0));
        let zu = k.ep("z", Some(1));
        assert_eq!(r.path(xt, xu), vec![xt, zt, zu, xu]);
        // A local interconnect removes the detour.
        let k2 = Kit {
            topo: k.topo.clone(),
        }
        .interconnect("x", 0.3);
        let r2 = Routes::compute(&k2.topo);
        assert!((r2.one_way_ms(xt, xu).unwrap() - 0.3).abs() < 1e-9);
    }

    fn random_topo() -> impl Strategy<Value = Kit> {
        (
            2usize..9,
            prop::collection::vec((0usize..9, 0usize..9, 0.1f64..50.0, 0.1f64..50.0), 0..30),
        )
            .prop_map(|(n, links)| {
                let mut k = Kit::new(&[]);
                for i in 0..n {
                    k = k.site(&format!("s{i}"), City, None, 20.0 + i as f64, 100.0);
                }
                for (a, b, f, r) in links {
                    let (a, b) = (a % n, b % n);
                    if a != b {
                        k = k.link(&format!("s{a}"), &format!("s{b}"), f, r);
                    }
                }
                k
            })
    }

    proptest! {
        #[test]
        fn paths_add_up_and_triangle_holds(k in random_topo()) {
            let r = Routes::compute(&k.topo);
            let eps = r.graph().endpoints().to_vec();
            for &s in &eps {
                for &t in &eps {
                    let Some(d) = r.one_way_ms(s, t) else {
                        prop_assert!(r.path(s, t).is_empty());
                        continue;
                    };
                    // The path's link delays sum to the reported delay.
                    let path = r.path(s, t);
                    prop_assert_eq!(path.first(), Some(&s));
                    prop_assert_eq!(path.last(), Some(&t));
                    let mut sum = 0.0;
                    for w in path.windows(2) {
                        let best = k.topo.links.iter().filter_map(|l| {
                            if l.a == w[0].site && l.b == w[1].site { Some(l.forward_ms) }
                            else if l.b == w[0].site && l.a == w[1].site { Some(l.reverse_ms) }
                            else { None }
                        }).fold(f64::INFINITY, f64::min);
                        sum += best;
                    }
                    prop_assert!((sum - d).abs() < 1e-9);
                    // No relay beats a shortest path.
                    for &m in &eps {
                        if let (Some(x), Some(y)) = (r.one_way_ms(s, m), r.one_way_ms(m, t)) {
                            prop_assert!(d <= x + y + 1e-9);
                        }
                    }
                    // Every direct link is an upper bound.
                    for l in &k.topo.links {
                        if l.a == s.site && l.b == t.site {
                            prop_assert!(d <= l.forward_ms + 1e-9);
                        }
                    }
                }
            }
        }

        #[test]
        fn symmetric_links_give_symmetric_delays(k in random_topo()) {
            let mut k = k;
            for l in &mut k.topo.links {
                l.reverse_ms = l.forward_ms;
            }
            let r = Routes::compute(&k.topo);
            let eps = r.graph().endpoints().to_vec();
            for &s in &eps {
                for &t in &eps {
                    match (r.one_way_ms(s, t), r.one_way_ms(t, s)) {
                        (Some(x), Some(y)) => prop_assert!((x - y).abs() < 1e-9),
                        (None, None) => {}
                        other => prop_assert!(false, "asymmetric reachability {:?}", other),
                    }
                }
            }
        }
    }
}
