//! The topology as the console reads it (`GET /v1/topology`, and the
//! snapshot of a report.html): sites with their coordinates, kind, hub and
//! carriers; links and interconnects by site id. Indices of the model are
//! resolved to ids so the wire type stands on its own.

use serde::{Deserialize, Serialize};
use topology::Topology;

/// The answer of `GET /v1/topology`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopologyView {
    pub hubs: Vec<HubView>,
    pub networks: Vec<NetworkView>,
    pub sites: Vec<SiteView>,
    pub links: Vec<LinkView>,
    pub interconnects: Vec<InterconnectView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HubView {
    pub id: String,
    pub name: Option<String>,
    /// `realtime` or `non-realtime`.
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkView {
    pub id: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteView {
    pub id: String,
    pub name: Option<String>,
    /// `cluster`, `city`, `edge` or `router`.
    pub kind: String,
    pub hub: Option<String>,
    /// The city an edge site serves.
    pub serves: Option<String>,
    pub lat: f64,
    pub lon: f64,
    /// Carrier ids present at the site (empty without carriers).
    pub networks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkView {
    /// Site ids.
    pub a: String,
    pub b: String,
    pub network: Option<String>,
    /// Modelled one-way delay a -> b and b -> a (ms).
    pub forward_ms: f64,
    pub reverse_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterconnectView {
    pub site: String,
    /// `backbone-direct-connect`, `internet-exchange` or `private`.
    pub kind: String,
    pub networks: Vec<String>,
    pub delay_ms: f64,
}

impl TopologyView {
    pub fn of(t: &Topology) -> TopologyView {
        let net = |i: usize| t.networks.get(i).map(|n| n.id.clone());
        let nets = |v: &[usize]| v.iter().filter_map(|&i| net(i)).collect::<Vec<_>>();
        let site = |i: usize| t.sites.get(i).map_or_else(String::new, |s| s.id.clone());
        TopologyView {
            hubs: t
                .hubs
                .iter()
                .map(|h| HubView {
                    id: h.id.clone(),
                    name: h.name.clone(),
                    role: h.role.as_str().to_string(),
                })
                .collect(),
            networks: t
                .networks
                .iter()
                .map(|n| NetworkView {
                    id: n.id.clone(),
                    name: n.name.clone(),
                })
                .collect(),
            sites: t
                .sites
                .iter()
                .map(|s| SiteView {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    kind: s.kind.as_str().to_string(),
                    hub: s.hub.clone(),
                    serves: s.serves.clone(),
                    lat: s.location.lat,
                    lon: s.location.lon,
                    networks: nets(&s.networks),
                })
                .collect(),
            links: t
                .links
                .iter()
                .map(|l| LinkView {
                    a: site(l.a),
                    b: site(l.b),
                    network: l.network.and_then(net),
                    forward_ms: l.forward_ms,
                    reverse_ms: l.reverse_ms,
                })
                .collect(),
            interconnects: t
                .interconnects
                .iter()
                .map(|x| InterconnectView {
                    site: site(x.site),
                    kind: x.kind.as_str().to_string(),
                    networks: nets(&x.networks),
                    delay_ms: x.delay_ms,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_topology_resolves_every_index() {
        let t = topology::national::national();
        let v = TopologyView::of(&t);
        assert_eq!(v.sites.len(), t.sites.len());
        let ids: std::collections::HashSet<&str> = v.sites.iter().map(|s| s.id.as_str()).collect();
        assert!(v
            .links
            .iter()
            .all(|l| ids.contains(l.a.as_str()) && ids.contains(l.b.as_str())));
        assert!(v
            .interconnects
            .iter()
            .all(|x| ids.contains(x.site.as_str())));
        let beijing = v.sites.iter().find(|s| s.id == "beijing").unwrap();
        assert!((39.0..41.0).contains(&beijing.lat) && (115.0..118.0).contains(&beijing.lon));
        assert!(!beijing.networks.is_empty());
    }
}
