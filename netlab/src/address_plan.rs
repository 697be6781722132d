//! The lab's address plan and names: which namespace each site gets, which
//! address each endpoint (`site` or `site@network`) has, and which address each
//! emulated router interface answers traceroute from. A pure function of the
//! topology and the lab name, written to the lab's state directory so `netlab
//! addr` answers without recomputing.
//!
//! All addresses come from 198.18.0.0/15 (RFC 2544, benchmarking):
//!
//! - endpoints: `198.18.S.N`, S = the site's index in the file (0..=255),
//!   N = 1 + the network's index in `networks:` (1 when none are declared). So the
//!   third site's address on the second carrier is 198.18.2.2, whatever the lab.
//! - link routers: 198.19.0.0/17, one /30 per link in file order: link L's router
//!   at its first site (`between[0]`) is 198.19.0.0 + 4L + 1, at its second
//!   site + 2. A packet that expires on arriving over link L is answered from
//!   the router at the arriving end.
//! - interconnect routers: 198.19.128.0/17, one address per (interconnect,
//!   network) in file order from 198.19.128.1: the router of that network at the
//!   interconnect, answering for packets that crossed over into its network.
//!
//! Dual stack: every endpoint and router also has an IPv6 address, from
//! 2001:2::/48 (RFC 5180, benchmarking), numbered as in IPv4 with a /64 per
//! site, per link and for the interconnect routers:
//!
//! - endpoints: site S's /64 is `2001:2:0:S::/64` (S in hex); its endpoint
//!   on network N is `2001:2:0:S::(N+1)` (`::1` without networks). The third
//!   site's address on the second carrier is 2001:2:0:2::2 (198.18.2.2).
//! - link routers: link L's /64 is `2001:2:0:(8000+L)::/64` (8000..=9fff):
//!   its router at `between[0]` is `::1`, at `between[1]` `::2` (the /30's
//!   first and second address in IPv4).
//! - interconnect routers: `2001:2:0:c000::/64`, the P-th (interconnect,
//!   network) router at `2001:2:0:c000::(P+1)` (198.19.128.(P+1)).
//!
//! Both families take the same paths with the same delays, loss and rate.
//!
//! The addresses themselves come from `topology::lab_addresses`, which also
//! maps an address back to its site (traceroute hop names), so the two agree.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
pub use topology::lab_addresses::{endpoint_address, endpoint_address6};
use topology::lab_addresses::{
    link_router_addresses, link_router_addresses6, port_address, port_address6,
};
use topology::routing::Graph;
use topology::Topology;

/// Most sites a lab can have (one /24 of 198.18.0.0/16 each).
pub const MAX_SITES: usize = 256;
/// Most networks (carriers) a lab can have.
pub const MAX_NETWORKS: usize = 254;
/// Most links (one /30 each in 198.19.0.0/17).
pub const MAX_LINKS: usize = 8192;
/// Most interconnect router ports (198.19.128.1 ..= 198.19.255.254).
pub const MAX_PORTS: usize = 32766;
/// Longest lab name.
pub const MAX_LAB_NAME: usize = 32;
/// Name of the TUN device in every site's namespace (each namespace has its own).
pub const TUN_NAME: &str = "hm0";
/// Lab name used when `--name` is not given.
pub const DEFAULT_LAB: &str = "default";

/// Why a lab cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressPlanError {
    #[error("bad lab name {0:?}: expected 1 to {MAX_LAB_NAME} of a-z, 0-9 and '-', starting with a letter or digit")]
    LabName(String),
    #[error("the topology has {0} sites; a lab holds at most {MAX_SITES}")]
    TooManySites(usize),
    #[error("the topology has {0} networks; a lab holds at most {MAX_NETWORKS}")]
    TooManyNetworks(usize),
    #[error("the topology has {0} links; a lab holds at most {MAX_LINKS}")]
    TooManyLinks(usize),
    #[error(
        "the topology's interconnects need {0} router addresses; a lab holds at most {MAX_PORTS}"
    )]
    TooManyPorts(usize),
}

/// Checks a lab name: it becomes part of namespace names and a directory name.
pub fn check_lab_name(name: &str) -> Result<(), AddressPlanError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_LAB_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(AddressPlanError::LabName(name.to_string()))
    }
}

/// Prefix of every namespace of lab `lab`. The `.` cannot occur in a lab name or
/// a site id, so one lab's prefix never matches another lab's namespaces.
pub fn namespace_prefix(lab: &str) -> String {
    format!("hm-{lab}.")
}

/// Namespace of site `site` in lab `lab`.
pub fn namespace(lab: &str, site: &str) -> String {
    format!("{}{site}", namespace_prefix(lab))
}

/// A site: its namespace and endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SitePlan {
    pub id: String,
    pub namespace: String,
    /// Indices into `AddressPlan::endpoints`; the first one's address is the default source.
    pub endpoints: Vec<usize>,
}

/// A route endpoint with its address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointPlan {
    /// `site` or `site@network`.
    pub name: String,
    /// Index into `AddressPlan::sites`.
    pub site: usize,
    pub network: Option<String>,
    pub address: Ipv4Addr,
    /// Its IPv6 address (absent from plans written before dual stack).
    #[serde(default = "unspecified6")]
    pub address6: Ipv6Addr,
}

fn unspecified6() -> Ipv6Addr {
    Ipv6Addr::UNSPECIFIED
}

impl EndpointPlan {
    /// Its address in one family.
    pub fn address_of(&self, ipv6: bool) -> IpAddr {
        if ipv6 {
            IpAddr::V6(self.address6)
        } else {
            IpAddr::V4(self.address)
        }
    }
}

/// A link's two router interfaces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkPlan {
    pub a: String,
    pub b: String,
    pub network: Option<String>,
    /// Router at `a`: answers for packets that expire arriving at `a` over this link.
    pub a_router: Ipv4Addr,
    /// Router at `b`.
    pub b_router: Ipv4Addr,
    /// The same routers' IPv6 addresses.
    #[serde(default = "unspecified6")]
    pub a_router6: Ipv6Addr,
    #[serde(default = "unspecified6")]
    pub b_router6: Ipv6Addr,
}

/// A network's router at an interconnect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortPlan {
    /// Index into the topology's interconnects.
    pub interconnect: usize,
    pub site: String,
    pub network: String,
    pub address: Ipv4Addr,
    #[serde(default = "unspecified6")]
    pub address6: Ipv6Addr,
}

/// The whole plan of one lab.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddressPlan {
    pub lab: String,
    pub sites: Vec<SitePlan>,
    /// In routing's endpoint order (`topology::routing::Graph::endpoints`), so an
    /// endpoint's index here is its node in the routing graph.
    pub endpoints: Vec<EndpointPlan>,
    /// In the topology's link order.
    pub links: Vec<LinkPlan>,
    /// Interconnect router ports, by interconnect then by its network list.
    pub ports: Vec<PortPlan>,
}

impl AddressPlan {
    pub fn new(topo: &Topology, lab: &str) -> Result<AddressPlan, AddressPlanError> {
        check_lab_name(lab)?;
        if topo.sites.len() > MAX_SITES {
            return Err(AddressPlanError::TooManySites(topo.sites.len()));
        }
        if topo.networks.len() > MAX_NETWORKS {
            return Err(AddressPlanError::TooManyNetworks(topo.networks.len()));
        }
        if topo.links.len() > MAX_LINKS {
            return Err(AddressPlanError::TooManyLinks(topo.links.len()));
        }
        let nports: usize = topo.interconnects.iter().map(|i| i.networks.len()).sum();
        if nports > MAX_PORTS {
            return Err(AddressPlanError::TooManyPorts(nports));
        }
        let mut sites: Vec<SitePlan> = topo
            .sites
            .iter()
            .map(|s| SitePlan {
                id: s.id.clone(),
                namespace: namespace(lab, &s.id),
                endpoints: Vec::new(),
            })
            .collect();
        let graph = Graph::new(topo);
        let endpoints = graph
            .endpoints()
            .iter()
            .enumerate()
            .map(|(i, e)| {
                sites[e.site].endpoints.push(i);
                EndpointPlan {
                    name: e.name(topo),
                    site: e.site,
                    network: e.network.map(|n| topo.networks[n].id.clone()),
                    address: endpoint_address(e.site, e.network),
                    address6: endpoint_address6(e.site, e.network),
                }
            })
            .collect();
        let links = topo
            .links
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let (a_router, b_router) = link_router_addresses(i);
                let (a_router6, b_router6) = link_router_addresses6(i);
                LinkPlan {
                    a: topo.sites[l.a].id.clone(),
                    b: topo.sites[l.b].id.clone(),
                    network: l.network.map(|n| topo.networks[n].id.clone()),
                    a_router,
                    b_router,
                    a_router6,
                    b_router6,
                }
            })
            .collect();
        let mut ports = Vec::with_capacity(nports);
        for (i, ix) in topo.interconnects.iter().enumerate() {
            for &n in &ix.networks {
                ports.push(PortPlan {
                    interconnect: i,
                    site: topo.sites[ix.site].id.clone(),
                    network: topo.networks[n].id.clone(),
                    address: port_address(ports.len()),
                    address6: port_address6(ports.len()),
                });
            }
        }
        Ok(AddressPlan {
            lab: lab.to_string(),
            sites,
            endpoints,
            links,
            ports,
        })
    }

    /// The endpoint named `site@network`, or a site's first (default-source)
    /// endpoint for a bare `site`.
    pub fn endpoint(&self, name: &str) -> Option<&EndpointPlan> {
        if let Some(e) = self.endpoints.iter().find(|e| e.name == name) {
            return Some(e);
        }
        let site = self.sites.iter().find(|s| s.id == name)?;
        self.endpoints.get(*site.endpoints.first()?)
    }

    pub fn site(&self, id: &str) -> Option<&SitePlan> {
        self.sites.iter().find(|s| s.id == id)
    }

    /// Addresses of a site, default source first.
    pub fn site_addresses(&self, site: usize) -> Vec<Ipv4Addr> {
        self.sites
            .get(site)
            .map(|s| {
                s.endpoints
                    .iter()
                    .map(|&e| self.endpoints[e].address)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// IPv6 addresses of a site, default source first.
    pub fn site_addresses6(&self, site: usize) -> Vec<Ipv6Addr> {
        self.sites
            .get(site)
            .map(|s| {
                s.endpoints
                    .iter()
                    .map(|&e| self.endpoints[e].address6)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The router port of `network` at interconnect `interconnect`.
    pub fn port(&self, interconnect: usize, network: &str) -> Option<Ipv4Addr> {
        self.port_plan(interconnect, network).map(|p| p.address)
    }

    /// The same router's IPv6 address.
    pub fn port6(&self, interconnect: usize, network: &str) -> Option<Ipv6Addr> {
        self.port_plan(interconnect, network).map(|p| p.address6)
    }

    fn port_plan(&self, interconnect: usize, network: &str) -> Option<&PortPlan> {
        self.ports
            .iter()
            .find(|p| p.interconnect == interconnect && p.network == network)
    }

    /// Human-readable listing of every address, as `netlab addr --all` prints it.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let w = self
            .endpoints
            .iter()
            .map(|e| e.name.len())
            .max()
            .unwrap_or(4)
            .max(8);
        let _ = writeln!(
            s,
            "# lab {}: endpoints (site namespace: hm-{}.SITE)",
            self.lab, self.lab
        );
        for e in &self.endpoints {
            let _ = writeln!(s, "{:<w$}  {:<15}  {}", e.name, e.address, e.address6);
        }
        let _ = writeln!(s, "# link routers (router at each end of the link)");
        for (i, l) in self.links.iter().enumerate() {
            let net = l
                .network
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "link {i}: {} -- {}{net}  {} at {}, {} at {}; {} at {}, {} at {}",
                l.a, l.b, l.a_router, l.a, l.b_router, l.b, l.a_router6, l.a, l.b_router6, l.b
            );
        }
        if !self.ports.is_empty() {
            let _ = writeln!(
                s,
                "# interconnect routers (a network's router where it meets others)"
            );
            for p in &self.ports {
                let _ = writeln!(
                    s,
                    "interconnect {} at {}: {}  {}  {}",
                    p.interconnect, p.site, p.network, p.address, p.address6
                );
            }
        }
        s
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use topology::testkit::Kit;

    /// a -- b -- c on no declared network.
    fn three() -> Topology {
        Kit::new(&[])
            .cities(&["a", "b", "c"])
            .link("a", "b", 4.0, 9.0)
            .link("b", "c", 2.0, 2.0)
            .topo
    }

    /// Two carriers meeting at z's interconnect; y is on u only.
    fn carriers() -> Topology {
        Kit::new(&["t", "u"])
            .cities(&["x", "y", "z"])
            .only_on("y", &["u"])
            .link_via("x", "z", "t", 8.0, 8.0)
            .link_via("x", "z", "u", 9.0, 9.0)
            .link_via("x", "y", "u", 0.5, 0.5)
            .interconnect("z", 0.3)
            .topo
    }

    #[test]
    fn single_network_plan() {
        let p = AddressPlan::new(&three(), "t1").unwrap();
        let names: Vec<_> = p
            .endpoints
            .iter()
            .map(|e| (e.name.as_str(), e.address.to_string()))
            .collect();
        assert_eq!(
            names,
            [
                ("a", "198.18.0.1".into()),
                ("b", "198.18.1.1".into()),
                ("c", "198.18.2.1".into())
            ]
        );
        assert_eq!(p.sites[1].namespace, "hm-t1.b");
        assert_eq!(p.links[0].a_router, Ipv4Addr::new(198, 19, 0, 1));
        assert_eq!(p.links[0].b_router, Ipv4Addr::new(198, 19, 0, 2));
        assert_eq!(p.links[1].a_router, Ipv4Addr::new(198, 19, 0, 5));
        assert_eq!(p.links[1].a_router6.to_string(), "2001:2:0:8001::1");
        assert_eq!(p.endpoints[2].address6.to_string(), "2001:2:0:2::1");
        assert_eq!(
            p.endpoint("b").unwrap().address_of(true).to_string(),
            "2001:2:0:1::1"
        );
        assert_eq!(
            p.endpoint("b").unwrap().address,
            Ipv4Addr::new(198, 18, 1, 1)
        );
        assert!(p.endpoint("d").is_none());
        assert!(p.ports.is_empty());
    }

    #[test]
    fn carriers_get_one_address_each() {
        let p = AddressPlan::new(&carriers(), "lab").unwrap();
        let names: Vec<_> = p.endpoints.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["x@t", "x@u", "y@u", "z@t", "z@u"]);
        // The network fixes the last octet, whatever else the site has.
        assert_eq!(
            p.endpoint("y@u").unwrap().address,
            Ipv4Addr::new(198, 18, 1, 2)
        );
        assert_eq!(
            p.endpoint("y").unwrap().address,
            Ipv4Addr::new(198, 18, 1, 2)
        );
        assert_eq!(
            p.endpoint("x").unwrap().address,
            Ipv4Addr::new(198, 18, 0, 1)
        );
        assert_eq!(
            p.site_addresses(2),
            [Ipv4Addr::new(198, 18, 2, 1), Ipv4Addr::new(198, 18, 2, 2)]
        );
        assert_eq!(p.port(0, "u"), Some(Ipv4Addr::new(198, 19, 128, 2)));
        assert!(p
            .describe()
            .contains("interconnect 0 at z: u  198.19.128.2  2001:2:0:c000::2"));
        assert_eq!(p.port6(0, "u"), Some("2001:2:0:c000::2".parse().unwrap()));
        assert_eq!(
            p.endpoint("y@u").unwrap().address6,
            "2001:2:0:1::2".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            p.site_addresses6(2),
            [
                "2001:2:0:2::1".parse::<Ipv6Addr>().unwrap(),
                "2001:2:0:2::2".parse().unwrap()
            ]
        );
        let mut all6: Vec<Ipv6Addr> = p.endpoints.iter().map(|e| e.address6).collect();
        all6.extend(p.links.iter().flat_map(|l| [l.a_router6, l.b_router6]));
        all6.extend(p.ports.iter().map(|p| p.address6));
        let n6 = all6.len();
        all6.sort();
        all6.dedup();
        assert_eq!(all6.len(), n6);
        // Every address is unique.
        let mut all: Vec<Ipv4Addr> = p.endpoints.iter().map(|e| e.address).collect();
        all.extend(p.links.iter().flat_map(|l| [l.a_router, l.b_router]));
        all.extend(p.ports.iter().map(|p| p.address));
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n);
    }

    #[test]
    fn lab_names() {
        for ok in ["default", "t-1", "0", "a-b-c"] {
            assert!(check_lab_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "A", "a.b", "a/b", "a b", &"x".repeat(33)] {
            assert!(check_lab_name(bad).is_err(), "{bad}");
        }
        // No lab's prefix matches another lab's namespaces.
        assert!(!namespace("t-10", "a").starts_with(&namespace_prefix("t")));
        assert!(!namespace("t-10", "a").starts_with(&namespace_prefix("t-1")));
    }

    /// Every address the plan hands out names the site it sits at, through
    /// the function traceroute uses; nothing else in the ranges names a site.
    #[test]
    fn every_plan_address_maps_back_to_its_site() {
        use std::net::IpAddr;
        use topology::lab_addresses::lab_site_of;
        for t in [three(), carriers(), topology::national::national()] {
            let p = AddressPlan::new(&t, "x").unwrap();
            let mut expected: Vec<(Ipv4Addr, &str)> = Vec::new();
            for e in &p.endpoints {
                expected.push((e.address, p.sites[e.site].id.as_str()));
            }
            for l in &p.links {
                expected.push((l.a_router, l.a.as_str()));
                expected.push((l.b_router, l.b.as_str()));
            }
            for port in &p.ports {
                expected.push((port.address, port.site.as_str()));
            }
            for (addr, site) in &expected {
                assert_eq!(lab_site_of(&t, IpAddr::V4(*addr)), Some(*site), "{addr}");
            }
            let known: std::collections::HashSet<Ipv4Addr> = expected.iter().map(|e| e.0).collect();
            for probe in (0..1024u32).map(|i| Ipv4Addr::from(0xC612_0000 + i * 257)) {
                if !known.contains(&probe) {
                    assert_eq!(lab_site_of(&t, IpAddr::V4(probe)), None, "{probe}");
                }
            }
            // The IPv6 plan names the same sites.
            let mut expected6: Vec<(Ipv6Addr, &str)> = Vec::new();
            for e in &p.endpoints {
                expected6.push((e.address6, p.sites[e.site].id.as_str()));
            }
            for l in &p.links {
                expected6.push((l.a_router6, l.a.as_str()));
                expected6.push((l.b_router6, l.b.as_str()));
            }
            for port in &p.ports {
                expected6.push((port.address6, port.site.as_str()));
            }
            for (addr, site) in &expected6 {
                assert_eq!(lab_site_of(&t, IpAddr::V6(*addr)), Some(*site), "{addr}");
            }
            let known6: std::collections::HashSet<Ipv6Addr> =
                expected6.iter().map(|e| e.0).collect();
            for subnet in (0..=0xffffu16).step_by(97) {
                for host in 0..5u16 {
                    let a = Ipv6Addr::new(0x2001, 2, 0, subnet, 0, 0, 0, host);
                    if !known6.contains(&a) {
                        assert_eq!(lab_site_of(&t, IpAddr::V6(a)), None, "{a}");
                    }
                }
            }
        }
    }

    #[test]
    fn national_fits() {
        let topo = topology::national::national();
        let p = AddressPlan::new(&topo, "default").unwrap();
        assert_eq!(p.sites.len(), topo.sites.len());
        let json = serde_json::to_string(&p).unwrap();
        let back: AddressPlan = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
    }
}
