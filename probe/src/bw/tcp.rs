//! The TCP data loops: one thread per stream, large writes and reads from a
//! buffer allocated once, one atomic add per call, nothing per octet.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Octets per write and per read.
pub const BUF: usize = 256 * 1024;
/// Longest a blocked call waits before the loop looks at the clock again.
const SLICE: Duration = Duration::from_millis(200);

/// Writes until `until` (or `stop`, or an error), counting into `sent`, then
/// shuts the write side. The stream stays open for [`retransmits`].
pub fn send(stream: &mut TcpStream, until: Instant, stop: &AtomicBool, sent: &AtomicU64) {
    let buf = vec![0u8; BUF];
    let _ = stream.set_write_timeout(Some(SLICE));
    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
        match stream.write(&buf) {
            Ok(0) => break,
            Ok(n) => {
                sent.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) if is_wait(&e) => {}
            Err(_) => break,
        }
    }
    let _ = stream.shutdown(Shutdown::Write);
}

/// What one receiving stream got.
#[derive(Debug, Clone, Copy, Default)]
pub struct Received {
    pub bytes: u64,
    pub first: Option<Instant>,
    pub last: Option<Instant>,
}

impl Received {
    /// Both streams' octets over the span of both.
    pub fn merge(self, other: Received) -> Received {
        Received {
            bytes: self.bytes + other.bytes,
            first: match (self.first, other.first) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            last: match (self.last, other.last) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
        }
    }

    /// First to last octet, nanoseconds.
    pub fn interval_ns(&self) -> u64 {
        match (self.first, self.last) {
            (Some(f), Some(l)) => u64::try_from(l.duration_since(f).as_nanos()).unwrap_or(u64::MAX),
            _ => 0,
        }
    }
}

/// Reads until the peer closes, `deadline` or `stop`, counting into `got`.
pub fn receive(
    stream: &mut TcpStream,
    deadline: Instant,
    stop: &AtomicBool,
    got: &AtomicU64,
) -> Received {
    let mut buf = vec![0u8; BUF];
    let mut r = Received::default();
    let _ = stream.set_read_timeout(Some(SLICE));
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let now = Instant::now();
                r.first.get_or_insert(now);
                r.last = Some(now);
                r.bytes += n as u64;
                got.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) if is_wait(&e) => {}
            Err(_) => break,
        }
    }
    r
}

fn is_wait(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Retransmissions over the connection's life (`TCP_INFO`
/// `tcpi_total_retrans`); None where the kernel does not say.
pub fn retransmits(stream: &TcpStream) -> Option<u64> {
    use std::os::fd::AsRawFd;
    // SAFETY: tcp_info is plain old data; all-zero is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: the pointer and length describe `info`, which outlives the call.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(u64::from(info.tcpi_total_retrans))
}
