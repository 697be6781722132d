//! Monitoring over time, end to end with real packets: agents in every site
//! of a small lab (tests/labs/monitor.yaml), the controller inside the
//! cluster's site with an `alerts:` section, and a webhook receiver
//! (scripts/webhook-sink.py) beside it. Mid-run the lab changes under them
//! with `netlab link set`:
//!
//! 1. cl -> city-b's direct link goes from 4 to 12 ms forward (the same
//!    path): the over-budget alert fires within `for` plus two windows (and an
//!    evaluation), `/metrics` shows its gauge, the receiver gets it once; the
//!    controller is SIGKILLed and restarted; the delay goes back to 4 ms and
//!    the alert resolves, the receiver getting that once too; `/v1/series`
//!    shows the step up and down, and both level shifts are events.
//! 2. The direct link is cut: traffic takes cl > r > city-b (10 ms), a path
//!    change is reported, and the +6 ms level shift is linked to it.
//!
//! Needs root (skips with the reason otherwise), python3, and the `probe` and
//! `mesh-controller` binaries beside `netlab` (scripts/test.sh builds them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::mesh::Mesh;
use common::{logs, retry, spawn_logged, Lab};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const SITES: [&str; 4] = ["cl", "city-a", "city-b", "r"];
/// `alerts.for` and the measurement window of the test's configuration.
const HOLD_S: u64 = 6;
const WINDOW_S: u64 = 2;
const EVALUATE_S: u64 = 1;
/// The controller's level-shift window W (`ShiftParams::default().window`).
const SHIFT_WINDOWS: u64 = 6;

/// GET of a URL from inside the cluster's site (where the controller is):
/// the body, or None when it does not answer 200.
fn get(lab: &Lab, url: &str) -> Option<String> {
    let out = lab.exec(
        "cl",
        &[
            "python3",
            "-c",
            "import sys,urllib.request;sys.stdout.write(urllib.request.urlopen(sys.argv[1],timeout=10).read().decode())",
            url,
        ],
    );
    out.status.success().then(|| common::stdout(&out))
}

fn get_json(lab: &Lab, url: &str) -> Option<Value> {
    serde_json::from_str(&get(lab, url)?).ok()
}

/// The webhooks the receiver got: (status, alertname, from, to, direction).
fn hooks(file: &Path) -> Vec<(String, String, String, String, String)> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let rec: Value = serde_json::from_str(l).ok()?;
            assert!(
                rec["headers"]["x-hubmesh-signature"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("sha256=")),
                "unsigned webhook: {rec}"
            );
            let body: Value = serde_json::from_str(rec["body"].as_str()?).ok()?;
            let l = &body["alerts"][0]["labels"];
            let s = |v: &Value| v.as_str().unwrap_or("").to_string();
            Some((
                s(&body["status"]),
                s(&l["alertname"]),
                s(&l["from"]),
                s(&l["to"]),
                s(&l["direction"]),
            ))
        })
        .collect()
}

fn over_budget_hooks(file: &Path) -> Vec<String> {
    hooks(file)
        .into_iter()
        .filter(|h| {
            h.1 == "HubmeshRouteOverBudget" && h.2 == "cl" && h.3 == "city-b" && h.4 == "forward"
        })
        .map(|h| h.0)
        .collect()
}

fn firing_over_budget(lab: &Lab, url: &str) -> Option<Value> {
    get_json(lab, &format!("{url}/v1/alerts?state=firing"))?["alerts"]
        .as_array()?
        .iter()
        .find(|a| {
            a["alertname"] == "HubmeshRouteOverBudget"
                && a["to"] == "city-b"
                && a["direction"] == "forward"
        })
        .cloned()
}

fn events(lab: &Lab, url: &str) -> Vec<Value> {
    get_json(lab, &format!("{url}/v1/events?since=10m&from=cl&to=city-b"))
        .and_then(|v| v["events"].as_array().cloned())
        .unwrap_or_default()
}

fn link_set(lab: &Lab, args: &[&str]) -> Instant {
    let mut all = vec!["link", "set", "--name", &lab.name];
    all.extend_from_slice(args);
    let out = common::netlab(&all);
    assert!(
        out.status.success(),
        "link set {args:?}: {}",
        common::stderr(&out)
    );
    Instant::now()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn alerts_events_and_series_follow_the_lab_as_it_changes() {
    require_lab!();
    if !common::tool_exists("python3") {
        eprintln!("skipped: no python3 (Debian package python3) for the webhook receiver");
        return;
    }
    let sink = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/webhook-sink.py");

    let lab = Lab::up("monitor.yaml", "monitor");
    let addrs: Vec<String> = SITES.iter().map(|s| lab.addr(s)).collect();

    let mut config = format!(
        "topology: {}\nprobes:\n",
        common::lab_file("monitor.yaml").display()
    );
    for (site, addr) in SITES.iter().zip(&addrs) {
        config += &format!("  - {{id: {site}, site: {site}, stamp: \"{addr}:8620\"}}\n");
    }
    config += "secrets: secrets.yaml\n";
    config += &format!("measurement: {{interval: 50ms, window: {WINDOW_S}s, timeout: 1s}}\n");
    config += "icmp: {ping_interval: 500ms, trace_period: 10s, max_hops: 8}\n";
    config += "history: {fine: 5s}\n";
    config += &format!(
        "alerts:\n  for: {HOLD_S}s\n  resolve_for: 6s\n  hysteresis_ms: 1\n  window: 5s\n  evaluate_every: {EVALUATE_S}s\n  no_data_after: 1m\n  \
         receivers:\n    - {{name: lab, url: \"http://{}:9099/hook\", secret_file: lab.secret}}\n",
        addrs[0]
    );
    let secret = [("lab.secret", "lab-secret\n")];
    let Some(mut mesh) = Mesh::with_files("monitor-e2e", &config, &SITES, &secret) else {
        return;
    };
    let work = mesh.work().to_path_buf();
    let work = work.as_path();
    let hooks_file = work.join("hooks.jsonl");

    let listen = format!("{}:8680", addrs[0]);
    mesh.url = format!("http://{listen}");
    let url = mesh.url.clone();
    let mut ctl = mesh.spawn_controller(&lab, "cl", &listen, "controller.log");
    let _sink = spawn_logged(
        &lab,
        "cl",
        &[
            "python3",
            sink.to_str().unwrap(),
            "--listen",
            &format!("{}:9099", addrs[0]),
            "--out",
            hooks_file.to_str().unwrap(),
        ],
        &work.join("sink.log"),
    );
    let up = retry(Duration::from_secs(15), || {
        get(&lab, &format!("{url}/healthz"))
    });
    assert!(
        up.is_some(),
        "the controller never answered\n{}",
        logs(work)
    );
    for (site, addr) in SITES.iter().zip(&addrs) {
        mesh.agent(&lab, site, site, &format!("{addr}:8620"), &[]);
    }

    // A baseline long enough for the level-shift test (six windows before).
    let t_start = now_ms();
    let baseline = retry(Duration::from_secs(60), || {
        std::thread::sleep(Duration::from_secs(1));
        let s = get_json(
            &lab,
            &format!("{url}/v1/series?from=cl&to=city-b&since=2m&step=5s"),
        )?;
        let n: u64 = s["points"]
            .as_array()?
            .iter()
            .map(|p| p["windows"].as_u64().unwrap_or(0))
            .sum();
        (n >= 16).then_some(())
    });
    assert!(baseline.is_some(), "no baseline measured\n{}", logs(work));
    std::thread::sleep(Duration::from_secs(6));
    assert!(
        firing_over_budget(&lab, &url).is_none(),
        "over budget before any change"
    );

    // 1. Same path, 12 ms forward: fires within `for` + two windows (and one
    // evaluation period).
    let t_raise = link_set(&lab, &["cl", "city-b", "--forward", "12", "--reverse", "4"]);
    let raised_ms = now_ms();
    let fired = retry(Duration::from_secs(40), || firing_over_budget(&lab, &url));
    let a = fired.unwrap_or_else(|| panic!("the alert never fired\n{}", logs(work)));
    let fired_after = a["fired_at"].as_u64().unwrap().saturating_sub(raised_ms);
    let limit = (HOLD_S + 2 * WINDOW_S + EVALUATE_S) * 1000;
    assert!(
        fired_after <= limit,
        "fired {fired_after} ms after the change, limit {limit} ms (for + two windows + an evaluation): {a}"
    );
    assert!(
        t_raise.elapsed() >= Duration::from_secs(HOLD_S),
        "fired before `for`"
    );
    let metrics = get(&lab, &format!("{url}/metrics")).unwrap_or_default();
    assert!(
        metrics.contains("hubmesh_alert_firing{alertname=\"HubmeshRouteOverBudget\",from=\"cl\",to=\"city-b\",direction=\"forward\""),
        "{metrics}"
    );
    let delivered = retry(Duration::from_secs(20), || {
        (over_budget_hooks(&hooks_file) == ["firing"]).then_some(())
    });
    assert!(
        delivered.is_some(),
        "firing webhook: {:?}\n{}",
        hooks(&hooks_file),
        logs(work)
    );

    // SIGKILL and restart between firing and resolved.
    ctl.0.kill().unwrap();
    let _ = ctl.0.wait();
    ctl = mesh.spawn_controller(&lab, "cl", &listen, "controller-2.log");
    let back = retry(Duration::from_secs(15), || {
        get(&lab, &format!("{url}/healthz"))
    });
    assert!(back.is_some(), "no restart\n{}", logs(work));
    std::thread::sleep(Duration::from_secs(3));
    let still = firing_over_budget(&lab, &url).expect("still firing after the restart");
    assert_eq!(still["fired_at"], a["fired_at"]);
    // The level-shift test compares the medians of W windows on each side of
    // a step, so the 12 ms plateau must hold W clean windows (and the two
    // that straddle its edges) before it ends, however fast the alert fired.
    let plateau = Duration::from_secs((SHIFT_WINDOWS + 2) * WINDOW_S);
    if let Some(rest) = plateau.checked_sub(t_raise.elapsed()) {
        std::thread::sleep(rest);
    }

    // Back to 4 ms: resolves; each notification exactly once.
    link_set(&lab, &["cl", "city-b", "--delay", "4"]);
    let resolved = retry(Duration::from_secs(60), || {
        (over_budget_hooks(&hooks_file) == ["firing", "resolved"]).then_some(())
    });
    assert!(
        resolved.is_some(),
        "resolved webhook: {:?}\n{}",
        hooks(&hooks_file),
        logs(work)
    );

    // The series shows the step up and back down.
    let s = get_json(
        &lab,
        &format!(
            "{url}/v1/series?from=cl&to=city-b&since={}s&step=5s",
            (now_ms() - t_start) / 1000 + 10
        ),
    )
    .expect("series");
    let fwd: Vec<f64> = s["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["forward"]["p50"].as_f64())
        .collect();
    assert!(
        fwd.iter().any(|v| (v - 12.0).abs() < 1.0),
        "no 12 ms point: {s}"
    );
    assert!(fwd.first().is_some_and(|v| (v - 4.0).abs() < 1.0), "{s}");
    assert!(fwd.last().is_some_and(|v| (v - 4.0).abs() < 1.0), "{s}");
    let shifts = retry(Duration::from_secs(30), || {
        let e = events(&lab, &url);
        let deltas: Vec<f64> = e
            .iter()
            .filter(|x| x["kind"] == "level-shift" && x["direction"] == "forward")
            .filter_map(|x| x["delta_ms"].as_f64())
            .collect();
        (deltas.iter().any(|d| (d - 8.0).abs() < 1.5)
            && deltas.iter().any(|d| (d + 8.0).abs() < 1.5))
        .then_some(deltas)
    });
    assert!(
        shifts.is_some(),
        "level shifts up and down: {:?}\nforward p50 by 5 s: {fwd:?}",
        events(&lab, &url)
    );

    // 2. Cut the direct link: a path change, and the shift it explains.
    link_set(&lab, &["cl", "city-b", "--down"]);
    let linked = retry(Duration::from_secs(90), || {
        let e = events(&lab, &url);
        let change = e.iter().find(|x| {
            x["kind"] == "path-change"
                && x["direction"] == "forward"
                && x["new_path"] == serde_json::json!(["cl", "r", "city-b"])
        })?;
        assert_eq!(
            change["old_path"],
            serde_json::json!(["cl", "city-b"]),
            "{change}"
        );
        let shift = e.iter().find(|x| x["id"] == change["linked"])?;
        assert_eq!(shift["kind"], "level-shift", "{shift}");
        Some((change.clone(), shift.clone()))
    });
    let (change, shift) = linked.unwrap_or_else(|| {
        panic!(
            "no linked path change and shift: {:#?}\n{}",
            events(&lab, &url),
            logs(work)
        )
    });
    let delta = shift["delta_ms"].as_f64().unwrap();
    assert!(
        (delta - 6.0).abs() < 1.5,
        "4 ms direct to 10 ms round: {shift}"
    );
    assert_eq!(shift["linked"], change["id"]);
    assert!(
        shift["summary"]
            .as_str()
            .unwrap()
            .contains("path cl > city-b became cl > r > city-b"),
        "{shift}"
    );
    mesh.stop();
    drop(ctl);
}
