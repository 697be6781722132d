//! Feeds arbitrary octets to the bandwidth test's control codec and the UDP
//! datagram header: no panic, and whatever decodes re-encodes to a frame (a
//! header) that decodes to the same message (header).

#![no_main]

use libfuzzer_sys::fuzz_target;
use probe::bw::datagram::{DatagramError, DatagramPacket, Header, HEADER_LEN};
use probe::bw::protocol::{decode, encode};

fuzz_target!(|data: &[u8]| {
    if let Ok((msg, used)) = decode(data) {
        assert!(used <= data.len());
        let mut out = Vec::new();
        encode(&msg, &mut out);
        assert_eq!(decode(&out), Ok((msg, out.len())));
    }
    if let Ok(h) = parse_header(data) {
        let mut out = [0u8; HEADER_LEN];
        let written = DatagramPacket::new_checked(&mut out[..]).map(|mut p| h.emit(&mut p));
        assert_eq!(written, Ok(()));
        assert_eq!(parse_header(&out), Ok(h));
    }
});

fn parse_header(data: &[u8]) -> Result<Header, DatagramError> {
    Header::parse(&DatagramPacket::new_checked(data)?)
}
