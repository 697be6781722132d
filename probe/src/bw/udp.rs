//! The UDP data loops: a paced sender (each datagram stamped right before its
//! send) and a receiver feeding [`Arrivals`] with each datagram's kernel
//! receive stamp and the user-space time it was read; plus the hello a client
//! sends to open the path for a reverse test.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::arrivals::{Arrival, Arrivals};
use super::datagram::{DatagramError, DatagramPacket, Header, HEADER_LEN, HELLO_SEQ};
use super::pacer::Pacer;
use crate::timestamping::{enable_rx_timestampns, recvmsg::recvmsg};

/// How long a receiver waits for stragglers once the sender said it finished.
pub const IDLE_AFTER_FINISH: Duration = Duration::from_millis(250);
/// The longest a receiver goes on after the sender finished.
const MAX_AFTER_FINISH: Duration = Duration::from_secs(2);
/// Datagrams sent back to back at most.
const BATCH: usize = 64;
/// Pause after the send queue was full.
const QUEUE_FULL_WAIT: Duration = Duration::from_micros(100);
/// Receive buffer asked for (the kernel caps it at net.core.rmem_max).
pub const RCVBUF: usize = 4 << 20;

/// The header of a received datagram, if it is test traffic.
fn parse(data: &[u8]) -> Result<Header, DatagramError> {
    Header::parse(&DatagramPacket::new_checked(data)?)
}

fn since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Sends `payload`-octet datagrams at `rate_bps` on a connected socket until
/// `until` or `stop`; returns the datagrams sent. Octets go into `sent_bytes`.
pub fn send_paced(
    socket: &UdpSocket,
    cookie: [u8; 8],
    rate_bps: u64,
    payload: usize,
    until: Instant,
    stop: &AtomicBool,
    sent_bytes: &AtomicU64,
) -> u64 {
    let mut buf = vec![0u8; payload.max(HEADER_LEN)];
    let epoch = Instant::now();
    let mut pacer = Pacer::new(rate_bps, buf.len());
    let mut seq = 0u64;
    let _ = socket.set_write_timeout(Some(Duration::from_millis(100)));
    loop {
        let now = Instant::now();
        if now >= until || stop.load(Ordering::Relaxed) {
            break;
        }
        let now_ns = since(epoch);
        let due = pacer.due(now_ns, BATCH);
        if due == 0 {
            let wait = pacer.next_ns().saturating_sub(now_ns);
            std::thread::sleep(Duration::from_nanos(wait).min(until - now));
            continue;
        }
        for i in 0..due {
            let header = Header {
                cookie,
                seq,
                send_ns: since(epoch),
            };
            if let Ok(mut packet) = DatagramPacket::new_checked(&mut buf[..]) {
                header.emit(&mut packet);
            }
            match socket.send(&buf) {
                Ok(n) => {
                    seq += 1;
                    sent_bytes.fetch_add(n as u64, Ordering::Relaxed);
                }
                // A full queue (ENOBUFS): not sent, not counted; these go
                // again once the queue drains.
                Err(_) => {
                    pacer.give_back(due - i);
                    std::thread::sleep(QUEUE_FULL_WAIT);
                    break;
                }
            }
        }
    }
    seq
}

/// Receives test datagrams of `cookie` from `from` until the sender has
/// finished (`finish`, then [`IDLE_AFTER_FINISH`] of silence), `deadline`
/// or `stop`. Octets go into `got`.
pub fn receive(
    socket: &UdpSocket,
    cookie: [u8; 8],
    from: IpAddr,
    finish: &AtomicBool,
    deadline: Instant,
    stop: &AtomicBool,
    got: &AtomicU64,
) -> Arrivals {
    let epoch = Instant::now();
    let mut arrivals = Arrivals::new();
    let mut buf = vec![0u8; 65_536];
    let mut last_packet = Instant::now();
    let mut finished_at: Option<Instant> = None;
    let _ = socket.set_read_timeout(Some(Duration::from_millis(50)));
    // Without kernel stamps the jitter falls back to the user-space clock.
    let _ = enable_rx_timestampns(socket.as_raw_fd());
    loop {
        let now = Instant::now();
        if now >= deadline || stop.load(Ordering::Relaxed) {
            break;
        }
        if finish.load(Ordering::Relaxed) {
            let at = *finished_at.get_or_insert(now);
            if now.duration_since(last_packet.max(at)) >= IDLE_AFTER_FINISH
                || now.duration_since(at) >= MAX_AFTER_FINISH
            {
                break;
            }
        }
        // Timeouts and errors: look at the clock and the flags again.
        let Ok(msg) = recvmsg(socket.as_raw_fd(), &mut buf, 0) else {
            continue;
        };
        let user_ns = since(epoch);
        // recvmsg gives IPv4-mapped sources as IPv4; `from` may be either.
        if msg.from.map(|s| s.ip().to_canonical()) != Some(from.to_canonical()) {
            continue;
        }
        let n = msg.len;
        let data = buf.get(..n).unwrap_or(&[]);
        let Ok(h) = parse(data) else {
            continue;
        };
        if h.cookie != cookie || h.seq == HELLO_SEQ {
            continue;
        }
        last_packet = Instant::now();
        let kernel_ns = msg
            .ancillary
            .best_timestamp(false)
            .map(|(ts, _)| u64::try_from(ts.as_nanos()).unwrap_or(u64::MAX));
        arrivals.record(h.seq, h.send_ns, Arrival { user_ns, kernel_ns }, n);
        got.fetch_add(n as u64, Ordering::Relaxed);
    }
    arrivals
}

/// The client's hello for a reverse test (on its connected socket).
pub fn send_hello(socket: &UdpSocket, cookie: [u8; 8]) -> io::Result<()> {
    let mut buf = [0u8; HEADER_LEN];
    let hello = Header {
        cookie,
        seq: HELLO_SEQ,
        send_ns: 0,
    };
    hello.emit(&mut DatagramPacket::new_checked(&mut buf[..]).map_err(io::Error::other)?);
    socket.send(&buf).map(|_| ())
}

/// Waits (until `deadline` or `stop`) for a hello of `cookie` from `from`:
/// the address to send a reverse test to.
pub fn await_hello(
    socket: &UdpSocket,
    cookie: [u8; 8],
    from: IpAddr,
    deadline: Instant,
    stop: &AtomicBool,
) -> Option<SocketAddr> {
    let mut buf = [0u8; 2048];
    let _ = socket.set_read_timeout(Some(Duration::from_millis(50)));
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        if let Ok((n, src)) = socket.recv_from(&mut buf) {
            let ok = src.ip() == from
                && parse(buf.get(..n).unwrap_or(&[]))
                    .is_ok_and(|h| h.cookie == cookie && h.seq == HELLO_SEQ);
            if ok {
                return Some(src);
            }
        }
    }
    None
}

/// A UDP socket on `ip` (any port) with a large receive buffer.
pub fn bind(ip: IpAddr) -> io::Result<UdpSocket> {
    let socket = UdpSocket::bind(SocketAddr::new(ip, 0))?;
    let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(RCVBUF);
    Ok(socket)
}
