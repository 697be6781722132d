//! `netlab link set` on a running lab, seen by ping and traceroute: a delay
//! raise is a level shift on the same path, in force by the time the command
//! returns; a link taken down sends traffic the next shortest way (traceroute
//! shows the detour's router) and loses what was on it; up again, the direct
//! path is back. Steady streams over links no change touches lose nothing
//! meanwhile. Bad input changes nothing and says why in one line.
//!
//! Lab `tests/labs/triangle.yaml`: a -- b 5 ms (link 0), a -- c 7 ms (link 1),
//! c -- b 7 ms (link 2), c -- d 2 ms (link 3).
//!
//! Needs root (skips with the reason otherwise) and the Debian packages
//! iproute2, iputils-ping and traceroute. Traffic goes only to the lab's own
//! 198.18.0.0/15 addresses; every ping has a count and a deadline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_near, netlab, require_tool, stderr, stdout, Lab};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The router at c on link 1 (a -- c): 198.19.0.0 + 4 x 1 + 2.
const C_ROUTER_ON_A_C: &str = "198.19.0.6";

/// A ping running in the background; killed if the test fails first.
struct Stream(Option<Child>);

impl Stream {
    /// `ping -D` every `interval_s` from `site` to `to`, `count` probes; it
    /// ends at most a second after the last one. (Not `-w`: with a deadline,
    /// ping sends until it has `count` replies, and stops without waiting for
    /// the answer to its extra probes when the round trip is longer than the
    /// interval, which looks like a loss.)
    fn start(lab: &Lab, site: &str, to: &str, count: u32, interval_s: f64) -> Stream {
        let child = lab
            .cmd(
                site,
                &[
                    "ping",
                    "-n",
                    "-D",
                    "-i",
                    &interval_s.to_string(),
                    "-c",
                    &count.to_string(),
                    // Waits at most this long for outstanding replies at the
                    // end, so probes lost with a link do not hold it up.
                    "-W",
                    "1",
                    to,
                ],
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ping");
        Stream(Some(child))
    }

    fn running(&mut self) -> bool {
        self.0
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    fn finish(mut self) -> Output {
        self.0
            .take()
            .expect("stream")
            .wait_with_output()
            .expect("ping output")
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A reply of `ping -D`: when its probe was sent (s since the epoch) and its
/// round trip (ms). `[1733440000.123456] 64 bytes from ...: icmp_seq=5 ttl=64
/// time=25.1 ms`.
fn replies(text: &str) -> Vec<(f64, f64)> {
    text.lines()
        .filter_map(|l| {
            let stamp: f64 = l.strip_prefix('[')?.split(']').next()?.parse().ok()?;
            let rtt: f64 = l
                .split_whitespace()
                .find_map(|t| t.strip_prefix("time="))?
                .parse()
                .ok()?;
            Some((stamp - rtt / 1e3, rtt))
        })
        .collect()
}

/// `N packets transmitted, M received` of ping's summary.
fn sent_received(text: &str) -> (u32, u32) {
    let line = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_else(|| panic!("no ping summary in {text}"));
    let n: Vec<u32> = line
        .split(',')
        .filter_map(|p| p.split_whitespace().next()?.parse().ok())
        .collect();
    (n[0], n[1])
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn min(v: impl Iterator<Item = f64>) -> f64 {
    v.fold(f64::INFINITY, f64::min)
}

/// `netlab link set --name LAB ARGS...`, which must succeed; returns its line.
fn link_set(lab: &Lab, args: &[&str]) -> String {
    let mut all = vec!["link", "set", "--name", &lab.name];
    all.extend_from_slice(args);
    let out = netlab(&all);
    assert!(
        out.status.success(),
        "link set {args:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    let line = stdout(&out);
    assert_eq!(line.lines().count(), 1, "{line}");
    line
}

/// The forwarder's own figures in `link set`'s line: microseconds to apply,
/// milliseconds for the whole exchange.
fn apply_and_answer(line: &str) -> (f64, f64) {
    let num = |after: &str| -> f64 {
        let rest = line
            .split(after)
            .nth(1)
            .unwrap_or_else(|| panic!("no {after:?} in {line}"));
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    (num("in force after "), num("answered in "))
}

/// Runs `link set` while a probe stream from `site` to `to` is under way:
/// returns the replies to probes sent before the command started and to
/// those sent after it returned (the change must be in force for all of those).
fn change_under_stream(
    lab: &Lab,
    site: &str,
    to: &str,
    args: &[&str],
) -> (Vec<f64>, Vec<f64>, String) {
    let stream = Stream::start(lab, site, to, 150, 0.01);
    std::thread::sleep(Duration::from_millis(600));
    let issued = now_s();
    let started = Instant::now();
    let line = link_set(lab, args);
    let took = started.elapsed();
    let returned = now_s();
    let out = stream.finish();
    let text = stdout(&out);
    let got = replies(&text);
    let before: Vec<f64> = got
        .iter()
        .filter(|(sent, _)| *sent < issued)
        .map(|r| r.1)
        .collect();
    let after: Vec<f64> = got
        .iter()
        .filter(|(sent, _)| *sent > returned)
        .map(|r| r.1)
        .collect();
    assert!(
        before.len() >= 20 && after.len() >= 20,
        "{} replies before and {} after the change ({took:?}): {text}",
        before.len(),
        after.len()
    );
    (before, after, line)
}

/// traceroute from `site` to `to`: the address of each hop and its best time.
fn traceroute(lab: &Lab, site: &str, to: &str) -> Vec<(String, f64)> {
    let out = lab.exec(
        site,
        &["traceroute", "-n", "-q", "3", "-w", "2", "-m", "5", to],
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let best = min(f.iter().skip(2).filter_map(|t| t.parse::<f64>().ok()));
            (f.get(1).unwrap_or(&"").to_string(), best)
        })
        .collect()
}

fn status_text(lab: &Lab) -> String {
    let out = netlab(&["status", "--name", &lab.name]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

fn status_json(lab: &Lab) -> serde_json::Value {
    let out = netlab(&["status", "--name", &lab.name, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

#[test]
fn delay_raise_cut_and_restore_while_other_streams_lose_nothing() {
    require_lab!();
    if !require_tool("ping", "iputils-ping") || !require_tool("traceroute", "traceroute") {
        return;
    }
    let lab = Lab::up("triangle.yaml", "linkset");
    // Right after `up` returns, the forwarder takes changes (this one is as
    // the file says already, so nothing differs).
    link_set(&lab, &["a", "b", "--loss", "0"]);
    let (b, c) = (lab.addr("b"), lab.addr("c"));

    // (4) Steady streams no change may disturb: d -> c over c -- d, which
    // nothing touches, and a -> c over a -- c, which the detour shares and
    // whose packets are in flight most of the time. Every 20 ms (ping slows
    // down when the round trip is longer than its interval) for 12 s: longer
    // than the changes below take.
    let changes = Instant::now();
    let mut quiet = Stream::start(&lab, "d", &c, 600, 0.02);
    let mut shared = Stream::start(&lab, "a", &c, 600, 0.02);

    // (1) A delay raise, a -> b 20 ms and b -> a 5 ms: a level shift of 15 ms,
    // in force for every probe sent after the command returned.
    let (before, after, line) = change_under_stream(
        &lab,
        "a",
        &b,
        &["a", "b", "--forward", "20", "--reverse", "5"],
    );
    assert!(
        line.contains("link 0 a -- b: a -> b 20 ms, b -> a 5 ms"),
        "{line}"
    );
    let (apply_us, answer_ms) = apply_and_answer(&line);
    assert!(apply_us < 100_000.0 && answer_ms < 100.0, "{line}");
    let (old, new) = (min(before.iter().copied()), min(after.iter().copied()));
    assert_near("a -> b -> a before", old, 10.0, 0.5);
    assert_near("a -> b -> a after the raise", new, 25.0, 0.5);
    assert!(
        after.iter().all(|&r| r > 24.5),
        "a probe sent after the command returned saw the old delay: {after:?}"
    );
    assert!(
        status_text(&lab).contains("link 0 a -- b: a -> b 20 ms (file 5 ms)\n"),
        "{}",
        status_text(&lab)
    );

    // (2) a -- b down: a reaches b by way of c (7 + 7 ms each way), and
    // traceroute shows c's router first.
    let (_, after, line) = change_under_stream(&lab, "a", &b, &["b", "a", "--down"]);
    assert!(line.contains("link 0 a -- b: down"), "{line}");
    assert_near(
        "a -> c -> b -> c -> a",
        min(after.iter().copied()),
        28.0,
        0.5,
    );
    assert!(after.iter().all(|&r| r > 27.5), "{after:?}");
    let hops = traceroute(&lab, "a", &b);
    assert_eq!(hops.len(), 2, "{hops:?}");
    assert_eq!(hops[0].0, C_ROUTER_ON_A_C, "{hops:?}");
    assert_eq!(hops[1].0, b, "{hops:?}");
    assert_near("hop 1 (c)", hops[0].1, 14.0, 0.5);
    assert_near("hop 2 (b)", hops[1].1, 28.0, 0.5);
    // 20 ms on a -> b at 100 probes/s: some were on the link when it went.
    assert!(lab.counter("dropped_link_down", 1) >= 1);
    let v = status_json(&lab);
    assert_eq!(v["overrides"][0]["down"], true, "{v}");
    assert_eq!(v["overrides"][0]["current"]["forward_ms"], 20.0, "{v}");

    // (3) Up again: the direct path is back, with the raised delay.
    let (_, after, _) = change_under_stream(&lab, "a", &b, &["a", "b", "--up"]);
    assert_near(
        "a -> b -> a up again",
        min(after.iter().copied()),
        25.0,
        0.5,
    );
    let hops = traceroute(&lab, "a", &b);
    assert_eq!(hops.len(), 1, "{hops:?}");
    assert_eq!(hops[0].0, b, "{hops:?}");
    // And the file's delay: nothing differs any more.
    link_set(&lab, &["a", "b", "--delay", "5"]);
    let out = lab.exec(
        "a",
        &["ping", "-n", "-q", "-c", "10", "-i", "0.02", "-W", "1", &b],
    );
    let text = stdout(&out);
    let rtt_min: f64 = text
        .split("min/avg/max/mdev = ")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    assert_near("a -> b -> a as in the file", rtt_min, 10.0, 0.5);
    assert!(!status_text(&lab).contains("links changed"));
    assert!(status_json(&lab).get("overrides").is_none());

    // (4) The streams were running through all of it and lost nothing.
    eprintln!("the changes took {:?}", changes.elapsed());
    assert!(
        quiet.running() && shared.running(),
        "the streams ended before the changes did ({:?})",
        changes.elapsed()
    );
    for (what, s) in [("d -> c", quiet), ("a -> c", shared)] {
        let out = s.finish();
        let text = stdout(&out);
        let (sent, received) = sent_received(&text);
        assert_eq!((sent, received), (600, 600), "{what}: {text}");
    }
}

#[test]
fn bad_input_changes_nothing_and_says_why_in_one_line() {
    require_lab!();
    let lab = Lab::up("triangle.yaml", "linkbad");
    let cases: [(&[&str], &str); 9] = [
        (&["a", "x", "--down"], r#"no site "x" (sites: a, b, c, d)"#),
        (&["a", "d", "--down"], "no link between a and d"),
        (&["a", "b", "--network", "t", "--down"], r#"no network "t""#),
        (&["a", "b", "--delay", "-1"], "bad delay -1 ms from a to b"),
        (
            &["a", "b", "--forward", "NaN"],
            "bad delay NaN ms from a to b",
        ),
        (
            &["b", "a", "--reverse", "inf"],
            "bad delay inf ms from a to b",
        ),
        (&["a", "b", "--loss", "100.1"], "bad loss 100.1 %"),
        (&["a", "b", "--loss", "-0.5"], "bad loss -0.5 %"),
        (&["a", "b", "--delay", "1e9"], "bad delay 1000000000 ms"),
    ];
    for (args, want) in cases {
        let mut all = vec!["link", "set", "--name", &lab.name];
        all.extend_from_slice(args);
        let out = netlab(&all);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err:?} should say {want:?}");
        assert!(stdout(&out).is_empty(), "{args:?}");
    }
    // clap's own checks: no change given, --down with --up, --delay with --forward.
    for args in [
        &["a", "b"][..],
        &["a", "b", "--down", "--up"],
        &["a", "b", "--delay", "3", "--forward", "2"],
    ] {
        let mut all = vec!["link", "set", "--name", &lab.name];
        all.extend_from_slice(args);
        assert_eq!(netlab(&all).status.code(), Some(2), "{args:?}");
    }
    assert!(
        !status_text(&lab).contains("links changed"),
        "{}",
        status_text(&lab)
    );
    let out = netlab(&["link", "set", "--name", "t-no-such-lab", "a", "b", "--down"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no lab named"), "{}", stderr(&out));

    // A forwarder that is gone: a clear line, exit 2.
    let pid: i32 = std::fs::read_to_string(common::state_dir(&lab.name).join("forwarder.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: kill takes a pid and a signal number.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let gone = common::retry(Duration::from_secs(5), || {
        (!std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z ")))
        .then_some(())
    });
    assert!(gone.is_some(), "forwarder {pid} still running");
    let out = netlab(&["link", "set", "--name", &lab.name, "a", "b", "--down"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("is not running"), "{err}");
}

/// The lowest round trip of a few pings from `site` to `to`, ms.
fn ping_min(lab: &Lab, site: &str, to: &str) -> f64 {
    let out = lab.exec(site, &["ping", "-n", "-c", "4", "-i", "0.2", "-W", "2", to]);
    let text = stdout(&out);
    let (sent, received) = sent_received(&text);
    assert_eq!((sent, received), (4, 4), "{text}");
    min(text.lines().filter_map(|l| {
        l.split_whitespace()
            .find_map(|t| t.strip_prefix("time="))?
            .parse()
            .ok()
    }))
}

/// `netlab link interconnect SITE --down` takes a direct-connect point out:
/// traffic between the carriers crosses at the next interconnect (a round
/// trip of 2 x 18.3 ms instead of 2 x 1.3), `status` says so, `--up` brings
/// the short way back; a site without an interconnect is refused in one line.
#[test]
fn an_interconnect_down_sends_the_crossing_elsewhere_and_up_brings_it_back() {
    require_lab!();
    if !require_tool("ping", "iputils-ping") {
        return;
    }
    let lab = Lab::up("interconnects.yaml", "ixset");
    let to = lab.addr("x@unicom");
    assert_near("y -> x, across at x", ping_min(&lab, "y", &to), 2.6, 0.5);
    let line = stdout(&netlab(&[
        "link",
        "interconnect",
        "--name",
        &lab.name,
        "x",
        "--down",
    ]));
    assert!(
        line.contains("interconnect 0 at x (telecom, unicom): down"),
        "{line}"
    );
    assert_near("y -> x, across at z", ping_min(&lab, "y", &to), 36.6, 0.5);
    let status = common::retry(Duration::from_secs(3), || {
        let s = status_text(&lab);
        s.contains("interconnect 0 at x (telecom, unicom) is down")
            .then_some(s)
    });
    assert!(status.is_some(), "{}", status_text(&lab));
    let line = stdout(&netlab(&[
        "link",
        "interconnect",
        "--name",
        &lab.name,
        "x",
        "--up",
    ]));
    assert!(line.contains("at x (telecom, unicom): up"), "{line}");
    assert_near(
        "y -> x, across at x again",
        ping_min(&lab, "y", &to),
        2.6,
        0.5,
    );
    // Refused, nothing changed: a site without one, a site that is not there.
    for (site, want) in [("y", "no interconnect at y"), ("q", r#"no site "q""#)] {
        let out = netlab(&["link", "interconnect", "--name", &lab.name, site, "--down"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "{err}");
    }
    assert_near("unchanged", ping_min(&lab, "y", &to), 2.6, 0.5);
}
