//! Clocks and CPU time: the forwarder schedules on CLOCK_MONOTONIC; the
//! selftest compares CLOCK_REALTIME send stamps with the kernel's receive
//! stamps (every namespace reads the same clock).

use std::io;

fn now(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec; the clock ids used are always
    // supported on Linux, so the call cannot fail.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CLOCK_MONOTONIC in nanoseconds.
pub fn mono_ns() -> u64 {
    now(libc::CLOCK_MONOTONIC)
}

/// CLOCK_REALTIME in nanoseconds since the epoch.
pub fn real_ns() -> u64 {
    now(libc::CLOCK_REALTIME)
}

/// Sets the calling thread's timer slack: how much later than asked the kernel
/// may end its sleeps (default 50 us, which would be most of our error budget).
pub fn set_timer_slack(ns: u64) -> io::Result<()> {
    // SAFETY: PR_SET_TIMERSLACK takes an unsigned long and no pointers.
    let r = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0) };
    super::cvt(r).map(|_| ())
}

/// Puts the calling thread in the SCHED_FIFO class at `priority` (1..=99).
pub fn set_realtime_priority(priority: i32) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: param is a valid sched_param for the call; 0 is this thread.
    let r = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    super::cvt(r).map(|_| ())
}

/// User + system CPU time of a process in nanoseconds (from /proc/PID/stat).
pub fn process_cpu_ns(pid: u32) -> io::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| io::Error::other("unexpected /proc/PID/stat format"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11, 12.
    let parse = |i: usize| -> io::Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| io::Error::other("unexpected /proc/PID/stat format"))
    };
    let ticks = parse(11)? + parse(12)?;
    // SAFETY: sysconf has no pointer arguments.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    Ok(ticks * 1_000_000_000 / hz)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn clocks_advance_and_cpu_time_is_read() {
        let a = mono_ns();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        assert!(mono_ns() > a);
        assert!(real_ns() > 1_600_000_000 * 1_000_000_000);
        let me = std::process::id();
        assert!(process_cpu_ns(me).is_ok());
        assert!(process_cpu_ns(u32::MAX).is_err());
    }
}
