//! A `mesh-controller serve` for the benchmarks: started on a free loopback
//! port over `mesh.yaml` and `bench.db` in a folder, its listening address
//! read from its log, killed on drop. Shared by the examples with
//! `#[path = "common/serve.rs"] mod serve;`.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `mesh-controller serve`; killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `bin serve` on `dir/mesh.yaml` and `dir/bench.db`, and waits (up
/// to 120 s: a big store is migrated and rolled up first) until it listens.
pub fn serve(bin: &Path, dir: &Path) -> Result<Server> {
    let mut child = Command::new(bin)
        .arg("serve")
        .arg("--config")
        .arg(dir.join("mesh.yaml"))
        .arg("--db")
        .arg(dir.join("bench.db"))
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stderr = child.stderr.take().context("no stderr")?;
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads the log (so the server never blocks on it) and passes the
    // listening address on.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(a) = line.strip_prefix("mesh-controller: listening on http://") {
                let _ = tx.send(a.to_string());
            }
        }
    });
    let addr = match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(a) => a,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the controller did not listen within 120 s");
        }
    };
    let addr = addr
        .parse()
        .with_context(|| format!("listen address {addr:?}"))?;
    Ok(Server { child, addr })
}
