//! Whether this process may make namespaces and TUN devices, and a clear word
//! when it may not.

/// CAP_NET_ADMIN and CAP_SYS_ADMIN (capability bit numbers).
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;

/// Effective capability mask of this process, from /proc/self/status.
fn effective_caps() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16).ok()
}

/// Whether an unprivileged user could create a user namespace here.
fn user_namespaces_allowed() -> bool {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
    };
    let max = read("/proc/sys/user/max_user_namespaces").unwrap_or(0);
    // Debian's switch; absent on kernels without it (then only the maximum counts).
    let clone = read("/proc/sys/kernel/unprivileged_userns_clone").unwrap_or(1);
    max > 0 && clone != 0
}

/// Whether this process is in the initial user namespace (its uid map is the
/// identity over the whole range).
fn in_initial_user_namespace() -> bool {
    match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(map) => {
            let fields: Vec<&str> = map.split_whitespace().collect();
            fields == ["0", "0", "4294967295"]
        }
        // No /proc or no user namespaces: nothing says otherwise.
        Err(_) => true,
    }
}

/// Ok when the process has what netlab needs; else the one-line explanation.
pub fn check() -> Result<(), String> {
    let caps = effective_caps().unwrap_or(0);
    let need = (1u64 << CAP_NET_ADMIN) | (1u64 << CAP_SYS_ADMIN);
    let initial = in_initial_user_namespace();
    if caps & need == need && initial {
        return Ok(());
    }
    if !initial {
        return Err("netlab needs real root: this process is root only inside a user namespace, where /dev/net/tun, /run/netns and the lab state in /run are not its own; run it as root outside any user namespace (e.g. with sudo)".into());
    }
    // SAFETY: geteuid has no arguments and cannot fail.
    let uid = unsafe { libc::geteuid() };
    let userns = if user_namespaces_allowed() {
        "a user namespace is not enough either, since /dev/net/tun and /run belong to the real root"
    } else {
        "this system also allows no unprivileged user namespaces"
    };
    Err(format!(
        "netlab needs root: network namespaces and TUN devices need CAP_SYS_ADMIN and CAP_NET_ADMIN, which this process (uid {uid}) lacks ({userns}); run it as root, e.g. with sudo"
    ))
}
