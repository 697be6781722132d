//! UDP sockets inside a lab's namespaces with kernel receive timestamps, for
//! the selftest's one-way delay and throughput measurements.

use std::io;
use std::net::{SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;

/// SO_TIMESTAMPNS (= SCM_TIMESTAMPNS) with a 64-bit time_t, as on x86-64 and
/// aarch64 (libc does not export it for every target).
const SO_TIMESTAMPNS: libc::c_int = 35;

/// A UDP socket bound to `addr` inside namespace `ns`, with receive timestamps
/// (CLOCK_REALTIME, taken as the kernel receives the packet).
pub fn bind_in(ns: &str, addr: SocketAddrV4) -> io::Result<UdpSocket> {
    super::netns::run_in(ns, move || {
        let s = UdpSocket::bind(addr)?;
        let on: libc::c_int = 1;
        // SAFETY: setsockopt reads one c_int that outlives the call.
        let r = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                SO_TIMESTAMPNS,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        super::cvt(r)?;
        // Room for bursts while the measuring thread is descheduled.
        let size: libc::c_int = 4 << 20;
        // SAFETY: as above.
        unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        Ok(s)
    })
}

/// Receives one datagram into `buf`: its length and the kernel's receive time
/// (ns since the epoch; 0 when the kernel gave none).
pub fn recv_timestamped(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, u64)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = [0u64; 16];
    // SAFETY: msghdr is plain data; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: msg points at iov, buf and control, all alive for the call.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut ts = 0u64;
    // SAFETY: the CMSG_* helpers walk the control buffer the kernel filled,
    // bounded by msg_controllen; the data is read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == SO_TIMESTAMPNS {
                let t: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                ts = t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64;
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, ts))
}
