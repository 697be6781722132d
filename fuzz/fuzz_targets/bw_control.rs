//! Feeds arbitrary octets to the bandwidth test's control codec and the UDP
//! datagram header: no panic, and whatever decodes re-encodes to a frame that
//! decodes to the same message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use probe::bw::datagram::Header;
use probe::bw::protocol::{decode, encode};

fuzz_target!(|data: &[u8]| {
    if let Ok((msg, used)) = decode(data) {
        assert!(used <= data.len());
        let mut out = Vec::new();
        encode(&msg, &mut out);
        assert_eq!(decode(&out), Ok((msg, out.len())));
    }
    if let Some(h) = Header::parse(data) {
        let mut out = [0u8; 28];
        assert!(h.emit(&mut out));
        assert_eq!(Header::parse(&out), Some(h));
    }
});
