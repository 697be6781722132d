//! Shared helpers of netlab's end-to-end tests: run the real binary, make labs
//! with names of their own (tests run in parallel), skip with a reason where
//! labs cannot be made, and take every lab down even when a test fails.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod mesh;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_netlab")
}

pub fn lab_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/labs")
        .join(name)
}

/// `netlab ARGS...`, waited for.
pub fn netlab(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().expect("run netlab")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Why labs cannot be made here, if they cannot.
pub fn skip_reason() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let caps = status
        .lines()
        .find(|l| l.starts_with("CapEff:"))
        .and_then(|l| u64::from_str_radix(l.trim_start_matches("CapEff:").trim(), 16).ok())
        .unwrap_or(0);
    let need = (1u64 << 12) | (1u64 << 21);
    if caps & need != need {
        return Some(
            "not root (CAP_SYS_ADMIN and CAP_NET_ADMIN needed for namespaces and TUN devices)"
                .into(),
        );
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("no /dev/net/tun".into());
    }
    if !tool_exists("ip") {
        return Some("no `ip` (Debian package iproute2)".into());
    }
    None
}

/// `got` is within `tolerance` of `want` (all ms).
pub fn assert_near(what: &str, got: f64, want: f64, tolerance: f64) {
    assert!(
        (got - want).abs() <= tolerance,
        "{what}: measured {got:.3} ms, expected {want:.3} ms (tolerance {tolerance} ms)"
    );
}

/// Skips the calling test (returns from it) when labs cannot be made here.
#[macro_export]
macro_rules! require_lab {
    () => {
        if let Some(why) = common::skip_reason() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

pub fn tool_exists(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false)
}

/// Whether `tool` (from Debian package `package`) is there. In CI a missing
/// tool fails the test; elsewhere the test is skipped with the reason.
pub fn require_tool(tool: &str, package: &str) -> bool {
    if tool_exists(tool) {
        return true;
    }
    let msg = format!("`{tool}` is missing: install the Debian package {package}");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    eprintln!("skipped: {msg}");
    false
}

/// A lab name of this test's own: `t-TAG-PID`.
pub fn lab_name(tag: &str) -> String {
    format!("t-{tag}-{}", std::process::id())
}

/// A lab that is taken down when dropped (also when the test panics).
pub struct Lab {
    pub name: String,
}

impl Lab {
    /// `netlab up FILE --name t-TAG-PID`, which must succeed.
    pub fn up(file: &str, tag: &str) -> Lab {
        reap_stale();
        let name = lab_name(tag);
        // A previous run that was killed may have left this name behind.
        let _ = netlab(&["down", "--name", &name]);
        let path = lab_file(file);
        let out = netlab(&["up", path.to_str().unwrap(), "--name", &name]);
        assert!(
            out.status.success(),
            "netlab up {file} failed: {}{}",
            stdout(&out),
            stderr(&out)
        );
        Lab { name }
    }

    pub fn addr(&self, endpoint: &str) -> String {
        let out = netlab(&["addr", "--name", &self.name, endpoint]);
        assert!(out.status.success(), "addr {endpoint}: {}", stderr(&out));
        stdout(&out).trim().to_string()
    }

    /// `netlab exec --name LAB SITE -- ARGS...` as a command to run.
    pub fn cmd(&self, site: &str, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(["exec", "--name", &self.name, site, "--"])
            .args(args);
        c
    }

    /// Runs a command in a site and returns its output (any exit status).
    pub fn exec(&self, site: &str, args: &[&str]) -> Output {
        self.cmd(site, args).output().expect("run netlab exec")
    }

    /// Starts a server in a site; it is killed when the guard drops.
    pub fn spawn(&self, site: &str, args: &[&str]) -> Server {
        let child = self
            .cmd(site, args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        Server(child)
    }

    /// The forwarder's counter `stats.KEY`, waited for (it publishes once a
    /// second) until it is at least `min` or 5 s pass.
    pub fn counter(&self, key: &str, min: u64) -> u64 {
        let mut last = 0;
        retry(Duration::from_secs(5), || {
            let out = netlab(&["status", "--name", &self.name, "--json"]);
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            last = v["stats"][key].as_u64()?;
            (last >= min).then_some(last)
        });
        last
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = netlab(&["down", "--name", &self.name]);
    }
}

pub struct Server(pub std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `f` until it returns Some or `timeout` passes.
pub fn retry<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let until = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Namespaces of lab `name` that exist.
pub fn namespaces_of(name: &str) -> Vec<String> {
    let prefix = format!("hm-{name}.");
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default()
}

pub fn state_dir(name: &str) -> PathBuf {
    Path::new("/run/hubmesh-netlab").join(name)
}

/// Takes down test labs (`t-TAG-PID`) whose test process is gone: left behind
/// by a run that was killed before it could clean up.
pub fn reap_stale() {
    let mut names: Vec<String> = std::fs::read_dir("/run/hubmesh-netlab")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.extend(
        std::fs::read_dir("/run/netns")
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter_map(|n| Some(n.strip_prefix("hm-")?.split_once('.')?.0.to_string()))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default(),
    );
    names.sort();
    names.dedup();
    for name in names {
        let Some(pid) = name
            .strip_prefix("t-")
            .and_then(|rest| rest.rsplit_once('-'))
            .and_then(|(_, pid)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = netlab(&["down", "--name", &name]);
        }
    }
}

/// A workspace binary beside `netlab`. Missing: a failure under CI (the
/// workspace is built first there), otherwise a skip with the reason.
pub fn sibling_bin(name: &str) -> Option<PathBuf> {
    let p = Path::new(bin()).with_file_name(name);
    if p.exists() {
        return Some(p);
    }
    let msg = format!(
        "the {name} binary is not built beside netlab ({}); run scripts/test.sh",
        p.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    eprintln!("skipped: {msg}");
    None
}

/// A temporary directory of this test, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("hubmesh-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts `args` in `site` with stdout and stderr going to `log`.
pub fn spawn_logged(lab: &Lab, site: &str, args: &[&str], log: &Path) -> Server {
    let out = std::fs::File::create(log).expect("log file");
    let err = out.try_clone().expect("log file");
    let child = lab
        .cmd(site, args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawn");
    Server(child)
}

/// The logs of the controller and the agents, for a failure message.
pub fn logs(dir: &Path) -> String {
    let mut s = String::new();
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    names.sort();
    for p in names {
        if p.extension().is_some_and(|e| e == "log") {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            s += &format!("--- {}\n", p.display());
            for l in tail.into_iter().rev() {
                s += l;
                s += "\n";
            }
        }
    }
    s
}
