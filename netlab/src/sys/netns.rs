//! Named network namespaces (`/run/netns/NAME`, as `ip netns` keeps them), and
//! running code or commands inside one.
//!
//! Namespaces are made with `ip netns add` (one `ip -batch` for a whole lab), so
//! the mount propagation of /run/netns is set up the way every other tool
//! expects; they are removed natively (unmount, unlink), which also works when
//! `ip` is gone.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Where named namespaces are bind-mounted.
pub const NETNS_DIR: &str = "/run/netns";

pub fn path(name: &str) -> PathBuf {
    PathBuf::from(NETNS_DIR).join(name)
}

/// Runs `ip` with `args`, feeding `batch` on standard input; the error holds
/// what `ip` said.
pub fn ip_batch(args: &[&str], batch: &str) -> io::Result<()> {
    let mut child = Command::new("ip")
        .args(args)
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run `ip` (Debian package iproute2): {e}"),
            )
        })?;
    // `ip` may exit before reading its input (a failing command): the broken
    // pipe is then only a symptom, and what `ip` said is the error to report.
    let written = match child.stdin.take() {
        Some(mut stdin) => stdin.write_all(batch.as_bytes()),
        None => Ok(()),
    };
    let out = child.wait_with_output()?;
    if out.status.success() {
        written
    } else {
        let msg = String::from_utf8_lossy(&out.stderr);
        let msg = msg.lines().next().unwrap_or("failed").trim().to_string();
        Err(io::Error::other(format!("ip {}: {msg}", args.join(" "))))
    }
}

/// Creates the named namespaces.
pub fn add_all(names: &[String]) -> io::Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let batch: String = names.iter().map(|n| format!("netns add {n}\n")).collect();
    ip_batch(&[], &batch)
}

/// Names in /run/netns starting with `prefix`.
pub fn list_with_prefix(prefix: &str) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

/// The inode that identifies a named namespace (as /proc/PID/ns/net shows it).
fn inode(name: &str) -> Option<u64> {
    // stat follows the bind mount to the nsfs inode.
    std::fs::metadata(path(name)).ok().map(|m| m.ino())
}

/// Processes whose network namespace is one of `names`.
pub fn pids_in(names: &[String]) -> Vec<u32> {
    let inodes: Vec<String> = names
        .iter()
        .filter_map(|n| inode(n))
        .map(|i| format!("net:[{i}]"))
        .collect();
    if inodes.is_empty() {
        return Vec::new();
    }
    let Ok(proc_dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id();
    proc_dir
        .filter_map(|e| e.ok()?.file_name().into_string().ok()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/ns/net"))
                .ok()
                .and_then(|l| l.into_os_string().into_string().ok())
                .is_some_and(|l| inodes.contains(&l))
        })
        .collect()
}

/// Removes a named namespace: unmounts and unlinks it (what `ip netns del`
/// does). The namespace itself goes away once nothing uses it. Missing is fine.
pub fn delete(name: &str) -> io::Result<()> {
    let p = path(name);
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "namespace name holds a NUL"))?;
    // SAFETY: c is a valid NUL-terminated path for the duration of the call.
    let r = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    if r < 0 {
        let e = io::Error::last_os_error();
        // EINVAL: not a mount point (half made); ENOENT: already gone.
        if !matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOENT)) {
            return Err(e);
        }
    }
    match std::fs::remove_file(&p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Opens a named namespace for `setns`.
pub fn open(name: &str) -> io::Result<OwnedFd> {
    File::open(path(name)).map(OwnedFd::from)
}

/// Moves the calling thread into the namespace `fd`.
pub fn enter(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: setns takes a descriptor and a flag; fd is open.
    super::cvt(unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) }).map(|_| ())
}

/// Runs `f` on a new thread inside namespace `name` and returns its result.
/// Sockets and TUN devices made there stay in that namespace when used from
/// any other thread.
pub fn run_in<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let fd = open(name)?;
    std::thread::Builder::new()
        .name("netns".into())
        .spawn(move || {
            enter(&fd)?;
            f()
        })?
        .join()
        .map_err(|_| io::Error::other("thread inside the namespace panicked"))?
}

/// A command that will run inside namespace `name`.
pub fn command(name: &str, program: impl AsRef<std::ffi::OsStr>) -> io::Result<Command> {
    let fd = open(name)?;
    let mut cmd = Command::new(program);
    // SAFETY: the closure only calls setns, which is async-signal-safe, on a
    // descriptor that the closure owns.
    unsafe {
        cmd.pre_exec(move || enter(&fd));
    }
    Ok(cmd)
}

/// Writes a sysctl of the calling thread's network namespace (`net/...` keys
/// resolve in the namespace of the thread that opens them).
pub fn sysctl(key: &str, value: &str) -> io::Result<()> {
    std::fs::write(format!("/proc/sys/{key}"), value)
        .map_err(|e| io::Error::new(e.kind(), format!("sysctl {key}: {e}")))
}
