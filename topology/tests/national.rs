//! The embedded national topology: loads, has the sites, carriers and
//! interconnects of the reference data (and an edge data centre per city), each
//! carrier's backbone is connected on its own, and its delays agree with the
//! published figures. The edge budget on it: `edge_budget.rs`.

use std::collections::{BTreeSet, BinaryHeap, HashSet, VecDeque};

use topology::national::{national, resolve, NATIONAL_YAML};
use topology::{DelaySource, HubRole, InterconnectKind, SiteKind, Topology};

const INTERCONNECTS_CSV: &str = include_str!("../data/interconnects.csv");

/// (site, kind) rows of the interconnect reference data the file is built from.
fn reference_interconnects() -> Vec<(String, String)> {
    INTERCONNECTS_CSV
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut f = l.split(',');
            let site = f.next().unwrap_or_default().to_string();
            let kind = f.next().unwrap_or_default().to_string();
            (site, kind)
        })
        .collect()
}

fn site(topo: &Topology, id: &str) -> usize {
    topo.site_index(id)
        .unwrap_or_else(|| panic!("no site {id}"))
}

#[test]
fn loads_with_the_plan_sites_and_three_carriers() {
    let topo = national();
    assert_eq!(topo.hubs.len(), 8);
    let count = |k: SiteKind| topo.sites.iter().filter(|s| s.kind == k).count();
    assert_eq!(count(SiteKind::Cluster), 10);
    assert_eq!(count(SiteKind::City), 31);
    // One edge data centre per city (topology/data/edges.csv), and no routers.
    assert_eq!(count(SiteKind::Edge), 31);
    assert_eq!(topo.sites.len(), 72);

    let realtime: BTreeSet<&str> = topo
        .hubs
        .iter()
        .filter(|h| h.role == HubRole::Realtime)
        .map(|h| h.id.as_str())
        .collect();
    assert_eq!(
        realtime,
        BTreeSet::from(["chengyu", "greater-bay", "jingjinji", "yangtze-delta"])
    );
    assert!(topo.hubs.iter().all(|h| h.name.is_some()));
    assert!(topo.sites.iter().all(|s| s.name.is_some()));
    // Every cluster belongs to a hub; Xi'an, for one, is outside the hub regions.
    assert!(topo
        .sites
        .iter()
        .filter(|s| s.kind == SiteKind::Cluster)
        .all(|s| s.hub.is_some()));
    assert_eq!(topo.sites[site(&topo, "xian")].hub, None);
    assert_eq!(
        topo.sites[site(&topo, "zhongwei")].hub.as_deref(),
        Some("ningxia")
    );

    let nets: Vec<&str> = topo.networks.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(nets, ["telecom", "unicom", "mobile"]);
    let all: Vec<usize> = (0..topo.networks.len()).collect();
    for s in &topo.sites {
        if s.kind == SiteKind::Edge {
            // An edge data centre is hosted by one carrier (edges.csv says which).
            assert_eq!(s.networks.len(), 1, "edge {}", s.id);
        } else {
            assert_eq!(s.networks, all, "site {} lacks a carrier", s.id);
        }
    }
    // Every link belongs to a carrier, with its delay written out.
    for l in &topo.links {
        assert!(l.network.is_some());
        assert_eq!(l.delay_source, DelaySource::Configured);
        assert!(l.forward_ms > 0.0 && l.forward_ms == l.reverse_ms);
    }
    assert_eq!(topo.budgets.preset.as_deref(), Some("plan-2021"));
}

#[test]
fn interconnects_exactly_at_direct_connect_cities_and_exchange_centres() {
    let topo = national();
    let reference = reference_interconnects();
    let direct: BTreeSet<&str> = reference
        .iter()
        .filter(|(_, k)| k == "backbone-direct-connect")
        .map(|(s, _)| s.as_str())
        .collect();
    let exchange: BTreeSet<&str> = reference
        .iter()
        .filter(|(_, k)| k == "internet-exchange")
        .map(|(s, _)| s.as_str())
        .collect();
    assert_eq!(direct.len(), 20);
    assert_eq!(
        exchange,
        BTreeSet::from(["hangzhou", "shanghai", "shenzhen", "zhongwei"])
    );

    let all: Vec<usize> = (0..topo.networks.len()).collect();
    let mut got_direct = BTreeSet::new();
    let mut got_exchange = BTreeSet::new();
    for ic in &topo.interconnects {
        let id = topo.sites[ic.site].id.as_str();
        let mut nets = ic.networks.clone();
        nets.sort_unstable();
        assert_eq!(nets, all, "interconnect at {id} must join all carriers");
        assert!(
            ic.delay_ms > 0.0 && ic.delay_ms < 1.0,
            "{id}: {}",
            ic.delay_ms
        );
        let fresh = match ic.kind {
            InterconnectKind::BackboneDirectConnect => got_direct.insert(id),
            InterconnectKind::InternetExchange => got_exchange.insert(id),
            InterconnectKind::Private => panic!("unexpected private interconnect at {id}"),
        };
        assert!(fresh, "two interconnects of one kind at {id}");
    }
    assert_eq!(got_direct, direct);
    assert_eq!(got_exchange, exchange);
}

#[test]
fn each_carrier_backbone_alone_reaches_every_site_on_it() {
    let topo = national();
    for (n, net) in topo.networks.iter().enumerate() {
        let mut adj = vec![Vec::new(); topo.sites.len()];
        for l in topo.links.iter().filter(|l| l.network == Some(n)) {
            adj[l.a].push(l.b);
            adj[l.b].push(l.a);
        }
        let mut seen = vec![false; topo.sites.len()];
        let mut queue = VecDeque::from([0]);
        seen[0] = true;
        while let Some(u) = queue.pop_front() {
            for &v in &adj[u] {
                if !seen[v] {
                    seen[v] = true;
                    queue.push_back(v);
                }
            }
        }
        // Edge data centres are on their own carriers only.
        let missing: Vec<&str> = topo
            .sites
            .iter()
            .zip(&seen)
            .filter(|(s, &seen)| !seen && s.networks.contains(&n))
            .map(|(s, _)| s.id.as_str())
            .collect();
        assert!(
            missing.is_empty(),
            "{}: unreachable on its own backbone: {missing:?}",
            net.id
        );
    }
}

#[test]
fn carriers_have_distinct_backbones() {
    let topo = national();
    let pairs = |n: usize| -> HashSet<(usize, usize)> {
        topo.links
            .iter()
            .filter(|l| l.network == Some(n))
            .map(|l| (l.a.min(l.b), l.a.max(l.b)))
            .collect()
    };
    let (t, u, m) = (pairs(0), pairs(1), pairs(2));
    assert_ne!(t, u);
    assert_ne!(u, m);
    assert_ne!(t, m);
}

/// Shortest one-way delay from `from` to `to`, both on carrier `net`, over that
/// carrier's links and (changing carrier) the interconnects.
fn shortest_ms(topo: &Topology, from: usize, to: usize, net: usize) -> f64 {
    let nets = topo.networks.len();
    let node = |s: usize, n: usize| s * nets + n;
    let mut adj: Vec<Vec<(usize, f64)>> = vec![Vec::new(); topo.sites.len() * nets];
    for l in &topo.links {
        let n = l.network.expect("every link has a carrier");
        adj[node(l.a, n)].push((node(l.b, n), l.forward_ms));
        adj[node(l.b, n)].push((node(l.a, n), l.reverse_ms));
    }
    for ic in &topo.interconnects {
        for &x in &ic.networks {
            for &y in &ic.networks {
                if x != y {
                    adj[node(ic.site, x)].push((node(ic.site, y), ic.delay_ms));
                }
            }
        }
    }
    // Dijkstra on integer microseconds (delays have 0.01 ms resolution).
    let us = |ms: f64| (ms * 1000.0).round() as u64;
    let mut dist = vec![u64::MAX; adj.len()];
    let mut heap = BinaryHeap::new();
    dist[node(from, net)] = 0;
    heap.push(std::cmp::Reverse((0u64, node(from, net))));
    while let Some(std::cmp::Reverse((d, u))) = heap.pop() {
        if d > dist[u] {
            continue;
        }
        for &(v, w) in &adj[u] {
            let nd = d + us(w);
            if nd < dist[v] {
                dist[v] = nd;
                heap.push(std::cmp::Reverse((nd, v)));
            }
        }
    }
    dist[node(to, net)] as f64 / 1000.0
}

#[test]
fn agrees_with_published_zhongwei_figures() {
    // latency-facts.md: Zhongwei to Beijing 8-10 ms, to Shanghai within 15 ms.
    let topo = national();
    let (zw, bj, sh) = (
        site(&topo, "zhongwei"),
        site(&topo, "beijing"),
        site(&topo, "shanghai"),
    );
    for (n, net) in topo.networks.iter().enumerate() {
        let to_bj = shortest_ms(&topo, zw, bj, n);
        let to_sh = shortest_ms(&topo, zw, sh, n);
        assert!(
            (8.0..=10.0).contains(&to_bj),
            "{}: zhongwei -> beijing {to_bj} ms",
            net.id
        );
        assert!(to_sh <= 15.0, "{}: zhongwei -> shanghai {to_sh} ms", net.id);
        // Both directions agree (symmetric delays).
        assert_eq!(to_bj, shortest_ms(&topo, bj, zw, n));
    }
}

#[test]
fn far_cities_are_homed_on_every_carrier() {
    let topo = national();
    for id in ["urumqi", "harbin"] {
        let s = site(&topo, id);
        for n in 0..topo.networks.len() {
            // Links into the carrier's backbone; the city's own edge data
            // centre hangs off it and is not part of the homing.
            let degree = topo
                .links
                .iter()
                .filter(|l| l.network == Some(n) && (l.a == s || l.b == s))
                .filter(|l| topo.sites[l.a + l.b - s].kind != SiteKind::Edge)
                .count();
            assert_eq!(degree, 2, "{id} on {}", topo.networks[n].id);
        }
    }
}

#[test]
fn does_not_depend_on_the_shared_checkout() {
    assert!(!NATIONAL_YAML.contains("../shared"));
    assert!(NATIONAL_YAML.contains("do not edit by hand"));
}

#[test]
fn resolve_national_and_paths() {
    assert_eq!(resolve("national").expect("embedded"), national());

    let path =
        std::env::temp_dir().join(format!("hubmesh-national-test-{}.yaml", std::process::id()));
    std::fs::write(&path, NATIONAL_YAML).expect("write temporary topology file");
    let from_file = resolve(path.to_str().expect("utf-8 temp path"));
    let _ = std::fs::remove_file(&path);
    assert_eq!(from_file.expect("loads from a file"), national());

    assert!(resolve("/nonexistent/hubmesh/national.yaml").is_err());
}
