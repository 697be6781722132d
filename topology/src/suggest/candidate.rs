//! Candidate changes to a network: a direct link between two sites, or an
//! exchange point joining every carrier present at a site; their new edges in
//! the delay table, and how to write one into a topology.

use super::metric::{Edge, Metric};
use super::SuggestionKind;
use crate::geo;
use crate::model::{Endpoint, SiteKind, Topology};

/// Sites closer than this are in one place (an edge data centre and its city,
/// say): a delay estimated from their distance would be about zero, which no
/// link is, so no direct link is suggested between them.
pub(crate) const MIN_DIRECT_LINK_KM: f64 = 1.0;

/// A change that could be suggested.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Candidate {
    pub kind: SuggestionKind,
    /// Two sites for a direct link, one for an exchange point.
    pub sites: Vec<usize>,
    /// The networks the change joins (a direct link: every network present at
    /// both ends; an exchange point: every network at the site). `None` alone
    /// when the topology declares no networks.
    pub networks: Vec<Option<usize>>,
    /// One-way delay of the new link (each direction) or interconnect.
    pub one_way_ms: f64,
    pub distance_km: f64,
}

/// Identity of a candidate, for de-duplication (sites in index order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Key {
    DirectLink(usize, usize),
    ExchangePoint(usize),
}

impl Candidate {
    /// A direct link between two different sites at `route_factor` times their
    /// great-circle distance, on every network present at both; `None` when
    /// they share no network or are under [`MIN_DIRECT_LINK_KM`] apart.
    pub fn direct_link(topo: &Topology, a: usize, b: usize, route_factor: f64) -> Option<Self> {
        if a == b {
            return None;
        }
        let (a, b) = (a.min(b), a.max(b));
        let networks: Vec<Option<usize>> = if topo.networks.is_empty() {
            vec![None]
        } else {
            let at_b = &topo.sites[b].networks;
            topo.sites[a]
                .networks
                .iter()
                .filter(|n| at_b.contains(n))
                .map(|&n| Some(n))
                .collect()
        };
        if networks.is_empty() {
            return None;
        }
        let km = geo::great_circle_km(topo.sites[a].location, topo.sites[b].location);
        if km < MIN_DIRECT_LINK_KM {
            return None;
        }
        Some(Candidate {
            kind: SuggestionKind::DirectLink,
            sites: vec![a, b],
            networks,
            one_way_ms: geo::fibre_delay_ms(km, route_factor),
            distance_km: km,
        })
    }

    /// An exchange point at a city or cluster with two or more carriers that no
    /// single interconnect joins all of; `None` where that does not apply.
    pub fn exchange_point(topo: &Topology, site: usize, delay_ms: f64) -> Option<Self> {
        let s = &topo.sites[site];
        if !matches!(s.kind, SiteKind::City | SiteKind::Cluster) || s.networks.len() < 2 {
            return None;
        }
        let joined = topo
            .interconnects
            .iter()
            .any(|ix| ix.site == site && s.networks.iter().all(|n| ix.networks.contains(n)));
        if joined {
            return None;
        }
        Some(Candidate {
            kind: SuggestionKind::ExchangePoint,
            sites: vec![site],
            networks: s.networks.iter().map(|&n| Some(n)).collect(),
            one_way_ms: delay_ms,
            distance_km: 0.0,
        })
    }

    /// The new directed edges between endpoints of the delay table.
    pub fn edges(&self, metric: &Metric) -> Vec<Edge> {
        let node = |site: usize, network: Option<usize>| {
            metric.node(Endpoint { site, network }).map(|i| i as u32)
        };
        let mut out = Vec::new();
        match self.kind {
            SuggestionKind::DirectLink => {
                for &n in &self.networks {
                    if let (Some(a), Some(b)) = (node(self.sites[0], n), node(self.sites[1], n)) {
                        out.push(Edge {
                            from: a,
                            to: b,
                            ms: self.one_way_ms,
                        });
                        out.push(Edge {
                            from: b,
                            to: a,
                            ms: self.one_way_ms,
                        });
                    }
                }
            }
            SuggestionKind::ExchangePoint => {
                for &n1 in &self.networks {
                    for &n2 in &self.networks {
                        if n1 == n2 {
                            continue;
                        }
                        if let (Some(a), Some(b)) =
                            (node(self.sites[0], n1), node(self.sites[0], n2))
                        {
                            out.push(Edge {
                                from: a,
                                to: b,
                                ms: self.one_way_ms,
                            });
                        }
                    }
                }
            }
        }
        out
    }

    /// Writes the change into a topology: links on each network, or an
    /// interconnect. Routing the result gives what the suggestion promises.
    #[cfg(test)]
    pub fn apply(&self, topo: &mut Topology, route_factor: f64) {
        use crate::model::{DelaySource, Interconnect, InterconnectKind, Link};
        match self.kind {
            SuggestionKind::DirectLink => {
                for &network in &self.networks {
                    topo.links.push(Link {
                        a: self.sites[0],
                        b: self.sites[1],
                        network,
                        forward_ms: self.one_way_ms,
                        reverse_ms: self.one_way_ms,
                        delay_source: DelaySource::Distance { route_factor },
                        jitter_ms: 0.0,
                        loss_pct: 0.0,
                        rate_mbit: None,
                    });
                }
            }
            SuggestionKind::ExchangePoint => topo.interconnects.push(Interconnect {
                site: self.sites[0],
                kind: InterconnectKind::InternetExchange,
                networks: self.networks.iter().flatten().copied().collect(),
                delay_ms: self.one_way_ms,
            }),
        }
    }

    /// Site ids, in order.
    pub fn site_ids(&self, topo: &Topology) -> Vec<String> {
        self.sites
            .iter()
            .map(|&s| topo.sites[s].id.clone())
            .collect()
    }

    /// Network ids (empty when the topology declares none).
    pub fn network_ids(&self, topo: &Topology) -> Vec<String> {
        self.networks
            .iter()
            .flatten()
            .map(|&n| topo.networks[n].id.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SiteKind::*;
    use crate::testkit::Kit;

    #[test]
    fn exchange_point_only_where_carriers_are_not_all_joined() {
        let mut k = Kit::new(&["t", "u"])
            .site("x", City, None, 30.0, 100.0)
            .site("y", City, None, 31.0, 101.0)
            .site("r", Router, None, 31.0, 101.0)
            .interconnect("y", 0.3);
        assert!(Candidate::exchange_point(&k.topo, 0, 0.3).is_some());
        assert!(Candidate::exchange_point(&k.topo, 1, 0.3).is_none());
        assert!(
            Candidate::exchange_point(&k.topo, 2, 0.3).is_none(),
            "routers are not exchange sites"
        );
        // A site on one carrier has nothing to exchange.
        k.topo.sites[0].networks = vec![1];
        assert!(Candidate::exchange_point(&k.topo, 0, 0.3).is_none());
    }

    #[test]
    fn direct_link_on_shared_networks_at_route_factor() {
        let mut k = Kit::new(&["t", "u", "m"])
            .site("x", City, None, 30.0, 100.0)
            .site("y", City, None, 31.0, 100.0);
        k.topo.sites[1].networks = vec![1, 2];
        let c = Candidate::direct_link(&k.topo, 1, 0, 1.5).unwrap();
        assert_eq!(c.sites, vec![0, 1]);
        assert_eq!(c.networks, vec![Some(1), Some(2)]);
        // One degree of latitude: ~111.2 km x 1.5 x 4.9 us.
        assert!((c.one_way_ms - 111.195 * 1.5 * 0.0049).abs() < 1e-3);
        k.topo.sites[1].networks = vec![0];
        k.topo.sites[0].networks = vec![1];
        assert!(Candidate::direct_link(&k.topo, 0, 1, 1.5).is_none());
        assert!(Candidate::direct_link(&k.topo, 0, 0, 1.5).is_none());
    }

    #[test]
    fn no_direct_link_between_sites_in_one_place() {
        // An edge data centre at its city's coordinates: a link estimated from
        // distance would take 0 ms, which is not a suggestion but an artefact.
        let k = Kit::new(&["t"])
            .site("city", City, None, 25.038, 102.718)
            .site("city-edge", Edge, None, 25.038, 102.718)
            .serves("city-edge", "city")
            .site("near", City, None, 25.038, 102.738);
        assert!(Candidate::direct_link(&k.topo, 0, 1, 1.5).is_none());
        // Two kilometres apart is a link again.
        let c = Candidate::direct_link(&k.topo, 0, 2, 1.5).unwrap();
        assert!(c.distance_km >= MIN_DIRECT_LINK_KM && c.one_way_ms > 0.0);
    }
}
