//! A packet socket (AF_PACKET) on one device that sees every packet crossing
//! it, both ways, each with the kernel's timestamp: the recorder behind
//! `netlab truth`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// SO_TIMESTAMPNS (= SCM_TIMESTAMPNS) with a 64-bit time_t, as in `udp`.
const SO_TIMESTAMPNS: libc::c_int = 35;
/// `sll_pkttype` of a packet this host sends (linux/if_packet.h).
const PACKET_OUTGOING: u8 = 4;
const ETH_P_ALL: u16 = 0x0003;

/// One packet read: its length in the buffer, whether the host sent it, and
/// the kernel's timestamp (CLOCK_REALTIME ns; 0 when none came).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Captured {
    pub len: usize,
    pub outgoing: bool,
    pub t_ns: u64,
}

/// A SOCK_DGRAM packet socket bound to one device of the calling thread's
/// namespace: packets arrive without link-layer header (a TUN has none).
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: libc::c_int,
}

fn set_int(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, v: libc::c_int) -> io::Result<()> {
    // SAFETY: setsockopt reads one c_int that outlives the call.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    super::cvt(r).map(|_| ())
}

impl PacketSocket {
    /// Opens the socket on device `ifname`; a read waits at most `timeout`.
    pub fn bind(ifname: &str, timeout: Duration) -> io::Result<PacketSocket> {
        let name = std::ffi::CString::new(ifname)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "device name holds a NUL"))?;
        // SAFETY: name is a valid NUL-terminated string for the call.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::last_os_error());
        }
        let ifindex = libc::c_int::try_from(ifindex)
            .map_err(|_| io::Error::other("interface index out of range"))?;
        let proto = ETH_P_ALL.to_be();
        // SAFETY: socket takes three integers.
        let raw = super::cvt(unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::c_int::from(proto),
            )
        })?;
        // SAFETY: raw was just returned by socket and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        set_int(&fd, libc::SOL_SOCKET, SO_TIMESTAMPNS, 1)?;
        // Room for bursts while the recording thread is descheduled.
        set_int(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, 8 << 20)?;
        let tv = libc::timeval {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_usec: libc::suseconds_t::from(timeout.subsec_micros() as i32),
        };
        // SAFETY: setsockopt reads one timeval that outlives the call.
        super::cvt(unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        })?;
        // SAFETY: sockaddr_ll is plain data; all-zero is valid.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as libc::c_ushort;
        sll.sll_protocol = proto;
        sll.sll_ifindex = ifindex;
        // SAFETY: bind reads one sockaddr_ll of the given size.
        super::cvt(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })?;
        Ok(PacketSocket { fd, ifindex })
    }

    /// Reads one packet of the bound device into `buf` (longer ones are cut);
    /// WouldBlock or TimedOut when none came within the timeout. Packets of
    /// other devices, which can slip in before `bind`, are skipped.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Captured> {
        loop {
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            let mut control = [0u64; 16];
            // SAFETY: plain data; all-zero is valid.
            let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            // SAFETY: msghdr is plain data; all-zero is valid.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_name = (&mut from as *mut libc::sockaddr_ll).cast();
            msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = std::mem::size_of_val(&control) as _;
            // SAFETY: msg points at from, iov, buf and control, all alive for the call.
            let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            if from.sll_ifindex != self.ifindex {
                continue;
            }
            let mut t_ns = 0u64;
            // SAFETY: the CMSG_* helpers walk the control buffer the kernel
            // filled, bounded by msg_controllen; the data is read unaligned.
            unsafe {
                let mut c = libc::CMSG_FIRSTHDR(&msg);
                while !c.is_null() {
                    if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == SO_TIMESTAMPNS {
                        let t: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                        t_ns = (t.tv_sec as u64)
                            .saturating_mul(1_000_000_000)
                            .saturating_add(t.tv_nsec as u64);
                    }
                    c = libc::CMSG_NXTHDR(&msg, c);
                }
            }
            return Ok(Captured {
                len: (n as usize).min(buf.len()),
                outgoing: from.sll_pkttype == PACKET_OUTGOING,
                t_ns,
            });
        }
    }
}
