//! The one way a datagram (or an error-queue entry) is read with what the
//! kernel says about it: `recvmsg` into the caller's buffer, the sender's
//! address, the control messages parsed (timestamps, TTL, TOS, extended
//! errors) and the user-space clock read right after the call as the fallback
//! timestamp. The UDP socket, its error queue, its `recvmmsg` batches and the
//! ICMP sockets all read through here, so a kernel quirk is handled once.

use std::io;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

use libc::c_int;

use super::cmsg::{Ancillary, ControlBuf};
use super::{realtime_now, Received, Timestamp, TsSource};

/// One `recvmsg` result, before the caller decides what it is.
#[derive(Debug, Clone)]
pub(crate) struct RawMessage {
    /// Octets written into the buffer.
    pub len: usize,
    /// The datagram was longer than the buffer.
    pub truncated: bool,
    /// The source (or, on an error queue, the destination of the original
    /// datagram); None when not an IP address.
    pub from: Option<SocketAddr>,
    pub ancillary: Ancillary,
    /// CLOCK_REALTIME right after the call: the timestamp of last resort.
    pub user_ts: Timestamp,
}

impl RawMessage {
    /// Builds the result from a `msghdr` the kernel filled in (by `recvmsg`
    /// or as one slot of `recvmmsg`) for a buffer of `capacity` octets.
    pub(crate) fn from_msghdr(
        msg: &libc::msghdr,
        n: usize,
        capacity: usize,
        name: &libc::sockaddr_storage,
        control: &ControlBuf,
        user_ts: Timestamp,
    ) -> RawMessage {
        // msg_controllen is size_t on glibc, a u32 on other libcs.
        #[allow(clippy::unnecessary_cast)]
        let control_len = msg.msg_controllen as usize;
        RawMessage {
            len: n.min(capacity),
            truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
            from: sockaddr_to_std(name, msg.msg_namelen),
            ancillary: Ancillary::parse(control, control_len),
            user_ts,
        }
    }

    /// The best timestamp present: hardware (when `hardware` was asked for),
    /// then the kernel's, else the user-space reading, with its source.
    pub(crate) fn timestamp(&self, hardware: bool) -> (Timestamp, TsSource) {
        self.ancillary
            .best_timestamp(hardware)
            .unwrap_or((self.user_ts, TsSource::User))
    }

    /// As a [`Received`]; None when the source is not an IP address.
    pub(crate) fn received(&self, hardware: bool) -> Option<Received> {
        let (ts, ts_source) = self.timestamp(hardware);
        Some(Received {
            len: self.len,
            truncated: self.truncated,
            from: self.from?,
            ts,
            ts_source,
            ttl: self.ancillary.ttl,
            tos: self.ancillary.tos,
        })
    }
}

/// `recvmsg(fd, buf, flags)` with the source address and control messages.
/// Blocks unless the socket is non-blocking or `flags` has `MSG_DONTWAIT`.
pub(crate) fn recvmsg(fd: RawFd, buf: &mut [u8], flags: c_int) -> io::Result<RawMessage> {
    let mut control = ControlBuf::new();
    // SAFETY: sockaddr_storage is plain old data; zero is valid.
    let mut name: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain old data; zero is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&raw mut name).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr();
    msg.msg_controllen = control.capacity() as _;
    // SAFETY: every pointer in `msg` refers to a live buffer of the stated
    // length for the duration of the call.
    let n = unsafe { libc::recvmsg(fd, &mut msg, flags) };
    let user_ts = realtime_now();
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    Ok(RawMessage::from_msghdr(
        &msg,
        n,
        buf.len(),
        &name,
        &control,
        user_ts,
    ))
}

/// A kernel socket address as a std one (IPv4-mapped IPv6 given as IPv4);
/// None for other families or a short length.
pub(crate) fn sockaddr_to_std(
    name: &libc::sockaddr_storage,
    len: libc::socklen_t,
) -> Option<SocketAddr> {
    let len = len as usize;
    match c_int::from(name.ss_family) {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: sockaddr_storage is large and aligned enough for any
            // sockaddr, and the family says this one is a sockaddr_in.
            let sin =
                unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 =
                unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            let port = u16::from_be(sin6.sin6_port);
            Some(match IpAddr::V6(ip).to_canonical() {
                IpAddr::V4(v4) => SocketAddr::V4(SocketAddrV4::new(v4, port)),
                IpAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(
                    v6,
                    port,
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )),
            })
        }
        _ => None,
    }
}
