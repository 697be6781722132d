//! netlab's address plan as a pure function of the topology, in both
//! directions: which address each endpoint, link router and interconnect
//! router gets, and which site an address belongs to. netlab builds its labs
//! from the forward direction; traceroute names hops with the reverse, so the
//! two cannot disagree.
//!
//! All addresses come from 198.18.0.0/15 (RFC 2544, benchmarking):
//!
//! - endpoints: `198.18.S.N`, S = the site's index in the file (0..=255),
//!   N = 1 + the network's index in `networks:` (1 when none are declared).
//! - link routers: 198.19.0.0/17, one /30 per link in file order: link L's
//!   router at its first site (`between[0]`) is 198.19.0.0 + 4L + 1, at its
//!   second site + 2.
//! - interconnect routers: 198.19.128.0/17, one address per (interconnect,
//!   network) in file order from 198.19.128.1, at the interconnect's site.

use std::net::{IpAddr, Ipv4Addr};

use crate::Topology;

const ENDPOINT_BASE: u32 = 0xC612_0000; // 198.18.0.0
const LINK_ROUTER_BASE: u32 = 0xC613_0000; // 198.19.0.0
const PORT_BASE: u32 = 0xC613_8000; // 198.19.128.0
const PORT_END: u32 = 0xC613_FFFF; // 198.19.255.255

/// Address of endpoint (site, network): 198.18.S.(N+1), N = 0 without networks.
pub fn endpoint_address(site: usize, network: Option<usize>) -> Ipv4Addr {
    let n = network.map_or(1, |n| n as u32 + 1);
    Ipv4Addr::from(ENDPOINT_BASE + ((site as u32) << 8) + n)
}

/// The routers of link `link` (file order): at its first site, at its second.
pub fn link_router_addresses(link: usize) -> (Ipv4Addr, Ipv4Addr) {
    let base = LINK_ROUTER_BASE + 4 * link as u32;
    (Ipv4Addr::from(base + 1), Ipv4Addr::from(base + 2))
}

/// The `port`-th interconnect router (counting every (interconnect,
/// network) pair in file order from 0).
pub fn port_address(port: usize) -> Ipv4Addr {
    Ipv4Addr::from(PORT_BASE + 1 + port as u32)
}

/// The site a lab address belongs to: an endpoint's site, the site at the
/// end of a link where that link's router sits, or an interconnect's site.
/// None for addresses outside the plan or of things the topology lacks.
pub fn lab_site_of(topo: &Topology, ip: IpAddr) -> Option<&str> {
    let IpAddr::V4(v4) = ip.to_canonical() else {
        return None;
    };
    let a = u32::from(v4);
    let site = if (ENDPOINT_BASE..LINK_ROUTER_BASE).contains(&a) {
        let [_, _, s, n] = v4.octets();
        let site = topo.sites.get(usize::from(s))?;
        let known = if topo.networks.is_empty() {
            n == 1
        } else {
            n >= 1 && site.networks.contains(&usize::from(n - 1))
        };
        known.then_some(usize::from(s))?
    } else if (LINK_ROUTER_BASE..PORT_BASE).contains(&a) {
        let offset = (a - LINK_ROUTER_BASE) as usize;
        let link = topo.links.get(offset / 4)?;
        match offset % 4 {
            1 => link.a,
            2 => link.b,
            _ => return None,
        }
    } else if (PORT_BASE + 1..=PORT_END).contains(&a) {
        let port = (a - PORT_BASE - 1) as usize;
        let mut seen = 0usize;
        let ix = topo.interconnects.iter().find(|ix| {
            seen += ix.networks.len();
            port < seen
        })?;
        ix.site
    } else {
        return None;
    };
    topo.sites.get(site).map(|s| s.id.as_str())
}

/// The site an address names: one of a site's own `addresses` first, then
/// the lab plan.
pub fn site_of(topo: &Topology, ip: IpAddr) -> Option<&str> {
    let ip = ip.to_canonical();
    topo.sites
        .iter()
        .find(|s| s.addresses.iter().any(|a| a.to_canonical() == ip))
        .map(|s| s.id.as_str())
        .or_else(|| lab_site_of(topo, ip))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const CARRIERS: &str = "version: 1
sites:
  - {id: x, kind: city, location: [25, 102.7], addresses: [192.0.2.7]}
  - {id: y, kind: city, location: [25.1, 102.8], networks: [u]}
  - {id: z, kind: city, location: [30.6, 104.1]}
networks:
  - {id: t}
  - {id: u}
links:
  - {between: [x, z], network: t, delay_ms: 8}
  - {between: [x, z], network: u, delay_ms: 9}
  - {between: [x, y], network: u, delay_ms: 0.5}
interconnects:
  - {site: z, kind: internet-exchange, networks: [t, u], delay_ms: 0.3}
";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn names_endpoints_routers_and_ports() {
        let t = crate::load::from_str(CARRIERS, "t.yaml").unwrap();
        let site = |s: &str| lab_site_of(&t, ip(s));
        assert_eq!(site("198.18.0.1"), Some("x"));
        assert_eq!(site("198.18.1.2"), Some("y"));
        assert_eq!(site("198.18.1.1"), None, "y is not on network t");
        assert_eq!(site("198.18.3.1"), None, "no fourth site");
        assert_eq!(site("198.19.0.1"), Some("x"), "link 0 at its first site");
        assert_eq!(site("198.19.0.2"), Some("z"), "link 0 at its second site");
        assert_eq!(site("198.19.0.10"), Some("y"), "link 2 at y");
        assert_eq!(site("198.19.0.3"), None);
        assert_eq!(site("198.19.0.13"), None, "no link 3");
        assert_eq!(site("198.19.128.1"), Some("z"));
        assert_eq!(site("198.19.128.2"), Some("z"));
        assert_eq!(site("198.19.128.3"), None);
        assert_eq!(site("198.19.128.0"), None);
        assert_eq!(site("203.0.113.1"), None, "outside the lab plan");
        assert_eq!(site("::ffff:198.18.0.1"), Some("x"));
        assert_eq!(site("2001:db8::1"), None);
        assert_eq!(site_of(&t, ip("192.0.2.7")), Some("x"));
        assert_eq!(site_of(&t, ip("198.19.0.2")), Some("z"));
        // The forward functions give what the reverse one reads.
        assert_eq!(
            link_router_addresses(2),
            (Ipv4Addr::new(198, 19, 0, 9), Ipv4Addr::new(198, 19, 0, 10))
        );
        assert_eq!(port_address(1), Ipv4Addr::new(198, 19, 128, 2));
        assert_eq!(endpoint_address(2, Some(1)), Ipv4Addr::new(198, 18, 2, 2));
        assert_eq!(endpoint_address(0, None), Ipv4Addr::new(198, 18, 0, 1));
    }
}
