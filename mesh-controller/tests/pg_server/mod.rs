//! A real PostgreSQL server for tests, in a temporary folder: `initdb` (as the
//! `postgres` user when the tests run as root, since initdb refuses root), a
//! private port on 127.0.0.1 and a private socket directory, trust
//! authentication for one role, no fsync (a test server holds nothing worth
//! keeping), stopped and removed when dropped.
//!
//! Uses the Debian packages' binaries (`/usr/lib/postgresql/<version>/bin`,
//! the newest version there) or `pg_config --bindir`. Without them
//! [`PgServer::start`] says why and returns None, so a test skips; under
//! `CI` it panics instead, since CI installs the package.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The role and database a test server is made with.
pub const USER: &str = "hubmesh";
pub const DATABASE: &str = "hubmesh";

/// A running test server (see the module documentation).
#[derive(Debug)]
pub struct PgServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    /// As whom the server runs (None: as ourselves).
    run_as: Option<String>,
    pub port: u16,
}

/// Where the PostgreSQL binaries are, if anywhere.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    let bin = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    bin.join("initdb").exists().then_some(bin)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The server cannot run here: say why, or fail under CI.
fn unavailable(why: &str) -> Option<PgServer> {
    if std::env::var_os("CI").is_some() {
        panic!("PostgreSQL test server: {why} (CI installs the Debian package postgresql)");
    }
    eprintln!("skipped: {why} (Debian package postgresql)");
    None
}

fn ok(what: &str, out: std::io::Result<Output>) -> Result<Output, String> {
    let out = out.map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{what}: {}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ))
    }
}

impl PgServer {
    /// Starts a fresh server, or says why it cannot (see the module
    /// documentation).
    pub fn start() -> Option<PgServer> {
        let Some(bin) = bin_dir() else {
            return unavailable("no PostgreSQL binaries (initdb) found");
        };
        let run_as = is_root().then(|| "postgres".to_string());
        let dir = tempfile::Builder::new()
            .prefix("hubmesh-pg")
            .tempdir()
            .expect("temporary folder");
        if let Some(user) = &run_as {
            // The data folder and the socket folder belong to the server's user.
            let chown = Command::new("chown")
                .args([&format!("{user}:"), dir.path().to_str().unwrap()])
                .output();
            if let Err(e) = ok("chown", chown) {
                return unavailable(&format!("no user to run the server as ({e})"));
            }
        }
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
        // A free port: bound, read, released (the server binds it next).
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let server = PgServer {
            bin,
            dir,
            run_as,
            port,
        };
        let data = server.data_dir();
        let init = server.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                USER,
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        if let Err(e) = init {
            return unavailable(&e);
        }
        if let Err(e) = server.start_again() {
            panic!("PostgreSQL test server did not start: {e}");
        }
        let created = server.run(
            "createdb",
            &[
                "-h",
                server.dir.path().to_str().unwrap(),
                "-p",
                &port.to_string(),
                "-U",
                USER,
                DATABASE,
            ],
        );
        if let Err(e) = created {
            panic!("PostgreSQL test server: {e}");
        }
        Some(server)
    }

    /// Starts the server on its data folder (again, after
    /// [`PgServer::stop_immediately`]: an outage ends), waiting until it
    /// accepts connections; the error carries the server's log.
    pub fn start_again(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        let data = self.data_dir();
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "30",
                "start",
            ],
        )
        .map(|_| ())
        .map_err(|e| format!("{e}\n{}", std::fs::read_to_string(&log).unwrap_or_default()))
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The socket folder (also the server's home).
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A connection URL over TCP on loopback.
    pub fn url(&self) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// Runs one of the server's binaries as the server's user.
    fn run(&self, tool: &str, args: &[&str]) -> Result<Output, String> {
        let exe = self.bin.join(tool);
        let out = match &self.run_as {
            Some(user) => Command::new("runuser")
                .args(["-u", user, "--"])
                .arg(&exe)
                .args(args)
                .current_dir(self.dir.path())
                .output(),
            None => Command::new(&exe).args(args).output(),
        };
        ok(tool, out)
    }

    /// Runs one statement with psql and returns its unaligned output.
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        let out = self.run(
            "psql",
            &[
                "-h",
                self.dir.path().to_str().unwrap(),
                "-p",
                &self.port.to_string(),
                "-U",
                USER,
                "-d",
                DATABASE,
                "-v",
                "ON_ERROR_STOP=1",
                "-tAc",
                sql,
            ],
        )?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Stops the server at once (as a crash would): for outage tests.
    pub fn stop_immediately(&self) -> Result<(), String> {
        let data = self.data_dir();
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        )
        .map(|_| ())
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.data_dir();
        let _ = self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}
