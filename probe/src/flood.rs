//! A load generator for reflector throughput figures (`probe flood`, hidden):
//! open-loop, like sockperf's under-load client with a reply asked for every
//! message. One thread sends unauthenticated STAMP packets at a fixed rate
//! (each send at its due time, computed from the start, so a late loop catches
//! up instead of drifting) and, between sends, reads replies without
//! blocking; it sleeps in `ppoll` until the next due time or a reply. Loss is
//! counted per sender sequence number after a grace period: a reply that
//! never came, whichever side dropped it (the reflector, or either socket
//! buffer; ours asks for 4 MiB). No per-packet timing is kept: this
//! measures rate and loss only.
//!
//! `ssids` spreads packets over that many SSIDs, so the reflector holds that
//! many sessions (the memory figure uses it).
//!
//! [`Protocol::Sockperf`] sends sockperf's own message format instead (8-octet
//! sequence number, flags "client" and "pong request", length), so the same
//! client drives `sockperf server` and `probe reflect` and the comparison is
//! between the servers alone.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::sender::{PacketBuilder, PacketSpec};
use crate::wire::{ErrorEstimate, Mode, Timestamp};

/// Octet offsets in an unauthenticated packet.
const SEQ_AT: usize = 0;
const SSID_AT: usize = 14;
/// Receive buffer asked for.
const RECV_BUFFER: usize = 4 << 20;
/// Where a reply carries the sender's sequence number.
const REPLY_SENDER_SEQ_AT: usize = 24;

/// The request format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// Unauthenticated STAMP test packets.
    #[default]
    Stamp,
    /// sockperf messages asking for a reply (for `sockperf server`).
    Sockperf,
}

/// sockperf header: sequence number (8 octets), flags (2), length (4).
const SOCKPERF_HEADER: usize = 14;
const SOCKPERF_CLIENT: u16 = 1;
const SOCKPERF_PONG_REQUEST: u16 = 2;

/// What to send.
#[derive(Debug, Clone)]
pub struct FloodConfig {
    pub protocol: Protocol,
    pub target: SocketAddr,
    /// Packets per second.
    pub rate: u64,
    pub duration: Duration,
    /// Octets per packet (at least 44 for STAMP, 14 for sockperf).
    pub size: usize,
    /// SSIDs to spread packets over (sessions on the reflector).
    pub ssids: u16,
    /// How long to wait for replies after the last send.
    pub grace: Duration,
}

/// What came back.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FloodResult {
    pub target_rate: u64,
    pub sent: u64,
    /// Distinct sequence numbers answered.
    pub received: u64,
    pub duplicates: u64,
    /// Replies that were not ours or did not parse.
    pub strays: u64,
    /// Sends refused by the kernel (socket buffer full), retried later.
    pub send_retries: u64,
    pub loss_pct: f64,
    /// Sent packets per second actually achieved.
    pub achieved_rate: f64,
    pub send_seconds: f64,
}

struct Seen {
    bits: Vec<u64>,
}

impl Seen {
    fn new(n: u64) -> Seen {
        Seen {
            bits: vec![0; usize::try_from(n.div_ceil(64)).unwrap_or(0)],
        }
    }

    /// Marks `seq`; false if it was marked already or is out of range.
    fn mark(&mut self, seq: u64) -> Option<bool> {
        let word = self.bits.get_mut(usize::try_from(seq / 64).ok()?)?;
        let bit = 1u64 << (seq % 64);
        let fresh = *word & bit == 0;
        *word |= bit;
        Some(fresh)
    }
}

fn wait(socket: &UdpSocket, timeout: Duration) {
    let mut pfd = libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(1) as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: one valid pollfd and a valid timespec for the call; no mask.
    unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
}

fn stamp_packet(size: usize) -> io::Result<Vec<u8>> {
    let invalid = |e| io::Error::new(io::ErrorKind::InvalidInput, e);
    let mut builder = PacketBuilder::new(&PacketSpec {
        mode: Mode::Unauthenticated,
        ssid: 0,
        size: Some(size),
        dscp: None,
        follow_up: false,
        timestamp_info: false,
    })
    .map_err(invalid)?;
    let mut packet = vec![0u8; builder.len()];
    builder
        .write(
            &mut packet,
            0,
            Timestamp::default(),
            ErrorEstimate::default(),
            None,
        )
        .map_err(invalid)?;
    Ok(packet)
}

fn sockperf_packet(size: usize) -> io::Result<Vec<u8>> {
    if size < SOCKPERF_HEADER {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "sockperf messages need at least 14 octets",
        ));
    }
    let mut packet = vec![0u8; size];
    let flags = SOCKPERF_CLIENT | SOCKPERF_PONG_REQUEST;
    packet[8..10].copy_from_slice(&flags.to_be_bytes());
    packet[10..14].copy_from_slice(&(size as u32).to_be_bytes());
    Ok(packet)
}

/// The sequence number a reply answers, if it is a reply of `protocol`.
fn reply_seq(protocol: Protocol, reply: &[u8]) -> Option<u64> {
    match protocol {
        Protocol::Stamp if reply.len() >= 44 => reply
            .get(REPLY_SENDER_SEQ_AT..REPLY_SENDER_SEQ_AT + 4)
            .map(|b| u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))),
        Protocol::Sockperf if reply.len() >= SOCKPERF_HEADER => reply
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes),
        _ => None,
    }
}

/// Runs the flood; see the module documentation.
pub fn run(config: &FloodConfig) -> io::Result<FloodResult> {
    let total = config
        .rate
        .saturating_mul(config.duration.as_micros() as u64)
        / 1_000_000;
    let local = match config.target {
        SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        SocketAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    };
    let socket = UdpSocket::bind(local)?;
    socket.connect(config.target)?;
    socket.set_nonblocking(true)?;
    // Replies queue here while we send: a large buffer (best effort, the
    // kernel caps it at rmem_max) keeps our own drops out of the figure.
    let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(RECV_BUFFER);

    let mut packet = match config.protocol {
        Protocol::Stamp => stamp_packet(config.size)?,
        Protocol::Sockperf => sockperf_packet(config.size)?,
    };
    let mut seen = Seen::new(total);
    let mut rx = vec![0u8; 65_536];
    let (mut sent, mut received, mut duplicates, mut strays, mut retries) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let ssids = u64::from(config.ssids.max(1));
    let ns_per_packet = 1e9 / config.rate.max(1) as f64;
    let start = Instant::now();
    let protocol = config.protocol;

    let mut drain = |socket: &UdpSocket, seen: &mut Seen| -> (u64, u64, u64) {
        let (mut fresh, mut dup, mut stray) = (0, 0, 0);
        for _ in 0..256 {
            match socket.recv(&mut rx) {
                Ok(n) => {
                    let seq = reply_seq(protocol, rx.get(..n).unwrap_or(&[]));
                    match seq.and_then(|s| seen.mark(s)) {
                        Some(true) => fresh += 1,
                        Some(false) => dup += 1,
                        None => stray += 1,
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        (fresh, dup, stray)
    };

    while sent < total {
        let elapsed = start.elapsed().as_nanos() as f64;
        let due = ((elapsed / ns_per_packet) as u64 + 1).min(total);
        while sent < due {
            match config.protocol {
                Protocol::Stamp => {
                    let seq = sent as u32;
                    packet[SEQ_AT..SEQ_AT + 4].copy_from_slice(&seq.to_be_bytes());
                    let ssid = (sent % ssids) as u16;
                    packet[SSID_AT..SSID_AT + 2].copy_from_slice(&ssid.to_be_bytes());
                }
                Protocol::Sockperf => packet[..8].copy_from_slice(&sent.to_be_bytes()),
            }
            match socket.send(&packet) {
                Ok(_) => sent += 1,
                Err(_) => {
                    retries += 1;
                    break;
                }
            }
        }
        let (f, d, s) = drain(&socket, &mut seen);
        received += f;
        duplicates += d;
        strays += s;
        if sent < total {
            let next_due = start + Duration::from_nanos((sent as f64 * ns_per_packet) as u64);
            let gap = next_due.saturating_duration_since(Instant::now());
            if !gap.is_zero() {
                wait(&socket, gap);
            }
        }
    }
    let send_seconds = start.elapsed().as_secs_f64();
    let grace_end = Instant::now() + config.grace;
    while Instant::now() < grace_end {
        let (f, d, s) = drain(&socket, &mut seen);
        received += f;
        duplicates += d;
        strays += s;
        wait(&socket, grace_end.saturating_duration_since(Instant::now()));
    }
    let loss_pct = if sent == 0 {
        0.0
    } else {
        (sent - received.min(sent)) as f64 * 100.0 / sent as f64
    };
    Ok(FloodResult {
        target_rate: config.rate,
        sent,
        received,
        duplicates,
        strays,
        send_retries: retries,
        loss_pct,
        achieved_rate: sent as f64 / send_seconds.max(1e-9),
        send_seconds,
    })
}
