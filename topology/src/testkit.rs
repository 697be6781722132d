//! Small hand-built topologies for tests (no YAML, so tests of routing,
//! analysis, address plans or forwarding do not depend on the file reader):
//! this crate's unit tests, and other crates' tests through the `testkit`
//! feature (`topology = { workspace = true, features = ["testkit"] }` in their
//! `[dev-dependencies]`). A builder for tests: a name that is not there (a
//! typo in a test) panics.

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

    /// Cities on every network, without a hub, one degree of latitude and
    /// longitude apart from (30, 100) on: for tests where only the links
    /// between them matter.
    pub fn cities(mut self, ids: &[&str]) -> Kit {
        for id in ids {
            let k = self.topo.sites.len() as f64;
            self = self.site(id, SiteKind::City, None, 30.0 + k, 100.0 + k);
        }
        self
    }

    /// Puts `site` on the named networks only.
    pub fn only_on(mut self, site: &str, networks: &[&str]) -> Kit {
        let i = self.idx(site);
        let networks = networks.iter().map(|n| self.net(n)).collect();
        self.topo.sites[i].networks = networks;
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

    fn net(&self, id: &str) -> usize {
        self.topo
            .networks
            .iter()
            .position(|n| n.id == id)
            .unwrap_or_else(|| panic!("no network {id}"))
    }

    /// A link from `a` to `b`, `fwd` ms one way and `rev` ms back.
    pub fn link(self, a: &str, b: &str, fwd: f64, rev: f64) -> Kit {
        self.link_on(a, b, None, fwd, rev)
    }

    /// A link as [`Kit::link`] on the network named `network`.
    pub fn link_via(self, a: &str, b: &str, network: &str, fwd: f64, rev: f64) -> Kit {
        let net = self.net(network);
        self.link_on(a, b, Some(net), fwd, rev)
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
