//! The console in a real browser: a controller whose route cl -> city-a goes
//! over budget until its alert fires; headless Chromium (driven through
//! Debian's chromedriver over WebDriver) loads `GET /`, waits for the first
//! render, clicks the route over budget and checks that the chart drew as
//! many points as `/v1/series` has and marks the alert, and that a later
//! poll shows a second route going over budget; then the same from
//! the `report --format html` file opened from disk (its snapshot, no
//! server). Skips, saying why, without chromium or chromedriver unless `CI`
//! is set. `HUBMESH_SCREENSHOT=path.png` saves the live page with the route
//! panel open.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serve_common;
mod webdriver;

use serde_json::json;
use serve_common::*;
use std::time::{Duration, Instant};
use webdriver::{browser_or_skip, Driver};

const PROBES: [(&str, &str); 3] = [("cl-1", "cl"), ("a-1", "city-a"), ("b-1", "city-b")];

struct Feed {
    seq: u64,
}

impl Feed {
    /// A history: a window a minute for the last `minutes` minutes, both
    /// routes within budget (cl -> city-a about 4 ms, some loss now and then).
    fn backfill(&mut self, ctl: &Ctl, minutes: u64) {
        for k in (1..=minutes).rev() {
            self.seq += 2;
            let lost = u32::from(k % 7 == 0) * 2;
            let a = window(100, lost, 4.0 + (k % 5) as f64 * 0.3, 3.0, unsync_clock());
            let b = window(100, 0, 5.0, 5.0, unsync_clock());
            let (status, ack) = ctl.post_json(
                "/v1/windows",
                ctl.token("cl-1"),
                &batch(
                    "cl-1",
                    &[(self.seq - 1, "a-1", &a), (self.seq, "b-1", &b)],
                    k * 60_000,
                ),
            );
            assert_eq!(status, 200, "{ack}");
        }
    }

    /// One window cl-1 -> a-1 (forward `fwd` ms) and one cl-1 -> b-1 (5 ms).
    fn upload(&mut self, ctl: &Ctl, fwd: f64) {
        self.seq += 2;
        let a = window(100, 0, fwd, 3.0, unsync_clock());
        let b = window(100, 0, 5.0, 5.0, unsync_clock());
        let (status, ack) = ctl.post_json(
            "/v1/windows",
            ctl.token("cl-1"),
            &batch(
                "cl-1",
                &[(self.seq - 1, "a-1", &a), (self.seq, "b-1", &b)],
                0,
            ),
        );
        assert_eq!(status, 200, "{ack}");
    }
}

fn alert_firing(ctl: &Ctl) -> bool {
    ctl.get_json("/v1/alerts?state=firing")["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["alertname"] == "HubmeshRouteOverBudget")
}

const RENDERED: &str = "return document.body.dataset.rendered === '1'";
const CHART_READY: &str = "const c = document.querySelector('#route-chart'); \
     return !!c && c.dataset.state === 'ready'";

/// Points of cl -> city-a's series as the console asks for it.
fn series_points(ctl: &Ctl) -> u64 {
    let series = ctl.get_json("/v1/series?from=cl&to=city-a&since=1h&step=auto");
    series["points"].as_array().unwrap().len() as u64
}

/// What the open route panel shows: (route, points drawn, alert markers,
/// event markers).
fn panel_state(d: &Driver) -> (String, u64, u64, u64) {
    let v = d.execute(
        "const c = document.querySelector('#route-chart'); \
         return [c.dataset.route, Number(c.dataset.points), \
                 c.querySelectorAll('[data-marker=\"alert\"]').length, \
                 c.querySelectorAll('[data-marker=\"event\"]').length]",
        json!([]),
    );
    (
        v[0].as_str().unwrap().to_string(),
        v[1].as_u64().unwrap(),
        v[2].as_u64().unwrap(),
        v[3].as_u64().unwrap(),
    )
}

#[test]
fn console_shows_the_route_over_budget_live_and_from_the_report_file() {
    let Some((chromium, chromedriver)) = browser_or_skip() else {
        return;
    };
    let extra = "history: {fine: 10s}\n\
                 alerts: {for: 2s, resolve_for: 3s, window: 10s, evaluate_every: 1s, no_data_after: 5m}\n";
    let ctl = Ctl::start(&config_with(&PROBES, extra), &["cl-1", "a-1", "b-1"]);
    ctl.hello("cl-1", "boot-x");
    ctl.hello("a-1", "boot-x");
    ctl.hello("b-1", "boot-x");
    let mut feed = Feed { seq: 0 };
    feed.backfill(&ctl, 40);
    for _ in 0..3 {
        feed.upload(&ctl, 5.0);
        std::thread::sleep(Duration::from_millis(300));
    }
    // 25 ms forward against the 20 ms budget until the alert fires.
    let t0 = Instant::now();
    while !alert_firing(&ctl) {
        feed.upload(&ctl, 25.0);
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the over-budget alert did not fire: {}",
            ctl.log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // One bandwidth test, for the throughput table under the map.
    let (status, ack) = ctl.post_json(
        "/v1/results",
        ctl.token("cl-1"),
        &json!({"probe": "cl-1", "results": [{
            "seq": 1, "target": "a-1", "start_unix_ms": now_ms() - 1000, "kind": "bandwidth",
            "direction": "forward", "protocol": "tcp", "streams": 1, "duration_s": 1.0,
            "throughput_mbit": 900.0, "retransmits": 0, "loss_pct": null, "jitter_us": null}]}),
    );
    assert_eq!(status, 200, "{ack}");
    let report = ctl.get_json("/v1/report?format=json");
    assert_eq!(report["violations"][0]["from"], "cl", "{report}");
    assert_eq!(report["violations"][0]["to"], "city-a", "{report}");
    let series = ctl.get_json("/v1/series?from=cl&to=city-a&since=1h&step=auto");
    let points = series["points"].as_array().unwrap().len() as u64;
    assert!(points > 0, "{series}");

    let d = Driver::start(&chromium, &chromedriver);

    // Live: the page polls the API.
    d.goto(&format!("{}/", ctl.url()));
    d.wait_until("the first render", RENDERED, 30);
    let shown = d.execute(
        "return [document.querySelector('#map').dataset.sites, \
                 document.querySelector('#alerts').dataset.count, \
                 document.querySelector('#violations').dataset.count, \
                 document.querySelectorAll('#map .route.v-violation').length, \
                 document.querySelectorAll('#map .route.v-ok').length, \
                 document.querySelector('#freshness').dataset.level, \
                 performance.getEntriesByName('hubmesh-first-render').length]",
        json!([]),
    );
    assert_eq!(shown, json!(["3", "1", "1", 1, 1, "fresh", 1]), "{shown}");
    let throughput = d.execute(
        "const t = document.querySelector('#throughput'); \
         return [t.dataset.count, t.querySelector('tbody tr').textContent]",
        json!([]),
    );
    assert_eq!(throughput[0], "1", "{throughput}");
    assert!(
        throughput[1].as_str().unwrap().contains("900.0"),
        "{throughput}"
    );
    // The alert leads: it is the first list.
    let first_list = d.execute(
        "return document.querySelector('#lists section').id",
        json!([]),
    );
    assert_eq!(first_list, "alerts");

    d.click("#violations li.row[data-from=\"cl\"][data-to=\"city-a\"]");
    d.wait_until("the route chart", CHART_READY, 30);
    let (route, drawn, alert_marks, _) = panel_state(&d);
    assert_eq!(route, "cl|city-a");
    // No window arrived since: the browser's series is the test's, read
    // before or after it (which rows a look-back of `1h` reads can move
    // with the clock between two reads: a point more or less).
    let points_after = series_points(&ctl);
    assert!(
        drawn == points || drawn == points_after,
        "chart points {drawn} against /v1/series {points} (before) and {points_after} (after)"
    );
    assert!(alert_marks >= 1, "no alert marker on the chart");
    // The chart says how wide the bands behind its figures are (the series
    // read before or after it).
    let widest = |s: &serde_json::Value| {
        s["points"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["error_ms"].as_f64())
            .fold(0.0, f64::max)
    };
    let after = ctl.get_json("/v1/series?from=cl&to=city-a&since=1h&step=auto");
    let note = d.execute(
        "return document.querySelector('#route-chart .chart-note').textContent",
        json!([]),
    );
    let note = note.as_str().unwrap();
    assert!(
        [widest(&series), widest(&after)]
            .iter()
            .any(|w| note.contains(&format!("± up to {w:.3} ms"))),
        "{note} (widest band {} before, {} after)",
        widest(&series),
        widest(&after)
    );
    if let Ok(path) = std::env::var("HUBMESH_SCREENSHOT") {
        if !path.is_empty() {
            std::fs::write(&path, d.screenshot()).unwrap();
            eprintln!("screenshot: {path}");
        }
    }

    // Live: cl -> city-b goes over budget too; the next poll (every 10 s)
    // lists it, with the panel still open.
    let b = window(100, 0, 25.0, 5.0, unsync_clock());
    feed.seq += 1;
    let (status, ack) = ctl.post_json(
        "/v1/windows",
        ctl.token("cl-1"),
        &batch("cl-1", &[(feed.seq, "b-1", &b)], 0),
    );
    assert_eq!(status, 200, "{ack}");
    d.wait_until(
        "the next poll to list the second route over budget",
        "return document.querySelector('#violations').dataset.count === '2' \
             && document.querySelectorAll('#map .route.v-violation').length === 2",
        30,
    );
    assert_eq!(
        d.execute(
            "return document.querySelector('#route-panel').dataset.route",
            json!([])
        ),
        "cl|city-a"
    );

    // The report file: one self-contained page, read from disk.
    let before_report = series_points(&ctl);
    let file = ctl.dir.path().join("report.html");
    let out = run(&[
        "report",
        "--db",
        ctl.db.to_str().unwrap(),
        "--config",
        ctl.config.to_str().unwrap(),
        "--format",
        "html",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after_report = series_points(&ctl);
    let html = std::fs::read_to_string(&file).unwrap();
    let snapshot = snapshot_of(&html);
    let snap_points = snapshot["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["from"] == "cl" && s["to"] == "city-a")
        .map(|s| s["points"].as_array().unwrap().len() as u64)
        .expect("the snapshot has the history of the route over budget");
    assert!(
        [points, points_after, before_report, after_report].contains(&snap_points),
        "snapshot points {snap_points} against /v1/series {points}, {points_after}, {before_report}, {after_report}"
    );

    d.goto(&format!("file://{}", file.display()));
    d.wait_until("the report file's render", RENDERED, 30);
    let mode = d.execute(
        "return [document.querySelector('.mode').textContent, \
                 document.querySelector('#violations').dataset.count]",
        json!([]),
    );
    assert_eq!(mode, json!(["report", "2"]));
    d.click("#alerts li.row[data-from=\"cl\"][data-to=\"city-a\"]");
    d.wait_until("the snapshot's route chart", CHART_READY, 30);
    let (route, drawn, alert_marks, _) = panel_state(&d);
    assert_eq!(route, "cl|city-a");
    assert_eq!(drawn, snap_points);
    assert!(alert_marks >= 1, "no alert marker in the report file");
}
