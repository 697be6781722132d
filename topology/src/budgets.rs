//! Latency budgets: the presets of the national plans, and which rule covers an
//! ordered pair of endpoints. When several rules cover a pair, the strictest
//! (smallest one-way limit) is the one the route is held to.

use crate::model::{
    BudgetRule, Budgets, EndMatch, Endpoint, HubRole, Relation, SiteKind, Topology,
};

/// Names of the built-in presets.
pub const PRESETS: &[&str] = &["plan-2021", "plan-2023"];

/// Percentile of measured one-way delay that presets hold to the limit.
pub const PRESET_PERCENTILE: f64 = 99.0;

fn rule(name: &str, from: EndMatch, to: EndMatch, relation: Relation, ms: f64) -> BudgetRule {
    BudgetRule {
        name: name.to_string(),
        from,
        to,
        relation,
        one_way_ms: ms,
        percentile: PRESET_PERCENTILE,
        both_directions: true,
    }
}

fn kind(kind: SiteKind) -> EndMatch {
    EndMatch {
        kind: Some(kind),
        ..EndMatch::default()
    }
}

/// A built-in preset by name, or `None` when there is no such preset.
///
/// - `plan-2021` (2021 hub plan): clusters of real-time hubs to the cities of
///   their hub within 20 ms; edge data centres to the users of the city they
///   serve within 10 ms.
/// - `plan-2023` (2023 computing-network plan): within a city 1 ms (an edge data
///   centre and its city included), within a hub region 5 ms, clusters across
///   hubs 20 ms.
///
/// Every rule is one way and end to end, both directions: from an endpoint
/// (`site@carrier`) to another, over whatever carriers and crossings the route
/// takes. Nothing here asks the two ends to be on one carrier, so an edge data
/// centre on one carrier is held to the budget towards its city's users on every
/// carrier present there: a user's traffic reaches the edge wherever its own
/// carrier meets the edge's, and that crossing, in the city or provinces away,
/// is part of the route.
pub fn preset(name: &str) -> Option<Budgets> {
    let rules = match name {
        "plan-2021" => vec![
            rule(
                "realtime-cluster-to-hub-city",
                EndMatch {
                    kind: Some(SiteKind::Cluster),
                    hub: None,
                    hub_role: Some(HubRole::Realtime),
                },
                kind(SiteKind::City),
                Relation::SameHub,
                20.0,
            ),
            rule(
                "edge-to-its-city",
                kind(SiteKind::Edge),
                kind(SiteKind::City),
                Relation::Serves,
                10.0,
            ),
        ],
        "plan-2023" => vec![
            rule(
                "same-city",
                EndMatch::default(),
                EndMatch::default(),
                Relation::SameCity,
                1.0,
            ),
            rule(
                "same-hub-region",
                EndMatch::default(),
                EndMatch::default(),
                Relation::SameHub,
                5.0,
            ),
            rule(
                "clusters-across-hubs",
                kind(SiteKind::Cluster),
                kind(SiteKind::Cluster),
                Relation::DifferentHub,
                20.0,
            ),
        ],
        _ => return None,
    };
    Some(Budgets {
        preset: Some(name.to_string()),
        rules,
    })
}

fn end_matches(topo: &Topology, m: &EndMatch, site: usize) -> bool {
    let s = &topo.sites[site];
    // Routers carry traffic but are nobody's users: only a rule that names
    // routers explicitly covers them.
    match m.kind {
        Some(k) if k != s.kind => return false,
        None if s.kind == SiteKind::Router => return false,
        _ => {}
    }
    if let Some(h) = m.hub {
        if s.hub.as_deref() != Some(topo.hubs[h].id.as_str()) {
            return false;
        }
    }
    if let Some(role) = m.hub_role {
        if topo.hub_of(site).map(|h| h.role) != Some(role) {
            return false;
        }
    }
    true
}

/// The city a site belongs to for `same-city`: itself for a city, the served city
/// for an edge, none otherwise.
pub fn city_of(topo: &Topology, site: usize) -> Option<usize> {
    let s = &topo.sites[site];
    match s.kind {
        SiteKind::City => Some(site),
        SiteKind::Edge => s.serves.as_deref().and_then(|c| topo.site_index(c)),
        _ => None,
    }
}

fn relation_holds(topo: &Topology, rel: Relation, from: Endpoint, to: Endpoint) -> bool {
    let (a, b) = (&topo.sites[from.site], &topo.sites[to.site]);
    match rel {
        Relation::Any => true,
        Relation::SameHub => a.hub.is_some() && a.hub == b.hub,
        Relation::DifferentHub => a.hub.is_some() && b.hub.is_some() && a.hub != b.hub,
        Relation::SameCity => {
            from.site == to.site
                || matches!((city_of(topo, from.site), city_of(topo, to.site)), (Some(x), Some(y)) if x == y)
        }
        Relation::Serves => {
            a.serves.as_deref() == Some(b.id.as_str()) || b.serves.as_deref() == Some(a.id.as_str())
        }
    }
}

/// Whether `rule` covers the ordered pair `from -> to`.
pub fn covers(topo: &Topology, rule: &BudgetRule, from: Endpoint, to: Endpoint) -> bool {
    if from == to {
        return false;
    }
    let forward = end_matches(topo, &rule.from, from.site) && end_matches(topo, &rule.to, to.site);
    let backward = rule.both_directions
        && end_matches(topo, &rule.from, to.site)
        && end_matches(topo, &rule.to, from.site);
    (forward || backward) && relation_holds(topo, rule.relation, from, to)
}

/// The strictest rule covering `from -> to`, if any.
pub fn rule_for<'a>(
    topo: &Topology,
    budgets: &'a Budgets,
    from: Endpoint,
    to: Endpoint,
) -> Option<&'a BudgetRule> {
    budgets
        .rules
        .iter()
        .filter(|r| covers(topo, r, from, to))
        .min_by(|x, y| x.one_way_ms.total_cmp(&y.one_way_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HubRole::*;
    use crate::model::SiteKind::*;
    use crate::testkit::Kit;

    fn world(preset_name: &str) -> Kit {
        Kit::new(&["t", "u"])
            .hub("rt", Realtime)
            .hub("nrt", NonRealtime)
            .site("rt-cluster", Cluster, Some("rt"), 40.0, 115.0)
            .site("rt-city", City, Some("rt"), 39.9, 116.4)
            .site("rt-city-2", City, Some("rt"), 39.1, 117.2)
            .site("nrt-cluster", Cluster, Some("nrt"), 37.5, 105.2)
            .site("nrt-city", City, Some("nrt"), 38.5, 106.2)
            .site("free-city", City, None, 34.3, 108.9)
            .site("edge", Edge, Some("rt"), 39.95, 116.3)
            .serves("edge", "rt-city")
            .site("core", Router, Some("rt"), 39.9, 116.5)
            .preset(preset_name)
    }

    fn rule_name(k: &Kit, a: &str, b: &str, net: (usize, usize)) -> Option<String> {
        rule_for(
            &k.topo,
            &k.topo.budgets,
            k.ep(a, Some(net.0)),
            k.ep(b, Some(net.1)),
        )
        .map(|r| format!("{}:{}", r.name, r.one_way_ms))
    }

    #[test]
    fn plan_2021() {
        let k = world("plan-2021");
        let r = |a, b| rule_name(&k, a, b, (0, 1));
        assert_eq!(
            r("rt-cluster", "rt-city").as_deref(),
            Some("realtime-cluster-to-hub-city:20")
        );
        // Both directions of a pair are covered.
        assert_eq!(
            r("rt-city", "rt-cluster").as_deref(),
            Some("realtime-cluster-to-hub-city:20")
        );
        assert_eq!(r("edge", "rt-city").as_deref(), Some("edge-to-its-city:10"));
        assert_eq!(r("rt-city", "edge").as_deref(), Some("edge-to-its-city:10"));
        // An edge and its city's users on any carrier, the edge's own included.
        for (a, b) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            for (from, to) in [("edge", "rt-city"), ("rt-city", "edge")] {
                assert_eq!(
                    rule_name(&k, from, to, (a, b)).as_deref(),
                    Some("edge-to-its-city:10"),
                    "{from} -> {to} on {a} -> {b}"
                );
            }
        }
        // Non-real-time hubs, cities of other hubs, unrelated edges, routers: uncovered.
        assert_eq!(r("nrt-cluster", "nrt-city"), None);
        assert_eq!(r("rt-cluster", "nrt-city"), None);
        assert_eq!(r("rt-cluster", "free-city"), None);
        assert_eq!(r("edge", "rt-city-2"), None);
        assert_eq!(r("rt-cluster", "core"), None);
        assert_eq!(
            r("rt-cluster", "rt-cluster"),
            None,
            "same site on other network is not a 2021 route"
        );
    }

    #[test]
    fn plan_2023() {
        let k = world("plan-2023");
        let r = |a, b, n| rule_name(&k, a, b, n);
        // Same city: the same site across carriers, and an edge with its city.
        assert_eq!(
            r("rt-city", "rt-city", (0, 1)).as_deref(),
            Some("same-city:1")
        );
        assert_eq!(r("edge", "rt-city", (0, 0)).as_deref(), Some("same-city:1"));
        // Same endpoint is never a route.
        assert_eq!(r("rt-city", "rt-city", (0, 0)), None);
        // Same hub region.
        assert_eq!(
            r("rt-cluster", "rt-city-2", (0, 0)).as_deref(),
            Some("same-hub-region:5")
        );
        assert_eq!(
            r("nrt-cluster", "nrt-city", (1, 0)).as_deref(),
            Some("same-hub-region:5")
        );
        // Clusters across hubs.
        assert_eq!(
            r("rt-cluster", "nrt-cluster", (0, 1)).as_deref(),
            Some("clusters-across-hubs:20")
        );
        // A city outside any hub, and a city of another hub: uncovered.
        assert_eq!(r("free-city", "rt-city", (0, 0)), None);
        assert_eq!(r("rt-city", "nrt-city", (0, 0)), None);
        // Routers only when a rule names them.
        assert_eq!(r("core", "rt-city", (0, 0)), None);
    }

    #[test]
    fn one_direction_rules_and_hub_match() {
        let mut k = world("plan-2021");
        k.topo.budgets.rules = vec![BudgetRule {
            name: "rt-only-out".into(),
            from: EndMatch {
                kind: Some(Cluster),
                hub: Some(0),
                hub_role: None,
            },
            to: EndMatch::default(),
            relation: Relation::Any,
            one_way_ms: 7.0,
            percentile: 50.0,
            both_directions: false,
        }];
        assert!(rule_name(&k, "rt-cluster", "free-city", (0, 0)).is_some());
        assert!(rule_name(&k, "free-city", "rt-cluster", (0, 0)).is_none());
        assert!(rule_name(&k, "nrt-cluster", "free-city", (0, 0)).is_none());
    }

    #[test]
    fn strictest_rule_wins() {
        let k = world("plan-2023");
        // rt-city@t -> rt-city@u is both same-city (1) and same-hub (5).
        assert_eq!(
            rule_name(&k, "rt-city", "rt-city", (0, 1)).as_deref(),
            Some("same-city:1")
        );
    }

    #[test]
    fn unknown_preset() {
        assert!(preset("plan-2030").is_none());
        for p in PRESETS {
            assert!(preset(p).is_some());
        }
    }
}
