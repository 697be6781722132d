//! The thin I/O layer: network namespaces, TUN devices, clocks and privileges.
//! Everything here is a small wrapper over one or two system calls.

pub mod clock;
pub mod netns;
pub mod packet_socket;
pub mod privileges;
pub mod tap;
pub mod tun;
pub mod udp;

use std::io;

/// Turns a libc return value into an `io::Result` (negative: errno).
pub(crate) fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}
