//! The topology and budgets file readers: a file using every feature loads into
//! the expected model, and every kind of mistake is reported at its exact line
//! and column with a message naming the YAML path and what was expected.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use topology::budgets::PRESET_PERCENTILE;
use topology::error::LoadError;
use topology::load::{self, DEFAULT_INTERCONNECT_DELAY_MS, DEFAULT_ROUTE_FACTOR};
use topology::{geo, DelaySource, HubRole, InterconnectKind, Relation, SiteKind, Topology};

/// A file from lines, so that tests can say which line an error is on.
fn doc(lines: &[&str]) -> String {
    lines.join("\n") + "\n"
}

/// 1-based column (in characters) of `needle` in `line`.
fn col(line: &str, needle: &str) -> usize {
    let at = line
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in {line:?}"));
    line[..at].chars().count() + 1
}

fn load(lines: &[&str]) -> Result<Topology, LoadError> {
    load::from_str(&doc(lines), "t.yaml")
}

/// Loads a file that must fail and checks that the error is at line `line`
/// (1-based), at the column where `needle` starts on that line, and that its
/// message contains `phrase`.
#[track_caller]
fn fails_at(lines: &[&str], line: usize, needle: &str, phrase: &str) -> LoadError {
    let err = match load(lines) {
        Err(e) => e,
        Ok(_) => panic!("loaded, expected an error containing {phrase:?}"),
    };
    let column = col(lines[line - 1], needle);
    assert_eq!(
        (err.line, err.column),
        (Some(line), Some(column)),
        "wrong position for {err}"
    );
    assert!(err.message.contains(phrase), "{phrase:?} not in: {err}");
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("t.yaml:{line}:{column}: ")),
        "{shown}"
    );
    assert!(!shown.contains('\n'), "{shown}");
    err
}

const FULL: &[&str] = &[
    "version: 1",                                                  // 1
    "hubs:",                                                       // 2
    "  - {id: jingjinji, name: 京津冀, role: realtime}",           // 3
    "  - {id: ningxia, role: non-realtime}",                       // 4
    "networks:",                                                   // 5
    "  - {id: telecom, name: China Telecom}",                      // 6
    "  - {id: unicom}",                                            // 7
    "sites:",                                                      // 8
    "  - id: zhongwei",                                            // 9
    "    name: 中卫集群",                                          // 10
    "    kind: cluster",                                           // 11
    "    hub: ningxia",                                            // 12
    "    location: [37.50, 105.19]",                               // 13
    "    address: 198.18.0.1",                                       // 14
    "    addresses: [198.18.0.2, \"2001:db8::1\", 198.18.0.1]",        // 15
    "  - {id: beijing, kind: city, hub: jingjinji, location: [39.904, 116.407]}", // 16
    "  - {id: beijing-edge, kind: edge, serves: beijing, location: [39.95, 116.30], networks: [unicom]}", // 17
    "  - {id: core, kind: router, location: [39, 116], networks: [unicom, telecom]}", // 18
    "links:",                                                      // 19
    "  - between: [zhongwei, beijing]",                            // 20
    "    network: telecom",                                        // 21
    "    delay_ms: 9.1",                                           // 22
    "    jitter_ms: 0.2",                                          // 23
    "    loss_pct: 0.1",                                           // 24
    "    rate_mbit: 1000",                                         // 25
    "  - {between: [zhongwei, beijing], network: unicom, route_factor: 1.6}", // 26
    "  - {between: [beijing-edge, beijing], network: unicom, delay_ms: {forward: 3, reverse: 7}}", // 27
    "  - {between: [beijing, core], network: unicom}",             // 28
    "interconnects:",                                              // 29
    "  - {site: beijing, kind: backbone-direct-connect, networks: [unicom, telecom], delay_ms: 0.2}", // 30
    "  - {site: core, kind: private, networks: [telecom, unicom]}", // 31
    "budgets:",                                                    // 32
    "  - name: edge",                                              // 33
    "    from: {kind: edge}",                                      // 34
    "    to: {kind: city, hub: jingjinji}",                        // 35
    "    relation: serves",                                        // 36
    "    one_way_ms: 2",                                           // 37
    "  - {name: clusters, from: {hub_role: non-realtime}, one_way_ms: 20, percentile: 95, both_directions: false}", // 38
];

/// FULL with line `n` (1-based) replaced.
fn full_with(n: usize, line: &'static str) -> Vec<&'static str> {
    let mut v = FULL.to_vec();
    v[n - 1] = line;
    v
}

#[test]
fn a_file_with_every_feature_loads() {
    let t = load(FULL).unwrap();
    assert_eq!(t.hubs.len(), 2);
    assert_eq!(t.hubs[0].name.as_deref(), Some("京津冀"));
    assert_eq!(t.hubs[1].role, HubRole::NonRealtime);
    assert_eq!(t.networks[0].name.as_deref(), Some("China Telecom"));
    assert_eq!(t.networks[1].name, None);

    let zw = &t.sites[0];
    assert_eq!(
        (zw.kind, zw.hub.as_deref()),
        (SiteKind::Cluster, Some("ningxia"))
    );
    assert_eq!((zw.location.lat, zw.location.lon), (37.5, 105.19));
    // Sites on all networks unless they say; lists are in declaration order.
    assert_eq!(zw.networks, vec![0, 1]);
    assert_eq!(t.sites[2].networks, vec![1]);
    assert_eq!(t.sites[3].networks, vec![0, 1]);
    // `address` and `addresses` merged, without repeats.
    let addrs: Vec<String> = zw.addresses.iter().map(|a| a.to_string()).collect();
    assert_eq!(addrs, ["198.18.0.1", "198.18.0.2", "2001:db8::1"]);
    assert_eq!(t.sites[2].serves.as_deref(), Some("beijing"));
    assert_eq!(t.sites[3].kind, SiteKind::Router);

    let l = &t.links[0];
    assert_eq!((l.a, l.b, l.network), (0, 1, Some(0)));
    assert_eq!((l.forward_ms, l.reverse_ms), (9.1, 9.1));
    assert_eq!(l.delay_source, DelaySource::Configured);
    assert_eq!(
        (l.jitter_ms, l.loss_pct, l.rate_mbit),
        (0.2, 0.1, Some(1000.0))
    );

    // Delay from distance with the given route factor.
    let l = &t.links[1];
    let km = geo::great_circle_km(t.sites[0].location, t.sites[1].location);
    assert!((km - 1009.0).abs() < 10.0, "{km}");
    let want = geo::fibre_delay_ms(km, 1.6);
    assert!((l.forward_ms - want).abs() < 1e-9 && l.reverse_ms == l.forward_ms);
    assert_eq!(l.delay_source, DelaySource::Distance { route_factor: 1.6 });
    assert_eq!((l.jitter_ms, l.loss_pct, l.rate_mbit), (0.0, 0.0, None));

    // Asymmetric: forward is from the first site in `between`.
    let l = &t.links[2];
    assert_eq!((l.a, l.b, l.network), (2, 1, Some(1)));
    assert_eq!((l.forward_ms, l.reverse_ms), (3.0, 7.0));

    // Default route factor.
    let l = &t.links[3];
    let want = geo::fibre_delay_ms(
        geo::great_circle_km(t.sites[1].location, t.sites[3].location),
        DEFAULT_ROUTE_FACTOR,
    );
    assert!((l.forward_ms - want).abs() < 1e-9);
    assert_eq!(
        l.delay_source,
        DelaySource::Distance {
            route_factor: DEFAULT_ROUTE_FACTOR
        }
    );
    assert_eq!(DEFAULT_ROUTE_FACTOR, 1.5);

    let x = &t.interconnects[0];
    assert_eq!(
        (x.site, x.kind),
        (1, InterconnectKind::BackboneDirectConnect)
    );
    assert_eq!((x.networks.clone(), x.delay_ms), (vec![0, 1], 0.2));
    let x = &t.interconnects[1];
    assert_eq!((x.site, x.kind), (3, InterconnectKind::Private));
    assert_eq!(x.delay_ms, DEFAULT_INTERCONNECT_DELAY_MS);
    assert_eq!(DEFAULT_INTERCONNECT_DELAY_MS, 0.3);

    assert_eq!(t.budgets.preset, None);
    let r = &t.budgets.rules[0];
    assert_eq!(r.name, "edge");
    assert_eq!((r.from.kind, r.from.hub), (Some(SiteKind::Edge), None));
    assert_eq!((r.to.kind, r.to.hub), (Some(SiteKind::City), Some(0)));
    assert_eq!(r.relation, Relation::Serves);
    assert_eq!(
        (r.one_way_ms, r.percentile, r.both_directions),
        (2.0, PRESET_PERCENTILE, true)
    );
    let r = &t.budgets.rules[1];
    assert_eq!(r.from.hub_role, Some(HubRole::NonRealtime));
    assert_eq!(r.relation, Relation::Any);
    assert_eq!(
        (r.one_way_ms, r.percentile, r.both_directions),
        (20.0, 95.0, false)
    );
}

#[test]
fn defaults_without_networks_or_budgets() {
    let t = load(&[
        "version: 1",
        "sites:",
        "  - {id: a, kind: city, location: [30, 104]}",
        "  - {id: b, kind: city, location: [31, 121]}",
        "links:",
        "  - {between: [a, b]}",
    ])
    .unwrap();
    assert!(t.networks.is_empty() && t.hubs.is_empty());
    assert!(t.sites[0].networks.is_empty());
    assert_eq!(t.links[0].network, None);
    assert_eq!(t.budgets.preset.as_deref(), Some("plan-2021"));
    assert_eq!(t.budgets, topology::budgets::preset("plan-2021").unwrap());

    // One network declared: links and sites default to it.
    let t = load(&[
        "version: 1",
        "networks: [{id: only}]",
        "sites:",
        "  - {id: a, kind: city, location: [30, 104]}",
        "  - {id: b, kind: city, location: [31, 121]}",
        "links:",
        "  - {between: [a, b], delay_ms: 5}",
        "budgets: plan-2023",
    ])
    .unwrap();
    assert_eq!(t.links[0].network, Some(0));
    assert_eq!(t.sites[1].networks, vec![0]);
    assert_eq!(t.budgets.preset.as_deref(), Some("plan-2023"));
}

#[test]
fn yaml_syntax_error() {
    let e = fails_at(
        &["version: 1", "hubs:", "  - {id: ningxia, role: realtime]"],
        3,
        "]",
        "did not find expected ',' or '}'",
    );
    // The position moved to the front; libyaml's context keeps its own.
    assert_eq!(
        e.message,
        "did not find expected ',' or '}', while parsing a flow mapping at line 3 column 5"
    );
}

#[test]
fn wrong_type() {
    fails_at(
        &[
            "version: 1",
            "sites:",
            "  - {id: a, kind: city, location: [30, north]}",
        ],
        3,
        "north",
        "sites[0].location[1]: invalid type: string \"north\", expected f64",
    );
    fails_at(
        &[
            "version: 1",
            "sites:",
            "  - {id: a, kind: city, location: 30}",
        ],
        3,
        "30}",
        "expected [latitude, longitude] in degrees",
    );
    fails_at(
        &["version: 1", "links: {between: [a, b]}"],
        2,
        "{",
        "links: invalid type: map, expected a sequence",
    );
    fails_at(
        &["version: 1", "sites: [beijing]"],
        2,
        "beijing",
        "sites[0]: invalid type: string \"beijing\", expected a site mapping {id, name, kind,",
    );
    fails_at(
        &["version: 1", "links:", "  - {between: [a], delay_ms: 3}"],
        3,
        "[a]",
        "links[0].between: invalid length 1, expected an array of length 2",
    );
    fails_at(
        &["- version: 1"],
        1,
        "-",
        "invalid type: sequence, expected a topology mapping with `version: 1`",
    );
}

#[test]
fn unknown_field() {
    fails_at(
        &[
            "version: 1",
            "sites:",
            "  - {id: a, kind: city, location: [30, 104]}",
            "  - id: b",
            "    kind: city",
            "    colour: red",
            "    location: [30, 104]",
        ],
        6,
        "colour",
        "sites[1]: unknown field `colour`, expected one of",
    );
    fails_at(
        &["version: 1", "site: []"],
        2,
        "site",
        "unknown field `site`",
    );
}

#[test]
fn unknown_kind_and_bad_address() {
    fails_at(
        &["version: 1", "sites:", "  - {id: a, kind: town, location: [30, 104]}"],
        3,
        "town",
        "sites[0].kind: unknown variant `town`, expected one of `cluster`, `city`, `edge`, `router`",
    );
    fails_at(
        &[
            "version: 1",
            "sites:",
            "  - {id: a, kind: city, location: [30, 104], addresses: [198.18.0.1, 198.18.0.300]}",
        ],
        3,
        "198.18.0.300",
        "sites[0].addresses[1]: invalid IP address syntax",
    );
}

#[test]
fn bad_site_id() {
    fails_at(
        &[
            "version: 1",
            "sites:",
            "  - {id: a, kind: city, location: [30, 104]}",
            "  - {id: Bei_jing, kind: city, location: [30, 104]}",
        ],
        4,
        "Bei_jing",
        "sites[1].id: invalid site id \"Bei_jing\" (expected lowercase letters a-z, digits and '-')",
    );
    fails_at(
        &["version: 1", "networks:", "  - {id: China Telecom}"],
        3,
        "China",
        "networks[0].id: invalid network id",
    );
}

#[test]
fn duplicate_ids() {
    fails_at(
        &[
            "version: 1",
            "sites:",
            "  - {id: a, kind: city, location: [30, 104]}",
            "  - {id: b, kind: city, location: [30, 104]}",
            "  - {id: a, kind: city, location: [31, 104]}",
        ],
        5,
        "a,",
        "sites[2].id: duplicate site id \"a\" (first declared at sites[0])",
    );
    fails_at(
        &[
            "version: 1",
            "hubs:",
            "  - {id: x, role: realtime}",
            "  - {id: x, role: realtime}",
        ],
        4,
        "x",
        "duplicate hub id \"x\"",
    );
}

#[test]
fn unknown_hub() {
    fails_at(
        &full_with(12, "    hub: ningxai"),
        12,
        "ningxai",
        "sites[0].hub: unknown hub \"ningxai\" (expected one of: jingjinji, ningxia)",
    );
}

#[test]
fn edge_and_serves() {
    // An edge site without `serves`: reported at the site.
    fails_at(
        &full_with(
            17,
            "  - {id: beijing-edge, kind: edge, location: [39.95, 116.30], networks: [unicom]}",
        ),
        17,
        "{",
        "sites[2]: edge site \"beijing-edge\" must name the city it serves",
    );
    // Serving something that is not a city.
    fails_at(
        &full_with(
            17,
            "  - {id: beijing-edge, kind: edge, serves: zhongwei, location: [39.95, 116.30], networks: [unicom]}",
        ),
        17,
        "zhongwei",
        "sites[2].serves: site \"zhongwei\" is a cluster, expected a site of kind city",
    );
    fails_at(
        &full_with(
            17,
            "  - {id: beijing-edge, kind: edge, serves: peking, location: [39.95, 116.30], networks: [unicom]}",
        ),
        17,
        "peking",
        "sites[2].serves: unknown site \"peking\"",
    );
    // Only edge sites serve.
    fails_at(
        &full_with(
            16,
            "  - {id: beijing, kind: city, serves: beijing, hub: jingjinji, location: [39.904, 116.407]}",
        ),
        16,
        "beijing, hub",
        "sites[1].serves: only edge sites serve a city, and \"beijing\" is a city",
    );
}

#[test]
fn location_out_of_range() {
    fails_at(
        &full_with(13, "    location: [97.50, 105.19]"),
        13,
        "97.50",
        "sites[0].location[0]: expected a latitude from -90 to 90, found 97.5",
    );
    fails_at(
        &full_with(13, "    location: [37.50, -185.19]"),
        13,
        "-185.19",
        "sites[0].location[1]: expected a longitude from -180 to 180, found -185.19",
    );
    fails_at(
        &full_with(13, "    location: [37.50, 105.19, 12]"),
        13,
        "[",
        "sites[0].location: invalid length 3, expected [latitude, longitude] in degrees",
    );
}

#[test]
fn link_to_unknown_site_and_self_link() {
    fails_at(
        &full_with(20, "  - between: [zhongwei, bejing]"),
        20,
        "bejing",
        "links[0].between[1]: unknown site \"bejing\" (expected one of: zhongwei, beijing, beijing-edge, core)",
    );
    fails_at(
        &full_with(20, "  - between: [zhongwei, zhongwei]"),
        20,
        "zhongwei]",
        "links[0].between[1]: a link joins two different sites, this one \"zhongwei\" to itself",
    );
}

#[test]
fn duplicate_link() {
    // The same pair on the same network, written the other way round.
    fails_at(
        &full_with(
            28,
            "  - {between: [beijing, zhongwei], network: unicom}",
        ),
        28,
        "[beijing",
        "links[3].between: duplicate link: links[1] already joins \"beijing\" and \"zhongwei\" on network \"unicom\"",
    );
    fails_at(
        &full_with(
            28,
            "  - {between: [beijing, zhongwei], network: telecom, delay_ms: 8}",
        ),
        28,
        "[beijing",
        "duplicate link: links[0] already joins",
    );
    // The same pair on another network is not a duplicate: FULL's links[0] and
    // links[1] join zhongwei and beijing on telecom and on unicom.
    assert!(load(FULL).is_ok());
}

#[test]
fn bad_link_numbers() {
    fails_at(
        &full_with(22, "    delay_ms: 0"),
        22,
        "0",
        "links[0].delay_ms: expected a delay in ms > 0, found 0",
    );
    fails_at(
        &full_with(
            27,
            "  - {between: [beijing-edge, beijing], network: unicom, delay_ms: {forward: 3, reverse: -7}}",
        ),
        27,
        "-7",
        "links[2].delay_ms.reverse: expected a delay in ms > 0, found -7",
    );
    fails_at(
        &full_with(
            26,
            "  - {between: [zhongwei, beijing], network: unicom, route_factor: -1.6}",
        ),
        26,
        "-1.6",
        "links[1].route_factor: expected a route factor > 0, found -1.6",
    );
    fails_at(
        &full_with(24, "    loss_pct: 101"),
        24,
        "101",
        "links[0].loss_pct: expected a loss in percent from 0 to 100, found 101",
    );
    fails_at(
        &full_with(23, "    jitter_ms: -0.1"),
        23,
        "-0.1",
        "links[0].jitter_ms: expected a jitter in ms >= 0",
    );
    fails_at(
        &full_with(
            27,
            "  - {between: [beijing-edge, beijing], network: unicom, delay_ms: {forward: 3}}",
        ),
        27,
        "{forward",
        "links[2].delay_ms: missing field `reverse`",
    );
    fails_at(
        &full_with(22, "    delay_ms: fast"),
        22,
        "fast",
        "expected a one-way delay in ms, or {forward: ms, reverse: ms}",
    );
}

#[test]
fn link_networks() {
    fails_at(
        &full_with(21, "    network: telekom"),
        21,
        "telekom",
        "links[0].network: unknown network \"telekom\" (expected one of: telecom, unicom)",
    );
    // Two networks declared: a link must say whose it is.
    fails_at(
        &full_with(28, "  - {between: [beijing, core]}"),
        28,
        "{",
        "links[3]: `network` is required when several networks are declared (expected one of: telecom, unicom)",
    );
    // The network must be present at both ends.
    fails_at(
        &full_with(
            27,
            "  - {between: [beijing-edge, beijing], network: telecom, delay_ms: {forward: 3, reverse: 7}}",
        ),
        27,
        "telecom",
        "links[2].network: network \"telecom\" is not present at site \"beijing-edge\" (its networks: unicom)",
    );
    // No networks declared: a link cannot name one.
    fails_at(
        &[
            "version: 1",
            "sites:",
            "  - {id: a, kind: city, location: [30, 104]}",
            "  - {id: b, kind: city, location: [31, 121]}",
            "links:",
            "  - {between: [a, b], network: telecom}",
        ],
        6,
        "telecom",
        "links[0].network: this topology declares no networks",
    );
    // A site listing an undeclared network.
    fails_at(
        &full_with(
            18,
            "  - {id: core, kind: router, location: [39, 116], networks: [unicom, mobile]}",
        ),
        18,
        "mobile",
        "sites[3].networks[1]: unknown network \"mobile\"",
    );
}

#[test]
fn interconnect_errors() {
    fails_at(
        &full_with(31, "  - {site: core, kind: private, networks: [telecom]}"),
        31,
        "[telecom",
        "interconnects[1].networks: an interconnect joins at least two networks, found 1",
    );
    fails_at(
        &full_with(
            31,
            "  - {site: beijing-edge, kind: private, networks: [telecom, unicom]}",
        ),
        31,
        "telecom",
        "interconnects[1].networks[0]: network \"telecom\" is not present at site \"beijing-edge\"",
    );
    fails_at(
        &full_with(31, "  - {site: core, kind: ix, networks: [telecom, unicom]}"),
        31,
        "ix",
        "interconnects[1].kind: unknown variant `ix`, expected one of `backbone-direct-connect`, `internet-exchange`, `private`",
    );
    fails_at(
        &full_with(
            31,
            "  - {site: core, kind: private, networks: [telecom, unicom], delay_ms: -1}",
        ),
        31,
        "-1",
        "interconnects[1].delay_ms: expected a delay in ms >= 0, found -1",
    );
    fails_at(
        &[
            "version: 1",
            "sites:",
            "  - {id: a, kind: city, location: [30, 104]}",
            "interconnects:",
            "  - {site: a, kind: private, networks: [x, y]}",
        ],
        5,
        "[x",
        "interconnects[0].networks: interconnects join networks, and this topology declares none",
    );
}

#[test]
fn budget_errors() {
    fails_at(
        &["version: 1", "budgets: plan-2022"],
        2,
        "plan-2022",
        "budgets: unknown budget preset \"plan-2022\" (expected one of: plan-2021, plan-2023, or a list of rules)",
    );
    // A rule without its limit: reported at the rule.
    fails_at(
        &full_with(37, "    percentile: 50"),
        33,
        "name",
        "budgets[0]: missing field `one_way_ms`",
    );
    fails_at(
        &full_with(36, "    relation: same-town"),
        36,
        "same-town",
        "budgets[0].relation: unknown variant `same-town`, expected one of `any`, `same-hub`, `different-hub`, `same-city`, `serves`",
    );
    fails_at(
        &full_with(35, "    to: {kind: city, hub: jingjinjii}"),
        35,
        "jingjinjii",
        "budgets[0].to.hub: unknown hub \"jingjinjii\" (expected one of: jingjinji, ningxia)",
    );
    fails_at(
        &full_with(37, "    one_way_ms: 0"),
        37,
        "0",
        "budgets[0].one_way_ms: expected a one-way limit in ms > 0, found 0",
    );
    fails_at(
        &full_with(
            38,
            "  - {name: clusters, from: {hub_role: non-realtime}, one_way_ms: 20, percentile: 100.5}",
        ),
        38,
        "100.5",
        "budgets[1].percentile: expected a percentile > 0 and <= 100, found 100.5",
    );
    fails_at(
        &full_with(38, "  - {name: edge, one_way_ms: 20}"),
        38,
        "edge",
        "budgets[1].name: duplicate rule name \"edge\" (first used at budgets[0])",
    );
    fails_at(
        &["version: 1", "budgets: 12"],
        2,
        "12",
        "budgets: invalid type: integer `12`, expected a budget preset name (plan-2021, plan-2023) or a list of budget rules",
    );
}

#[test]
fn version_must_be_1() {
    fails_at(
        &full_with(1, "version: 2"),
        1,
        "2",
        "version: unsupported version 2 (this build reads version 1)",
    );
    // A newer file is reported as such even when the rest does not parse as version 1.
    fails_at(
        &["# next year's format", "version: 2", "carriers: []"],
        2,
        "2",
        "unsupported version 2",
    );
    fails_at(
        &["version: \"1\"", "sites: []"],
        1,
        "\"1\"",
        "unsupported version \"1\"",
    );
    let e = load(&["sites: []"]).unwrap_err();
    assert!(e.message.contains("missing field `version`"), "{e}");
}

#[test]
fn the_first_error_in_the_file_is_reported() {
    // Links come before sites in this file: the link's error is reported,
    // although sites are checked first.
    let lines = [
        "version: 1",
        "links:",
        "  - {between: [a, c]}",
        "sites:",
        "  - {id: a, kind: city, location: [30, 104]}",
        "  - {id: b, kind: city, location: [31, 121], hub: nowhere}",
    ];
    fails_at(&lines, 3, "c]", "links[0].between[1]: unknown site \"c\"");
    // Within one site, the earlier of two mistakes.
    fails_at(
        &[
            "version: 1",
            "sites:",
            "  - {id: a, kind: city, location: [30, 204], hub: nowhere}",
        ],
        3,
        "204",
        "longitude",
    );
}

#[test]
fn error_display_is_one_line_with_position_first() {
    let e = load(&[
        "version: 1",
        "sites:",
        "  - {id: \"a\\nb\", kind: city, location: [30, 104]}",
    ])
    .unwrap_err();
    let shown = e.to_string();
    assert!(
        shown.starts_with("t.yaml:3:10: sites[0].id: invalid site id"),
        "{shown}"
    );
    assert!(!shown.contains('\n'), "{shown}");
    assert_eq!(shown.lines().count(), 1);
}

#[test]
fn empty_and_unreadable_files() {
    let e = load::from_str("", "empty.yaml").unwrap_err();
    assert!(e.to_string().starts_with("empty.yaml"), "{e}");
    let e = load::from_file(Path::new("/nonexistent/hubmesh/t.yaml")).unwrap_err();
    assert_eq!((e.line, e.column), (None, None));
    assert!(
        e.to_string()
            .starts_with("/nonexistent/hubmesh/t.yaml: cannot read"),
        "{e}"
    );
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn budgets_arg_with_a_preset_or_a_file() {
    let t = load(FULL).unwrap();
    let b = load::budgets_arg("plan-2023", &t).unwrap();
    assert_eq!(b, topology::budgets::preset("plan-2023").unwrap());

    let path = fixture("budgets-list.yaml");
    let b = load::budgets_arg(path.to_str().unwrap(), &t).unwrap();
    assert_eq!(b.preset, None);
    assert_eq!(b.rules.len(), 2);
    assert_eq!(b.rules[0].relation, Relation::Serves);
    assert_eq!(b.rules[0].one_way_ms, 4.0);
    assert_eq!(b.rules[1].to.hub, Some(1));
    assert_eq!(
        (b.rules[1].percentile, b.rules[1].both_directions),
        (90.0, false)
    );

    let path = fixture("budgets-keyed.yaml");
    let b = load::budgets_arg(path.to_str().unwrap(), &t).unwrap();
    assert_eq!(b.preset.as_deref(), Some("plan-2023"));

    let path = fixture("budgets-bad-hub.yaml");
    let e = load::budgets_arg(path.to_str().unwrap(), &t).unwrap_err();
    assert_eq!((e.line, e.column), (Some(3), Some(15)));
    assert!(
        e.message.starts_with(
            "budgets[0].to.hub: unknown hub \"ningxai\" (expected one of: jingjinji, ningxia)"
        ),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with(&format!("{}:3:15: ", path.display())),
        "{e}"
    );

    let e = load::budgets_arg("plan-2020", &t).unwrap_err();
    assert_eq!(
        e.to_string(),
        "plan-2020: no such budget preset or file (presets: plan-2021, plan-2023)"
    );
}

#[test]
fn budgets_from_str_errors() {
    let t = load(FULL).unwrap();
    let e = load::budgets_from_str(
        "- name: a\n  one_way_ms: 3\n- name: b\n  one_way_ms: -3\n",
        "b.yaml",
        &t,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "b.yaml:4:15: [1].one_way_ms: expected a one-way limit in ms > 0, found -3"
    );
    let e = load::budgets_from_str("budget: plan-2023\n", "b.yaml", &t).unwrap_err();
    assert!(
        e.message
            .contains("unknown field `budget`, expected `budgets`"),
        "{e}"
    );
    assert_eq!((e.line, e.column), (Some(1), Some(1)));
    let e = load::budgets_from_str("plan-2023\n", "b.yaml", &t).unwrap_err();
    assert!(
        e.message
            .contains("expected a list of budget rules, or a mapping with a `budgets:` key"),
        "{e}"
    );
    let e = load::budgets_from_str("budgets: plan-2024\n", "b.yaml", &t).unwrap_err();
    assert_eq!(e.to_string().split(": ").next(), Some("b.yaml:1:10"));
}
