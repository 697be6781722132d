//! Which address family each (sender, target) session measures. A probe has
//! one reflector address (`stamp:`, IPv4 or IPv6) and, when dual stack, an
//! IPv6 one beside it (`stamp6:`, with an IPv4 `stamp:`). A pair is measured
//! over IPv6 when both ends have an IPv6 address, over IPv4 otherwise (the
//! preference of RFC 6724 for native IPv6); a probe with one address is always
//! reached at it. The report says per route which families its figures come
//! from.

use crate::server::config::{Config, ProbeSpec};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

/// The IPv6 reflector address of a probe, if it has one.
pub fn v6_address(p: &ProbeSpec) -> Option<SocketAddr> {
    p.stamp6.or(Some(p.stamp).filter(SocketAddr::is_ipv6))
}

/// Where `sender` reaches `target`'s reflector.
pub fn stamp_for(sender: &ProbeSpec, target: &ProbeSpec) -> SocketAddr {
    match (v6_address(sender), v6_address(target)) {
        (Some(_), Some(t)) => t,
        _ => target.stamp,
    }
}

/// `ipv4` or `ipv6`, as reports write a family.
pub fn name(addr: &SocketAddr) -> &'static str {
    if addr.is_ipv4() {
        "ipv4"
    } else {
        "ipv6"
    }
}

/// Per ordered pair of endpoint names (`site` or `site@network`), the
/// families of the sessions planned between probes there, in either
/// direction (a session measures both).
pub fn planned(config: &Config) -> BTreeMap<(String, String), BTreeSet<&'static str>> {
    let topo = &config.topology;
    let targets = crate::server::targets::target_indices(config);
    let mut out: BTreeMap<(String, String), BTreeSet<&'static str>> = BTreeMap::new();
    for (i, list) in targets.iter().enumerate() {
        for &j in list {
            let (s, t) = (&config.probes[i], &config.probes[j]);
            let family = name(&stamp_for(s, t));
            let (a, b) = (s.endpoint.name(topo), t.endpoint.name(topo));
            out.entry((a.clone(), b.clone()))
                .or_default()
                .insert(family);
            out.entry((b, a)).or_default().insert(family);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use topology::Endpoint;

    fn spec(stamp: &str, stamp6: Option<&str>) -> ProbeSpec {
        let stamp = stamp.parse().unwrap();
        ProbeSpec {
            id: "p".into(),
            endpoint: Endpoint {
                site: 0,
                network: None,
            },
            stamp,
            stamp6: stamp6.map(|s| s.parse().unwrap()),
            bw: stamp,
        }
    }

    #[test]
    fn ipv6_when_both_ends_have_it() {
        let v4 = spec("198.18.0.1:862", None);
        let dual = spec("198.18.1.1:862", Some("[2001:2:0:1::1]:862"));
        let v6 = spec("[2001:2:0:2::1]:862", None);
        assert_eq!(stamp_for(&v4, &dual).to_string(), "198.18.1.1:862");
        assert_eq!(stamp_for(&dual, &v4).to_string(), "198.18.0.1:862");
        assert_eq!(stamp_for(&v6, &dual).to_string(), "[2001:2:0:1::1]:862");
        assert_eq!(stamp_for(&dual, &v6).to_string(), "[2001:2:0:2::1]:862");
        assert_eq!(stamp_for(&dual, &dual).to_string(), "[2001:2:0:1::1]:862");
        // One address: reached at it, whatever the sender has.
        assert_eq!(stamp_for(&v4, &v6).to_string(), "[2001:2:0:2::1]:862");
        assert_eq!(name(&stamp_for(&v4, &v4)), "ipv4");
        assert_eq!(name(&stamp_for(&v6, &dual)), "ipv6");
    }
}
