//! The header of a UDP test datagram: magic, the test's cookie (its first 8
//! octets), sequence number and send time, so the receiver tells test
//! traffic from strays and computes loss, reordering and jitter.

/// Octets of the header; the rest of a datagram is padding.
pub const HEADER_LEN: usize = 28;
const MAGIC: [u8; 4] = *b"HMBD";
/// The sequence number of a hello (the client opening the path for a
/// reverse test), never a data datagram.
pub const HELLO_SEQ: u64 = u64::MAX;

/// A datagram's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub cookie: [u8; 8],
    pub seq: u64,
    /// Nanoseconds since the sender's start (its monotonic clock).
    pub send_ns: u64,
}

impl Header {
    /// Writes the header at the start of `buf` (false if it is too short).
    pub fn emit(&self, buf: &mut [u8]) -> bool {
        let Some(h) = buf.get_mut(..HEADER_LEN) else {
            return false;
        };
        h[..4].copy_from_slice(&MAGIC);
        h[4..12].copy_from_slice(&self.cookie);
        h[12..20].copy_from_slice(&self.seq.to_be_bytes());
        h[20..28].copy_from_slice(&self.send_ns.to_be_bytes());
        true
    }

    /// The header of `buf`, if it is a test datagram.
    pub fn parse(buf: &[u8]) -> Option<Header> {
        let h = buf.get(..HEADER_LEN)?;
        if h[..4] != MAGIC {
            return None;
        }
        Some(Header {
            cookie: h[4..12].try_into().ok()?,
            seq: u64::from_be_bytes(h[12..20].try_into().ok()?),
            send_ns: u64::from_be_bytes(h[20..28].try_into().ok()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_strays() {
        let h = Header {
            cookie: [1, 2, 3, 4, 5, 6, 7, 8],
            seq: 42,
            send_ns: 123_456_789,
        };
        let mut buf = [0u8; 100];
        assert!(h.emit(&mut buf));
        assert_eq!(Header::parse(&buf), Some(h));
        assert_eq!(Header::parse(&buf[..HEADER_LEN - 1]), None);
        assert!(!h.emit(&mut [0u8; 10]));
        buf[0] = b'X';
        assert_eq!(Header::parse(&buf), None);
    }
}
