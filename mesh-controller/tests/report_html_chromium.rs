//! The report's web page in a real browser: headless Chromium (Debian package
//! `chromium`) loads the page the controller serves at `/` from a file and
//! dumps the DOM after its script ran; the map's sites and links and the
//! grid's cells must be there, and the script's `data-rendered="1"` marks
//! prove it ran over them. Skips (saying why) when Chromium is absent, unless
//! `CI` is set, where it must run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serve_common;

use protocol::window::Window;
use serve_common::*;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PROBES: [(&str, &str); 3] = [("cl-1", "cl"), ("a-1", "city-a"), ("b-1", "city-b")];

fn upload(ctl: &Ctl, probe: &str, windows: &[(u64, &str, &Window)]) {
    let (status, ack) = ctl.post_json("/v1/windows", ctl.token(probe), &batch(probe, windows, 0));
    assert_eq!(status, 200, "{ack}");
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|bin| {
        Command::new(bin)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// `chromium --headless --dump-dom file://...`, with a deadline.
fn dump_dom(bin: &str, file: &std::path::Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", file.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).map(|_| s)
    });
    let t0 = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if t0.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap().expect("read chromium's output")
}

#[test]
fn map_and_grid_render_in_headless_chromium() {
    let Some(bin) = chromium() else {
        assert!(
            !in_ci(),
            "CI is set but chromium is not installed (apt-get install chromium)"
        );
        eprintln!("skipping: chromium not installed (apt-get install chromium); CI is not set");
        return;
    };
    let ctl = Ctl::start(&config_with(&PROBES, ""), &["cl-1", "a-1", "b-1"]);
    ctl.hello("cl-1", "boot-x");
    ctl.hello("a-1", "boot-x");
    ctl.hello("b-1", "boot-y");
    let clock = unsync_clock();
    upload(
        &ctl,
        "cl-1",
        &[(1, "a-1", &window(100, 0, 2.0, 3.0, clock))],
    );
    upload(
        &ctl,
        "cl-1",
        &[(2, "b-1", &window(100, 0, 25.0, 20.0, clock))],
    );

    // The page as the controller serves it.
    let (status, page) = ctl.http("GET", "/", None, b"");
    assert_eq!(status, 200, "{page}");
    assert!(
        !page.contains("data-rendered=\"1\""),
        "only the script marks the page rendered"
    );
    let file = ctl.dir.path().join("page.html");
    std::fs::write(&file, &page).unwrap();
    let dom = dump_dom(bin, &file);

    // The map: three sites, two links, the violating route as an arc, marked
    // by the script.
    assert!(
        dom.contains("id=\"map\"") && dom.contains("data-rendered=\"1\" data-sites=\"3\"")
            || dom.contains("data-sites=\"3\" data-rendered=\"1\""),
        "map not rendered by the script:\n{dom}"
    );
    assert_eq!(dom.matches("<circle class=\"site\"").count(), 3, "{dom}");
    assert_eq!(dom.matches("<line class=\"link\"").count(), 2, "{dom}");
    assert!(dom.contains("<path class=\"viol\""), "{dom}");
    // The grid: 3 endpoints, 6 ordered pairs, each a cell; one over budget.
    let cells = dom.matches("<td class=\"cell ").count();
    assert_eq!(cells, 6, "{dom}");
    assert!(
        dom.contains(&format!("data-cells=\"{cells}\"")),
        "grid not walked by the script:\n{dom}"
    );
    assert_eq!(dom.matches("data-rendered=\"1\"").count(), 2, "{dom}");
    assert!(dom.contains("class=\"cell v-violation\""), "{dom}");
    assert!(dom.contains("class=\"cell v-ok\""), "{dom}");
}
