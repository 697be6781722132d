//! Running the real `probe` binary in tests: a reflector on 127.0.0.1 with a
//! port the kernel picks (read back from its first log line), stopped with
//! SIGTERM so it logs its final counters; every wait is bounded.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

pub const PROBE: &str = env!("CARGO_BIN_EXE_probe");

/// A running `probe reflect`.
pub struct Reflector {
    child: Child,
    pub addr: SocketAddr,
    lines: Receiver<String>,
    pub log: Vec<String>,
}

impl Reflector {
    /// Starts `probe reflect --listen 127.0.0.1:0 <extra>` and waits (up to
    /// 10 s) for the line saying where it listens.
    pub fn start(extra: &[&str]) -> Reflector {
        let mut child = Command::new(PROBE)
            .args(["reflect", "--listen", "127.0.0.1:0", "--log-interval", "0"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut log = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        let addr = loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let line = match lines.recv_timeout(wait) {
                Ok(line) => line,
                Err(_) => {
                    let _ = child.kill();
                    panic!("reflector did not start; log: {log:?}");
                }
            };
            log.push(line.clone());
            if let Some(rest) = line.split("listening on ").nth(1) {
                let addr = rest.split_whitespace().next().unwrap();
                break addr.parse().unwrap();
            }
        };
        Reflector {
            child,
            addr,
            lines,
            log,
        }
    }

    pub fn target(&self) -> String {
        self.addr.to_string()
    }

    /// SIGTERM, wait (up to 10 s), and the counters of the final summary.
    pub fn stop(mut self) -> HashMap<String, u64> {
        // SAFETY: sending a signal to our own child by its pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "reflector exit status {status}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "reflector did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.log.push(line);
        }
        let summary = self
            .log
            .iter()
            .find(|l| l.contains("final summary"))
            .unwrap_or_else(|| panic!("no final summary in {:?}", self.log));
        summary
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
            .collect()
    }
}

impl Drop for Reflector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `probe <args>` to completion, killed after `limit`.
pub fn probe(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(PROBE)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// Runs `probe stamp ... --format json` and parses its output.
pub fn stamp_json(args: &[&str], limit: Duration) -> (Option<i32>, serde_json::Value, String) {
    let mut all = vec!["stamp"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let out = probe(&all, limit);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let json = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("stamp output is not JSON ({e}): {stdout:?}; stderr {stderr:?}")
    });
    (out.status.code(), json, stderr)
}
