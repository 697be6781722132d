//! A UDP socket that says when each datagram really left and arrived: kernel
//! timestamps (`SO_TIMESTAMPING`, TX stamps read back from the error queue),
//! hardware ones where the NIC offers them, user-space clock reads as the last
//! resort. Every timestamp carries its [`TsSource`], so results can say which
//! was used.
//!
//! This is a thin blocking layer over the raw fd; the async side wraps it in
//! tokio `AsyncFd` (set it non-blocking, use [`AsRawFd`], and on error-queue
//! readiness call [`TimestampedSocket::drain_error_queue`]: a non-empty error
//! queue makes the fd report `POLLERR`).
//!
//! Fallback order at socket creation (reasons land in [`Capabilities::notes`]):
//! 1. `SO_TIMESTAMPING` with software RX/TX, `OPT_TSONLY`, `OPT_ID`, plus
//!    RX/TX hardware and raw hardware reporting when asked for;
//! 2. the same without hardware;
//! 3. `SO_TIMESTAMPNS` (kernel RX stamps only, TX from user space);
//! 4. `clock_gettime(CLOCK_REALTIME)` right after `recvmsg` / right before
//!    `sendmsg`.
//!
//! Hardware stamps (`ts[2]`, raw) are read from the NIC's clock, which is
//! realtime only if something (phc2sys) keeps it so; they appear only when the
//! interface has hardware stamping switched on (`SIOCSHWTSTAMP`, an admin
//! decision this module does not make).
//!
//! RX software stamps are switched on system-wide by deferred kernel work when
//! the first timestamping socket appears, so the first arrivals on a fresh
//! system may carry no kernel stamp: they get a user-space one, labelled so.
//!
//! Timestamps are realtime ([`Timestamp`] = time since the Unix epoch) because
//! STAMP carries wall-clock time.

mod batch;
mod cmsg;
mod datagram_socket;
pub(crate) mod recvmsg;
mod tx_book;

pub use batch::RecvBatch;
pub use datagram_socket::DatagramSocket;

use std::io;
use std::mem::size_of;
use std::net::{SocketAddr, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use libc::{c_int, c_uint};
use serde::Serialize;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use cmsg::{CmsgWriter, ControlBuf, SCM_TSTAMP_SND, SCM_TS_OPT_ID, SO_TIMESTAMPING_OLD};
use recvmsg::recvmsg;
use tx_book::{KeyMode, TxBook};

/// Wall-clock time as a duration since the Unix epoch (CLOCK_REALTIME).
pub type Timestamp = Duration;

pub use protocol::window::TsSource;

/// Reads CLOCK_REALTIME (through the test clock, when one is installed).
pub fn realtime_now() -> Timestamp {
    crate::clock::test_clock::apply(raw_realtime_now())
}

/// Reads CLOCK_REALTIME as the kernel keeps it.
pub fn raw_realtime_now() -> Timestamp {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, exclusively borrowed timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    let secs = u64::try_from(ts.tv_sec).ok();
    let nanos = u32::try_from(ts.tv_nsec)
        .ok()
        .filter(|&n| n < 1_000_000_000);
    match (rc, secs, nanos) {
        (0, Some(secs), Some(nanos)) => Timestamp::new(secs, nanos),
        _ => SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default(),
    }
}

/// How receive timestamps are obtained on this socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RxTimestamping {
    /// `SO_TIMESTAMPING` (software, and hardware when the NIC stamps).
    Timestamping,
    /// `SO_TIMESTAMPNS`.
    TimestampNs,
    /// User-space clock after `recvmsg`.
    User,
}

/// How transmit timestamps are obtained on this socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TxTimestamping {
    /// Kernel stamps read back from the error queue.
    ErrorQueue,
    /// User-space clock before `sendmsg`.
    User,
}

/// What the kernel granted when the socket was set up, and why not more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    pub rx: RxTimestamping,
    pub tx: TxTimestamping,
    /// Hardware stamping flags were accepted (stamps still need the NIC set up).
    pub hardware_requested: bool,
    /// The `SOF_TIMESTAMPING_*` flags in force (0 without `SO_TIMESTAMPING`).
    pub flags: u32,
    /// One line per fallback or option the kernel refused.
    pub notes: Vec<String>,
}

/// Choices for [`TimestampedSocket::bind_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketOptions {
    /// Ask the kernel for timestamps at all (false: user-space clock only).
    pub kernel_timestamps: bool,
    /// Also ask for hardware timestamps.
    pub hardware: bool,
    /// Pass each TX key with `SCM_TS_OPT_ID` when the kernel takes it, rather
    /// than mirroring the kernel's counter.
    pub explicit_tx_keys: bool,
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions {
            kernel_timestamps: true,
            hardware: true,
            explicit_tx_keys: true,
        }
    }
}

/// One received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Bytes written into the buffer.
    pub len: usize,
    /// The datagram was longer than the buffer.
    pub truncated: bool,
    /// Sender (IPv4-mapped addresses are given as IPv4).
    pub from: SocketAddr,
    /// Arrival time.
    pub ts: Timestamp,
    pub ts_source: TsSource,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: Option<u8>,
    /// IPv4 TOS or IPv6 traffic class (DSCP and ECN).
    pub tos: Option<u8>,
}

/// A sent datagram, to look up its TX timestamp with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendTicket {
    /// The OPT_ID key its kernel timestamp will carry (None: none will come).
    pub key: Option<u32>,
    /// The clock read just before `sendmsg`: the fallback TX timestamp.
    pub user_ts: Timestamp,
    /// Bytes sent.
    pub len: usize,
}

/// A UDP socket with kernel timestamps. See the module documentation.
#[derive(Debug)]
pub struct TimestampedSocket {
    socket: Socket,
    ipv6: bool,
    caps: Capabilities,
    tx: Mutex<TxBook>,
}

const BASE_FLAGS: c_uint = libc::SOF_TIMESTAMPING_RX_SOFTWARE
    | libc::SOF_TIMESTAMPING_TX_SOFTWARE
    | libc::SOF_TIMESTAMPING_SOFTWARE
    | libc::SOF_TIMESTAMPING_OPT_TSONLY
    | libc::SOF_TIMESTAMPING_OPT_ID;
const HARDWARE_FLAGS: c_uint = libc::SOF_TIMESTAMPING_RX_HARDWARE
    | libc::SOF_TIMESTAMPING_TX_HARDWARE
    | libc::SOF_TIMESTAMPING_RAW_HARDWARE
    | libc::SOF_TIMESTAMPING_OPT_TX_SWHW;
const RX_ONLY_FLAGS: c_uint = libc::SOF_TIMESTAMPING_RX_SOFTWARE | libc::SOF_TIMESTAMPING_SOFTWARE;

impl TimestampedSocket {
    /// Binds a UDP socket to `addr` with the default [`SocketOptions`].
    pub fn bind(addr: SocketAddr) -> io::Result<TimestampedSocket> {
        TimestampedSocket::bind_with(addr, &SocketOptions::default())
    }

    /// Binds a UDP socket to `addr`, enabling what the kernel grants.
    pub fn bind_with(addr: SocketAddr, options: &SocketOptions) -> io::Result<TimestampedSocket> {
        let domain = Domain::for_address(addr);
        let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
        socket.bind(&SockAddr::from(addr))?;
        let ipv6 = addr.is_ipv6();
        let mut notes = Vec::new();
        enable_header_info(&socket, ipv6, &mut notes);
        let (rx, tx, flags) = enable_timestamps(&socket, options, &mut notes);
        let mode = match (tx, options.explicit_tx_keys) {
            (TxTimestamping::ErrorQueue, true) => KeyMode::Probe,
            _ => KeyMode::Counter,
        };
        Ok(TimestampedSocket {
            socket,
            ipv6,
            caps: Capabilities {
                rx,
                tx,
                hardware_requested: flags & libc::SOF_TIMESTAMPING_RAW_HARDWARE != 0,
                flags,
                notes,
            },
            tx: Mutex::new(TxBook::new(mode)),
        })
    }

    /// What the kernel granted.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// How TX keys are matched: "explicit" (`SCM_TS_OPT_ID`), "counter", or
    /// "undecided" before the first send.
    pub fn tx_key_mode(&self) -> &'static str {
        match self.book().mode {
            KeyMode::Probe => "undecided",
            KeyMode::Explicit => "explicit",
            KeyMode::Counter => "counter",
        }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP socket"))
    }

    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.socket.set_nonblocking(nonblocking)
    }

    /// Sets the TOS byte (DSCP << 2 | ECN) of packets sent from now on: IP_TOS,
    /// and IPV6_TCLASS on IPv6 sockets (where IP_TOS still covers IPv4-mapped
    /// destinations, best effort).
    pub fn set_tos(&self, tos: u8) -> io::Result<()> {
        if self.ipv6 {
            self.socket.set_tclass_v6(u32::from(tos))?;
            let _ = self.socket.set_tos_v4(u32::from(tos));
            Ok(())
        } else {
            self.socket.set_tos_v4(u32::from(tos))
        }
    }

    /// Receives one datagram with its arrival timestamp, TTL and TOS. Blocks
    /// unless the socket is non-blocking (then `WouldBlock`).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        recvmsg(self.socket.as_raw_fd(), buf, 0)?
            .received(self.caps.hardware_requested)
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, "datagram from a non-IP address")
            })
    }

    /// Sends one datagram to `addr`, with a per-packet TOS byte if given.
    pub fn send_to(&self, buf: &[u8], addr: SocketAddr, tos: Option<u8>) -> io::Result<SendTicket> {
        self.send_to_with(buf, addr, tos, true)
    }

    /// Like [`TimestampedSocket::send_to`]; with `tx_stamp` false the kernel is
    /// asked for no TX timestamp for this datagram (an `SO_TIMESTAMPING`
    /// control message without TX flags, Linux 4.6+), so no error-queue entry
    /// waits to be drained and the ticket has no key. A kernel refusing that
    /// message gets the datagram sent stamped instead.
    pub fn send_to_with(
        &self,
        buf: &[u8],
        addr: SocketAddr,
        tos: Option<u8>,
        tx_stamp: bool,
    ) -> io::Result<SendTicket> {
        let dest = SockAddr::from(self.destination(addr));
        let tx_capable = self.caps.tx == TxTimestamping::ErrorQueue;
        let mut suppress = tx_capable && !tx_stamp;
        // Held across sendmsg so keys follow send order when threads share us.
        let mut book = self.book();
        let mut explicit = tx_capable && book.mode != KeyMode::Counter;
        loop {
            let tx_stamped = tx_capable && !suppress;
            let key = book.next_key();
            let mut control = ControlBuf::new();
            let mut writer = CmsgWriter::new(&mut control);
            if explicit && tx_stamped {
                writer.push(libc::SOL_SOCKET, SCM_TS_OPT_ID, &key.to_ne_bytes());
            }
            if suppress {
                writer.push(libc::SOL_SOCKET, SO_TIMESTAMPING_OLD, &0u32.to_ne_bytes());
            }
            if let Some(tos) = tos {
                let (level, name) = match addr {
                    SocketAddr::V4(_) => (libc::IPPROTO_IP, libc::IP_TOS),
                    SocketAddr::V6(_) => (libc::IPPROTO_IPV6, libc::IPV6_TCLASS),
                };
                writer.push(level, name, &c_int::from(tos).to_ne_bytes());
            }
            let control_len = writer.len();
            let mut iov = libc::iovec {
                iov_base: buf.as_ptr().cast_mut().cast(),
                iov_len: buf.len(),
            };
            // SAFETY: msghdr is plain old data; zero is valid.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_name = dest.as_ptr().cast_mut().cast();
            msg.msg_namelen = dest.len();
            msg.msg_iov = &raw mut iov;
            msg.msg_iovlen = 1;
            if control_len > 0 {
                msg.msg_control = control.as_mut_ptr();
                msg.msg_controllen = control_len as _;
            }
            let user_ts = realtime_now();
            // SAFETY: every pointer in `msg` refers to a live buffer of the
            // stated length; sendmsg only reads them.
            let rc = unsafe { libc::sendmsg(self.socket.as_raw_fd(), &msg, 0) };
            if let Ok(len) = usize::try_from(rc) {
                if book.mode == KeyMode::Probe && tx_stamped {
                    book.mode = if explicit {
                        KeyMode::Explicit
                    } else {
                        KeyMode::Counter
                    };
                }
                let key = tx_stamped.then(|| book.sent());
                return Ok(SendTicket { key, user_ts, len });
            }
            let err = io::Error::last_os_error();
            if suppress {
                if err.raw_os_error() == Some(libc::EINVAL) {
                    // A kernel without per-datagram timestamping flags.
                    suppress = false;
                    continue;
                }
                return Err(err);
            }
            if book.mode == KeyMode::Probe {
                if explicit && err.raw_os_error() == Some(libc::EINVAL) {
                    // Perhaps a kernel before SCM_TS_OPT_ID: try once without,
                    // with the key the kernel's own counter would give.
                    explicit = false;
                    book.restart_counter();
                    continue;
                }
                if !explicit {
                    if err.raw_os_error() == Some(libc::EINVAL) {
                        return Err(err); // invalid either way: still undecided
                    }
                    book.mode = KeyMode::Counter;
                }
            }
            if tx_stamped && book.mode == KeyMode::Counter {
                // The kernel may or may not have used a key for this send.
                self.restart_counter(&mut book);
            }
            return Err(err);
        }
    }

    /// The TX timestamp of `ticket`: the kernel's, waiting up to `wait` for it
    /// on the error queue, else the user-space time read just before sending.
    pub fn tx_timestamp(&self, ticket: &SendTicket, wait: Duration) -> (Timestamp, TsSource) {
        if ticket.key.is_none() {
            return (ticket.user_ts, TsSource::User);
        }
        let deadline = Instant::now() + wait;
        loop {
            let drained = self.drain_error_queue().unwrap_or(0);
            if let Some(hit) = self.try_tx_timestamp(ticket) {
                return hit;
            }
            let now = Instant::now();
            if now >= deadline {
                return (ticket.user_ts, TsSource::User);
            }
            if drained == 0 && self.wait_error_queue(deadline - now) {
                // POLLERR without a queued entry: a pending socket error; clear
                // it so the next poll does not return at once.
                if self.drain_error_queue().unwrap_or(0) == 0 {
                    let _ = self.socket.take_error();
                }
            }
        }
    }

    /// The kernel TX timestamp of `ticket` if it has been read from the error
    /// queue already (see [`TimestampedSocket::drain_error_queue`]).
    pub fn try_tx_timestamp(&self, ticket: &SendTicket) -> Option<(Timestamp, TsSource)> {
        let key = ticket.key?;
        self.book().take(key, ticket.user_ts)
    }

    /// Reads every TX timestamp waiting on the error queue, without blocking;
    /// returns how many were read. Other error-queue entries are discarded.
    pub fn drain_error_queue(&self) -> io::Result<usize> {
        let mut stamps = 0;
        loop {
            let mut payload = [0u8; 64];
            let flags = libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT;
            let entry = match recvmsg(self.socket.as_raw_fd(), &mut payload, flags) {
                Ok(entry) => entry,
                Err(err) => {
                    return match err.kind() {
                        io::ErrorKind::WouldBlock => Ok(stamps),
                        io::ErrorKind::Interrupted => continue,
                        _ => Err(err),
                    }
                }
            };
            let ancillary = entry.ancillary;
            let Some(ee) = ancillary.extended_error else {
                continue;
            };
            let is_tx_stamp = ee.errno == libc::ENOMSG as u32
                && ee.origin == libc::SO_EE_ORIGIN_TIMESTAMPING
                && ee.info == SCM_TSTAMP_SND;
            if !is_tx_stamp {
                continue;
            }
            if let Some((ts, source)) = ancillary.best_timestamp(self.caps.hardware_requested) {
                self.book().record(ee.data, ts, source);
                stamps += 1;
            }
        }
    }

    /// Waits until the error queue is readable or `wait` passes; true if ready.
    fn wait_error_queue(&self, wait: Duration) -> bool {
        let mut pfd = libc::pollfd {
            fd: self.socket.as_raw_fd(),
            events: 0, // POLLERR is always reported
            revents: 0,
        };
        let ms = wait.as_micros().div_ceil(1000).min(i32::MAX as u128) as c_int;
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        rc > 0 && pfd.revents & libc::POLLERR != 0
    }

    fn restart_counter(&self, book: &mut TxBook) {
        let fd = self.socket.as_raw_fd();
        let flags = self.caps.flags;
        let off = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPING, {
            (flags & !libc::SOF_TIMESTAMPING_OPT_ID) as c_int
        });
        let on = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPING, flags as c_int);
        if off.is_ok() && on.is_ok() {
            book.restart_counter();
        }
    }

    fn destination(&self, addr: SocketAddr) -> SocketAddr {
        match addr {
            SocketAddr::V4(v4) if self.ipv6 => {
                SocketAddr::V6(SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0))
            }
            other => other,
        }
    }

    fn book(&self) -> MutexGuard<'_, TxBook> {
        self.tx
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl AsRawFd for TimestampedSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

impl AsFd for TimestampedSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

/// Asks for kernel receive stamps (`SO_TIMESTAMPNS`) on a socket that is
/// otherwise plain, such as the bandwidth test's UDP receiver.
pub(crate) fn enable_rx_timestampns(fd: RawFd) -> io::Result<()> {
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)
}

fn setsockopt_int(fd: RawFd, level: c_int, name: c_int, value: c_int) -> io::Result<()> {
    // SAFETY: passes a pointer to a live int and its size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&raw const value).cast(),
            size_of::<c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// TTL/hop limit and TOS/traffic class on receive; best effort, noted on failure.
fn enable_header_info(socket: &Socket, ipv6: bool, notes: &mut Vec<String>) {
    let fd = socket.as_raw_fd();
    let mut wanted = vec![
        (libc::IPPROTO_IP, libc::IP_RECVTTL, "IP_RECVTTL"),
        (libc::IPPROTO_IP, libc::IP_RECVTOS, "IP_RECVTOS"),
    ];
    if ipv6 {
        wanted.push((
            libc::IPPROTO_IPV6,
            libc::IPV6_RECVHOPLIMIT,
            "IPV6_RECVHOPLIMIT",
        ));
        wanted.push((libc::IPPROTO_IPV6, libc::IPV6_RECVTCLASS, "IPV6_RECVTCLASS"));
    }
    for (level, name, label) in wanted {
        if let Err(err) = setsockopt_int(fd, level, name, 1) {
            notes.push(format!("{label} refused: {err}"));
        }
    }
}

fn enable_timestamps(
    socket: &Socket,
    options: &SocketOptions,
    notes: &mut Vec<String>,
) -> (RxTimestamping, TxTimestamping, u32) {
    use RxTimestamping as Rx;
    use TxTimestamping as Tx;
    if !options.kernel_timestamps {
        notes.push("kernel timestamps not requested: user-space clock only".to_owned());
        return (Rx::User, Tx::User, 0);
    }
    let fd = socket.as_raw_fd();
    let mut attempts = Vec::new();
    if options.hardware {
        attempts.push((BASE_FLAGS | HARDWARE_FLAGS, Tx::ErrorQueue, "with hardware"));
    }
    attempts.push((BASE_FLAGS, Tx::ErrorQueue, "software"));
    attempts.push((RX_ONLY_FLAGS, Tx::User, "software RX only"));
    for (flags, tx, label) in attempts {
        match setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPING, flags as c_int) {
            Ok(()) => return (Rx::Timestamping, tx, flags),
            Err(err) => notes.push(format!("SO_TIMESTAMPING ({label}) refused: {err}")),
        }
    }
    match setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1) {
        Ok(()) => (Rx::TimestampNs, Tx::User, 0),
        Err(err) => {
            notes.push(format!(
                "SO_TIMESTAMPNS refused: {err}; user-space clock only"
            ));
            (Rx::User, Tx::User, 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_order_worst_to_best() {
        assert!(TsSource::User < TsSource::Kernel);
        assert!(TsSource::Kernel < TsSource::Hardware);
        assert_eq!(TsSource::Kernel.to_string(), "kernel");
    }

    #[test]
    fn realtime_is_after_2020() {
        assert!(realtime_now() > Duration::from_secs(1_577_836_800));
    }

    #[test]
    fn user_only_socket_stamps_in_user_space() -> io::Result<()> {
        let options = SocketOptions {
            kernel_timestamps: false,
            ..SocketOptions::default()
        };
        let a = TimestampedSocket::bind_with(
            "127.0.0.1:0".parse().map_err(io::Error::other)?,
            &options,
        )?;
        let b = TimestampedSocket::bind_with(
            "127.0.0.1:0".parse().map_err(io::Error::other)?,
            &options,
        )?;
        let ticket = a.send_to(b"x", b.local_addr()?, None)?;
        assert_eq!(ticket.key, None);
        let (tx, source) = a.tx_timestamp(&ticket, Duration::from_secs(1));
        assert_eq!((tx, source), (ticket.user_ts, TsSource::User));
        let mut buf = [0u8; 16];
        let got = b.recv(&mut buf)?;
        assert_eq!(got.ts_source, TsSource::User);
        assert!(got.ts >= tx);
        assert_eq!(got.from, a.local_addr()?);
        Ok(())
    }

    #[test]
    fn ipv6_socket_reaches_ipv4_destination_and_reports_it_as_ipv4() -> io::Result<()> {
        let Ok(a) = TimestampedSocket::bind("[::]:0".parse().map_err(io::Error::other)?) else {
            return Ok(()); // no IPv6 here
        };
        let b = TimestampedSocket::bind("127.0.0.1:0".parse().map_err(io::Error::other)?)?;
        let to = b.local_addr()?;
        a.send_to(b"hello", to, Some(0x20))?;
        let mut buf = [0u8; 2];
        let got = b.recv(&mut buf)?;
        assert!(got.truncated);
        assert_eq!(got.len, 2);
        assert!(got.from.is_ipv4());
        assert_eq!(got.tos, Some(0x20));
        Ok(())
    }
}
