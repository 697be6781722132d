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
//!
//! Beside it, the IPv6 plan, from 2001:2::/48 (RFC 5180, benchmarking); the
//! fourth group (bits 48..64) is a /64 per thing, the last group numbers
//! within it as the IPv4 plan does:
//!
//! - endpoints: site S's /64 is `2001:2:0:S::/64` (S in hex, 0..=ff), the
//!   endpoint on network N (index in `networks:`) is `2001:2:0:S::(N+1)`
//!   (`::1` without networks): 198.18.S.(N+1) in IPv4.
//! - link routers: link L's /64 is `2001:2:0:(8000+L)::/64` (L < 8192, so
//!   8000..=9fff), its router at `between[0]` is `::1`, at `between[1]` `::2`.
//! - interconnect routers: `2001:2:0:c000::/64`, the P-th (interconnect,
//!   network) pair at `2001:2:0:c000::(P+1)`: 198.19.128.(P+1) in IPv4.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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

/// The first three groups of every IPv6 lab address: 2001:2::/48.
const V6_PREFIX: [u16; 3] = [0x2001, 0x0002, 0x0000];
/// Fourth group of the first link's /64, of the interconnect routers' /64.
const V6_LINK_SUBNET: u16 = 0x8000;
const V6_PORT_SUBNET: u16 = 0xc000;
/// Most links and ports the IPv6 plan numbers (as the IPv4 plan's ranges).
const V6_MAX_LINKS: usize = 8192;
const V6_MAX_PORTS: usize = 32766;

fn v6(subnet: u16, host: u16) -> Ipv6Addr {
    let [a, b, c] = V6_PREFIX;
    Ipv6Addr::new(a, b, c, subnet, 0, 0, 0, host)
}

/// IPv6 address of endpoint (site, network): `2001:2:0:S::(N+1)`.
pub fn endpoint_address6(site: usize, network: Option<usize>) -> Ipv6Addr {
    let n = network.map_or(1, |n| n as u16 + 1);
    v6(site as u16, n)
}

/// The IPv6 routers of link `link`: `2001:2:0:(8000+L)::1` and `::2`.
pub fn link_router_addresses6(link: usize) -> (Ipv6Addr, Ipv6Addr) {
    let subnet = V6_LINK_SUBNET + link as u16;
    (v6(subnet, 1), v6(subnet, 2))
}

/// The `port`-th interconnect router's IPv6 address: `2001:2:0:c000::(P+1)`.
pub fn port_address6(port: usize) -> Ipv6Addr {
    v6(V6_PORT_SUBNET, port as u16 + 1)
}

/// The site of an IPv6 lab address (see [`lab_site_of`]).
fn lab_site_of_v6(topo: &Topology, ip: Ipv6Addr) -> Option<usize> {
    let g = ip.segments();
    if g[..3] != V6_PREFIX || g[4..7] != [0, 0, 0] {
        return None;
    }
    let (subnet, host) = (g[3], usize::from(g[7]));
    if subnet < 0x100 {
        let site = topo.sites.get(usize::from(subnet))?;
        let known = if topo.networks.is_empty() {
            host == 1
        } else {
            host >= 1 && site.networks.contains(&(host - 1))
        };
        known.then_some(usize::from(subnet))
    } else if (V6_LINK_SUBNET..V6_LINK_SUBNET + V6_MAX_LINKS as u16).contains(&subnet) {
        let link = topo.links.get(usize::from(subnet - V6_LINK_SUBNET))?;
        match host {
            1 => Some(link.a),
            2 => Some(link.b),
            _ => None,
        }
    } else if subnet == V6_PORT_SUBNET && (1..=V6_MAX_PORTS).contains(&host) {
        let port = host - 1;
        let mut seen = 0usize;
        let ix = topo.interconnects.iter().find(|ix| {
            seen += ix.networks.len();
            port < seen
        })?;
        Some(ix.site)
    } else {
        None
    }
}

/// The site a lab address belongs to: an endpoint's site, the site at the
/// end of a link where that link's router sits, or an interconnect's site,
/// in either family's plan. None for addresses outside the plans or of
/// things the topology lacks.
pub fn lab_site_of(topo: &Topology, ip: IpAddr) -> Option<&str> {
    let v4 = match ip.to_canonical() {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => {
            let site = lab_site_of_v6(topo, v6)?;
            return topo.sites.get(site).map(|s| s.id.as_str());
        }
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

    #[test]
    fn names_ipv6_endpoints_routers_and_ports() {
        let t = crate::load::from_str(CARRIERS, "t.yaml").unwrap();
        let site = |s: &str| lab_site_of(&t, ip(s));
        assert_eq!(site("2001:2:0:0::1"), Some("x"));
        assert_eq!(site("2001:2:0:1::2"), Some("y"));
        assert_eq!(site("2001:2:0:1::1"), None, "y is not on network t");
        assert_eq!(site("2001:2:0:3::1"), None, "no fourth site");
        assert_eq!(site("2001:2:0:0:1::1"), None, "outside the host numbering");
        assert_eq!(
            site("2001:2:0:8000::1"),
            Some("x"),
            "link 0 at its first site"
        );
        assert_eq!(
            site("2001:2:0:8000::2"),
            Some("z"),
            "link 0 at its second site"
        );
        assert_eq!(site("2001:2:0:8002::2"), Some("y"), "link 2 at y");
        assert_eq!(site("2001:2:0:8000::3"), None);
        assert_eq!(site("2001:2:0:8003::1"), None, "no link 3");
        assert_eq!(site("2001:2:0:c000::1"), Some("z"));
        assert_eq!(site("2001:2:0:c000::2"), Some("z"));
        assert_eq!(site("2001:2:0:c000::3"), None);
        assert_eq!(site("2001:2:0:c000::"), None);
        assert_eq!(site("2001:2:1::1"), None, "another /48");
        assert_eq!(site("2001:db8::1"), None);
        // The forward functions give what the reverse one reads.
        assert_eq!(
            link_router_addresses6(2),
            (ip6("2001:2:0:8002::1"), ip6("2001:2:0:8002::2"))
        );
        assert_eq!(port_address6(1), ip6("2001:2:0:c000::2"));
        assert_eq!(endpoint_address6(2, Some(1)), ip6("2001:2:0:2::2"));
        assert_eq!(endpoint_address6(0, None), ip6("2001:2::1"));
        assert_eq!(endpoint_address6(255, None), ip6("2001:2:0:ff::1"));
        assert_eq!(link_router_addresses6(8191).1, ip6("2001:2:0:9fff::2"));
    }

    fn ip6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }
}
