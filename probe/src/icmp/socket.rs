//! The sockets ping and traceroute send through and listen on, under tokio
//! (`AsyncFd`): an unprivileged ICMP datagram socket where
//! `net.ipv4.ping_group_range` admits one of our groups, a raw socket
//! otherwise, and one clear error when neither opens. Receive times are the
//! kernel's (`SO_TIMESTAMPNS`) where it gives them, the user-space clock
//! otherwise; each event says which.
//!
//! Where the answers arrive:
//! - raw ICMP socket: every ICMP message to this host (IPv4 with its IP
//!   header), errors quoting the probe included; the caller filters.
//! - ICMP datagram socket: echo replies to our identifier (the kernel sets it
//!   to the socket's "port"); errors about our probes come from the error
//!   queue (`IP_RECVERR`) with the offender address.
//! - UDP traceroute: probes leave from a UDP socket; with a raw ICMP socket
//!   beside it the errors are read there, otherwise from the UDP socket's
//!   error queue.

use std::io;
use std::mem::size_of;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;

use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::packet::Family;
use super::IcmpError;
use crate::timestamping::recvmsg::recvmsg;
use crate::timestamping::{
    realtime_now, DatagramSocket, Received, SendTicket, Timestamp, TsSource,
};

/// Which kind of socket carries the probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SocketKind {
    /// `SOCK_DGRAM` + `IPPROTO_ICMP(V6)`: no privilege needed.
    Dgram,
    /// `SOCK_RAW`: root or `CAP_NET_RAW`.
    Raw,
}

/// What the caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SocketChoice {
    /// Datagram where `ping_group_range` allows, raw otherwise.
    #[default]
    Auto,
    Dgram,
    Raw,
}

/// What probes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeProtocol {
    IcmpEcho,
    Udp,
}

/// One thing received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incoming {
    /// A message on the ICMP socket: `len` octets in the buffer (IPv4 raw:
    /// with the IP header).
    Message {
        from: IpAddr,
        len: usize,
        ts: Timestamp,
        source: TsSource,
    },
    /// An ICMP error read from the error queue. The buffer holds the start of
    /// our probe as sent (echo header, or the UDP payload); `dest` is where
    /// the probe went.
    QueuedError {
        offender: Option<IpAddr>,
        icmp_type: u8,
        code: u8,
        dest: Option<SocketAddr>,
        len: usize,
        ts: Timestamp,
        source: TsSource,
    },
}

/// The sockets of one ping or traceroute run.
#[derive(Debug)]
pub struct ProbeSocket {
    send: AsyncFd<Socket>,
    /// A separate receiver (raw ICMP beside a UDP sender); else `send` receives.
    recv: Option<AsyncFd<Socket>>,
    /// Whether answers come from the error queue of the socket read.
    error_queue: bool,
    kind: SocketKind,
    family: Family,
    kernel_timestamps: bool,
    local_port: u16,
}

impl ProbeSocket {
    /// Opens what `protocol` needs for `family`, as `choice` says, sending
    /// from `source` when given (a host with an address per carrier picks
    /// its carrier by the source address).
    pub fn open(
        family: Family,
        protocol: ProbeProtocol,
        choice: SocketChoice,
        source: Option<IpAddr>,
    ) -> Result<ProbeSocket, IcmpError> {
        let icmp = open_icmp(family, choice)?;
        let kind = icmp.1;
        let local: SocketAddr = match source {
            Some(ip) => SocketAddr::new(ip, 0),
            None => unspecified(family),
        };
        let mut sock = match protocol {
            ProbeProtocol::IcmpEcho => {
                let error_queue = kind == SocketKind::Dgram;
                if error_queue || source.is_some() {
                    // Binding picks the identifier now (datagram sockets), so
                    // replies can be checked against it, and the source.
                    icmp.0
                        .bind(&local.into())
                        .map_err(|e| io_error("bind", e))?;
                }
                if error_queue {
                    enable_recverr(&icmp.0, family).map_err(|e| io_error("IP_RECVERR", e))?;
                }
                ProbeSocket::assemble(icmp.0, None, error_queue, kind, family)?
            }
            ProbeProtocol::Udp => {
                let udp = Socket::new(domain(family), Type::DGRAM, Some(Protocol::UDP))
                    .map_err(|e| io_error("UDP socket", e))?;
                udp.bind(&local.into()).map_err(|e| io_error("bind", e))?;
                match kind {
                    SocketKind::Raw => {
                        ProbeSocket::assemble(udp, Some(icmp.0), false, kind, family)?
                    }
                    SocketKind::Dgram => {
                        // The ICMP socket only proved we may; UDP needs no privilege.
                        drop(icmp.0);
                        enable_recverr(&udp, family).map_err(|e| io_error("IP_RECVERR", e))?;
                        ProbeSocket::assemble(udp, None, true, kind, family)?
                    }
                }
            }
        };
        sock.local_port = local_port(sock.send.get_ref());
        Ok(sock)
    }

    fn assemble(
        send: Socket,
        recv: Option<Socket>,
        error_queue: bool,
        kind: SocketKind,
        family: Family,
    ) -> Result<ProbeSocket, IcmpError> {
        let reader = recv.as_ref().unwrap_or(&send);
        let kernel_timestamps = set_int(reader, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1).is_ok();
        let wrap = |s: Socket| -> Result<AsyncFd<Socket>, IcmpError> {
            s.set_nonblocking(true)
                .map_err(|e| io_error("non-blocking", e))?;
            // SAFETY: the Socket owns its fd, keeps it open until it is dropped
            // together with the AsyncFd, and always returns that same fd.
            unsafe { AsyncFd::register_with_interest(s, Interest::READABLE | Interest::ERROR) }
                .map_err(|e| io_error("tokio registration", io::Error::other(e.to_string())))
        };
        Ok(ProbeSocket {
            send: wrap(send)?,
            recv: recv.map(wrap).transpose()?,
            error_queue,
            kind,
            family,
            kernel_timestamps,
            local_port: 0,
        })
    }

    pub fn kind(&self) -> SocketKind {
        self.kind
    }

    pub fn family(&self) -> Family {
        self.family
    }

    /// Whether the kernel was asked for receive timestamps and agreed.
    pub fn kernel_timestamps(&self) -> bool {
        self.kernel_timestamps
    }

    /// The sending socket's local port: the echo identifier the kernel puts
    /// on datagram ICMP sockets, or the UDP source port.
    pub fn local_port(&self) -> u16 {
        self.local_port
    }

    /// Sets the TTL (IPv4) or unicast hop limit (IPv6) of what is sent next.
    pub fn set_ttl(&self, ttl: u8) -> Result<(), IcmpError> {
        let s = self.send.get_ref();
        match self.family {
            Family::V4 => s.set_ttl_v4(u32::from(ttl)),
            Family::V6 => s.set_unicast_hops_v6(u32::from(ttl)),
        }
        .map_err(|e| io_error("setting the TTL", e))
    }

    /// Sends `bytes` to `dest`; returns the clock read just before sending.
    pub fn send_to(&self, bytes: &[u8], dest: SocketAddr) -> Result<Timestamp, IcmpError> {
        self.send_datagram(bytes, dest)
            .map(|ticket| ticket.user_ts)
            .map_err(|e| io_error("sending", e))
    }

    /// Waits for the next message or queued error; `buf` receives its octets.
    pub async fn recv(&self, buf: &mut [u8]) -> Result<Incoming, IcmpError> {
        let fd = self.reader();
        loop {
            let mut guard = fd
                .ready(Interest::READABLE | Interest::ERROR)
                .await
                .map_err(|e| io_error("waiting for replies", e))?;
            if let Some(got) = self.try_recv(buf)? {
                return Ok(got);
            }
            guard.clear_ready();
        }
    }

    /// The socket answers are read from.
    fn reader(&self) -> &AsyncFd<Socket> {
        self.recv.as_ref().unwrap_or(&self.send)
    }

    fn try_recv(&self, buf: &mut [u8]) -> Result<Option<Incoming>, IcmpError> {
        loop {
            match self.recv_datagram(buf) {
                Ok(got) => {
                    return Ok(Some(Incoming::Message {
                        from: got.from.ip(),
                        len: got.len,
                        ts: got.ts,
                        source: got.ts_source,
                    }));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_not_from_ip(&e) => {}
                // The pending socket error that mirrors a queued ICMP error.
                Err(e) if self.error_queue && is_soft(&e) => break,
                Err(e) => return Err(io_error("receiving", e)),
            }
        }
        if !self.error_queue {
            return Ok(None);
        }
        let fd = self.reader().get_ref().as_raw_fd();
        loop {
            match recvmsg(fd, buf, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) {
                Ok(m) => {
                    let Some(ee) = m.ancillary.extended_error else {
                        continue;
                    };
                    let icmp_origin = ee.origin == libc::SO_EE_ORIGIN_ICMP
                        || ee.origin == libc::SO_EE_ORIGIN_ICMP6;
                    if !icmp_origin {
                        continue;
                    }
                    let (ts, source) = m.timestamp(false);
                    return Ok(Some(Incoming::QueuedError {
                        offender: ee.offender,
                        icmp_type: ee.ee_type,
                        code: ee.code,
                        dest: m.from,
                        len: m.len,
                        ts,
                        source,
                    }));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error("reading the error queue", e)),
            }
        }
    }
}

/// ICMP sockets have no TX timestamps (the trait's user-space default), and
/// read only SO_TIMESTAMPNS (never hardware) stamps.
impl DatagramSocket for ProbeSocket {
    fn send_datagram(&self, data: &[u8], to: SocketAddr) -> io::Result<SendTicket> {
        let addr = SockAddr::from(to);
        let mut retried = false;
        loop {
            let user_ts = realtime_now();
            match self.send.get_ref().send_to(data, &addr) {
                Ok(len) => {
                    return Ok(SendTicket {
                        key: None,
                        user_ts,
                        len,
                    })
                }
                // An error queued by an earlier ICMP error may surface here once.
                Err(e) if !retried && is_soft(&e) => retried = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn recv_datagram(&self, buf: &mut [u8]) -> io::Result<Received> {
        let fd = self.reader().get_ref().as_raw_fd();
        recvmsg(fd, buf, libc::MSG_DONTWAIT)?
            .received(false)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, NOT_FROM_IP))
    }
}

/// Why [`ProbeSocket::recv_datagram`] returned a message it skipped.
const NOT_FROM_IP: &str = "message from a non-IP address";

/// The error [`ProbeSocket::recv_datagram`] made for a non-IP source (not an
/// OS error): such a message is skipped, as it cannot be a reply.
fn is_not_from_ip(e: &io::Error) -> bool {
    e.raw_os_error().is_none() && e.kind() == io::ErrorKind::InvalidData
}

/// Errors an ICMP error leaves pending on a socket with `IP_RECVERR`.
fn is_soft(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EHOSTUNREACH | libc::ENETUNREACH | libc::ECONNREFUSED | libc::EPROTO)
    )
}

fn io_error(what: &'static str, e: io::Error) -> IcmpError {
    IcmpError::Io { what, source: e }
}

fn domain(family: Family) -> Domain {
    match family {
        Family::V4 => Domain::IPV4,
        Family::V6 => Domain::IPV6,
    }
}

/// The wildcard address, port 0 (the kernel picks).
fn unspecified(family: Family) -> SocketAddr {
    match family {
        Family::V4 => SocketAddr::from(([0, 0, 0, 0], 0)),
        Family::V6 => SocketAddr::from(([0u16; 8], 0)),
    }
}

fn icmp_protocol(family: Family) -> Protocol {
    match family {
        Family::V4 => Protocol::ICMPV4,
        Family::V6 => Protocol::ICMPV6,
    }
}

/// `net.ipv4.ping_group_range` (it governs IPv6 too).
pub fn read_ping_group_range() -> Option<(u32, u32)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").ok()?;
    parse_ping_group_range(&text)
}

pub fn parse_ping_group_range(text: &str) -> Option<(u32, u32)> {
    let mut it = text.split_whitespace().map(str::parse::<u32>);
    match (it.next(), it.next(), it.next()) {
        (Some(Ok(lo)), Some(Ok(hi)), None) => Some((lo, hi)),
        _ => None,
    }
}

/// The first of `gids` inside the range (the kernel admits a socket when
/// any of the caller's groups is).
pub fn admitted_gid(range: (u32, u32), gids: &[u32]) -> Option<u32> {
    gids.iter()
        .copied()
        .find(|g| (range.0..=range.1).contains(g))
}

/// Our effective group, then the supplementary ones.
fn our_gids() -> Vec<u32> {
    // SAFETY: getegid cannot fail and takes no pointers.
    let mut gids = vec![unsafe { libc::getegid() }];
    let mut extra = vec![0 as libc::gid_t; 256];
    // SAFETY: `extra` has room for the 256 entries we say it has.
    let n = unsafe { libc::getgroups(256, extra.as_mut_ptr()) };
    if let Ok(n) = usize::try_from(n) {
        gids.extend(extra.iter().take(n));
    }
    gids
}

/// The ICMP socket: datagram or raw, as chosen and allowed.
fn open_icmp(family: Family, choice: SocketChoice) -> Result<(Socket, SocketKind), IcmpError> {
    let dgram = || Socket::new(domain(family), Type::DGRAM, Some(icmp_protocol(family)));
    let raw = || Socket::new(domain(family), Type::RAW, Some(icmp_protocol(family)));
    let range = read_ping_group_range();
    let gids = our_gids();
    let admitted = range.and_then(|r| admitted_gid(r, &gids));
    let no_socket = |why: String| IcmpError::NoSocket(why);
    match choice {
        SocketChoice::Dgram => dgram()
            .map(|s| (s, SocketKind::Dgram))
            .map_err(|e| no_socket(format!("datagram socket: {e}{}", range_note(range, &gids)))),
        SocketChoice::Raw => raw()
            .map(|s| (s, SocketKind::Raw))
            .map_err(|e| no_socket(format!("raw socket: {e} (needs root or CAP_NET_RAW)"))),
        SocketChoice::Auto => {
            let mut why = Vec::new();
            if admitted.is_some() {
                match dgram() {
                    Ok(s) => return Ok((s, SocketKind::Dgram)),
                    Err(e) => why.push(format!("datagram socket: {e}")),
                }
            }
            match raw() {
                Ok(s) => Ok((s, SocketKind::Raw)),
                Err(e) => {
                    // SAFETY: geteuid cannot fail and takes no pointers.
                    let root = unsafe { libc::geteuid() } == 0;
                    let mut line = if root {
                        format!("raw socket: {e}")
                    } else {
                        format!("not root{}", range_note(range, &gids))
                    };
                    if !why.is_empty() {
                        line = format!("{}; {line}", why.join("; "));
                    }
                    Err(no_socket(line))
                }
            }
        }
    }
}

/// " and ping_group_range 1 0 excludes gid 1000", or what is known.
fn range_note(range: Option<(u32, u32)>, gids: &[u32]) -> String {
    let gid = gids.first().copied().unwrap_or(0);
    match range {
        Some((lo, hi)) if admitted_gid((lo, hi), gids).is_none() => {
            format!(" and ping_group_range {lo} {hi} excludes gid {gid}")
        }
        Some((lo, hi)) => format!(" (ping_group_range {lo} {hi} admits gid {gid})"),
        None => " and ping_group_range is unreadable".to_owned(),
    }
}

fn enable_recverr(socket: &Socket, family: Family) -> io::Result<()> {
    match family {
        Family::V4 => set_int(socket, libc::IPPROTO_IP, libc::IP_RECVERR, 1),
        Family::V6 => set_int(socket, libc::IPPROTO_IPV6, libc::IPV6_RECVERR, 1),
    }
}

fn local_port(socket: &Socket) -> u16 {
    socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .map_or(0, |a| a.port())
}

fn set_int(
    socket: &Socket,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: passes a pointer to a live int and its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_group_range_admits_by_any_group() {
        assert_eq!(parse_ping_group_range("1\t0\n"), Some((1, 0)));
        assert_eq!(
            parse_ping_group_range("0 2147483647"),
            Some((0, 2_147_483_647))
        );
        assert_eq!(parse_ping_group_range("1"), None);
        assert_eq!(parse_ping_group_range("a b"), None);
        assert_eq!(admitted_gid((1, 0), &[0, 1, 1000]), None);
        assert_eq!(admitted_gid((100, 2000), &[0, 1000]), Some(1000));
        assert_eq!(admitted_gid((0, 0), &[0]), Some(0));
    }

    #[test]
    fn the_refusal_names_range_and_gid() {
        assert_eq!(
            range_note(Some((1, 0)), &[1000, 27]),
            " and ping_group_range 1 0 excludes gid 1000"
        );
        assert!(range_note(Some((0, 2000)), &[1000]).contains("admits gid 1000"));
    }
}
