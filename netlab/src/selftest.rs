//! `netlab selftest`: measures the emulator itself, with real packets between
//! namespaces, and prints each figure next to its target.
//!
//! 1. Added-delay error: a two-site lab with one 5 ms link; 1,000 UDP
//!    packets/s from one site to the other, each stamped (CLOCK_REALTIME) just
//!    before `send`, received with the kernel's receive stamp (SO_TIMESTAMPNS,
//!    the same clock: namespaces share it). Error = measured one-way - 5 ms;
//!    target: p99 of |error| at most 100 us.
//! 2. Forwarding capacity: the same lab, one sender sending as fast as it can;
//!    packets/s delivered and the forwarder's CPU use. On a small machine the
//!    sender and receiver share the cores with the forwarder, so this is a
//!    lower bound.
//! 3. Scale: the national topology comes up (target under 10 s), then carries
//!    20,000 packets/s spread over every ordered pair of sites (target: the
//!    forwarder uses less than one core), then goes down.
//!
//! Every lab is made under a name of its own (`selftest-PID`, `selftest-PID-n`)
//! and removed at the end, also on error.

use crate::address_plan::AddressPlan;
use crate::error::{Context, Error, Result};
use crate::lab;
use crate::sys::{clock, privileges, udp};
use std::net::{SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seconds of traffic per measurement.
    pub seconds: f64,
    /// Whether to run the national-topology part.
    pub national: bool,
}

/// Targets of the issue.
pub const TARGET_ERROR_P99_US: f64 = 100.0;
pub const TARGET_NATIONAL_UP_S: f64 = 10.0;
pub const TARGET_NATIONAL_CPU: f64 = 1.0;
/// Rates the measurements run at.
pub const PRECISION_PPS: f64 = 1000.0;
pub const NATIONAL_PPS: f64 = 20_000.0;
/// Most packets any one measurement sends.
const MAX_PACKETS: u64 = 5_000_000;
const PORT: u16 = 9000;
const MAGIC: u32 = 0x686d_6e6c; // "hmnl"
const LINK_MS: f64 = 5.0;

/// A lab that is taken down when dropped.
struct Guard(String);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = lab::teardown(&self.0);
    }
}

fn two_site_topology() -> String {
    format!(
        "version: 1
sites:
  - {{id: a, kind: city, location: [30, 100]}}
  - {{id: b, kind: city, location: [31, 101]}}
links:
  - {{between: [a, b], delay_ms: {LINK_MS}}}
"
    )
}

/// Summary of added-delay errors in microseconds.
#[derive(Debug, Clone, Default)]
pub struct ErrorSummary {
    pub sent: u64,
    pub received: u64,
    pub p1_us: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    /// p99 of the absolute error: the figure held to the target.
    pub abs_p99_us: f64,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Summarizes signed errors (ns).
pub fn summarize(errors_ns: &[i64], sent: u64) -> ErrorSummary {
    let mut v: Vec<f64> = errors_ns.iter().map(|&e| e as f64 / 1000.0).collect();
    v.sort_by(f64::total_cmp);
    let mut abs: Vec<f64> = v.iter().map(|e| e.abs()).collect();
    abs.sort_by(f64::total_cmp);
    ErrorSummary {
        sent,
        received: v.len() as u64,
        p1_us: quantile(&v, 0.01),
        p50_us: quantile(&v, 0.5),
        p99_us: quantile(&v, 0.99),
        max_us: v.last().copied().unwrap_or(f64::NAN),
        abs_p99_us: quantile(&abs, 0.99),
    }
}

fn sock_addr(plan: &AddressPlan, site: &str) -> Result<SocketAddrV4> {
    plan.endpoint(site)
        .map(|e| SocketAddrV4::new(e.address, PORT))
        .ok_or_else(|| Error::Setup(format!("selftest lab has no site {site}")))
}

fn ns_of(plan: &AddressPlan, site: &str) -> Result<String> {
    plan.site(site)
        .map(|s| s.namespace.clone())
        .ok_or_else(|| Error::Setup(format!("selftest lab has no site {site}")))
}

/// Sleeps until `deadline_ns` (monotonic): a sleep, then a short spin.
fn sleep_until(deadline_ns: u64) {
    loop {
        let now = clock::mono_ns();
        if now >= deadline_ns {
            return;
        }
        let left = deadline_ns - now;
        if left > 200_000 {
            std::thread::sleep(Duration::from_nanos(left - 150_000));
        } else {
            std::hint::spin_loop();
        }
    }
}

fn packet(seq: u64, len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len.max(20)];
    p[0..4].copy_from_slice(&MAGIC.to_be_bytes());
    p[4..12].copy_from_slice(&seq.to_be_bytes());
    p
}

fn stamp(p: &mut [u8]) {
    p[12..20].copy_from_slice(&clock::real_ns().to_be_bytes());
}

fn parse(p: &[u8]) -> Option<(u64, u64)> {
    if p.len() < 20 || p[0..4] != MAGIC.to_be_bytes() {
        return None;
    }
    let seq = u64::from_be_bytes(p[4..12].try_into().ok()?);
    let tx = u64::from_be_bytes(p[12..20].try_into().ok()?);
    Some((seq, tx))
}

/// Receives on `socks` until `stop` is set and `linger` passes without
/// packets; calls `f(index, packet, rx_ns)` for each.
fn receive_loop(
    socks: &[UdpSocket],
    stop: &AtomicBool,
    linger: Duration,
    mut f: impl FnMut(usize, &[u8], u64),
) {
    let mut buf = vec![0u8; 2048];
    let mut fds: Vec<libc::pollfd> = socks
        .iter()
        .map(|s| libc::pollfd {
            fd: s.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let mut quiet_since: Option<Instant> = None;
    loop {
        // SAFETY: fds is a valid array of pollfd of the given length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 20) };
        if n > 0 {
            quiet_since = None;
            for (i, pfd) in fds.iter().enumerate() {
                if pfd.revents & libc::POLLIN == 0 {
                    continue;
                }
                while let Ok((len, rx)) = udp::recv_timestamped(&socks[i], &mut buf) {
                    f(i, &buf[..len], rx);
                }
            }
        } else if stop.load(Ordering::Acquire) {
            let since = *quiet_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= linger {
                return;
            }
        }
    }
}

fn nonblocking(s: &UdpSocket) -> Result<()> {
    s.set_nonblocking(true).context(|| "set_nonblocking".into())
}

/// Part 1: added-delay error at `pps` over the 5 ms link.
fn precision(plan: &AddressPlan, seconds: f64, pps: f64) -> Result<ErrorSummary> {
    let rx = udp::bind_in(&ns_of(plan, "b")?, sock_addr(plan, "b")?)
        .context(|| "receiver socket".into())?;
    let mut src = sock_addr(plan, "a")?;
    src.set_port(0);
    let tx = udp::bind_in(&ns_of(plan, "a")?, src).context(|| "sender socket".into())?;
    nonblocking(&rx)?;
    let dst = sock_addr(plan, "b")?;
    let n = ((seconds * pps) as u64).clamp(1, MAX_PACKETS);
    let stop = Arc::new(AtomicBool::new(false));
    let expect = (LINK_MS * 1e6) as i64;
    let receiver = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut errors = Vec::new();
            receive_loop(&[rx], &stop, Duration::from_millis(200), |_, p, rx_ns| {
                if let Some((_, tx_ns)) = parse(p) {
                    if rx_ns > 0 {
                        errors.push(rx_ns as i64 - tx_ns as i64 - expect);
                    }
                }
            });
            errors
        })
    };
    let _ = clock::set_timer_slack(1);
    let period = (1e9 / pps) as u64;
    // Let the receiver settle before the clock starts.
    std::thread::sleep(Duration::from_millis(50));
    let start = clock::mono_ns();
    let mut sent = 0;
    for i in 0..n {
        sleep_until(start + i * period);
        let mut p = packet(i, 64);
        stamp(&mut p);
        if tx.send_to(&p, dst).is_ok() {
            sent += 1;
        }
    }
    stop.store(true, Ordering::Release);
    let errors = receiver
        .join()
        .map_err(|_| Error::Setup("receiver thread panicked".into()))?;
    Ok(summarize(&errors, sent))
}

/// Part 2: as many packets as one sender can push through for `seconds`.
/// Returns (packets/s delivered, forwarder CPU share, sent, received).
fn capacity(plan: &AddressPlan, pid: u32, seconds: f64) -> Result<(f64, f64, u64, u64)> {
    let mut rx_addr = sock_addr(plan, "b")?;
    rx_addr.set_port(PORT + 1);
    let rx = udp::bind_in(&ns_of(plan, "b")?, rx_addr).context(|| "receiver socket".into())?;
    let mut src = sock_addr(plan, "a")?;
    src.set_port(0);
    let tx = udp::bind_in(&ns_of(plan, "a")?, src).context(|| "sender socket".into())?;
    nonblocking(&rx)?;
    nonblocking(&tx)?;
    let stop = Arc::new(AtomicBool::new(false));
    let receiver = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let (mut count, mut first, mut last) = (0u64, 0u64, 0u64);
            receive_loop(&[rx], &stop, Duration::from_millis(200), |_, _, rx_ns| {
                if count == 0 {
                    first = rx_ns;
                }
                last = rx_ns;
                count += 1;
            });
            (count, first, last)
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    let cpu0 = clock::process_cpu_ns(pid).context(|| "forwarder CPU time".into())?;
    let t0 = clock::mono_ns();
    let end = t0 + (seconds * 1e9) as u64;
    let p = packet(0, 64);
    let mut sent = 0u64;
    while sent < MAX_PACKETS {
        if sent.is_multiple_of(256) && clock::mono_ns() >= end {
            break;
        }
        match tx.send_to(&p, rx_addr) {
            Ok(_) => sent += 1,
            // Device queue full: the forwarder is behind; let it run.
            Err(_) => std::thread::yield_now(),
        }
    }
    let wall = (clock::mono_ns() - t0) as f64;
    // Count the forwarder's work on the packets still in flight too.
    std::thread::sleep(Duration::from_millis(50));
    let cpu1 = clock::process_cpu_ns(pid).context(|| "forwarder CPU time".into())?;
    stop.store(true, Ordering::Release);
    let (count, first, last) = receiver
        .join()
        .map_err(|_| Error::Setup("receiver thread panicked".into()))?;
    let span = (last.saturating_sub(first)) as f64 / 1e9;
    let pps = if span > 0.0 { count as f64 / span } else { 0.0 };
    Ok((pps, (cpu1 - cpu0) as f64 / (wall + 50e6), sent, count))
}

/// Part 3's traffic: `pps` spread over every ordered pair of sites.
/// Returns (sent, received, forwarder CPU share).
fn national_load(plan: &AddressPlan, pid: u32, seconds: f64, pps: f64) -> Result<(u64, u64, f64)> {
    let mut socks = Vec::new();
    let mut addrs = Vec::new();
    for s in &plan.sites {
        let a = sock_addr(plan, &s.id)?;
        let sock =
            udp::bind_in(&s.namespace, a).context(|| format!("socket in {}", s.namespace))?;
        nonblocking(&sock)?;
        socks.push(sock);
        addrs.push(a);
    }
    let n = socks.len();
    if n < 2 {
        return Err(Error::Setup(
            "the national topology has fewer than two sites".into(),
        ));
    }
    let senders: Vec<UdpSocket> = socks
        .iter()
        .map(|s| s.try_clone())
        .collect::<std::io::Result<_>>()
        .context(|| "socket clone".into())?;
    let stop = Arc::new(AtomicBool::new(false));
    let receiver = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut count = 0u64;
            receive_loop(&socks, &stop, Duration::from_millis(300), |_, p, _| {
                if parse(p).is_some() {
                    count += 1;
                }
            });
            count
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    let _ = clock::set_timer_slack(1000);
    let total = ((seconds * pps) as u64).min(MAX_PACKETS);
    let batch = 20u64;
    let batch_period = (batch as f64 * 1e9 / pps) as u64;
    let cpu0 = clock::process_cpu_ns(pid).context(|| "forwarder CPU time".into())?;
    let t0 = clock::mono_ns();
    let mut sent = 0u64;
    let mut k = 0u64;
    let p = packet(0, 64);
    while k < total {
        sleep_until(t0 + (k / batch) * batch_period);
        for _ in 0..batch {
            // Packet k goes from site k mod n to the site 1 + (k / n) mod (n - 1) further on.
            let from = (k % n as u64) as usize;
            let step = 1 + ((k / n as u64) % (n as u64 - 1)) as usize;
            let to = (from + step) % n;
            if senders[from].send_to(&p, addrs[to]).is_ok() {
                sent += 1;
            }
            k += 1;
        }
    }
    let wall = (clock::mono_ns() - t0) as f64;
    let cpu1 = clock::process_cpu_ns(pid).context(|| "forwarder CPU time".into())?;
    stop.store(true, Ordering::Release);
    let received = receiver
        .join()
        .map_err(|_| Error::Setup("receiver thread panicked".into()))?;
    Ok((sent, received, (cpu1 - cpu0) as f64 / wall))
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "MISSED"
    }
}

/// Runs the measurements and prints them; true when every target is met.
pub fn run(opts: &Options) -> Result<bool> {
    privileges::check().map_err(Error::NotPrivileged)?;
    let seconds = opts.seconds.clamp(0.5, 60.0);
    let base = format!("selftest-{}", std::process::id());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    outln!("netlab selftest: labs {base}*, {cores} cores, {seconds} s per measurement");
    let mut all_ok = true;

    let up = lab::up_text(&two_site_topology(), "selftest.yaml", &base)?;
    let guard = Guard(base.clone());
    let s = precision(&up.plan, seconds, PRECISION_PPS)?;
    let ok = s.abs_p99_us <= TARGET_ERROR_P99_US && s.received * 100 >= s.sent * 99;
    all_ok &= ok;
    outln!(
        "1. added-delay error, {PRECISION_PPS} pkt/s over a {LINK_MS} ms link (send stamp -> kernel receive stamp):"
    );
    outln!(
        "   {} of {} received; error p1 {:.0} us, p50 {:.0} us, p99 {:.0} us, max {:.0} us; |error| p99 {:.0} us (target <= {TARGET_ERROR_P99_US} us): {}",
        s.received,
        s.sent,
        s.p1_us,
        s.p50_us,
        s.p99_us,
        s.max_us,
        s.abs_p99_us,
        verdict(ok)
    );
    // The forwarder publishes its own view (release lateness) once a second.
    std::thread::sleep(Duration::from_millis(1100));
    if let Some(f) = lab::status(&base).ok().and_then(|s| s.status) {
        outln!(
            "   forwarder's view: release lateness p50 {:.0} us, p99 {:.0} us, max {:.0} us (wake margin {:.0} us); read {:.0} us (p50) / {:.0} us (p99) after the send stamp",
            f.lateness.p50_us,
            f.lateness.p99_us,
            f.lateness.max_us,
            f.wake_margin_us,
            f.ingress_age.p50_us,
            f.ingress_age.p99_us
        );
    }
    let (pps, cpu, sent, received) = capacity(&up.plan, up.pid, seconds)?;
    outln!(
        "2. forwarding capacity, one sender as fast as it can: {:.0} pkt/s delivered ({received} of {sent} sent), forwarder CPU {:.0}% of one core",
        pps,
        cpu * 100.0
    );
    drop(guard);

    if opts.national {
        let name = format!("{base}-n");
        let t0 = Instant::now();
        let up = lab::up("national", &name)?;
        let up_s = t0.elapsed().as_secs_f64();
        let guard = Guard(name.clone());
        let ok = up_s < TARGET_NATIONAL_UP_S;
        all_ok &= ok;
        outln!(
            "3. national topology: up in {:.2} s ({} sites, {} endpoints, {} links) (target < {TARGET_NATIONAL_UP_S} s): {}",
            up_s,
            up.plan.sites.len(),
            up.plan.endpoints.len(),
            up.plan.links.len(),
            verdict(ok)
        );
        let (sent, received, cpu) = national_load(&up.plan, up.pid, seconds, NATIONAL_PPS)?;
        let ok = cpu < TARGET_NATIONAL_CPU && received * 100 >= sent * 99;
        all_ok &= ok;
        outln!(
            "   {NATIONAL_PPS} pkt/s over all {} ordered site pairs: {received} of {sent} delivered, forwarder CPU {:.0}% of one core (target < 100%): {}",
            up.plan.sites.len() * (up.plan.sites.len() - 1),
            cpu * 100.0,
            verdict(ok)
        );
        let t0 = Instant::now();
        drop(guard);
        outln!("   down in {:.2} s", t0.elapsed().as_secs_f64());
    }
    outln!(
        "{}",
        if all_ok {
            "all targets met"
        } else {
            "a target was missed"
        }
    );
    Ok(all_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_errors() {
        let errs: Vec<i64> = (0..100).map(|i| i * 1000 - 10_000).collect();
        let s = summarize(&errs, 120);
        assert_eq!((s.sent, s.received), (120, 100));
        assert_eq!(s.p50_us, 39.0);
        assert_eq!(s.p99_us, 88.0);
        assert_eq!(s.max_us, 89.0);
        assert_eq!(s.p1_us, -10.0);
        assert_eq!(s.abs_p99_us, 88.0);
        assert!(summarize(&[], 0).p50_us.is_nan());
    }

    #[test]
    fn packets_round_trip() {
        let mut p = packet(42, 64);
        stamp(&mut p);
        let (seq, tx) = parse(&p).unwrap_or_default();
        assert_eq!(seq, 42);
        assert!(tx > 0);
        assert!(parse(&p[..10]).is_none());
        assert!(parse(&[0u8; 64]).is_none());
    }
}
