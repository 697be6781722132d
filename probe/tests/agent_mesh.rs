//! `probe agent` under a real `mesh-controller serve`, all on loopback: three
//! agents measure each other, the controller is SIGKILLed mid-run and
//! restarted on the same database, and every window still lands exactly once.
//!
//! The controller binary is found beside the probe binary in target/<profile>/
//! (the probe crate cannot depend on the controller's server side: that would
//! be a dependency cycle). `scripts/test.sh` builds every binary first; when
//! it is missing the tests say so and skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

const PROBE: &str = env!("CARGO_BIN_EXE_probe");

fn controller_bin() -> Option<PathBuf> {
    let path = Path::new(PROBE).parent()?.join("mesh-controller");
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "skipping: {} is not built (run scripts/test.sh, or cargo build --workspace --bins first)",
            path.display()
        );
        None
    }
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Captures a child's stderr into a shared string, and sends each line to `tx`.
fn capture(
    stream: impl Read + Send + 'static,
    log: Arc<Mutex<String>>,
    tx: Option<std::sync::mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Some(tx) = &tx {
                let _ = tx.send(line.clone());
            }
            log.lock().unwrap().push_str(&(line + "\n"));
        }
    });
}

struct Ctl {
    bin: PathBuf,
    dir: tempfile::TempDir,
    addr: Option<SocketAddr>,
    child: Option<Child>,
    log: Arc<Mutex<String>>,
}

impl Ctl {
    fn new(bin: PathBuf, probes: &[(&str, &str, u16)], extra: &str) -> Ctl {
        let ctl = Ctl {
            bin,
            dir: tempfile::tempdir().unwrap(),
            addr: None,
            child: None,
            log: Arc::new(Mutex::new(String::new())),
        };
        ctl.write_config(probes, extra);
        ctl
    }

    /// (Re)writes the configuration (a running controller reloads it).
    fn write_config(&self, probes: &[(&str, &str, u16)], extra: &str) {
        let mut config = String::from(
            "topology:
  version: 1
  hubs:
    - {id: rt, role: realtime}
  sites:
    - {id: cl, kind: cluster, hub: rt, location: [30.0, 104.0]}
    - {id: city-a, kind: city, hub: rt, location: [30.6, 104.1]}
    - {id: city-b, kind: city, hub: rt, location: [29.6, 106.5]}
    - {id: host, kind: city, location: [31.0, 105.0], addresses: [127.0.0.9]}
  links:
    - {between: [cl, city-a], delay_ms: 1.0}
    - {between: [cl, city-b], delay_ms: 4.0}
  budgets: plan-2021
probes:
",
        );
        for (id, site, port) in probes {
            config.push_str(&format!(
                "  - {{id: {id}, site: {site}, stamp: 127.0.0.1:{port}}}\n"
            ));
        }
        config.push_str("secrets: secrets.yaml\n");
        config.push_str(extra);
        let tmp = self.path("mesh.yaml.tmp");
        std::fs::write(&tmp, config).unwrap();
        std::fs::rename(tmp, self.path("mesh.yaml")).unwrap();
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `token add`, written to a token file; returns its path.
    fn token(&self, id: &str) -> PathBuf {
        let out = Command::new(&self.bin)
            .args(["token", "add", "--config"])
            .arg(self.path("mesh.yaml"))
            .arg(id)
            .output()
            .unwrap();
        assert!(out.status.success(), "token add {id}");
        let file = self.path(&format!("{id}.token"));
        std::fs::write(&file, out.stdout).unwrap();
        file
    }

    /// Starts `serve` (on the same address as before, after a restart).
    fn spawn(&mut self) {
        let listen = self
            .addr
            .map_or("127.0.0.1:0".to_string(), |a| a.to_string());
        let mut child = Command::new(&self.bin)
            .arg("serve")
            .arg("--config")
            .arg(self.path("mesh.yaml"))
            .arg("--db")
            .arg(self.path("hubmesh.db"))
            .args(["--listen", &listen])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        capture(child.stderr.take().unwrap(), self.log.clone(), Some(tx));
        let t0 = Instant::now();
        loop {
            let left = Duration::from_secs(20).saturating_sub(t0.elapsed());
            let line = rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("controller did not start: {}", self.log()));
            if let Some(a) = line.strip_prefix("mesh-controller: listening on http://") {
                self.addr = Some(a.trim().parse().unwrap());
                break;
            }
        }
        self.child = Some(child);
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr.unwrap())
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn get_json(&self, path: &str) -> Option<Value> {
        let mut s = TcpStream::connect(self.addr?).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let (_, body) = text.split_once("\r\n\r\n")?;
        serde_json::from_str(body).ok()
    }
}

impl Ctl {
    /// The status of a hello with this token.
    fn hello_status(&self, probe: &str, token: &str) -> Option<u16> {
        let body = format!(
            r#"{{"probe":"{probe}","version":"test","boot_id":null,"clock":{{"synchronized":false,"error_us":0}}}}"#
        );
        let mut s = TcpStream::connect(self.addr?).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        write!(
            s,
            "POST /v1/hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        text.split_whitespace().nth(1)?.parse().ok()
    }
}

impl Drop for Ctl {
    fn drop(&mut self) {
        self.kill9();
    }
}

struct Agent {
    id: String,
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Agent {
    fn spawn(ctl: &Ctl, id: &str, token: &Path, port: u16, dir: &Path) -> Agent {
        Agent::spawn_with(ctl, id, token, port, dir, &[])
    }

    fn spawn_with(
        ctl: &Ctl,
        id: &str,
        token: &Path,
        port: u16,
        dir: &Path,
        extra: &[&str],
    ) -> Agent {
        let mut child = Command::new(PROBE)
            .args(["agent", "--controller", &ctl.url(), "--id", id])
            .arg("--token-file")
            .arg(token)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--spool")
            .arg(dir.join(format!("spool-{id}")))
            .args(["--poll", "1s", "--max-backoff", "1s"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        capture(child.stderr.take().unwrap(), log.clone(), None);
        Agent {
            id: id.to_string(),
            child,
            log,
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// SIGTERM, then the exit status and the JSON summary.
    fn terminate(mut self) -> (std::process::ExitStatus, Value, String) {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let status = wait_timeout(&mut self.child, Duration::from_secs(20))
            .unwrap_or_else(|| panic!("{} did not exit: {}", self.id, self.log()));
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let summary = serde_json::from_str(out.trim()).unwrap_or(Value::Null);
        (status, summary, self.log())
    }
}

fn wait_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool, log: impl Fn() -> String) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < limit,
            "timed out waiting for {what}: {}",
            log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Per probe: (windows, min seq, max seq, sum of sent) in the database.
fn db_rows(db: &Path) -> BTreeMap<String, (u64, u64, u64, u64)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT probe, COUNT(*), MIN(seq), MAX(seq), SUM(sent) FROM windows GROUP BY probe",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                (
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, i64>(2)? as u64,
                    r.get::<_, i64>(3)? as u64,
                    r.get::<_, i64>(4)? as u64,
                ),
            ))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

fn all_logs(ctl: &Ctl, agents: &[Agent]) -> String {
    let mut s = ctl.log();
    for a in agents {
        s.push_str(&format!("--- {}\n{}", a.id, a.log()));
    }
    s
}

const SETTINGS: &str = "measurement: {interval: 20ms, window: 1s, timeout: 500ms}\n";

#[test]
fn three_agents_survive_a_controller_crash_and_lose_nothing() {
    let Some(bin) = controller_bin() else { return };
    let t0 = Instant::now();
    let probes = [
        ("p-cl", "cl", free_udp_port()),
        ("p-a", "city-a", free_udp_port()),
        ("p-b", "city-b", free_udp_port()),
    ];
    let mut ctl = Ctl::new(bin, &probes, SETTINGS);
    let tokens: Vec<PathBuf> = probes.iter().map(|(id, _, _)| ctl.token(id)).collect();
    ctl.spawn();
    let agents: Vec<Agent> = probes
        .iter()
        .zip(&tokens)
        .map(|((id, _, port), token)| Agent::spawn(&ctl, id, token, *port, ctl.dir.path()))
        .collect();

    // Every ordered pair of sites gets measured values.
    let sites = ["cl", "city-a", "city-b"];
    wait_for(
        "every ordered pair in /v1/routes with measured values",
        Duration::from_secs(20),
        || {
            let Some(routes) = ctl.get_json("/v1/routes") else {
                return false;
            };
            let routes = routes["routes"].as_array().cloned().unwrap_or_default();
            sites.iter().all(|from| {
                sites.iter().filter(|to| *to != from).all(|to| {
                    routes.iter().any(|r| {
                        r["from"] == *from
                            && r["to"] == *to
                            && r["basis"] == "one-way"
                            && r["one_way_ms"].is_number()
                    })
                })
            })
        },
        || all_logs(&ctl, &agents),
    );

    // The controller dies without warning; windows pile up in the spools.
    ctl.kill9();
    std::thread::sleep(Duration::from_secs(3));
    ctl.spawn();
    wait_for(
        "the agents to replay their spools",
        Duration::from_secs(20),
        || {
            agents
                .iter()
                .all(|a| a.log().contains("controller reachable again"))
        },
        || all_logs(&ctl, &agents),
    );
    std::thread::sleep(Duration::from_secs(1));

    let mut summaries = BTreeMap::new();
    for a in agents {
        let id = a.id.clone();
        let (status, summary, log) = a.terminate();
        assert!(status.success(), "{id} exited {status}: {log}");
        assert!(
            log.contains("upload failed"),
            "{id} never saw the controller down: {log}"
        );
        summaries.insert(id, summary);
    }

    let probes_now = ctl.get_json("/v1/probes").unwrap();
    let rows = db_rows(&ctl.path("hubmesh.db"));
    for (id, s) in &summaries {
        assert_eq!(s["windows_pending"], 0, "{id}: {s}");
        assert_eq!(s["windows_dropped"], 0, "{id}: {s}");
        assert_eq!(s["windows_rejected"], 0, "{id}: {s}");
        assert_eq!(s["windows_lost"], 0, "{id}: {s}");
        let n = s["last_seq"].as_u64().unwrap();
        assert!(n >= 6, "{id}: only {n} windows: {s}");
        assert_eq!(s["windows_spooled"].as_u64(), Some(n), "{id}: {s}");
        let sent = s["packets_sent_spooled"].as_u64().unwrap();
        // Every seq 1..=n exactly once: n rows, seqs unique (primary key),
        // smallest 1, largest n.
        assert_eq!(rows.get(id), Some(&(n, 1, n, sent)), "{id}: {s}");
        let p = probes_now["probes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id.as_str())
            .unwrap();
        assert_eq!(p["last_seq"].as_u64(), Some(n), "{id}: {p}");
        assert_eq!(p["windows"].as_u64(), Some(n), "{id}: {p}");
    }
    assert!(t0.elapsed() < Duration::from_secs(60), "{:?}", t0.elapsed());
}

#[test]
fn wrong_token_exits_2_with_a_clear_error() {
    let Some(bin) = controller_bin() else { return };
    let probes = [
        ("p-cl", "cl", free_udp_port()),
        ("p-a", "city-a", free_udp_port()),
    ];
    let mut ctl = Ctl::new(bin, &probes, SETTINGS);
    ctl.token("p-cl");
    ctl.spawn();
    let wrong = ctl.path("wrong.token");
    std::fs::write(&wrong, "not-the-token\n").unwrap();
    let mut agent = Agent::spawn(&ctl, "p-cl", &wrong, probes[0].2, ctl.dir.path());
    let status = wait_timeout(&mut agent.child, Duration::from_secs(20))
        .unwrap_or_else(|| panic!("agent kept running: {}", agent.log()));
    std::thread::sleep(Duration::from_millis(100));
    let log = agent.log();
    assert_eq!(status.code(), Some(2), "{log}");
    assert!(log.contains("401") && log.contains("refused"), "{log}");
}

#[test]
fn agents_follow_target_list_changes_without_restart() {
    let Some(bin) = controller_bin() else { return };
    let all = [
        ("p-cl", "cl", free_udp_port()),
        ("p-a", "city-a", free_udp_port()),
        ("p-b", "city-b", free_udp_port()),
    ];
    let mut ctl = Ctl::new(bin, &all[..2], SETTINGS);
    let mut tokens: Vec<PathBuf> = all[..2].iter().map(|(id, _, _)| ctl.token(id)).collect();
    ctl.spawn();
    let mut agents: Vec<Agent> = all[..2]
        .iter()
        .zip(&tokens)
        .map(|((id, _, port), token)| Agent::spawn(&ctl, id, token, *port, ctl.dir.path()))
        .collect();
    wait_for(
        "p-cl measuring p-a",
        Duration::from_secs(15),
        || agents[0].log().contains("session to p-a (127.0.0.1:"),
        || all_logs(&ctl, &agents),
    );

    // A third probe joins: the others start measuring it, no restart.
    ctl.write_config(&all, SETTINGS);
    tokens.push(ctl.token("p-b"));
    let token_b = std::fs::read_to_string(&tokens[2]).unwrap();
    wait_for(
        "the controller to reload its configuration and secrets",
        Duration::from_secs(10),
        || ctl.hello_status("p-b", token_b.trim()) == Some(200),
        || all_logs(&ctl, &agents),
    );
    agents.push(Agent::spawn(
        &ctl,
        "p-b",
        &tokens[2],
        all[2].2,
        ctl.dir.path(),
    ));
    let pair_measured = |ctl: &Ctl, from: &str, to: &str| {
        ctl.get_json("/v1/routes").is_some_and(|v| {
            v["routes"].as_array().is_some_and(|rs| {
                rs.iter()
                    .any(|r| r["from"] == from && r["to"] == to && r["one_way_ms"].is_number())
            })
        })
    };
    wait_for(
        "cl -> city-b and city-b -> cl measured",
        Duration::from_secs(20),
        || pair_measured(&ctl, "cl", "city-b") && pair_measured(&ctl, "city-b", "cl"),
        || all_logs(&ctl, &agents),
    );
    assert!(agents[0].log().contains("session to p-b (127.0.0.1:"));

    // And leaves again: its sessions stop.
    ctl.write_config(&all[..2], SETTINGS);
    wait_for(
        "p-cl and p-a to stop measuring p-b",
        Duration::from_secs(20),
        || {
            agents[..2]
                .iter()
                .all(|a| a.log().contains("stopping the session to p-b"))
        },
        || all_logs(&ctl, &agents),
    );
    for a in agents.drain(..2) {
        let id = a.id.clone();
        let (status, summary, log) = a.terminate();
        assert!(status.success(), "{id}: {log}");
        assert_eq!(summary["windows_pending"], 0, "{id}: {summary}");
        assert_eq!(summary["windows_lost"], 0, "{id}: {summary}");
    }
}

#[test]
fn spool_outlives_an_agent_restart_and_keeps_its_bound() {
    let Some(bin) = controller_bin() else { return };
    let probes = [
        ("p-cl", "cl", free_udp_port()),
        ("p-a", "city-a", free_udp_port()),
    ];
    let mut ctl = Ctl::new(bin, &probes, SETTINGS);
    let tokens: Vec<PathBuf> = probes.iter().map(|(id, _, _)| ctl.token(id)).collect();
    ctl.spawn();
    let dir = ctl.dir.path().to_path_buf();
    // p-cl's spool holds about three windows (a 1 s window is about 1.1 kB).
    let extra = |id: &str| -> Vec<&'static str> {
        if id == "p-cl" {
            vec!["--spool-max-bytes", "4000"]
        } else {
            vec![]
        }
    };
    let start = |ctl: &Ctl| -> Vec<Agent> {
        probes
            .iter()
            .zip(&tokens)
            .map(|((id, _, port), token)| {
                Agent::spawn_with(ctl, id, token, *port, &dir, &extra(id))
            })
            .collect()
    };
    let agents = start(&ctl);
    wait_for(
        "windows from both probes",
        Duration::from_secs(15),
        || {
            let rows = db_rows(&ctl.path("hubmesh.db"));
            probes.iter().all(|(id, _, _)| rows.contains_key(*id))
        },
        || all_logs(&ctl, &agents),
    );

    // Controller gone; the agents are stopped while it is away.
    ctl.kill9();
    std::thread::sleep(Duration::from_secs(5));
    let mut first = BTreeMap::new();
    for a in agents {
        let id = a.id.clone();
        let (status, summary, log) = a.terminate();
        assert!(status.success(), "{id}: {log}");
        assert!(
            summary["windows_pending"].as_u64().unwrap() > 0,
            "{id}: {summary}"
        );
        if id == "p-cl" {
            assert!(
                summary["windows_dropped"].as_u64().unwrap() > 0,
                "{summary}"
            );
            assert!(log.contains("WARNING: spool full"), "{log}");
        } else {
            assert_eq!(summary["windows_dropped"], 0, "{summary}");
        }
        first.insert(id, summary);
    }

    // Both come back: the spools are replayed, numbering goes on.
    ctl.spawn();
    let agents = start(&ctl);
    wait_for(
        "the spools to be replayed",
        Duration::from_secs(20),
        || {
            agents
                .iter()
                .all(|a| a.log().contains("from an earlier run: replaying them"))
                && db_rows(&ctl.path("hubmesh.db"))
                    .iter()
                    .all(|(id, (_, _, max, _))| *max > first[id]["last_seq"].as_u64().unwrap())
        },
        || all_logs(&ctl, &agents),
    );
    let rows_before_stop = db_rows(&ctl.path("hubmesh.db"));
    let mut second = BTreeMap::new();
    for a in agents {
        let id = a.id.clone();
        let (status, summary, log) = a.terminate();
        assert!(status.success(), "{id}: {log}");
        assert_eq!(summary["windows_pending"], 0, "{id}: {summary}");
        second.insert(id, summary);
    }
    let rows = db_rows(&ctl.path("hubmesh.db"));
    for (id, s2) in &second {
        let s1 = &first[id];
        let n = s2["last_seq"].as_u64().unwrap();
        assert!(n > s1["last_seq"].as_u64().unwrap(), "{id}: {s1} {s2}");
        let spooled =
            s1["windows_spooled"].as_u64().unwrap() + s2["windows_spooled"].as_u64().unwrap();
        assert_eq!(spooled, n, "{id}: no seq skipped or reused: {s1} {s2}");
        let sent = s1["packets_sent_spooled"].as_u64().unwrap()
            + s2["packets_sent_spooled"].as_u64().unwrap();
        assert_eq!(rows.get(id), Some(&(n, 1, n, sent)), "{id}: {s1} {s2}");
        assert!(rows_before_stop.contains_key(id));
    }
}

#[test]
fn agents_started_before_the_controller_wait_for_it() {
    let Some(bin) = controller_bin() else { return };
    let probes = [
        ("p-cl", "cl", free_udp_port()),
        ("p-a", "city-a", free_udp_port()),
    ];
    let mut ctl = Ctl::new(bin, &probes, SETTINGS);
    let tokens: Vec<PathBuf> = probes.iter().map(|(id, _, _)| ctl.token(id)).collect();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    ctl.addr = Some(port);
    let agents: Vec<Agent> = probes
        .iter()
        .zip(&tokens)
        .map(|((id, _, port), token)| Agent::spawn(&ctl, id, token, *port, ctl.dir.path()))
        .collect();
    wait_for(
        "the agents to notice the controller is not there",
        Duration::from_secs(10),
        || {
            agents
                .iter()
                .all(|a| a.log().contains("controller unreachable"))
        },
        || all_logs(&ctl, &agents),
    );
    ctl.spawn();
    wait_for(
        "windows from both probes",
        Duration::from_secs(20),
        || {
            let rows = db_rows(&ctl.path("hubmesh.db"));
            probes.iter().all(|(id, _, _)| rows.contains_key(*id))
        },
        || all_logs(&ctl, &agents),
    );
    for a in agents {
        let id = a.id.clone();
        let (status, summary, log) = a.terminate();
        assert!(status.success(), "{id}: {log}");
        assert_eq!(summary["windows_pending"], 0, "{id}: {summary}");
    }
}

/// A controller with `extra` settings and agents p-cl and p-a, running.
fn two_agents(bin: PathBuf, extra: &str) -> (Ctl, Vec<Agent>) {
    let probes = [
        ("p-cl", "cl", free_udp_port()),
        ("p-a", "city-a", free_udp_port()),
    ];
    let mut ctl = Ctl::new(bin, &probes, &format!("{SETTINGS}{extra}"));
    let tokens: Vec<PathBuf> = probes.iter().map(|(id, _, _)| ctl.token(id)).collect();
    ctl.spawn();
    let agents = probes
        .iter()
        .zip(&tokens)
        .map(|((id, _, port), token)| Agent::spawn(&ctl, id, token, *port, ctl.dir.path()))
        .collect();
    (ctl, agents)
}

/// Results of each kind in the database: kind -> (rows, rows whose JSON has `needle`).
fn result_rows(db: &Path, needle: &str) -> BTreeMap<String, (u64, u64)> {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return BTreeMap::new();
    };
    let Ok(mut stmt) =
        conn.prepare("SELECT kind, COUNT(*), SUM(instr(body, ?1) > 0) FROM results GROUP BY kind")
    else {
        return BTreeMap::new();
    };
    let rows = stmt
        .query_map([needle], |r| {
            Ok((
                r.get::<_, String>(0)?,
                (r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64),
            ))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

#[test]
fn agents_ping_hosts_without_a_probe_and_trace_their_peers() {
    let Some(bin) = controller_bin() else { return };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: ICMP from the agent needs root (raw sockets) here");
        return;
    }
    let (mut ctl, agents) = two_agents(
        bin,
        "icmp: {ping_interval: 50ms, trace_period: 10s, max_hops: 4}\n",
    );
    let db = ctl.path("hubmesh.db");
    // Pings of host (127.0.0.9) that came back, and traces that reached.
    wait_for(
        "ping windows of host and traces of the peers",
        Duration::from_secs(30),
        || {
            let pings = result_rows(&db, "\"received\":");
            let traces = result_rows(&db, "\"reached\":true");
            pings.get("ping").is_some_and(|p| p.0 >= 2)
                && traces.get("trace").is_some_and(|t| t.1 >= 3)
        },
        || all_logs(&ctl, &agents),
    );
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let body: String = conn
        .query_row(
            "SELECT body FROM results WHERE kind = 'ping' AND probe = 'p-cl' AND target = 'host' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let ping: Value = serde_json::from_str(&body).unwrap();
    assert!(ping["sent"].as_u64().unwrap() >= 10, "{ping}");
    assert_eq!(ping["received"], ping["sent"], "{ping}");
    let targets: Vec<String> = conn
        .prepare(
            "SELECT DISTINCT probe || '>' || target FROM results WHERE kind = 'trace' ORDER BY 1",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for t in ["p-a>host", "p-a>p-cl", "p-cl>host", "p-cl>p-a"] {
        assert!(targets.contains(&t.to_string()), "{targets:?}");
    }
    // A controller outage: results keep coming (pings every window), wait
    // in the spool, and are replayed once it is back, each stored once.
    ctl.kill9();
    std::thread::sleep(Duration::from_secs(3));
    ctl.spawn();
    std::thread::sleep(Duration::from_secs(2));
    let per_probe = |conn: &rusqlite::Connection, id: &str| -> u64 {
        conn.query_row(
            "SELECT COUNT(*), COUNT(DISTINCT seq) FROM results WHERE probe = ?1",
            [id],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )
        .map(|(n, distinct)| {
            assert_eq!(n, distinct);
            n
        })
        .unwrap()
    };
    for a in agents {
        let id = a.id.clone();
        let (status, summary, log) = a.terminate();
        assert!(status.success(), "{id}: {log}");
        assert_eq!(summary["results_pending"], 0, "{id}: {summary}");
        assert_eq!(summary["results"]["dropped"], 0, "{id}: {summary}");
        let spooled = summary["results"]["spooled"].as_u64().unwrap();
        assert!(spooled >= 3, "{id}: {summary}");
        // Everything this run measured is stored, once (the acknowledgements
        // may count a replayed result twice: stored, then duplicate).
        assert_eq!(per_probe(&conn, &id), spooled, "{id}: {summary}\n{log}");
        assert!(summary["results"]["acknowledged"].as_u64().unwrap() >= spooled);
    }
}

#[test]
fn agents_run_the_bandwidth_tests_the_controller_schedules() {
    let Some(bin) = controller_bin() else { return };
    // The shortest legal round (6 s) and 500 ms each way.
    let (ctl, agents) = two_agents(
        bin,
        "bandwidth: {period: 6s, duration: 500ms, streams: 2}\n",
    );
    let db = ctl.path("hubmesh.db");
    // One meeting of the pair: a forward and a reverse test, both stored.
    wait_for(
        "a forward and a reverse bandwidth test",
        Duration::from_secs(30),
        || {
            let fwd = result_rows(&db, "\"direction\":\"forward\"");
            let rev = result_rows(&db, "\"direction\":\"reverse\"");
            fwd.get("bandwidth").is_some_and(|r| r.1 >= 1)
                && rev.get("bandwidth").is_some_and(|r| r.1 >= 1)
        },
        || all_logs(&ctl, &agents),
    );
    let out = Command::new(&ctl.bin)
        .args(["report", "--db"])
        .arg(&db)
        .arg("--config")
        .arg(ctl.path("mesh.yaml"))
        .args(["--format", "json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tp = report["throughput"].as_array().unwrap();
    for (from, to) in [("cl", "city-a"), ("city-a", "cl")] {
        let t = tp
            .iter()
            .find(|t| t["from"] == from && t["to"] == to)
            .unwrap_or_else(|| panic!("no {from} -> {to} throughput: {tp:?}"));
        // Loopback TCP: well over a gigabit whoever sends.
        assert!(t["latest_mbit"].as_f64().unwrap() > 500.0, "{t}");
        assert_eq!(t["protocol"], "tcp");
    }
    for a in agents {
        let id = a.id.clone();
        let (status, summary, log) = a.terminate();
        assert!(status.success(), "{id}: {log}");
        assert_eq!(summary["results_pending"], 0, "{id}: {summary}");
    }
}
