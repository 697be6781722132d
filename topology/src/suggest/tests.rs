//! Suggestions on small topologies whose right answer is known, and the table
//! update checked against routing the changed topology from scratch.

use super::candidate::Candidate;
use super::metric::Metric;
use super::*;
use crate::model::HubRole::*;
use crate::model::SiteKind::*;
use crate::routing::Routes;
use crate::testkit::Kit;
use proptest::prelude::*;

fn run(k: &Kit, opts: &SuggestOptions) -> Suggestions {
    let routes = Routes::compute(&k.topo);
    suggest(&k.topo, &k.topo.budgets, &routes, opts)
}

fn fix<'a>(s: &'a Suggestion, from: &str, to: &str) -> &'a Fix {
    s.fixes
        .iter()
        .find(|f| f.from == from && f.to == to)
        .unwrap_or_else(|| panic!("no fix {from} -> {to} in {s:?}"))
}

/// Two carriers in city x that meet only at far-away y.
fn far_crossing() -> Kit {
    Kit::new(&["t", "u"])
        .site("x", City, None, 25.0, 102.7)
        .site("y", City, None, 30.6, 104.1)
        .link_on("x", "y", Some(0), 8.0, 8.0)
        .link_on("x", "y", Some(1), 9.0, 9.0)
        .interconnect("y", 0.3)
        .preset("plan-2023")
}

#[test]
fn exchange_point_where_carriers_meet_far_away() {
    let s = run(&far_crossing(), &SuggestOptions::default());
    let first = &s.suggestions[0];
    assert_eq!(first.kind, SuggestionKind::ExchangePoint);
    assert_eq!(first.sites, vec!["x"]);
    assert_eq!(first.networks, vec!["t", "u"]);
    assert_eq!(first.distance_km, 0.0);
    assert_eq!(first.fixes.len(), 2);
    let f = fix(first, "x@t", "x@u");
    assert_eq!(f.before_ms, Some(17.3));
    assert_eq!(f.after_ms, 0.3);
    assert_eq!(f.budget_ms, 1.0);
    assert_eq!(f.rule, "same-city");
    assert_eq!(fix(first, "x@u", "x@t").after_ms, 0.3);
    assert!((first.saved_ms_total - 2.0 * 17.0).abs() < 1e-9);
    assert!(
        first.why.contains("crosses over at y"),
        "why names where traffic crosses today: {}",
        first.why
    );
    assert_eq!(s.summary.violations_before, 2);
    assert_eq!(s.summary.violations_after, 0);
}

/// A real-time cluster whose hub city is reached only via a long detour.
fn detour() -> Kit {
    Kit::new(&[])
        .hub("rt", Realtime)
        .site("cl", Cluster, Some("rt"), 30.0, 104.0)
        .site("city", City, Some("rt"), 30.5, 104.5)
        .site("far", Router, None, 34.3, 108.9)
        .link("cl", "far", 12.0, 12.0)
        .link("far", "city", 12.0, 12.0)
        .preset("plan-2021")
}

#[test]
fn direct_link_fixes_a_detour() {
    let k = detour();
    let s = run(&k, &SuggestOptions::default());
    let first = &s.suggestions[0];
    assert_eq!(first.kind, SuggestionKind::DirectLink);
    assert_eq!(first.sites, vec!["cl", "city"]);
    let km = geo::great_circle_km(k.topo.sites[0].location, k.topo.sites[1].location);
    assert!((first.distance_km - km).abs() < 0.06);
    let est = geo::fibre_delay_ms(km, DEFAULT_ROUTE_FACTOR);
    assert!((first.one_way_ms - est).abs() < 1e-3);
    assert_eq!(first.fixes.len(), 2);
    let f = fix(first, "cl", "city");
    assert_eq!(f.before_ms, Some(24.0));
    assert!((f.after_ms - est).abs() < 1e-3);
    assert!(first.why.contains("route factor 1.5"), "{}", first.why);
    // The route factor is an option.
    let s2 = run(
        &k,
        &SuggestOptions {
            route_factor: 2.0,
            ..SuggestOptions::default()
        },
    );
    let f2 = fix(&s2.suggestions[0], "city", "cl");
    assert!((f2.after_ms - geo::fibre_delay_ms(km, 2.0)).abs() < 1e-3);
}

#[test]
fn k_limits_and_later_picks_see_earlier_ones() {
    // Three cities, each with its carriers meeting only at hub z.
    let mut k = Kit::new(&["t", "u"]).site("z", City, None, 30.0, 104.0);
    for (i, id) in ["a", "b", "c"].iter().enumerate() {
        k = k
            .site(id, City, None, 25.0 + i as f64, 100.0)
            .link_on(id, "z", Some(0), 5.0 + i as f64, 5.0 + i as f64)
            .link_on(id, "z", Some(1), 5.0 + i as f64, 5.0 + i as f64);
    }
    let k = k.interconnect("z", 0.3).preset("plan-2023");
    for n in [0, 1, 2] {
        let s = run(
            &k,
            &SuggestOptions {
                k: n,
                ..SuggestOptions::default()
            },
        );
        assert_eq!(s.suggestions.len(), n);
        assert_eq!(s.summary.violations_after, 6 - 2 * n);
    }
    let s = run(&k, &SuggestOptions::default());
    let sites: Vec<&str> = s
        .suggestions
        .iter()
        .take(3)
        .map(|x| x.sites[0].as_str())
        .collect();
    // Equal fixes: the one saving most (the farthest detour) first.
    assert_eq!(sites, vec!["c", "b", "a"]);
    assert!(s.suggestions.iter().take(3).all(|x| x.fixes.len() == 2));
    // Nothing is fixed twice.
    assert_eq!(s.summary.violations_after, 0);
}

#[test]
fn most_fixes_beat_most_saving() {
    // An exchange point at city p fixes two short detours; one at cluster q
    // saves far more but fixes nothing: q is held to 0.1 ms, below what an
    // exchange point adds.
    let mut k = Kit::new(&["t", "u"])
        .site("z", City, None, 30.0, 104.0)
        .site("p", City, None, 29.9, 104.0)
        .site("q", Cluster, None, 20.0, 104.0)
        .link_on("p", "z", Some(0), 1.0, 1.0)
        .link_on("p", "z", Some(1), 1.0, 1.0)
        .link_on("q", "z", Some(0), 40.0, 40.0)
        .link_on("q", "z", Some(1), 40.0, 40.0)
        .interconnect("z", 0.3)
        .preset("plan-2023");
    let mut strict = k.topo.budgets.rules[0].clone();
    strict.name = "cluster-cross-carrier".into();
    strict.from.kind = Some(Cluster);
    strict.to.kind = Some(Cluster);
    strict.one_way_ms = 0.1;
    k.topo.budgets.rules.push(strict);
    let s = run(&k, &SuggestOptions::default());
    assert_eq!(s.suggestions[0].sites, vec!["p"]);
    assert_eq!(s.suggestions[0].fixes.len(), 2);
    assert_eq!(s.suggestions[1].sites, vec!["q"]);
    assert!(s.suggestions[1].fixes.is_empty());
    assert!(s.suggestions[1].saved_ms_total > s.suggestions[0].saved_ms_total);
    assert!((s.suggestions[1].saved_ms_total - 2.0 * 80.0).abs() < 1e-9);
    assert!(
        s.suggestions[1]
            .why
            .starts_with("no interconnect joins t, u at q"),
        "{}",
        s.suggestions[1].why
    );
    assert_eq!(s.summary.violations_after, 2);
}

#[test]
fn nothing_when_within_budget_and_no_real_saving() {
    // Two cities 111 km apart, linked at route factor 1.3: a 1.5 link saves nothing.
    let d = geo::fibre_delay_ms(111.195, 1.3);
    let k = Kit::new(&[])
        .hub("h", Realtime)
        .site("a", City, Some("h"), 30.0, 104.0)
        .site("b", City, Some("h"), 31.0, 104.0)
        .link("a", "b", d, d)
        .preset("plan-2023");
    let s = run(&k, &SuggestOptions::default());
    assert!(s.suggestions.is_empty(), "{s:?}");
    assert_eq!(s.summary.routes, 2);
    assert_eq!(s.summary.violations_before, 0);
    // A saving exists when the link is slow, but not above a high threshold.
    let k2 = Kit::new(&[])
        .hub("h", Realtime)
        .site("a", City, Some("h"), 30.0, 104.0)
        .site("b", City, Some("h"), 31.0, 104.0)
        .link("a", "b", 2.0, 2.0)
        .preset("plan-2023");
    assert_eq!(run(&k2, &SuggestOptions::default()).suggestions.len(), 1);
    let high = SuggestOptions {
        min_saved_ms: 10.0,
        ..SuggestOptions::default()
    };
    assert!(run(&k2, &high).suggestions.is_empty());
}

#[test]
fn unreachable_routes_can_be_fixed() {
    let k = Kit::new(&[])
        .hub("rt", Realtime)
        .site("cl", Cluster, Some("rt"), 30.0, 104.0)
        .site("city", City, Some("rt"), 30.5, 104.5)
        .preset("plan-2021");
    let s = run(&k, &SuggestOptions::default());
    assert_eq!(s.summary.violations_before, 2);
    let first = &s.suggestions[0];
    assert_eq!(first.kind, SuggestionKind::DirectLink);
    assert_eq!(fix(first, "cl", "city").before_ms, None);
    assert!(
        first.why.contains("no route between them today"),
        "{}",
        first.why
    );
}

/// A measured source: any LatencySource will do, not only Routes.
struct Measured(Routes);

impl LatencySource for Measured {
    fn estimate(
        &self,
        from: Endpoint,
        to: Endpoint,
        percentile: f64,
    ) -> Option<analysis::Estimate> {
        let mut e = self.0.estimate(from, to, percentile)?;
        e.basis = analysis::Basis::OneWay;
        e.path.clear();
        Some(e)
    }
    fn one_way_ms(&self, from: Endpoint, to: Endpoint) -> Option<f64> {
        Routes::one_way_ms(&self.0, from, to)
    }
}

#[test]
fn works_over_any_latency_source() {
    let k = far_crossing();
    let src: Box<dyn LatencySource> = Box::new(Measured(Routes::compute(&k.topo)));
    let s = suggest(
        &k.topo,
        &k.topo.budgets,
        src.as_ref(),
        &SuggestOptions::default(),
    );
    assert_eq!(s.suggestions[0].sites, vec!["x"]);
    assert_eq!(s.suggestions[0].fixes.len(), 2);
}

#[test]
fn json_shape() {
    let s = run(&far_crossing(), &SuggestOptions::default());
    let v: serde_json::Value = serde_json::from_str(&suggestions_json(&s)).unwrap();
    let first = &v["suggestions"][0];
    assert_eq!(first["kind"], "exchange-point");
    assert_eq!(first["sites"], serde_json::json!(["x"]));
    assert_eq!(first["distance_km"], 0.0);
    assert_eq!(first["fixes"][0]["before_ms"], 17.3);
    assert_eq!(first["fixes"][0]["after_ms"], 0.3);
    assert!(first["saved_ms_total"].is_number());
    assert!(first["why"].is_string());
    let back: Suggestions = serde_json::from_value(v).unwrap();
    assert_eq!(back, s);
    let table = suggestions_table(&s);
    assert!(
        table.starts_with("1. exchange-point at x on t, u: +0.30 ms\n"),
        "{table}"
    );
    assert!(
        table.contains("   x@t   x@u      17.30      0.30       1.00  same-city\n"),
        "{table}"
    );
    assert!(table.contains("(2 same-city, 1 ms)"), "{table}");
}

// ---------------------------------------------------------------------------
// The table update is exact: it equals routing the changed topology again.

fn random_world() -> impl Strategy<Value = (Kit, usize, usize, bool)> {
    (
        2usize..8,
        any::<bool>(),
        prop::collection::vec(
            (0usize..8, 0usize..8, 0usize..2, 0.1f64..30.0, 0.1f64..30.0),
            0..24,
        ),
        prop::collection::vec((0usize..8, 0.05f64..2.0), 0..3),
        (0usize..8, 0usize..8, any::<bool>()),
    )
        .prop_map(|(n, two, links, ixs, (a, b, xp))| {
            let nets: &[&str] = if two { &["t", "u"] } else { &[] };
            let mut k = Kit::new(nets);
            for i in 0..n {
                k = k.site(
                    &format!("s{i}"),
                    City,
                    None,
                    20.0 + i as f64,
                    100.0 + i as f64,
                );
            }
            for (x, y, net, f, r) in links {
                let (x, y) = (x % n, y % n);
                if x != y {
                    let net = two.then_some(net);
                    k = k.link_on(&format!("s{x}"), &format!("s{y}"), net, f, r);
                }
            }
            if two {
                for (s, d) in ixs {
                    k = k.interconnect(&format!("s{}", s % n), d);
                }
            }
            (k, a % n, b % n, xp && two)
        })
}

proptest! {
    #[test]
    fn committing_a_candidate_equals_routing_again((k, a, b, xp) in random_world(), rf in 1.0f64..3.0) {
        let cand = if xp {
            // Exchange points are only offered where carriers are not joined;
            // the update must hold either way, so build one regardless.
            Candidate {
                kind: SuggestionKind::ExchangePoint,
                sites: vec![a],
                networks: vec![Some(0), Some(1)],
                one_way_ms: 0.3,
                distance_km: 0.0,
            }
        } else {
            match Candidate::direct_link(&k.topo, a, b, rf) {
                Some(c) => c,
                None => return Ok(()),
            }
        };
        let eps = analysis::endpoints(&k.topo);
        let before = Routes::compute(&k.topo);
        let mut m = Metric::from_source(&k.topo, &eps, &before);
        let sc = m.shortcuts(&cand.edges(&m));
        // Evaluating every pair as a route agrees with committing.
        let mut all = Vec::new();
        for s in 0..eps.len() {
            for t in 0..eps.len() {
                if s != t {
                    let cur = m.get(s, t);
                    all.push(Route { s: s as u32, t: t as u32, budget_ms: 1.0, rule: 0, cur, orig: cur });
                }
            }
        }
        let set = RouteSet::new(all);
        let mut evaluated: HashMap<(u32, u32), f64> = HashMap::new();
        set.for_each_gain(&m, &sc, |ri, new| {
            let r = &set.routes[ri];
            evaluated.insert((r.s, r.t), new);
        });
        m.commit(&sc);
        let mut changed = k.topo.clone();
        cand.apply(&mut changed, rf);
        let after = Routes::compute(&changed);
        for (s, &from) in eps.iter().enumerate() {
            for (t, &to) in eps.iter().enumerate() {
                let want = after.one_way_ms(from, to).unwrap_or(f64::INFINITY);
                let got = m.get(s, t);
                prop_assert!(
                    (want.is_infinite() && got.is_infinite()) || (want - got).abs() < 1e-9,
                    "{:?} -> {:?}: routed {} vs updated {}", from, to, want, got
                );
                if s != t {
                    let old = before.one_way_ms(from, to).unwrap_or(f64::INFINITY);
                    let ev = evaluated.get(&(s as u32, t as u32)).copied().unwrap_or(old);
                    prop_assert!(
                        (want.is_infinite() && ev.is_infinite()) || (want - ev).abs() < 1e-9,
                        "{:?} -> {:?}: routed {} vs evaluated {}", from, to, want, ev
                    );
                }
            }
        }
    }
}

#[test]
fn a_small_candidate_cap_still_keeps_the_best() {
    // Three cities' carriers meet only at z; c's detour is the longest. With
    // room for one candidate, the ranking sample must keep c's exchange point.
    let mut k = Kit::new(&["t", "u"]).site("z", City, None, 30.0, 104.0);
    for (i, id) in ["a", "b", "c"].iter().enumerate() {
        k = k
            .site(id, City, None, 25.0 + i as f64, 100.0)
            .link_on(id, "z", Some(0), 5.0 + i as f64, 5.0 + i as f64)
            .link_on(id, "z", Some(1), 5.0 + i as f64, 5.0 + i as f64);
    }
    let k = k.interconnect("z", 0.3).preset("plan-2023");
    let s = run(
        &k,
        &SuggestOptions {
            max_candidates: 1,
            k: 1,
            ..SuggestOptions::default()
        },
    );
    assert_eq!(s.summary.candidates, 1);
    assert_eq!(s.suggestions[0].sites, vec!["c"]);
}

#[test]
fn merge_sorted_is_a_union() {
    let mut out = Vec::new();
    merge_sorted(&[1, 3, 5, 7], &[2, 3, 8], &mut out);
    assert_eq!(out, vec![1, 2, 3, 5, 7, 8]);
    merge_sorted(&[], &[4], &mut out);
    assert_eq!(out, vec![4]);
    merge_sorted(&[4], &[], &mut out);
    assert_eq!(out, vec![4]);
}

/// Every suggestion applied and routed from scratch: the routes it names come
/// out at the delays it promised, and the violations left are the summary's.
#[test]
fn the_first_suggestions_applied_route_as_promised() {
    let topo = crate::national::national();
    let routes = Routes::compute(&topo);
    let s = suggest(&topo, &topo.budgets, &routes, &SuggestOptions::default());
    assert!(s.summary.violations_before > 0);
    let n = s.suggestions.len();
    let applied = apply::apply_first(&topo, &s.suggestions, n).unwrap();
    assert!(
        applied.interconnects.len() + applied.links.len()
            > topo.interconnects.len() + topo.links.len()
    );
    let after = Routes::compute(&applied);
    let opts = crate::analysis::Options::default();
    let table = crate::analysis::analyse(&applied, &applied.budgets, &after, &opts);
    assert_eq!(table.summary.violations, s.summary.violations_after);
    let eps = crate::analysis::endpoints(&applied);
    let by_name = |name: &str| *eps.iter().find(|e| e.name(&applied) == name).unwrap();
    // The last suggestion's fixes are judged with every one above it made.
    for f in &s.suggestions[n - 1].fixes {
        let ms = after.one_way_ms(by_name(&f.from), by_name(&f.to)).unwrap();
        assert!(
            (ms - f.after_ms).abs() < 0.01,
            "{} -> {}: {ms} vs {}",
            f.from,
            f.to,
            f.after_ms
        );
    }
    // Applying none changes nothing.
    assert_eq!(apply::apply_first(&topo, &s.suggestions, 0).unwrap(), topo);
}

#[test]
fn a_direct_link_goes_on_each_of_its_networks_and_a_bad_suggestion_changes_nothing() {
    // z: linked to nothing yet.
    let k = far_crossing().site("z", City, None, 27.0, 103.0);
    let link = Suggestion {
        kind: SuggestionKind::DirectLink,
        sites: vec!["x".into(), "z".into()],
        distance_km: 0.0,
        fixes: vec![],
        saved_ms_total: 0.0,
        why: String::new(),
        networks: vec!["t".into(), "u".into()],
        one_way_ms: 2.5,
        routes_improved: 0,
    };
    let mut t = k.topo.clone();
    apply::apply(&mut t, &link).unwrap();
    assert_eq!(t.links.len(), k.topo.links.len() + 2);
    let added: Vec<(Option<usize>, f64, f64)> = t.links[k.topo.links.len()..]
        .iter()
        .map(|l| (l.network, l.forward_ms, l.reverse_ms))
        .collect();
    assert_eq!(added, [(Some(0), 2.5, 2.5), (Some(1), 2.5, 2.5)]);
    // Where a link is on that network already, it gets faster (never slower).
    let upgrade = Suggestion {
        sites: vec!["y".into(), "x".into()],
        networks: vec!["t".into()],
        one_way_ms: 5.0,
        ..link.clone()
    };
    let mut t = k.topo.clone();
    apply::apply(&mut t, &upgrade).unwrap();
    assert_eq!(t.links.len(), k.topo.links.len());
    assert_eq!((t.links[0].forward_ms, t.links[0].reverse_ms), (5.0, 5.0));
    apply::apply(
        &mut t,
        &Suggestion {
            one_way_ms: 20.0,
            ..upgrade
        },
    )
    .unwrap();
    assert_eq!(t.links[0].forward_ms, 5.0);
    let bad = [
        Suggestion {
            sites: vec!["x".into(), "q".into()],
            ..link.clone()
        },
        Suggestion {
            networks: vec!["v".into()],
            ..link.clone()
        },
        Suggestion {
            sites: vec!["x".into()],
            ..link.clone()
        },
        Suggestion {
            one_way_ms: f64::NAN,
            ..link.clone()
        },
        Suggestion {
            kind: SuggestionKind::ExchangePoint,
            sites: vec!["x".into()],
            networks: vec!["t".into()],
            ..link.clone()
        },
    ];
    for b in &bad {
        let mut t = k.topo.clone();
        assert!(apply::apply(&mut t, b).is_err(), "{b:?}");
        assert_eq!(t, k.topo);
    }
    let ix = Suggestion {
        kind: SuggestionKind::ExchangePoint,
        sites: vec!["x".into()],
        one_way_ms: 0.3,
        ..link
    };
    let mut t = k.topo.clone();
    apply::apply(&mut t, &ix).unwrap();
    let last = t.interconnects.last().unwrap();
    assert_eq!(
        (last.site, last.networks.clone(), last.delay_ms),
        (0, vec![0, 1], 0.3)
    );
    // Written out and read back, the change is in the file.
    let back = crate::load::from_str(&crate::write::to_yaml(&t, ""), "w.yaml").unwrap();
    assert_eq!(back, t);
}
