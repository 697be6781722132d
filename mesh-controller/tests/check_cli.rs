//! Runs the real `mesh-controller check` binary on files in a temp dir: exit
//! codes, baseline regressions, JUnit XML and the Markdown summary.

use std::path::Path;
use std::process::Output;

mod cli_common;

use cli_common::{run, write};

/// Whether some line of `text`, split on whitespace, starts with `cells`.
fn has_row(text: &str, cells: &[&str]) -> bool {
    text.lines().any(|l| {
        let words: Vec<&str> = l.split_whitespace().collect();
        words.len() >= cells.len() && words[..cells.len()] == *cells
    })
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf8")
}

/// A real-time cluster and two cities of its hub; `far-city`'s link delay is
/// the knob (`FAR`). Every route is within plan-2021's 20 ms at FAR = 8.
const TOPO: &str = "\
version: 1
hubs:
  - {id: rt, role: realtime}
sites:
  - {id: cl, kind: cluster, hub: rt, location: [30.0, 104.0]}
  - {id: near-city, kind: city, hub: rt, location: [30.6, 104.1]}
  - {id: far-city, kind: city, hub: rt, location: [29.6, 106.5]}
links:
  - {between: [cl, near-city], delay_ms: 1.0}
  - {between: [cl, far-city], delay_ms: FAR}
budgets: plan-2021
";

fn topo(dir: &Path, name: &str, far_ms: f64) -> String {
    write(dir, name, &TOPO.replace("FAR", &far_ms.to_string()))
}

/// `plan --format json` of a topology, written as a baseline file.
fn baseline(dir: &Path, topo: &str) -> String {
    let out = run(&["plan", "--topology", topo, "--format", "json"]);
    assert!(out.status.code() == Some(0) || out.status.code() == Some(1));
    write(dir, "baseline.json", &stdout(&out))
}

#[test]
fn passing_and_violating_topologies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ok = topo(dir.path(), "ok.yaml", 8.0);
    let out = run(&["check", "--topology", &ok]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "passing: just the summary: {text}");
    assert!(
        text.starts_with("check passed: 4 routes (4 ok, 0 violations,"),
        "{text}"
    );

    let bad = topo(dir.path(), "bad.yaml", 25.0);
    let out = run(&["check", "--topology", &bad]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.starts_with("PROBLEM"), "{text}");
    assert!(
        text.starts_with("PROBLEM    FROM      TO        ONE-WAY ms  BUDGET ms  RULE\n"),
        "{text}"
    );
    let rule = "realtime-cluster-to-hub-city";
    assert!(
        has_row(
            &text,
            &["violation", "cl", "far-city", "25.00", "20.00", rule]
        ),
        "{text}"
    );
    assert!(
        has_row(
            &text,
            &["violation", "far-city", "cl", "25.00", "20.00", rule]
        ),
        "{text}"
    );
    assert!(
        text.trim_end()
            .ends_with("check failed: 4 routes (2 ok, 2 violations, 0 uncertain, 0 no data)"),
        "{text}"
    );
    // Budgets can be overridden as for plan.
    let out = run(&["check", "--topology", &bad, "--budgets", "plan-2023"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn baseline_regression_beyond_tolerance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let main = topo(dir.path(), "main.yaml", 8.0);
    let base = baseline(dir.path(), &main);
    // 1 ms slower: still within budget, but a regression past 0.5 ms.
    let slower = topo(dir.path(), "slower.yaml", 9.0);
    let out = run(&["check", "--topology", &slower, "--baseline", &base]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        has_row(
            &text,
            &["regression", "cl", "far-city", "9.00", "20.00", "8.00"]
        ),
        "{text}"
    );
    assert!(text.contains("2 regressions beyond 0.5 ms"), "{text}");
    // Within a wider tolerance, and a small change within the default one: pass.
    let out = run(&[
        "check",
        "--topology",
        &slower,
        "--baseline",
        &base,
        "--tolerance-ms",
        "1.5",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let slight = topo(dir.path(), "slight.yaml", 8.3);
    let out = run(&["check", "--topology", &slight, "--baseline", &base]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("0 regressions beyond 0.5 ms against"));
    // Faster is never a regression.
    let faster = topo(dir.path(), "faster.yaml", 3.0);
    let out = run(&["check", "--topology", &faster, "--baseline", &base]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn new_and_gone_routes_are_reported_not_failed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let main = topo(dir.path(), "main.yaml", 8.0);
    let base = baseline(dir.path(), &main);
    // The proposal renames near-city: its routes are gone, the new ones are new.
    let renamed = write(
        dir.path(),
        "renamed.yaml",
        &TOPO.replace("FAR", "8").replace("near-city", "new-city"),
    );
    let out = run(&["check", "--topology", &renamed, "--baseline", &base]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("(2 new, 2 gone)"), "{text}");
    assert!(
        text.contains("2 routes in the baseline, not in this table"),
        "{text}"
    );
}

/// Checks that `xml` is well formed enough for a JUnit consumer: one root,
/// properly nested and closed tags, quoted attributes, escaped text. Returns
/// the element names in document order.
fn xml_elements(xml: &str) -> Vec<String> {
    let body = xml
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
        .expect("XML declaration");
    let mut stack: Vec<String> = Vec::new();
    let mut names = Vec::new();
    let mut rest = body;
    let mut roots = 0;
    let check_text = |t: &str| {
        assert!(!t.contains('<') && !t.contains('>'), "raw markup in {t:?}");
        for (i, _) in t.match_indices('&') {
            let ent = &t[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                    .iter()
                    .any(|e| ent.starts_with(e)),
                "bad entity in {t:?}"
            );
        }
    };
    while let Some(open) = rest.find('<') {
        check_text(&rest[..open]);
        let close = rest[open..].find('>').expect("tag closes") + open;
        let tag = &rest[open + 1..close];
        rest = &rest[close + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "closing tag mismatch");
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let (name, attrs) = tag.split_once(' ').unwrap_or((tag, ""));
        if stack.is_empty() {
            roots += 1;
        }
        // Attributes: name="value" pairs; values hold no quotes or markup.
        let mut a = attrs.trim();
        while !a.is_empty() {
            let (key, after) = a.split_once("=\"").expect("attribute has a quoted value");
            assert!(!key.trim().is_empty() && !key.contains(' '), "attr {key:?}");
            let end = after.find('"').expect("attribute value closes");
            check_text(&after[..end]);
            a = after[end + 1..].trim_start();
        }
        names.push(name.to_string());
        if !self_closing {
            stack.push(name.to_string());
        }
    }
    check_text(rest);
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    assert_eq!(roots, 1, "one root element");
    names
}

#[test]
fn junit_and_markdown_name_the_failing_route() {
    let dir = tempfile::tempdir().expect("tempdir");
    let main = topo(dir.path(), "main.yaml", 8.0);
    let base = baseline(dir.path(), &main);
    let bad = topo(dir.path(), "bad.yaml", 25.0);
    let junit = dir.path().join("junit.xml");
    let md = dir.path().join("comment.md");
    let out = run(&[
        "check",
        "--topology",
        &bad,
        "--baseline",
        &base,
        "--junit",
        junit.to_str().expect("path"),
        "--markdown",
        md.to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    let names = xml_elements(&xml);
    assert_eq!(names.iter().filter(|n| *n == "testcase").count(), 4);
    assert_eq!(names.iter().filter(|n| *n == "failure").count(), 2);
    assert!(xml.contains("<testsuites name=\"hubmesh check\" tests=\"4\" failures=\"2\""));
    assert!(
        xml.contains(
            "<testcase classname=\"realtime-cluster-to-hub-city\" name=\"cl -&gt; far-city\""
        ),
        "{xml}"
    );
    // One failure carries both problems: over budget and slower than main.
    assert!(xml.contains("type=\"violation+regression\""), "{xml}");
    assert!(xml.contains("over the 20.00 ms budget"), "{xml}");
    assert!(xml.contains("8.00 ms in the baseline"), "{xml}");

    let comment = std::fs::read_to_string(&md).expect("markdown written");
    assert!(
        comment.starts_with("### hubmesh check: failed\n"),
        "{comment}"
    );
    assert!(
        comment.contains("| violation+regression | cl | far-city | 25.00 | 20.00 | 8.00 |"),
        "{comment}"
    );
}

#[test]
fn routes_file_is_rejudged_from_its_delays() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = topo(dir.path(), "bad.yaml", 25.0);
    let plan = stdout(&run(&["plan", "--topology", &bad, "--format", "json"]));
    let routes = write(dir.path(), "routes.json", &plan);
    let out = run(&["check", "--routes", &routes]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("2 violations"));
    // A verdict edited to "ok" does not hide a delay over its budget.
    let edited = write(
        dir.path(),
        "edited.json",
        &plan.replace("\"violation\"", "\"ok\""),
    );
    let out = run(&["check", "--routes", &edited]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    // And a table within budget passes.
    let ok = topo(dir.path(), "ok.yaml", 8.0);
    let plan_ok = stdout(&run(&["plan", "--topology", &ok, "--format", "json"]));
    let routes_ok = write(dir.path(), "ok.json", &plan_ok);
    let out = run(&["check", "--routes", &routes_ok, "--baseline", &routes_ok]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

/// The embedded topology fails the gate on Urumqi's edge routes (10 ms, the
/// carriers meet in Xining); with the exchange point `suggest` proposes there,
/// it passes.
#[test]
fn national_edge_routes_gate_and_the_exchange_point_passes() {
    let out = run(&["check", "--topology", "national"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    for (from, to) in [
        ("urumqi-edge@telecom", "urumqi@unicom"),
        ("urumqi@unicom", "urumqi-edge@telecom"),
        ("urumqi-edge@telecom", "urumqi@mobile"),
        ("urumqi@mobile", "urumqi-edge@telecom"),
    ] {
        assert!(
            has_row(&text, &["violation", from, to]),
            "{from} -> {to}: {text}"
        );
    }
    assert!(text.contains("edge-to-its-city"), "{text}");
    assert!(text.contains("4 violations"), "{text}");

    let dir = tempfile::tempdir().expect("tempdir");
    let tail = "\nbudgets: plan-2021\n";
    assert!(topology::national::NATIONAL_YAML.ends_with(tail));
    let with_exchange = topology::national::NATIONAL_YAML.replace(
        tail,
        "  - {site: urumqi, kind: internet-exchange, networks: [telecom, unicom, mobile], delay_ms: 0.3}\n\nbudgets: plan-2021\n",
    );
    let f = write(dir.path(), "urumqi-exchange.yaml", &with_exchange);
    let out = run(&["check", "--topology", &f]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).starts_with("check passed: 510 routes (510 ok,"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn bad_input_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let malformed = write(
        dir.path(),
        "broken.json",
        "{\"routes\": [\n  {\"from\": \"a\", \"to\": \"b\",, }\n]}\n",
    );
    let out = run(&["check", "--routes", &malformed]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).expect("utf8");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("broken.json:2:"), "names file:line:col: {err}");
    let col = err
        .split("broken.json:2:")
        .nth(1)
        .and_then(|s| s.split(':').next())
        .and_then(|s| s.parse::<usize>().ok());
    assert!(col.is_some(), "a column follows the line: {err}");

    // Valid JSON of the wrong shape, as a baseline.
    let ok = topo(dir.path(), "ok.yaml", 8.0);
    let wrong = write(dir.path(), "wrong.json", "{\"routes\": 3}\n");
    let out = run(&["check", "--topology", &ok, "--baseline", &wrong]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong.json:1:"));

    for args in [
        vec!["check"],
        vec!["check", "--topology", &ok, "--routes", &wrong],
        vec!["check", "--routes", &wrong, "--budgets", "plan-2023"],
        vec!["check", "--topology", &ok, "--tolerance-ms", "-1"],
        vec!["check", "--topology", "/nonexistent/t.yaml"],
        vec!["check", "--routes", "/nonexistent/r.json"],
        vec![
            "check",
            "--topology",
            &ok,
            "--junit",
            "/nonexistent/dir/j.xml",
        ],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}
