//! A bad configuration stops `serve` and `token add` with one line naming the
//! file, line and column, and exit status 2.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serve_common;

use serve_common::*;

fn serve_fails(config: &str, extra_files: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mesh.yaml");
    std::fs::write(&path, config).unwrap();
    for (name, text) in extra_files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let db = dir.path().join("h.db");
    let out = run(&[
        "serve",
        "--config",
        path.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    err.trim().to_string()
}

#[test]
fn bad_configs_exit_2_with_a_position() {
    let probes = [("cl-1", "cl"), ("a-1", "nowhere")];
    let err = serve_fails(&config_with(&probes, ""), &[]);
    // probes[1] is on line 15 of the generated file; `site:` value at column 21.
    assert!(
        err.contains("mesh.yaml:15:21: probes[1].site: unknown site \"nowhere\""),
        "{err}"
    );

    let err = serve_fails(
        &config_with(&[("cl-1", "cl")], "measurement: {interval: fast}\n"),
        &[],
    );
    assert!(err.contains("mesh.yaml:16:"), "{err}");
    assert!(err.contains("duration"), "{err}");

    let err = serve_fails(&config_with(&[("cl-1", "cl")], "colour: red\n"), &[]);
    assert!(
        err.contains("mesh.yaml:16:1: unknown field `colour`"),
        "{err}"
    );

    // Inline topology errors point into the config itself.
    let bad = config_with(&[("cl-1", "cl")], "").replace("[cl, city-b]", "[cl, city-z]");
    let err = serve_fails(&bad, &[]);
    assert!(err.contains("mesh.yaml:11:22:"), "{err}");
    assert!(
        err.contains("topology.links[1].between[1]: unknown site \"city-z\""),
        "{err}"
    );

    // A topology in its own file: errors name that file.
    let err = serve_fails(
        "topology: topo.yaml\nprobes: []\n",
        &[(
            "topo.yaml",
            "version: 1\nsites:\n  - {id: x, kind: moon, location: [1, 2]}\n",
        )],
    );
    assert!(err.contains("topo.yaml:3:"), "{err}");
    assert!(err.contains("kind"), "{err}");

    let err = serve_fails("topology: national\nprobes: [\n", &[]);
    assert!(err.contains("mesh.yaml:"), "{err}");

    // token add refuses a bad config the same way.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mesh.yaml");
    std::fs::write(&path, config_with(&probes, "")).unwrap();
    let out = run(&["token", "add", "--config", path.to_str().unwrap(), "cl-1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("mesh.yaml:15:21:"));
    assert!(!dir.path().join("secrets.yaml").exists());
}

#[test]
fn bad_alerts_and_history_sections_exit_2_with_a_position() {
    let with = |extra: &str| config_with(&[("cl-1", "cl")], extra);
    // Line 16 is the first line after the generated file.
    for (extra, at, what) in [
        ("alerts: {for: 3 parsecs}\n", "mesh.yaml:16:", "duration"),
        ("alerts: {loss_pct: 0}\n", "mesh.yaml:16:", "alerts.loss_pct: expected a loss percentage above 0"),
        ("alerts: {hysteresis_ms: -1}\n", "mesh.yaml:16:", "alerts.hysteresis_ms"),
        ("alerts: {no_data_after: 1s}\n", "mesh.yaml:16:", "alerts.no_data_after: expected 10s to 7d"),
        ("alerts: {window: 10s}\n", "mesh.yaml:16:", "alerts.window: expected a look-back from one fine rollup bucket (60 s)"),
        ("alerts: {evaluate_every: 1h}\n", "mesh.yaml:16:", "alerts.evaluate_every"),
        ("alerts: {colour: red}\n", "mesh.yaml:16:", "unknown field `colour`"),
        (
            "alerts:\n  receivers:\n    - {name: ops, url: \"http://127.0.0.1:9/\", ca_file: ca.pem}\n",
            "mesh.yaml:18:",
            "alerts.receivers[0].ca_file: a CA file is for an https:// receiver",
        ),
        (
            "alerts:\n  receivers:\n    - {name: ops, url: \"https://127.0.0.1:9/\", ca_file: missing.pem}\n",
            "mesh.yaml:18:",
            "alerts.receivers[0].ca_file: no such file",
        ),
        (
            "alerts:\n  receivers:\n    - {name: ops, url: \"ftp://x\"}\n",
            "mesh.yaml:18:",
            "expected http://host:port/path",
        ),
        (
            "alerts:\n  receivers:\n    - {name: ops, url: \"http://127.0.0.1:9/\"}\n    - {name: ops, url: \"http://127.0.0.1:9/\"}\n",
            "mesh.yaml:19:",
            "duplicate receiver \"ops\"",
        ),
        (
            "alerts:\n  receivers:\n    - {name: ops, url: \"http://127.0.0.1:9/\", secret_file: missing.secret}\n",
            "mesh.yaml:18:",
            "alerts.receivers[0].secret_file: cannot read",
        ),
        ("history: {fine: 7s}\n", "mesh.yaml:16:", "history.fine: expected a fine rollup bucket"),
    ] {
        let err = serve_fails(&with(extra), &[]);
        assert!(err.contains(at) && err.contains(what), "{extra}: {err}");
    }
}
