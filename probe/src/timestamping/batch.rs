//! Receiving many datagrams in one system call (`recvmmsg`), each with its own
//! kernel timestamp, TTL and TOS, for a reflector under load: when datagrams
//! queue up, one call takes them all; when none wait, it blocks for the first
//! (`MSG_WAITFORONE`), like a plain receive.
//!
//! All buffers live in [`RecvBatch`], allocated once; the kernel writes only
//! what arrives, so untouched slot memory costs no resident pages.

use std::io;
use std::mem::size_of;
use std::os::fd::AsRawFd;

use super::cmsg::ControlBuf;
use super::recvmsg::RawMessage;
use super::{realtime_now, Received, TimestampedSocket};

/// Buffers for up to `slots` datagrams of up to `slot_len` octets each.
#[derive(Debug)]
pub struct RecvBatch {
    slot_len: usize,
    data: Vec<u8>,
    controls: Vec<ControlBuf>,
    names: Vec<libc::sockaddr_storage>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    received: Vec<Option<Received>>,
    count: usize,
}

// SAFETY: the raw pointers inside `iovecs` and `headers` only ever point into
// this batch's own vectors and are rewritten before each use.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    pub fn new(slots: usize, slot_len: usize) -> RecvBatch {
        let slots = slots.max(1);
        RecvBatch {
            slot_len,
            data: vec![0; slots * slot_len],
            controls: (0..slots).map(|_| ControlBuf::new()).collect(),
            // SAFETY: sockaddr_storage, iovec and mmsghdr are plain old data;
            // zero is a valid value of each.
            names: vec![unsafe { std::mem::zeroed() }; slots],
            iovecs: vec![unsafe { std::mem::zeroed() }; slots],
            headers: vec![unsafe { std::mem::zeroed() }; slots],
            received: vec![None; slots],
            count: 0,
        }
    }

    /// Datagrams from the last receive.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Datagram `i` of the last receive: its octets and what came with it
    /// (None for one whose sender address was not IP).
    pub fn get(&self, i: usize) -> Option<(&[u8], &Received)> {
        if i >= self.count {
            return None;
        }
        let received = self.received.get(i)?.as_ref()?;
        let start = i * self.slot_len;
        let data = self.data.get(start..start + received.len)?;
        Some((data, received))
    }
}

impl TimestampedSocket {
    /// Receives up to the batch's capacity of datagrams: blocks (unless the
    /// socket is non-blocking) until one arrives, then takes whatever else is
    /// queued without waiting. Returns how many.
    pub fn recv_batch(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        let slots = batch.headers.len();
        let base = batch.data.as_mut_ptr();
        for i in 0..slots {
            batch.iovecs[i] = libc::iovec {
                // SAFETY: `i * slot_len` is within `data` (slots * slot_len).
                iov_base: unsafe { base.add(i * batch.slot_len) }.cast(),
                iov_len: batch.slot_len,
            };
            let hdr = &mut batch.headers[i].msg_hdr;
            hdr.msg_name = (&raw mut batch.names[i]).cast();
            hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdr.msg_iov = &raw mut batch.iovecs[i];
            hdr.msg_iovlen = 1;
            hdr.msg_control = batch.controls[i].as_mut_ptr();
            hdr.msg_controllen = batch.controls[i].capacity() as _;
            hdr.msg_flags = 0;
            batch.headers[i].msg_len = 0;
        }
        batch.count = 0;
        // SAFETY: every header points at live buffers of the stated lengths
        // inside `batch`, which outlives the call; no timeout.
        let n = unsafe {
            libc::recvmmsg(
                self.as_raw_fd(),
                batch.headers.as_mut_ptr(),
                slots as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        let user_ts = realtime_now();
        let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
        let hardware = self.capabilities().hardware_requested;
        for i in 0..n.min(slots) {
            let m = &batch.headers[i];
            batch.received[i] = RawMessage::from_msghdr(
                &m.msg_hdr,
                m.msg_len as usize,
                batch.slot_len,
                &batch.names[i],
                &batch.controls[i],
                user_ts,
            )
            .received(hardware);
        }
        batch.count = n.min(slots);
        Ok(batch.count)
    }
}
