//! The all-pairs one-way delay table that suggestions are evaluated on, and the
//! exact effect of adding a handful of edges to it without routing again.
//!
//! Adding edges `E` with end nodes `K` to a graph whose shortest delays are `d`
//! gives, for every pair, `d'(s,t) = min(d(s,t), min over a,b in K of
//! d(s,a) + D(a,b) + d(b,t))`, where `D` is the shortest delay between nodes of
//! `K` once the new edges are in (a Floyd-Warshall over `K`, a few nodes). A path
//! that uses new edges leaves the old graph at the first one's tail `a` and
//! re-enters it at the last one's head `b`; in between it is a path among `K`.
//! So one candidate costs a pass over the routes of interest, not an all-pairs
//! recomputation, and committing one updates the table exactly.

use crate::analysis::LatencySource;
use crate::model::{Endpoint, Topology};

/// A directed edge between two nodes of the table, one-way delay in ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Edge {
    pub from: u32,
    pub to: u32,
    pub ms: f64,
}

/// Gains smaller than this are rounding, not a shorter path.
pub(crate) const EPS_MS: f64 = 1e-9;

/// Dense one-way delays between every ordered pair of endpoints.
#[derive(Debug, Clone)]
pub(crate) struct Metric {
    eps: Vec<Endpoint>,
    /// `lookup[site * stride + network]` -> node, `u32::MAX` when absent.
    lookup: Vec<u32>,
    stride: usize,
    n: usize,
    /// `d[s * n + t]`, infinite when unknown or unreachable.
    d: Vec<f64>,
}

const NONE: u32 = u32::MAX;

impl Metric {
    /// Reads every pair's central one-way delay from a latency source.
    pub fn from_source<S: LatencySource + ?Sized>(
        topo: &Topology,
        eps: &[Endpoint],
        src: &S,
    ) -> Metric {
        let stride = topo.networks.len().max(1);
        let mut lookup = vec![NONE; topo.sites.len() * stride];
        for (i, e) in eps.iter().enumerate() {
            lookup[e.site * stride + e.network.unwrap_or(0)] = i as u32;
        }
        let n = eps.len();
        let mut d = vec![f64::INFINITY; n * n];
        for (s, &from) in eps.iter().enumerate() {
            let row = &mut d[s * n..(s + 1) * n];
            for (t, &to) in eps.iter().enumerate() {
                row[t] = if s == t {
                    0.0
                } else {
                    src.one_way_ms(from, to).unwrap_or(f64::INFINITY)
                };
            }
        }
        Metric {
            eps: eps.to_vec(),
            lookup,
            stride,
            n,
            d,
        }
    }

    pub fn endpoint(&self, node: usize) -> Endpoint {
        self.eps[node]
    }

    pub fn node(&self, e: Endpoint) -> Option<usize> {
        let net = e.network.unwrap_or(0);
        if net >= self.stride {
            return None;
        }
        let i = *self.lookup.get(e.site * self.stride + net)?;
        (i != NONE).then_some(i as usize)
    }

    #[inline]
    pub fn get(&self, s: usize, t: usize) -> f64 {
        self.d[s * self.n + t]
    }

    /// The shortcuts a set of new edges creates: node pairs of the edges' ends
    /// whose delay drops once the edges exist.
    pub fn shortcuts(&self, edges: &[Edge]) -> Shortcuts {
        let mut nodes: Vec<u32> = Vec::new();
        for e in edges {
            for v in [e.from, e.to] {
                if !nodes.contains(&v) {
                    nodes.push(v);
                }
            }
        }
        let k = nodes.len();
        let mut dk = vec![f64::INFINITY; k * k];
        for i in 0..k {
            for j in 0..k {
                dk[i * k + j] = self.get(nodes[i] as usize, nodes[j] as usize);
            }
        }
        for e in edges {
            let i = nodes.iter().position(|&v| v == e.from).unwrap_or(0);
            let j = nodes.iter().position(|&v| v == e.to).unwrap_or(0);
            if e.ms < dk[i * k + j] {
                dk[i * k + j] = e.ms;
            }
        }
        for m in 0..k {
            for i in 0..k {
                for j in 0..k {
                    let via = dk[i * k + m] + dk[m * k + j];
                    if via < dk[i * k + j] {
                        dk[i * k + j] = via;
                    }
                }
            }
        }
        let mut pairs = Vec::new();
        let mut heads: Vec<u32> = Vec::new();
        for i in 0..k {
            for j in 0..k {
                let (a, b) = (nodes[i], nodes[j]);
                if i != j && dk[i * k + j] < self.get(a as usize, b as usize) - EPS_MS {
                    let h = match heads.iter().position(|&x| x == b) {
                        Some(h) => h,
                        None => {
                            heads.push(b);
                            heads.len() - 1
                        }
                    };
                    pairs.push(Shortcut {
                        tail: a,
                        head: h,
                        ms: dk[i * k + j],
                    });
                }
            }
        }
        Shortcuts { pairs, heads }
    }

    /// From source `s`, the best delay to each shortcut head through a
    /// shortcut, in `g` (one slot per head; infinite where no shortcut helps
    /// reach that head). Returns whether any head is reached faster than today.
    pub fn reach_heads(&self, sc: &Shortcuts, s: usize, g: &mut Vec<f64>) -> bool {
        g.clear();
        g.resize(sc.heads.len(), f64::INFINITY);
        for p in &sc.pairs {
            let v = self.get(s, p.tail as usize) + p.ms;
            if v < g[p.head] {
                g[p.head] = v;
            }
        }
        let mut any = false;
        for (h, &b) in sc.heads.iter().enumerate() {
            if g[h] < self.get(s, b as usize) - EPS_MS {
                any = true;
            } else {
                // Reaching this head through the shortcut is no better than
                // today, so going on from it cannot beat today's route either.
                g[h] = f64::INFINITY;
            }
        }
        any
    }

    /// The best delay to `t` through a shortcut, given `reach_heads`' `g`.
    #[inline]
    pub fn via(&self, sc: &Shortcuts, g: &[f64], t: usize) -> f64 {
        let mut best = f64::INFINITY;
        for (h, &b) in sc.heads.iter().enumerate() {
            if g[h].is_finite() {
                let v = g[h] + self.get(b as usize, t);
                if v < best {
                    best = v;
                }
            }
        }
        best
    }

    /// Adds the shortcuts' edges to the table for good: every pair, exactly.
    pub fn commit(&mut self, sc: &Shortcuts) {
        if sc.pairs.is_empty() {
            return;
        }
        let n = self.n;
        let mut g = Vec::new();
        let mut row = vec![0.0; n];
        for s in 0..n {
            if !self.reach_heads(sc, s, &mut g) {
                continue;
            }
            // Rows of other sources may already be updated; that only uses
            // shorter real paths, so the result is still the exact new delay.
            for (t, slot) in row.iter_mut().enumerate() {
                *slot = self.via(sc, &g, t);
            }
            let d = &mut self.d[s * n..(s + 1) * n];
            for (cur, via) in d.iter_mut().zip(&row) {
                if *via < *cur {
                    *cur = *via;
                }
            }
        }
    }
}

/// One shortcut: from `tail` to `heads[head]` in `ms`, shorter than today.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Shortcut {
    pub tail: u32,
    pub head: usize,
    pub ms: f64,
}

/// What a set of new edges changes, in the table's terms.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Shortcuts {
    pub pairs: Vec<Shortcut>,
    pub heads: Vec<u32>,
}

impl Shortcuts {
    /// Whether the edges shorten anything at all.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SiteKind::City;
    use crate::routing::Routes;
    use crate::testkit::Kit;

    #[test]
    fn one_edge_is_the_textbook_formula() {
        // a - b - c in a line, 5 ms each way per hop; add a -> c at 3 ms.
        let k = Kit::new(&[])
            .site("a", City, None, 30.0, 100.0)
            .site("b", City, None, 31.0, 101.0)
            .site("c", City, None, 32.0, 102.0)
            .link("a", "b", 5.0, 5.0)
            .link("b", "c", 5.0, 5.0);
        let eps = crate::analysis::endpoints(&k.topo);
        let r = Routes::compute(&k.topo);
        let mut m = Metric::from_source(&k.topo, &eps, &r);
        let (a, b, c) = (0usize, 1usize, 2usize);
        let sc = m.shortcuts(&[Edge {
            from: a as u32,
            to: c as u32,
            ms: 3.0,
        }]);
        assert_eq!(sc.pairs.len(), 1);
        let mut g = Vec::new();
        assert!(m.reach_heads(&sc, a, &mut g));
        assert_eq!(m.via(&sc, &g, c), 3.0);
        // b gains nothing: it is not upstream of the new edge's tail more
        // cheaply than its own route to c.
        assert!(!m.reach_heads(&sc, b, &mut g));
        m.commit(&sc);
        assert_eq!(m.get(a, c), 3.0);
        assert_eq!(m.get(c, a), 10.0, "the new edge is one-way");
        assert_eq!(m.get(a, b), 5.0);
    }

    #[test]
    fn useless_edges_make_no_shortcuts() {
        let k = Kit::new(&[])
            .site("a", City, None, 30.0, 100.0)
            .site("b", City, None, 31.0, 101.0)
            .link("a", "b", 2.0, 2.0);
        let eps = crate::analysis::endpoints(&k.topo);
        let m = Metric::from_source(&k.topo, &eps, &Routes::compute(&k.topo));
        let sc = m.shortcuts(&[
            Edge {
                from: 0,
                to: 1,
                ms: 4.0,
            },
            Edge {
                from: 1,
                to: 0,
                ms: 2.0,
            },
        ]);
        assert!(sc.is_empty());
    }
}
