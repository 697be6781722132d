//! A packet tap on a site's TUN device: an AF_PACKET socket that sees every
//! packet the site sends into the TUN, with the kernel's timestamp of the
//! moment it was handed to the device.
//!
//! Why: the forwarder sleeps between events, and waking it for an arriving
//! packet takes tens of microseconds on a virtual machine (more under load).
//! Timing a packet from when the forwarder reads it would add that wake-up
//! latency to every emulated delay. The tap's timestamp is taken in the
//! sender's own context (`dev_queue_xmit_nit`), so delays count from the real
//! send time and a late wake-up costs nothing as long as it is shorter than
//! the link's delay. The forwarder forwards the tap's copy and only drains the
//! TUN's own queue.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// SO_TIMESTAMPNS / SCM_TIMESTAMPNS and SO_ATTACH_FILTER with a 64-bit
/// time_t, as on x86-64 and aarch64.
const SO_TIMESTAMPNS: libc::c_int = 35;
const SO_ATTACH_FILTER: libc::c_int = 26;
/// `sll_pkttype` of packets the host sends.
const PACKET_OUTGOING: u32 = 4;
/// Receive buffer of a tap: room for bursts while the forwarder is busy.
const TAP_RCVBUF: libc::c_int = 4 << 20;
/// Largest packet a tap returns whole.
pub const MAX_PACKET: usize = 65_536;

fn setsockopt<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: value points at a live T of the given size for the call.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    super::cvt(r).map(|_| ())
}

/// Opens a tap on device `dev` of the calling thread's network namespace,
/// seeing only outgoing packets (not those the forwarder writes in).
pub fn open(dev: &str) -> io::Result<OwnedFd> {
    // Protocol 0: capture nothing until bound to the one device.
    // SAFETY: socket takes plain integers and returns a new descriptor or -1.
    let raw = super::cvt(unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    // SAFETY: raw is a new descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // Classic BPF: accept (whole) if pkttype == PACKET_OUTGOING, else drop.
    let prog = [
        libc::sock_filter {
            code: (libc::BPF_LD | libc::BPF_B | libc::BPF_ABS) as u16,
            jt: 0,
            jf: 0,
            k: (libc::SKF_AD_OFF + libc::SKF_AD_PKTTYPE) as u32,
        },
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: PACKET_OUTGOING,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: u32::MAX,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: 0,
        },
    ];
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    setsockopt(&fd, libc::SOL_SOCKET, SO_ATTACH_FILTER, &fprog)?;
    setsockopt(&fd, libc::SOL_SOCKET, SO_TIMESTAMPNS, &1 as &libc::c_int)?;
    // FORCE: past net.core.rmem_max (we are privileged); plain as a fallback.
    if setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &TAP_RCVBUF).is_err() {
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &TAP_RCVBUF)?;
    }
    let cname = std::ffi::CString::new(dev)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "device name holds a NUL"))?;
    // SAFETY: cname is a valid NUL-terminated string for the call.
    let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    if ifindex == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: sockaddr_ll is plain data; all-zero is valid.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: sll is a valid sockaddr_ll of the given size.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    super::cvt(r)?;
    Ok(fd)
}

/// Packets the kernel dropped on this tap because its receive buffer was full
/// since the last call (the counter resets on reading).
pub fn drops(fd: &OwnedFd) -> io::Result<u64> {
    const SOL_PACKET: libc::c_int = 263;
    const PACKET_STATISTICS: libc::c_int = 6;
    let mut stats = [0u32; 2]; // struct tpacket_stats { tp_packets, tp_drops }
    let mut len = std::mem::size_of_val(&stats) as libc::socklen_t;
    // SAFETY: stats is writable for len bytes; len is in/out.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            SOL_PACKET,
            PACKET_STATISTICS,
            stats.as_mut_ptr().cast(),
            &mut len,
        )
    };
    super::cvt(r)?;
    Ok(u64::from(stats[1]))
}

/// Buffers for receiving up to `n` packets in one `recvmmsg`.
pub struct Batch {
    bufs: Vec<Vec<u8>>,
    controls: Vec<[u64; 8]>,
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
    /// Kernel send timestamps (ns since the epoch; 0 if none) of the packets
    /// received by the last `recv`.
    stamps: Vec<u64>,
    /// Whether the packet was cut short (larger than [`MAX_PACKET`]).
    truncated: Vec<bool>,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("size", &self.bufs.len())
            .finish()
    }
}

impl Batch {
    pub fn new(n: usize) -> Batch {
        let n = n.max(1);
        Batch {
            bufs: vec![vec![0u8; MAX_PACKET]; n],
            controls: vec![[0u64; 8]; n],
            // SAFETY: iovec and mmsghdr are plain data; all-zero is valid.
            iovs: vec![unsafe { std::mem::zeroed() }; n],
            msgs: vec![unsafe { std::mem::zeroed() }; n],
            stamps: vec![0; n],
            truncated: vec![false; n],
        }
    }

    /// Receives what is queued on `fd` (up to the batch size, without
    /// blocking); returns how many packets.
    pub fn recv(&mut self, fd: &OwnedFd) -> io::Result<usize> {
        let n = self.bufs.len();
        for i in 0..n {
            self.iovs[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: self.bufs[i].len(),
            };
            let h = &mut self.msgs[i].msg_hdr;
            h.msg_name = std::ptr::null_mut();
            h.msg_namelen = 0;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = self.controls[i].as_mut_ptr().cast();
            h.msg_controllen = std::mem::size_of::<[u64; 8]>() as _;
            h.msg_flags = 0;
            self.msgs[i].msg_len = 0;
        }
        // SAFETY: every mmsghdr points at buffers owned by self, alive and
        // unmoved for the call; a null timeout means none.
        let r = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                self.msgs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock {
                Ok(0)
            } else {
                Err(e)
            };
        }
        let got = r as usize;
        for i in 0..got {
            let h = &self.msgs[i].msg_hdr;
            self.truncated[i] = h.msg_flags & libc::MSG_TRUNC != 0;
            let mut ts = 0;
            // SAFETY: the CMSG_* helpers walk the control buffer the kernel
            // filled, bounded by msg_controllen; the data is read unaligned.
            unsafe {
                let mut c = libc::CMSG_FIRSTHDR(h);
                while !c.is_null() {
                    if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == SO_TIMESTAMPNS {
                        let t: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                        ts = t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64;
                    }
                    c = libc::CMSG_NXTHDR(h, c);
                }
            }
            self.stamps[i] = ts;
        }
        Ok(got)
    }

    /// Packet `i` of the last `recv`: data, kernel timestamp, truncated.
    pub fn packet(&self, i: usize) -> (&[u8], u64, bool) {
        let len = (self.msgs[i].msg_len as usize).min(self.bufs[i].len());
        (&self.bufs[i][..len], self.stamps[i], self.truncated[i])
    }
}
