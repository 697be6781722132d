//! Kernel receive timestamps of every UDP datagram on the loopback interface,
//! for checking what a tool's jitter figure means (README, "Jitter: probe bw
//! vs iperf3"): an `AF_PACKET` socket on `lo` with `SO_TIMESTAMPNS` sees each
//! datagram as it enters the receive path (the moment a receiving socket's
//! kernel RX stamp is taken), whoever the receiver is and however late it
//! reads. Needs root (CAP_NET_RAW).
//!
//! Writes one line per datagram to stdout: kernel stamp (ns, realtime),
//! source port, destination port, payload length, and the payload's first
//! 28 octets in hex (where probe and iperf3 keep sequence and send time).
//! Bounded: `--seconds` (default 10) and `--max` datagrams (default 2,000,000);
//! SIGINT or SIGTERM end the capture early (what was captured is written).
//!
//! usage: lo_stamps [--seconds S] [--max N] [--min-len L] > stamps.txt

use std::io::{self, Write};
use std::mem::{size_of, zeroed};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

const ETH_P_IP: u16 = 0x0800;
const PACKET_HOST: u8 = 0;
const HEAD: usize = 28;

struct Args {
    seconds: u64,
    max: usize,
    min_len: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        seconds: 10,
        max: 2_000_000,
        min_len: 28,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().context("a value after each option")?;
        match k.as_str() {
            "--seconds" => a.seconds = v.parse()?,
            "--max" => a.max = v.parse()?,
            "--min-len" => a.min_len = v.parse()?,
            _ => bail!("unknown option {k}"),
        }
    }
    Ok(a)
}

fn check(rc: libc::c_int, what: &str) -> anyhow::Result<()> {
    if rc < 0 {
        bail!("{what}: {}", io::Error::last_os_error());
    }
    Ok(())
}

/// One captured datagram.
struct Rec {
    ts_ns: u128,
    sport: u16,
    dport: u16,
    len: usize,
    head: [u8; HEAD],
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    // SAFETY: plain socket calls on an fd we own; buffers sized as declared.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_DGRAM,
            i32::from(ETH_P_IP.to_be()),
        )
    };
    check(fd, "socket(AF_PACKET) (root needed)")?;
    let ifindex = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
    if ifindex == 0 {
        bail!("no lo interface");
    }
    let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = ETH_P_IP.to_be();
    sll.sll_ifindex = ifindex as i32;
    check(
        unsafe {
            libc::bind(
                fd,
                (&sll as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            )
        },
        "bind lo",
    )?;
    let one: libc::c_int = 1;
    let big: libc::c_int = 256 << 20;
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 100_000,
    };
    unsafe {
        check(
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&one as *const libc::c_int).cast(),
                4,
            ),
            "SO_TIMESTAMPNS",
        )?;
        check(
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&big as *const libc::c_int).cast(),
                4,
            ),
            "SO_RCVBUFFORCE",
        )?;
        check(
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                size_of::<libc::timeval>() as u32,
            ),
            "SO_RCVTIMEO",
        )?;
    }
    probe::signals::install()?;
    let stop = probe::signals::stop_flag();
    eprintln!("lo_stamps: capturing");
    let until = Instant::now() + Duration::from_secs(a.seconds);
    let mut recs: Vec<Rec> = Vec::with_capacity(a.max.min(4_000_000));
    let mut buf = vec![0u8; 70_000];
    let mut control = [0u64; 64];
    let mut no_stamp = 0u64;
    while Instant::now() < until && recs.len() < a.max && !stop.load(Ordering::Relaxed) {
        let mut from: libc::sockaddr_ll = unsafe { zeroed() };
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_name = (&mut from as *mut libc::sockaddr_ll).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_ll>() as u32;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of::<[u64; 64]>();
        let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
        if n < 0 {
            continue; // timeout: look at the clock again
        }
        // Each loopback datagram shows twice (outgoing, then host); the host
        // copy carries the receive-path stamp.
        if from.sll_pkttype != PACKET_HOST {
            continue;
        }
        let pkt = &buf[..n as usize];
        if pkt.len() < 28 || pkt[0] >> 4 != 4 || pkt[9] != 17 {
            continue;
        }
        let ihl = usize::from(pkt[0] & 15) * 4;
        let Some(udp) = pkt.get(ihl..) else { continue };
        if udp.len() < 8 {
            continue;
        }
        let payload = &udp[8..];
        if payload.len() < a.min_len {
            continue;
        }
        let mut ts_ns = None;
        // SAFETY: walking the control buffer the kernel filled, with its macros.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SO_TIMESTAMPNS {
                    let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    ts_ns = Some(ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128);
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        let Some(ts_ns) = ts_ns else {
            no_stamp += 1;
            continue;
        };
        let mut head = [0u8; HEAD];
        let k = payload.len().min(HEAD);
        head[..k].copy_from_slice(&payload[..k]);
        recs.push(Rec {
            ts_ns,
            sport: u16::from_be_bytes([udp[0], udp[1]]),
            dport: u16::from_be_bytes([udp[2], udp[3]]),
            len: payload.len(),
            head,
        });
    }
    unsafe { libc::close(fd) };
    let out = io::stdout();
    let mut out = io::BufWriter::new(out.lock());
    for r in &recs {
        let hex: String = r.head.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(out, "{} {} {} {} {hex}", r.ts_ns, r.sport, r.dport, r.len)?;
    }
    out.flush()?;
    eprintln!(
        "lo_stamps: {} datagrams, {no_stamp} without a kernel stamp",
        recs.len()
    );
    Ok(())
}
