//! Runs the real `mesh-controller plan` binary on files in a temp dir.

use serde_json::Value;

mod cli_common;

use cli_common::{json, run, write};

/// A real-time hub with one cluster and two cities; `far-city` is reached only
/// through a slow detour, so it violates the 20 ms plan-2021 budget.
const SMALL: &str = "\
version: 1
hubs:
  - {id: rt, role: realtime}
sites:
  - {id: cl, kind: cluster, hub: rt, location: [30.0, 104.0]}
  - {id: near-city, kind: city, hub: rt, location: [30.6, 104.1]}
  - {id: far-city, kind: city, hub: rt, location: [29.6, 106.5]}
  - {id: transit, kind: router, location: [34.3, 108.9]}
links:
  - {between: [cl, near-city], delay_ms: 1.0}
  - {between: [cl, transit], delay_ms: {forward: 9.0, reverse: 4.0}}
  - {between: [transit, far-city], delay_ms: 12.0}
budgets: plan-2021
";

/// The embedded topology against plan-2021: the clusters within 20 ms, and an
/// edge data centre in every city held to 10 ms towards its city's users on
/// every carrier; Urumqi's carriers cross over in Xining, so its edge is not.
#[test]
fn national_2021_judges_edge_routes_against_10_ms() {
    let out = run(&["plan", "--format", "json"]);
    let v = json(&out);
    let routes = v["routes"].as_array().expect("routes array");
    assert!(routes.len() > 100, "only {} routes", routes.len());
    assert_eq!(v["summary"]["routes"].as_u64(), Some(routes.len() as u64));
    for r in routes {
        for key in [
            "from",
            "to",
            "one_way_ms",
            "budget_ms",
            "rule",
            "verdict",
            "stretch",
            "path",
        ] {
            assert!(r.get(key).is_some(), "route lacks {key}: {r}");
        }
        assert!(
            r["from"].as_str().unwrap_or("").contains('@'),
            "carrier endpoints: {r}"
        );
    }
    let edge: Vec<&Value> = routes
        .iter()
        .filter(|r| r["rule"] == "edge-to-its-city")
        .collect();
    // 31 edges on one carrier each, their city on three, both directions.
    assert_eq!(edge.len(), 186);
    assert!(edge.iter().all(|r| r["budget_ms"] == 10.0));
    assert!(edge
        .iter()
        .any(|r| r["from"] == "kunming@mobile" && r["to"] == "kunming-edge@telecom"));
    let over: Vec<(&str, &str)> = routes
        .iter()
        .filter(|r| r["verdict"] == "violation")
        .map(|r| {
            assert_eq!(r["rule"], "edge-to-its-city", "{r}");
            (
                r["from"].as_str().unwrap_or(""),
                r["to"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(over.len(), 4, "{over:?}");
    assert!(over
        .iter()
        .all(|(a, b)| a.starts_with("urumqi") && b.starts_with("urumqi")));
    assert_eq!(v["summary"]["violations"], 4);
    assert_eq!(out.status.code(), Some(1));

    // The table leads with them, judged against 10 ms.
    let table = String::from_utf8(run(&["plan"]).stdout).expect("utf8");
    let first = table.lines().nth(1).unwrap_or("");
    assert!(
        first.contains("urumqi") && first.contains("10.00") && first.contains("violation"),
        "{first}"
    );
    assert!(table.contains("edge-to-its-city"), "{table}");
}

#[test]
fn national_2023_flags_cities_without_a_local_interconnect() {
    let out = run(&["plan", "--budgets", "plan-2023", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "plan-2023 must find violations");
    let v = json(&out);
    // Tianjin has no interconnect of its own: its carriers cross over elsewhere.
    let r = v["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .find(|r| r["from"] == "tianjin@telecom" && r["to"] == "tianjin@unicom")
        .expect("tianjin inter-carrier route is covered by same-city");
    assert_eq!(r["rule"], "same-city");
    assert_eq!(r["verdict"], "violation");
    let path: Vec<&str> = r["path"]
        .as_array()
        .expect("path")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        path.len() > 2,
        "crossing happens away from tianjin: {path:?}"
    );
    assert!(!path[1..path.len() - 1]
        .iter()
        .any(|p| p.starts_with("tianjin@")));
}

#[test]
fn small_topology_violation_exit_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(dir.path(), "small.yaml", SMALL);
    let out = run(&["plan", "--topology", &f, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    // cl <-> near-city and cl <-> far-city, both directions; the router is nobody's user.
    assert_eq!(v["summary"]["routes"], 4);
    assert_eq!(v["summary"]["violations"], 1);
    let find = |from: &str, to: &str| {
        v["routes"]
            .as_array()
            .expect("routes")
            .iter()
            .find(|r| r["from"] == from && r["to"] == to)
            .cloned()
            .expect("route present")
    };
    let fwd = find("cl", "far-city");
    assert_eq!(fwd["one_way_ms"], 21.0);
    assert_eq!(fwd["verdict"], "violation");
    assert_eq!(
        fwd["path"],
        serde_json::json!(["cl", "transit", "far-city"])
    );
    // The asymmetric link makes the way back faster: 12 + 4.
    let back = find("far-city", "cl");
    assert_eq!(back["one_way_ms"], 16.0);
    assert_eq!(back["verdict"], "ok");
    assert_eq!(find("cl", "near-city")["verdict"], "ok");
}

#[test]
fn all_lists_every_ordered_pair() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(dir.path(), "small.yaml", SMALL);
    let out = run(&["plan", "--topology", &f, "--format", "json", "--all"]);
    assert_eq!(json(&out)["summary"]["routes"], 12);
}

#[test]
fn other_formats_render() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(dir.path(), "small.yaml", SMALL);
    let table = String::from_utf8(run(&["plan", "--topology", &f]).stdout).expect("utf8");
    let first = table.lines().next().unwrap_or("");
    assert!(first.starts_with("FROM"), "{table}");
    // Violations come first.
    assert!(
        table.lines().nth(1).unwrap_or("").contains("violation"),
        "{table}"
    );
    assert!(table.contains("4 routes: 3 ok, 1 violation,"), "{table}");
    let md =
        String::from_utf8(run(&["plan", "--topology", &f, "--format", "md"]).stdout).expect("utf8");
    assert!(
        md.contains("| FROM |") && md.contains("**violation**"),
        "{md}"
    );
    let dot = String::from_utf8(run(&["plan", "--topology", &f, "--format", "dot"]).stdout)
        .expect("utf8");
    assert!(
        dot.starts_with("digraph hubmesh {") && dot.trim_end().ends_with('}'),
        "{dot}"
    );
    assert!(dot.contains("\"cl\" -> \"far-city\" [color=red"), "{dot}");
}

#[test]
fn bad_input_exit_2_with_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = SMALL.replace("hub: rt, location: [30.6", "hub: nowhere, location: [30.6");
    let f = write(dir.path(), "bad.yaml", &bad);
    let out = run(&["plan", "--topology", &f]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).expect("utf8");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("bad.yaml:6:"), "names file and line: {err}");
    assert!(err.contains("nowhere"), "{err}");

    let out = run(&["plan", "--budgets", "plan-2099"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("plan-2099"));

    let out = run(&["plan", "--topology", "/nonexistent/topo.yaml"]);
    assert_eq!(out.status.code(), Some(2));

    let out = run(&["plan", "--format", "xml"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn budgets_file_overrides_topology_budgets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(dir.path(), "small.yaml", SMALL);
    let b = write(
        dir.path(),
        "budgets.yaml",
        "- {name: loose, from: {kind: cluster}, to: {kind: city}, one_way_ms: 30}\n",
    );
    let out = run(&[
        "plan",
        "--topology",
        &f,
        "--budgets",
        &b,
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json(&out)["summary"]["violations"], 0);
}
