//! Inter-carrier latency inside a city: the ordered pairs of endpoints on
//! different carriers in one city (the same site on two networks, an edge and
//! the city it serves, two edges of one city), whether the city has an
//! exchange joining the two carriers, and where a path actually crosses.
//!
//! These pairs are reported on their own: a slow one is not a long-distance
//! problem but a missing (or unused) local interconnect, and the fix is an
//! exchange point, not fibre.

use crate::budgets::city_of;
use crate::model::{Endpoint, Topology};

/// An ordered pair of endpoints on two carriers in one city.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CityPair {
    /// Index of the city's site.
    pub city: usize,
    pub from: Endpoint,
    pub to: Endpoint,
}

/// The ordered pairs of `endpoints` that lie in one city on different
/// carriers, in the order of `endpoints`.
pub fn city_pairs(topo: &Topology, endpoints: &[Endpoint]) -> Vec<CityPair> {
    let mut out = Vec::new();
    for &from in endpoints {
        let (Some(nf), Some(cf)) = (from.network, city_of(topo, from.site)) else {
            continue;
        };
        for &to in endpoints {
            match (to.network, city_of(topo, to.site)) {
                (Some(nt), Some(ct)) if nt != nf && ct == cf => {
                    out.push(CityPair { city: cf, from, to })
                }
                _ => {}
            }
        }
    }
    out
}

/// A site in `city` (the city itself, or an edge serving it) with an
/// interconnect joining networks `a` and `b`.
pub fn local_exchange(topo: &Topology, city: usize, a: usize, b: usize) -> Option<usize> {
    topo.interconnects
        .iter()
        .find(|ic| {
            city_of(topo, ic.site) == Some(city)
                && ic.networks.contains(&a)
                && ic.networks.contains(&b)
        })
        .map(|ic| ic.site)
}

/// The sites where `path` changes network, in path order.
pub fn crossings(path: &[Endpoint]) -> Vec<usize> {
    path.windows(2)
        .filter(|w| w[0].site == w[1].site && w[0].network != w[1].network)
        .map(|w| w[0].site)
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::analysis::endpoints;
    use crate::model::SiteKind;
    use crate::routing::Routes;
    use crate::testkit::Kit;

    /// City x (and its edge e) on carriers t and u, which meet only at y.
    fn far_crossing() -> Kit {
        Kit::new(&["t", "u"])
            .site("x", SiteKind::City, None, 25.0, 102.7)
            .site("e", SiteKind::Edge, None, 25.1, 102.8)
            .serves("e", "x")
            .site("y", SiteKind::City, None, 30.6, 104.1)
            .link_on("x", "y", Some(0), 8.0, 8.0)
            .link_on("x", "y", Some(1), 9.0, 9.0)
            .link_on("e", "x", Some(0), 0.2, 0.2)
            .link_on("e", "x", Some(1), 0.2, 0.2)
            .interconnect("y", 0.3)
    }

    #[test]
    fn pairs_are_in_one_city_across_carriers() {
        let k = far_crossing();
        let topo = &k.topo;
        let eps = endpoints(topo);
        let pairs = city_pairs(topo, &eps);
        let names: Vec<(String, String)> = pairs
            .iter()
            .map(|p| (p.from.name(topo), p.to.name(topo)))
            .collect();
        // x and e on t and u: 2 x 2 endpoints, each paired with the two on
        // the other carrier; y pairs only with itself.
        assert_eq!(pairs.len(), 10, "{names:?}");
        assert!(names.contains(&("x@t".into(), "x@u".into())));
        assert!(names.contains(&("e@u".into(), "x@t".into())));
        assert!(names.contains(&("y@t".into(), "y@u".into())));
        assert!(!names.iter().any(|(a, b)| a == "x@t" && b == "e@t"));
        assert!(!names
            .iter()
            .any(|(a, b)| a.starts_with('x') && b.starts_with('y')));
        let x = topo.site_index("x").unwrap();
        assert!(pairs
            .iter()
            .filter(|p| p.from.site == x)
            .all(|p| p.city == x));
    }

    #[test]
    fn a_far_crossing_shows_where_the_path_changes_carrier() {
        let k = far_crossing();
        let topo = &k.topo;
        let (x, y) = (topo.site_index("x").unwrap(), topo.site_index("y").unwrap());
        assert_eq!(local_exchange(topo, x, 0, 1), None);
        assert_eq!(local_exchange(topo, y, 0, 1), Some(y));
        let routes = Routes::compute(topo);
        let path = routes.path(k.ep("x", Some(0)), k.ep("x", Some(1)));
        assert_eq!(crossings(&path), vec![y]);
        // With an exchange at the edge, the city has one and the path uses it.
        let k = far_crossing().interconnect("e", 0.3);
        let topo = &k.topo;
        let e = topo.site_index("e").unwrap();
        assert_eq!(local_exchange(topo, x, 0, 1), Some(e));
        let routes = Routes::compute(topo);
        let path = routes.path(k.ep("x", Some(0)), k.ep("x", Some(1)));
        assert_eq!(crossings(&path), vec![e]);
    }
}
