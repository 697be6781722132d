//! Control messages (ancillary data) in and out of `recvmsg`/`sendmsg`: walking
//! them with the libc `CMSG_*` macros, bounds-checked so odd or truncated
//! messages are skipped rather than read past, and decoding the few we use.

use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libc::{c_int, c_long, c_uint};

use super::{Timestamp, TsSource};

/// `SO_TIMESTAMPNS` / `SO_TIMESTAMPING` cmsg types, old (native `long` time) and
/// new (64-bit time) flavours, from asm-generic/socket.h (x86, arm, riscv, ...).
pub(crate) const SO_TIMESTAMPNS_OLD: c_int = 35;
pub(crate) const SO_TIMESTAMPING_OLD: c_int = 37;
pub(crate) const SO_TIMESTAMPNS_NEW: c_int = 64;
pub(crate) const SO_TIMESTAMPING_NEW: c_int = 65;
/// Linux 6.13+: a `u32` on `sendmsg` fixing the OPT_ID key of this packet.
pub(crate) const SCM_TS_OPT_ID: c_int = 81;
/// `ee_info` of a TX timestamp taken when the packet left the stack (errqueue.h).
pub(crate) const SCM_TSTAMP_SND: u32 = 0;

/// Room for every control message we ask for (timestamps, TTL, TOS, extended
/// error with its offender address), with margin for ones we did not.
const CONTROL_LEN: usize = 512;

/// A control-message buffer aligned for `cmsghdr`.
#[derive(Debug)]
#[repr(C, align(8))]
pub(crate) struct ControlBuf {
    bytes: [u8; CONTROL_LEN],
}

impl ControlBuf {
    pub(crate) fn new() -> ControlBuf {
        ControlBuf {
            bytes: [0; CONTROL_LEN],
        }
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut libc::c_void {
        self.bytes.as_mut_ptr().cast()
    }

    pub(crate) const fn capacity(&self) -> usize {
        CONTROL_LEN
    }
}

/// Calls `f(level, type, data)` for each well-formed control message in the
/// first `used` bytes of `buf` (the `msg_controllen` that `recvmsg` returned).
/// A message whose stated length runs past `used` ends the walk.
pub(crate) fn for_each_cmsg(buf: &ControlBuf, used: usize, mut f: impl FnMut(c_int, c_int, &[u8])) {
    let used = used.min(buf.bytes.len());
    let base = buf.bytes.as_ptr();
    // SAFETY: a zeroed msghdr is valid; only the control fields are read by the
    // CMSG macros, and they describe `buf.bytes[..used]`, which outlives the walk.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_control = base.cast_mut().cast();
    msg.msg_controllen = used as _;
    // SAFETY: `CMSG_LEN(0)` is arithmetic on a constant.
    let header_len = unsafe { libc::CMSG_LEN(0) } as usize;
    // SAFETY: `msg` describes a live buffer of `used` bytes (see above).
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        let offset = (cmsg as usize).wrapping_sub(base as usize);
        if offset.checked_add(header_len).is_none_or(|end| end > used) {
            break;
        }
        // SAFETY: the header lies within `buf.bytes[..used]` (checked above);
        // read_unaligned makes no alignment assumption.
        let hdr = unsafe { std::ptr::read_unaligned(cmsg) };
        let len = hdr.cmsg_len as usize;
        if len < header_len || offset.checked_add(len).is_none_or(|end| end > used) {
            break;
        }
        let data = &buf.bytes[offset + header_len..offset + len];
        f(hdr.cmsg_level, hdr.cmsg_type, data);
        // SAFETY: `cmsg` points at a header inside the buffer `msg` describes;
        // CMSG_NXTHDR returns null when the next header would not fit.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
}

/// Appends control messages for `sendmsg` into a [`ControlBuf`].
#[derive(Debug)]
pub(crate) struct CmsgWriter<'a> {
    buf: &'a mut ControlBuf,
    len: usize,
}

impl<'a> CmsgWriter<'a> {
    pub(crate) fn new(buf: &'a mut ControlBuf) -> CmsgWriter<'a> {
        buf.bytes.fill(0);
        CmsgWriter { buf, len: 0 }
    }

    /// Adds one message; returns false (and adds nothing) when it does not fit.
    pub(crate) fn push(&mut self, level: c_int, ty: c_int, data: &[u8]) -> bool {
        let Ok(data_len) = c_uint::try_from(data.len()) else {
            return false;
        };
        // SAFETY: CMSG_SPACE and CMSG_LEN are arithmetic.
        let (space, len, header_len) = unsafe {
            (
                libc::CMSG_SPACE(data_len) as usize,
                libc::CMSG_LEN(data_len) as usize,
                libc::CMSG_LEN(0) as usize,
            )
        };
        let Some(end) = self.len.checked_add(space).filter(|&e| e <= CONTROL_LEN) else {
            return false;
        };
        // SAFETY: a zeroed cmsghdr is valid (it has private padding on some libcs).
        let mut hdr: libc::cmsghdr = unsafe { std::mem::zeroed() };
        hdr.cmsg_len = len as _;
        hdr.cmsg_level = level;
        hdr.cmsg_type = ty;
        let at = self.len;
        // SAFETY: `at + size_of::<cmsghdr>() <= at + header_len <= end <= CONTROL_LEN`,
        // so the write stays inside `bytes`; write_unaligned needs no alignment.
        unsafe {
            std::ptr::write_unaligned(self.buf.bytes.as_mut_ptr().add(at).cast(), hdr);
        }
        self.buf.bytes[at + header_len..at + len].copy_from_slice(data);
        self.len = end;
        true
    }

    /// Bytes used: the `msg_controllen` to pass.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// The control messages of one received datagram (or error-queue entry) that we
/// understand; everything else is ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Ancillary {
    /// `SO_TIMESTAMPING` software timestamp (`ts[0]`).
    pub software: Option<Timestamp>,
    /// `SO_TIMESTAMPING` raw hardware timestamp (`ts[2]`).
    pub hardware: Option<Timestamp>,
    /// `SO_TIMESTAMPNS` timestamp.
    pub timestampns: Option<Timestamp>,
    pub ttl: Option<u8>,
    pub tos: Option<u8>,
    pub extended_error: Option<ExtendedError>,
}

/// `struct sock_extended_err`: TX timestamps use `info`/`data`; ICMP errors
/// (traceroute over `IP_RECVERR`) use `ee_type`, `code` and the offender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExtendedError {
    pub errno: u32,
    pub origin: u8,
    /// ICMP type of an ICMP-originated error.
    pub ee_type: u8,
    /// ICMP code of an ICMP-originated error.
    pub code: u8,
    pub info: u32,
    pub data: u32,
    /// `SO_EE_OFFENDER`: the address that sent the ICMP error, when given.
    pub offender: Option<IpAddr>,
}

impl Ancillary {
    /// Parses the control messages of a `recvmsg` result.
    pub(crate) fn parse(buf: &ControlBuf, used: usize) -> Ancillary {
        let mut out = Ancillary::default();
        for_each_cmsg(buf, used, |level, ty, data| out.absorb(level, ty, data));
        out
    }

    fn absorb(&mut self, level: c_int, ty: c_int, data: &[u8]) {
        match (level, ty) {
            (libc::SOL_SOCKET, SO_TIMESTAMPING_OLD) => self.absorb_timestamping(data, false),
            (libc::SOL_SOCKET, SO_TIMESTAMPING_NEW) => self.absorb_timestamping(data, true),
            (libc::SOL_SOCKET, SO_TIMESTAMPNS_OLD) => {
                self.timestampns = timespec_at(data, 0, false).or(self.timestampns);
            }
            (libc::SOL_SOCKET, SO_TIMESTAMPNS_NEW) => {
                self.timestampns = timespec_at(data, 0, true).or(self.timestampns);
            }
            (libc::IPPROTO_IP, libc::IP_TTL) | (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => {
                self.ttl = small_int(data).or(self.ttl);
            }
            (libc::IPPROTO_IP, libc::IP_TOS) | (libc::IPPROTO_IPV6, libc::IPV6_TCLASS) => {
                self.tos = small_int(data).or(self.tos);
            }
            (libc::IPPROTO_IP, libc::IP_RECVERR) | (libc::IPPROTO_IPV6, libc::IPV6_RECVERR) => {
                self.extended_error = extended_error(data).or(self.extended_error);
            }
            _ => {}
        }
    }

    fn absorb_timestamping(&mut self, data: &[u8], new: bool) {
        self.software = timespec_at(data, 0, new).or(self.software);
        self.hardware = timespec_at(data, 2, new).or(self.hardware);
    }

    /// The best kernel timestamp present: hardware (when wanted), then
    /// software; through the test clock, when one is installed.
    pub(crate) fn best_timestamp(&self, hardware_wanted: bool) -> Option<(Timestamp, TsSource)> {
        let hardware = self.hardware.filter(|_| hardware_wanted);
        hardware
            .map(|ts| (ts, TsSource::Hardware))
            .or_else(|| self.software.map(|ts| (ts, TsSource::Kernel)))
            .or_else(|| self.timestampns.map(|ts| (ts, TsSource::Kernel)))
            .map(|(ts, source)| (crate::clock::test_clock::apply(ts), source))
    }
}

/// The `index`-th timespec in `data`; None when absent, zero (the kernel's "no
/// timestamp here") or out of range.
fn timespec_at(data: &[u8], index: usize, new: bool) -> Option<Timestamp> {
    let (secs, nanos) = if new {
        let at = index.checked_mul(16)?;
        (read_i64(data, at)?, read_i64(data, at + 8)?)
    } else {
        let word = size_of::<c_long>();
        let at = index.checked_mul(2 * word)?;
        (read_long(data, at)?, read_long(data, at + word)?)
    };
    let secs = u64::try_from(secs).ok()?;
    let nanos = u32::try_from(nanos).ok().filter(|&n| n < 1_000_000_000)?;
    (secs != 0 || nanos != 0).then(|| Timestamp::new(secs, nanos))
}

fn read_i64(data: &[u8], at: usize) -> Option<i64> {
    let bytes = data.get(at..at.checked_add(8)?)?;
    Some(i64::from_ne_bytes(bytes.try_into().ok()?))
}

fn read_long(data: &[u8], at: usize) -> Option<i64> {
    const WORD: usize = size_of::<c_long>();
    let bytes = data.get(at..at.checked_add(WORD)?)?;
    // c_long is i32 on 32-bit targets.
    #[allow(clippy::useless_conversion)]
    let value = i64::from(c_long::from_ne_bytes(bytes.try_into().ok()?));
    Some(value)
}

fn read_u32(data: &[u8], at: usize) -> Option<u32> {
    let bytes = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes(bytes.try_into().ok()?))
}

/// TTL, hop limit, TOS and traffic class come as an `int`, except IPv4 TOS on
/// receive, which the kernel passes as a single byte.
fn small_int(data: &[u8]) -> Option<u8> {
    match data.len() {
        1 => data.first().copied(),
        n if n >= 4 => u8::try_from(i32::from_ne_bytes(data.get(..4)?.try_into().ok()?)).ok(),
        _ => None,
    }
}

fn extended_error(data: &[u8]) -> Option<ExtendedError> {
    if data.len() < size_of::<libc::sock_extended_err>() {
        return None;
    }
    Some(ExtendedError {
        errno: read_u32(data, 0)?,
        origin: *data.get(4)?,
        ee_type: *data.get(5)?,
        code: *data.get(6)?,
        info: read_u32(data, 8)?,
        data: read_u32(data, 12)?,
        offender: offender(data.get(size_of::<libc::sock_extended_err>()..)?),
    })
}

/// The `sockaddr` the kernel places right after `sock_extended_err`
/// (`SO_EE_OFFENDER`); `AF_UNSPEC` or a short buffer means none.
fn offender(data: &[u8]) -> Option<IpAddr> {
    let family = c_int::from(u16::from_ne_bytes(data.get(..2)?.try_into().ok()?));
    match family {
        libc::AF_INET => {
            let octets: [u8; 4] = data.get(4..8)?.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(octets)))
        }
        libc::AF_INET6 => {
            let octets: [u8; 16] = data.get(8..24)?.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(octets)).to_canonical())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timespecs_old(pairs: &[(c_long, c_long)]) -> Vec<u8> {
        let mut v = Vec::new();
        for &(s, n) in pairs {
            v.extend_from_slice(&s.to_ne_bytes());
            v.extend_from_slice(&n.to_ne_bytes());
        }
        v
    }

    fn build(msgs: &[(c_int, c_int, Vec<u8>)]) -> (ControlBuf, usize) {
        let mut buf = ControlBuf::new();
        let mut w = CmsgWriter::new(&mut buf);
        for (level, ty, data) in msgs {
            assert!(w.push(*level, *ty, data));
        }
        let len = w.len();
        (buf, len)
    }

    #[test]
    fn parses_timestamping_ttl_and_tos() {
        let (buf, len) = build(&[
            (
                libc::SOL_SOCKET,
                SO_TIMESTAMPING_OLD,
                timespecs_old(&[(1_700_000_000, 5), (0, 0), (0, 0)]),
            ),
            (libc::IPPROTO_IP, libc::IP_TTL, 64i32.to_ne_bytes().to_vec()),
            (libc::IPPROTO_IP, libc::IP_TOS, vec![0xb8]),
            (42, 42, vec![1, 2, 3]),
        ]);
        let a = Ancillary::parse(&buf, len);
        assert_eq!(a.software, Some(Timestamp::new(1_700_000_000, 5)));
        assert_eq!(a.hardware, None);
        assert_eq!(a.ttl, Some(64));
        assert_eq!(a.tos, Some(0xb8));
        assert_eq!(
            a.best_timestamp(true),
            Some((Timestamp::new(1_700_000_000, 5), TsSource::Kernel))
        );
    }

    #[test]
    fn hardware_is_preferred_only_when_wanted() {
        let (buf, len) = build(&[(
            libc::SOL_SOCKET,
            SO_TIMESTAMPING_NEW,
            [1i64, 2, 0, 0, 3, 4]
                .iter()
                .flat_map(|v| v.to_ne_bytes())
                .collect(),
        )]);
        let a = Ancillary::parse(&buf, len);
        assert_eq!(
            a.best_timestamp(true),
            Some((Timestamp::new(3, 4), TsSource::Hardware))
        );
        assert_eq!(
            a.best_timestamp(false),
            Some((Timestamp::new(1, 2), TsSource::Kernel))
        );
    }

    #[test]
    fn parses_extended_error() {
        let mut ee = Vec::new();
        ee.extend_from_slice(&(libc::ENOMSG as u32).to_ne_bytes());
        ee.extend_from_slice(&[libc::SO_EE_ORIGIN_TIMESTAMPING, 0, 0, 0]);
        ee.extend_from_slice(&SCM_TSTAMP_SND.to_ne_bytes());
        ee.extend_from_slice(&77u32.to_ne_bytes());
        let (buf, len) = build(&[(libc::IPPROTO_IPV6, libc::IPV6_RECVERR, ee)]);
        let a = Ancillary::parse(&buf, len);
        assert_eq!(
            a.extended_error,
            Some(ExtendedError {
                errno: libc::ENOMSG as u32,
                origin: libc::SO_EE_ORIGIN_TIMESTAMPING,
                ee_type: 0,
                code: 0,
                info: SCM_TSTAMP_SND,
                data: 77,
                offender: None,
            })
        );
    }

    #[test]
    fn parses_icmp_error_with_offender() {
        for (family, addr) in [
            (libc::AF_INET, IpAddr::from([198, 19, 0, 2])),
            (
                libc::AF_INET6,
                "2001:db8::1".parse().unwrap_or(IpAddr::from([0; 4])),
            ),
        ] {
            let mut ee = Vec::new();
            ee.extend_from_slice(&(libc::EHOSTUNREACH as u32).to_ne_bytes());
            ee.extend_from_slice(&[libc::SO_EE_ORIGIN_ICMP, 11, 0, 0]);
            ee.extend_from_slice(&[0; 8]);
            ee.extend_from_slice(&(family as u16).to_ne_bytes());
            ee.extend_from_slice(&[0; 2]);
            match addr {
                IpAddr::V4(v4) => ee.extend_from_slice(&v4.octets()),
                IpAddr::V6(v6) => {
                    ee.extend_from_slice(&[0; 4]);
                    ee.extend_from_slice(&v6.octets());
                }
            }
            ee.extend_from_slice(&[0; 8]);
            let (buf, len) = build(&[(libc::IPPROTO_IP, libc::IP_RECVERR, ee)]);
            let e = Ancillary::parse(&buf, len).extended_error;
            assert_eq!(
                e.map(|e| (e.ee_type, e.code, e.offender)),
                Some((11, 0, Some(addr)))
            );
        }
    }

    #[test]
    fn odd_messages_are_ignored() {
        let (buf, len) = build(&[
            (libc::SOL_SOCKET, SO_TIMESTAMPING_OLD, vec![1, 2, 3]),
            (libc::IPPROTO_IP, libc::IP_TTL, vec![1, 2]),
            (
                libc::IPPROTO_IP,
                libc::IP_TOS,
                300i32.to_ne_bytes().to_vec(),
            ),
            (libc::IPPROTO_IP, libc::IP_RECVERR, vec![0; 4]),
            (
                libc::SOL_SOCKET,
                SO_TIMESTAMPNS_OLD,
                timespecs_old(&[(-1, 0)]),
            ),
        ]);
        assert_eq!(Ancillary::parse(&buf, len), Ancillary::default());
    }

    #[test]
    fn truncated_or_lying_lengths_stop_the_walk() {
        let (mut buf, len) = build(&[
            (libc::IPPROTO_IP, libc::IP_TTL, 9i32.to_ne_bytes().to_vec()),
            (libc::IPPROTO_IP, libc::IP_TOS, vec![4]),
        ]);
        // Cut the second message short: only the first is seen.
        let a = Ancillary::parse(&buf, len - 8);
        assert_eq!((a.ttl, a.tos), (Some(9), None));
        // A first header claiming more than the buffer holds: nothing is read.
        let huge = usize::MAX.to_ne_bytes();
        buf.bytes[..huge.len()].copy_from_slice(&huge);
        assert_eq!(Ancillary::parse(&buf, len), Ancillary::default());
        // Garbage everywhere never panics.
        for fill in [0u8, 1, 0x7f, 0xff] {
            let mut b = ControlBuf::new();
            b.bytes.fill(fill);
            for used in [0, 1, 15, 16, 17, 100, CONTROL_LEN, CONTROL_LEN + 10] {
                let _ = Ancillary::parse(&b, used);
            }
        }
    }

    #[test]
    fn writer_refuses_what_does_not_fit() {
        let mut buf = ControlBuf::new();
        let mut w = CmsgWriter::new(&mut buf);
        assert!(!w.push(0, 0, &[0; CONTROL_LEN]));
        assert_eq!(w.len(), 0);
        assert!(w.push(0, 0, &[0; 4]));
        assert!(w.len() > 0);
    }
}
