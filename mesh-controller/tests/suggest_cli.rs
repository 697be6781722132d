//! Runs the real `mesh-controller suggest` binary on files in a temp dir.

mod cli_common;

use cli_common::{json, run, write};

/// Two carriers in city x that exchange traffic only at far-away y.
const FAR_CROSSING: &str = "\
version: 1
networks:
  - {id: t}
  - {id: u}
sites:
  - {id: x, kind: city, location: [25.0, 102.7]}
  - {id: y, kind: city, location: [30.6, 104.1]}
links:
  - {between: [x, y], network: t, delay_ms: 8.0}
  - {between: [x, y], network: u, delay_ms: 9.0}
interconnects:
  - {site: y, kind: backbone-direct-connect, networks: [t, u], delay_ms: 0.3}
budgets: plan-2023
";

/// A real-time cluster that reaches its hub city only through a far router.
const DETOUR: &str = "\
version: 1
hubs:
  - {id: rt, role: realtime}
sites:
  - {id: cl, kind: cluster, hub: rt, location: [30.0, 104.0]}
  - {id: city, kind: city, hub: rt, location: [30.5, 104.5]}
  - {id: far, kind: router, location: [34.3, 108.9]}
links:
  - {between: [cl, far], delay_ms: 12.0}
  - {between: [far, city], delay_ms: 12.0}
budgets: plan-2021
";

#[test]
fn exchange_point_first_with_its_fixes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(dir.path(), "far.yaml", FAR_CROSSING);
    let out = run(&["suggest", "--topology", &f, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    let first = &v["suggestions"][0];
    assert_eq!(first["kind"], "exchange-point");
    assert_eq!(first["sites"], serde_json::json!(["x"]));
    assert_eq!(first["distance_km"], 0.0);
    let fixes = first["fixes"].as_array().expect("fixes");
    assert_eq!(fixes.len(), 2);
    for (from, to) in [("x@t", "x@u"), ("x@u", "x@t")] {
        let fix = fixes
            .iter()
            .find(|x| x["from"] == from && x["to"] == to)
            .unwrap_or_else(|| panic!("fix {from} -> {to}: {first}"));
        // Out to y on one carrier, across, and back on the other: 8 + 0.3 + 9.
        assert_eq!(fix["before_ms"], 17.3);
        assert_eq!(fix["after_ms"], 0.3);
    }
    assert_eq!(first["saved_ms_total"], 34.0);
    assert!(first["why"].as_str().unwrap_or("").contains("y"));
    assert_eq!(v["summary"]["violations_before"], 2);
    assert_eq!(v["summary"]["violations_after"], 0);

    let table = String::from_utf8(run(&["suggest", "--topology", &f]).stdout).expect("utf8");
    assert!(
        table.starts_with("1. exchange-point at x on t, u: +0.30 ms\n"),
        "{table}"
    );
    assert!(
        table.contains("   FROM  TO   BEFORE ms  AFTER ms"),
        "{table}"
    );
    assert!(
        table.contains("   x@t   x@u      17.30      0.30"),
        "{table}"
    );
}

#[test]
fn direct_link_k_and_route_factor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(dir.path(), "detour.yaml", DETOUR);
    let after = |rf: &str| {
        let out = run(&[
            "suggest",
            "--topology",
            &f,
            "--route-factor",
            rf,
            "--k",
            "1",
            "--format",
            "json",
        ]);
        assert_eq!(out.status.code(), Some(0));
        let v = json(&out);
        let s = v["suggestions"].as_array().expect("suggestions").clone();
        assert_eq!(s.len(), 1, "--k 1");
        assert_eq!(s[0]["kind"], "direct-link");
        assert_eq!(s[0]["sites"], serde_json::json!(["cl", "city"]));
        assert_eq!(s[0]["fixes"][0]["before_ms"], 24.0);
        let km = s[0]["distance_km"].as_f64().expect("km");
        let after = s[0]["fixes"][0]["after_ms"].as_f64().expect("after");
        (km, after)
    };
    let (km, at_15) = after("1.5");
    assert!((km - 73.5).abs() < 0.1, "{km}");
    assert!((at_15 - km * 1.5 * 0.0049).abs() < 0.01, "{at_15}");
    let (_, at_2) = after("2");
    assert!((at_2 - km * 2.0 * 0.0049).abs() < 0.01, "{at_2}");
    let out = run(&["suggest", "--topology", &f, "--k", "0", "--format", "json"]);
    assert_eq!(json(&out)["suggestions"], serde_json::json!([]));
}

#[test]
fn national_2023_suggestions_fix_violations_plan_reports() {
    let plan = run(&["plan", "--budgets", "plan-2023", "--format", "json"]);
    let violations = json(&plan)["summary"]["violations"].clone();
    let out = run(&["suggest", "--budgets", "plan-2023", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["summary"]["violations_before"], violations);
    let s = v["suggestions"].as_array().expect("suggestions");
    assert_eq!(s.len(), 5);
    let mut fixed = 0;
    let mut last = u64::MAX;
    for x in s {
        let n = x["fixes"].as_array().expect("fixes").len() as u64;
        assert!(n > 0, "plan-2023 leaves plenty to fix: {x}");
        assert!(n <= last, "most fixes first");
        last = n;
        fixed += n;
        assert!(x["kind"] == "direct-link" || x["kind"] == "exchange-point");
    }
    assert_eq!(
        v["summary"]["violations_after"].as_u64(),
        violations.as_u64().map(|b| b - fixed)
    );
}

/// On the embedded topology against plan-2021 the only routes over budget are
/// Urumqi's edge data centre and the city's users on the other carriers, who
/// meet in Xining: the first suggestion is an exchange point in Urumqi.
#[test]
fn national_exchange_point_fixes_the_edge_routes() {
    let out = run(&["suggest", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["summary"]["violations_before"], 4);
    assert_eq!(v["summary"]["violations_after"], 0);
    let s = v["suggestions"].as_array().expect("suggestions");
    assert_eq!(s[0]["kind"], "exchange-point");
    assert_eq!(s[0]["sites"], serde_json::json!(["urumqi"]));
    let fixes = s[0]["fixes"].as_array().expect("fixes");
    assert_eq!(fixes.len(), 4);
    for f in fixes {
        assert_eq!(f["rule"], "edge-to-its-city", "{f}");
        assert_eq!(f["budget_ms"], 10.0);
        assert!(f["before_ms"].as_f64().is_some_and(|b| b > 20.0), "{f}");
        // Metro fibre to the city and the new crossing there.
        assert!(
            f["after_ms"].as_f64().is_some_and(|a| a <= 0.5 + 1e-9),
            "{f}"
        );
        let ends = [f["from"].as_str(), f["to"].as_str()];
        assert!(ends.contains(&Some("urumqi-edge@telecom")), "{f}");
    }
    // An edge data centre and its city are in one place: no direct link
    // between them is offered, however many suggestions are asked for.
    let out = run(&["suggest", "--k", "20", "--format", "json"]);
    for x in json(&out)["suggestions"].as_array().expect("suggestions") {
        if x["kind"] == "direct-link" {
            assert!(x["distance_km"].as_f64().is_some_and(|d| d >= 1.0), "{x}");
        }
    }
}

#[test]
fn bad_input_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = FAR_CROSSING.replace("network: u, delay_ms: 9.0", "network: w, delay_ms: 9.0");
    let f = write(dir.path(), "bad.yaml", &bad);
    let out = run(&["suggest", "--topology", &f]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).expect("utf8");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("bad.yaml:10:"), "names file and line: {err}");

    let ok = write(dir.path(), "ok.yaml", FAR_CROSSING);
    for args in [
        vec!["suggest", "--topology", &ok, "--route-factor", "0.5"],
        vec!["suggest", "--topology", &ok, "--route-factor", "NaN"],
        vec!["suggest", "--topology", &ok, "--budgets", "plan-2099"],
        vec!["suggest", "--topology", &ok, "--format", "dot"],
        vec!["suggest", "--topology", &ok, "--k", "-1"],
        vec!["suggest", "--topology", "/nonexistent/t.yaml"],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn write_topology_adds_the_first_suggestions_and_check_then_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(dir.path(), "far.yaml", FAR_CROSSING);
    let fixed = dir.path().join("fixed.yaml");
    let fixed_s = fixed.display().to_string();
    let before = run(&["check", "--topology", &f]);
    assert_eq!(before.status.code(), Some(1), "the far crossing fails");
    let out = run(&[
        "suggest",
        "--topology",
        &f,
        "--apply",
        "1",
        "--write-topology",
        &fixed_s,
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("wrote {fixed_s}: {f} with 1 suggestion(s) added")),
        "{stdout}"
    );
    let text = std::fs::read_to_string(&fixed).expect("written");
    assert!(
        text.contains("1. exchange-point x on t, u: 0.30 ms"),
        "{text}"
    );
    assert!(
        text.contains(
            r#"- {site: "x", kind: internet-exchange, networks: ["t", "u"], delay_ms: 0.3}"#
        ),
        "{text}"
    );
    let after = run(&["check", "--topology", &fixed_s]);
    assert_eq!(after.status.code(), Some(0), "{after:?}");
    assert!(String::from_utf8_lossy(&after.stdout).contains("check passed"));
    // Zero applied: the base as it was, and check fails as before.
    let same = dir.path().join("same.yaml").display().to_string();
    let out = run(&[
        "suggest",
        "--topology",
        &f,
        "--apply",
        "0",
        "--write-topology",
        &same,
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(run(&["check", "--topology", &same]).status.code(), Some(1));
}

#[test]
fn write_topology_on_another_base_and_its_refusals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(dir.path(), "far.yaml", FAR_CROSSING);
    let detour = write(dir.path(), "detour.yaml", DETOUR);
    let out_path = dir.path().join("out.yaml").display().to_string();
    // More than were made.
    let out = run(&[
        "suggest",
        "--topology",
        &f,
        "--apply",
        "9",
        "--write-topology",
        &out_path,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("9 suggestions asked for"));
    // A suggestion for x on t and u cannot go on a topology without them.
    let out = run(&[
        "suggest",
        "--topology",
        &f,
        "--base",
        &detour,
        "--write-topology",
        &out_path,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("names no site \"x\""),
        "{out:?}"
    );
    // --server needs to be told the base.
    let out = run(&[
        "suggest",
        "--server",
        "http://127.0.0.1:9",
        "--write-topology",
        &out_path,
    ]);
    assert_eq!(out.status.code(), Some(2));
    // JSON stays one document on stdout.
    let out = run(&[
        "suggest",
        "--topology",
        &f,
        "--format",
        "json",
        "--write-topology",
        &out_path,
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(json(&out)["suggestions"].is_array());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrote "));
    assert!(!std::path::Path::new(&format!("{out_path}.tmp")).exists());
}
