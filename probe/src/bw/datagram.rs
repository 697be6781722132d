//! The header of a UDP test datagram: magic, the test's cookie (its first 8
//! octets), sequence number and send time, so the receiver tells test
//! traffic from strays and computes loss, reordering and jitter.
//!
//! Shaped like the STAMP codec (smoltcp's way): [`DatagramPacket`] is a
//! zero-copy view whose `new_checked` checks the length once, with the field
//! offsets named in `mod field`; [`Header`] is its repr, with `parse`, `emit`
//! and `buffer_len`. Anything else is an error value, never a panic.
//!
//! ```text
//!  0       4               12              20              28
//! +-------+---------------+---------------+---------------+-------------
//! | HMBD  |    cookie     |   sequence    |   send time   | padding ...
//! +-------+---------------+---------------+---------------+-------------
//! ```

use crate::bytes::{get_array, get_u64, put_bytes, put_u64};

mod field {
    pub const MAGIC: usize = 0;
    pub const COOKIE: usize = 4;
    pub const SEQ: usize = 12;
    pub const SEND_NS: usize = 20;
    pub const PADDING: usize = 28;
}

/// Octets of the header; the rest of a datagram is padding.
pub const HEADER_LEN: usize = field::PADDING;
const MAGIC: [u8; 4] = *b"HMBD";
/// The sequence number of a hello (the client opening the path for a
/// reverse test), never a data datagram.
pub const HELLO_SEQ: u64 = u64::MAX;

/// Why octets are not a test datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DatagramError {
    #[error("datagram of {len} octets, shorter than the {HEADER_LEN}-octet header")]
    Truncated { len: usize },
    #[error("not a test datagram (no HMBD magic)")]
    NotTestTraffic,
}

/// Zero-copy view of a test datagram.
#[derive(Debug, Clone)]
pub struct DatagramPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> DatagramPacket<T> {
    /// Checks that `buffer` holds the header.
    pub fn new_checked(buffer: T) -> Result<Self, DatagramError> {
        let len = buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(DatagramError::Truncated { len });
        }
        Ok(DatagramPacket { buffer })
    }

    /// The buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn magic(&self) -> [u8; 4] {
        get_array(self.buffer.as_ref(), field::MAGIC)
    }

    pub fn cookie(&self) -> [u8; 8] {
        get_array(self.buffer.as_ref(), field::COOKIE)
    }

    pub fn seq(&self) -> u64 {
        get_u64(self.buffer.as_ref(), field::SEQ)
    }

    /// Nanoseconds since the sender's start.
    pub fn send_ns(&self) -> u64 {
        get_u64(self.buffer.as_ref(), field::SEND_NS)
    }

    /// The octets after the header.
    pub fn padding(&self) -> &[u8] {
        self.buffer.as_ref().get(field::PADDING..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> DatagramPacket<T> {
    pub fn set_magic(&mut self, value: [u8; 4]) {
        put_bytes(self.buffer.as_mut(), field::MAGIC, &value);
    }

    pub fn set_cookie(&mut self, value: [u8; 8]) {
        put_bytes(self.buffer.as_mut(), field::COOKIE, &value);
    }

    pub fn set_seq(&mut self, value: u64) {
        put_u64(self.buffer.as_mut(), field::SEQ, value);
    }

    pub fn set_send_ns(&mut self, value: u64) {
        put_u64(self.buffer.as_mut(), field::SEND_NS, value);
    }
}

/// A datagram's header, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub cookie: [u8; 8],
    pub seq: u64,
    /// Nanoseconds since the sender's start (its monotonic clock).
    pub send_ns: u64,
}

impl Header {
    /// The header of a checked datagram, if it is test traffic.
    pub fn parse<T: AsRef<[u8]>>(packet: &DatagramPacket<T>) -> Result<Header, DatagramError> {
        if packet.magic() != MAGIC {
            return Err(DatagramError::NotTestTraffic);
        }
        Ok(Header {
            cookie: packet.cookie(),
            seq: packet.seq(),
            send_ns: packet.send_ns(),
        })
    }

    /// Octets [`Header::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header at the start of `packet`; the padding is left as is.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut DatagramPacket<T>) {
        packet.set_magic(MAGIC);
        packet.set_cookie(self.cookie);
        packet.set_seq(self.seq);
        packet.set_send_ns(self.send_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(buf: &[u8]) -> Result<Header, DatagramError> {
        Header::parse(&DatagramPacket::new_checked(buf)?)
    }

    #[test]
    fn round_trip_and_strays() -> Result<(), DatagramError> {
        let h = Header {
            cookie: [1, 2, 3, 4, 5, 6, 7, 8],
            seq: 42,
            send_ns: 123_456_789,
        };
        let mut buf = [0u8; 100];
        h.emit(&mut DatagramPacket::new_checked(&mut buf[..])?);
        assert_eq!(parse(&buf), Ok(h));
        assert_eq!(
            parse(&buf[..HEADER_LEN - 1]),
            Err(DatagramError::Truncated {
                len: HEADER_LEN - 1
            })
        );
        assert!(DatagramPacket::new_checked(&mut [0u8; 10][..]).is_err());
        buf[0] = b'X';
        assert_eq!(parse(&buf), Err(DatagramError::NotTestTraffic));
        Ok(())
    }

    #[test]
    fn fields_sit_where_the_layout_says() -> Result<(), DatagramError> {
        let h = Header {
            cookie: *b"cookie!!",
            seq: 0x0102_0304_0506_0708,
            send_ns: 0x1112_1314_1516_1718,
        };
        let mut buf = [0xaau8; 30];
        h.emit(&mut DatagramPacket::new_checked(&mut buf[..])?);
        assert_eq!(&buf[..4], b"HMBD");
        assert_eq!(&buf[4..12], b"cookie!!");
        assert_eq!(buf[12..20], [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            buf[20..28],
            [0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]
        );
        // Padding is not the header's business.
        assert_eq!(
            DatagramPacket::new_checked(&buf[..])?.padding(),
            [0xaa, 0xaa]
        );
        assert_eq!(h.buffer_len(), HEADER_LEN);
        Ok(())
    }
}
