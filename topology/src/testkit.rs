//! Small hand-built topologies for unit tests (no YAML, so routing and analysis
//! tests do not depend on the file reader).

use crate::model::*;

#[derive(Debug, Clone)]
pub struct Kit {
    pub topo: Topology,
}

impl Kit {
    pub fn new(networks: &[&str]) -> Kit {
        Kit {
            topo: Topology {
                hubs: Vec::new(),
                sites: Vec::new(),
                networks: networks
                    .iter()
                    .map(|n| Network {
                        id: n.to_string(),
                        name: None,
                    })
                    .collect(),
                links: Vec::new(),
                interconnects: Vec::new(),
                budgets: Budgets {
                    preset: None,
                    rules: Vec::new(),
                },
            },
        }
    }

    pub fn hub(mut self, id: &str, role: HubRole) -> Kit {
        self.topo.hubs.push(Hub {
            id: id.into(),
            name: None,
            role,
        });
        self
    }

    pub fn site(mut self, id: &str, kind: SiteKind, hub: Option<&str>, lat: f64, lon: f64) -> Kit {
        let networks = (0..self.topo.networks.len()).collect();
        self.topo.sites.push(Site {
            id: id.into(),
            name: None,
            kind,
            hub: hub.map(Into::into),
            serves: None,
            location: LatLon { lat, lon },
            networks,
            addresses: Vec::new(),
        });
        self
    }

    pub fn serves(mut self, edge: &str, city: &str) -> Kit {
        let i = self.idx(edge);
        self.topo.sites[i].serves = Some(city.into());
        self
    }

    fn idx(&self, id: &str) -> usize {
        self.topo
            .site_index(id)
            .unwrap_or_else(|| panic!("no site {id}"))
    }

    pub fn link(self, a: &str, b: &str, fwd: f64, rev: f64) -> Kit {
        self.link_on(a, b, None, fwd, rev)
    }

    pub fn link_on(mut self, a: &str, b: &str, net: Option<usize>, fwd: f64, rev: f64) -> Kit {
        let (a, b) = (self.idx(a), self.idx(b));
        self.topo.links.push(Link {
            a,
            b,
            network: net,
            forward_ms: fwd,
            reverse_ms: rev,
            delay_source: DelaySource::Configured,
            jitter_ms: 0.0,
            loss_pct: 0.0,
            rate_mbit: None,
        });
        self
    }

    pub fn interconnect(mut self, site: &str, delay_ms: f64) -> Kit {
        let site = self.idx(site);
        let networks = (0..self.topo.networks.len()).collect();
        self.topo.interconnects.push(Interconnect {
            site,
            kind: InterconnectKind::BackboneDirectConnect,
            networks,
            delay_ms,
        });
        self
    }

    pub fn preset(mut self, name: &str) -> Kit {
        self.topo.budgets = crate::budgets::preset(name).unwrap_or_else(|| panic!("preset {name}"));
        self
    }

    pub fn ep(&self, site: &str, net: Option<usize>) -> Endpoint {
        Endpoint {
            site: self.idx(site),
            network: net,
        }
    }
}
