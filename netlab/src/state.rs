//! A lab's state directory, `/run/hubmesh-netlab/LAB/`: the topology it was
//! made from, its address plan, the forwarder's pid, log and counters. Making
//! the directory is the lab's lock: a second `up` of the same name fails there.
//!
//! Files: `topology.yaml` (the source text, re-read by the forwarder),
//! `plan.json` (`plan::AddressPlan`), `addresses.txt` (the plan for people),
//! `forwarder.pid`, `forwarder.log`, `status.json` (counters, once a second),
//! `control.sock` (the forwarder's control socket, see `control`) and
//! `overrides.json` (links changed by `netlab link set`: every link whose state
//! differs from the topology file, as `engine::LinkState`s, written by the
//! forwarder before it acknowledges a change, so `status` reads it even while
//! the forwarder is busy).

use crate::address_plan::AddressPlan;
use crate::engine::LinkState;
use crate::error::{Context, Error, Result};
use std::io;
use std::path::{Path, PathBuf};

/// Parent of every lab's state directory.
pub const RUN_DIR: &str = "/run/hubmesh-netlab";
/// The links changed by `netlab link set`, in the lab's directory.
pub const OVERRIDES: &str = "overrides.json";

/// A lab's state directory.
#[derive(Debug, Clone)]
pub struct LabDir {
    pub lab: String,
    pub path: PathBuf,
}

impl LabDir {
    /// The directory of lab `lab` (which may not exist).
    pub fn of(lab: &str) -> LabDir {
        LabDir {
            lab: lab.to_string(),
            path: Path::new(RUN_DIR).join(lab),
        }
    }

    /// Makes the directory; fails with `InUse` when it exists.
    pub fn create(lab: &str) -> Result<LabDir> {
        std::fs::create_dir_all(RUN_DIR).context(|| format!("cannot create {RUN_DIR}"))?;
        let dir = LabDir::of(lab);
        match std::fs::create_dir(&dir.path) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(Error::InUse {
                lab: lab.to_string(),
                detail: dir.describe_existing(),
            }),
            Err(e) => Err(e).context(|| format!("cannot create {}", dir.path.display())),
        }
    }

    fn describe_existing(&self) -> String {
        match self.read_pid() {
            Some(pid) if forwarder_alive(pid, &self.lab) => format!("forwarder pid {pid} running"),
            Some(pid) => format!(
                "state in {}, forwarder pid {pid} not running",
                self.path.display()
            ),
            None => format!("state in {}", self.path.display()),
        }
    }

    pub fn exists(&self) -> bool {
        self.path.is_dir()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn write(&self, name: &str, contents: &[u8]) -> Result<()> {
        let p = self.file(name);
        std::fs::write(&p, contents).context(|| format!("cannot write {}", p.display()))
    }

    /// Writes through a temporary file and a rename, so readers never see half.
    pub fn write_atomic(&self, name: &str, contents: &[u8]) -> io::Result<()> {
        let tmp = self.file(&format!(".{name}.tmp"));
        std::fs::write(&tmp, contents)?;
        std::fs::rename(&tmp, self.file(name))
    }

    pub fn read_to_string(&self, name: &str) -> Result<String> {
        let p = self.file(name);
        std::fs::read_to_string(&p).context(|| format!("cannot read {}", p.display()))
    }

    pub fn write_plan(&self, plan: &AddressPlan) -> Result<()> {
        let json = serde_json::to_vec_pretty(plan)
            .map_err(|e| Error::Setup(format!("cannot encode the plan: {e}")))?;
        self.write("plan.json", &json)?;
        self.write("addresses.txt", plan.describe().as_bytes())
    }

    pub fn read_plan(&self) -> Result<AddressPlan> {
        let text = self.read_to_string("plan.json")?;
        serde_json::from_str(&text).map_err(|e| {
            Error::Setup(format!(
                "{}: bad plan: {e}",
                self.file("plan.json").display()
            ))
        })
    }

    /// The links `netlab link set` changed (none when the file is missing or
    /// unreadable: a lab whose links were never changed has no such file).
    pub fn read_overrides(&self) -> Vec<LinkState> {
        std::fs::read(self.file(OVERRIDES))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn write_overrides(&self, links: &[LinkState]) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(links).map_err(io::Error::other)?;
        self.write_atomic(OVERRIDES, &json)
    }

    pub fn read_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.file("forwarder.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Removes the directory and everything in it; missing is fine.
    pub fn remove(&self) -> io::Result<()> {
        match std::fs::remove_dir_all(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Names of the labs that have a state directory.
pub fn labs() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(RUN_DIR) else {
        return Vec::new();
    };
    let mut v: Vec<String> = dir
        .filter_map(|e| {
            let e = e.ok()?;
            e.file_type().ok()?.is_dir().then_some(())?;
            e.file_name().into_string().ok()
        })
        .collect();
    v.sort();
    v
}

/// The argument that marks a forwarder process on its command line.
pub const FORWARDER_ARG: &str = "__forward";

/// Whether `pid` is a running (not zombie) forwarder of lab `lab`: guards
/// against a pid reused after a crash.
pub fn forwarder_alive(pid: u32, lab: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let ours = args.contains(&FORWARDER_ARG.as_bytes()) && args.contains(&lab.as_bytes());
    ours && process_alive(pid)
}

/// Whether `pid` exists and is not a zombie.
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}
