//! Feeds arbitrary octets to every STAMP parser and to the reflector builder:
//! none may panic, and the reflector's length and authentication rules must hold.

#![no_main]

use libfuzzer_sys::fuzz_target;
use probe::wire::{
    parse_tlvs, reflect, reply_len, tlv_type, HmacKey, Mode, ReflectParams, ReflectorPacket,
    ReflectorRepr, SenderPacket, SenderRepr, Tlv, TlvIter, TlvPacket, HMAC_LEN,
};

const KEY: &[u8] = b"fuzz-key";

fn sender_round_trip(bytes: &[u8], mode: Mode, key: Option<HmacKey<'_>>) {
    let Ok(packet) = SenderPacket::new_checked(bytes, mode) else {
        return;
    };
    let _ = packet
        .timestamp()
        .to_unix(packet.error_estimate().timestamp_format());
    let _ = packet.error_estimate().error();
    let Ok(repr) = SenderRepr::parse(&packet, key) else {
        return;
    };
    // A parsed packet re-emits to the same length and parses to the same value.
    let mut out = vec![0u8; repr.buffer_len()];
    assert_eq!(repr.emit(&mut out, key), Ok(bytes.len()));
    let again = SenderPacket::new_checked(&out[..], mode).map(|p| SenderRepr::parse(&p, key));
    assert_eq!(again, Ok(Ok(repr)));
}

fn reflector_round_trip(bytes: &[u8], mode: Mode, key: Option<HmacKey<'_>>) {
    let Ok(packet) = ReflectorPacket::new_checked(bytes, mode) else {
        return;
    };
    let _ = packet
        .receive_timestamp()
        .to_duration(packet.error_estimate().timestamp_format());
    let Ok(repr) = ReflectorRepr::parse(&packet, key) else {
        return;
    };
    let mut out = vec![0u8; repr.buffer_len()];
    assert_eq!(repr.emit(&mut out, key), Ok(bytes.len()));
    let again = ReflectorPacket::new_checked(&out[..], mode).map(|p| ReflectorRepr::parse(&p, key));
    assert_eq!(again, Ok(Ok(repr)));
}

fn reflect_checked(bytes: &[u8], mode: Mode, key: Option<HmacKey<'_>>, params: &ReflectParams) {
    let mut out = vec![0u8; bytes.len() + 64];
    match reflect(bytes, mode, key, params, &mut out) {
        Ok(n) => {
            assert_eq!(reply_len(bytes.len(), mode), Ok(n));
            assert_eq!(n, bytes.len().max(mode.base_len()));
            let reply = ReflectorPacket::new_checked(&out[..n], mode);
            assert!(reply.is_ok());
            if let (Ok(reply), Some(key), Mode::Authenticated) = (reply, key, mode) {
                // Whatever the TLVs were, the reply's base HMAC is right.
                let mut sealed = out[..n].to_vec();
                if let Ok(mut view) = ReflectorPacket::new_checked(&mut sealed[..], mode) {
                    assert_eq!(view.fill_hmac(key), Ok(()));
                }
                assert_eq!(
                    reply.hmac(),
                    ReflectorPacket::new_checked(&sealed[..], mode)
                        .ok()
                        .and_then(|p| p.hmac())
                );
            }
        }
        Err(_) => {
            // Too short to reflect, or (authenticated) not authentic.
        }
    }
    // A reply buffer one octet short is an error value, never a panic.
    if let Ok(n) = reply_len(bytes.len(), mode) {
        let mut short = vec![0u8; n.saturating_sub(1)];
        assert!(reflect(bytes, mode, key, params, &mut short).is_err());
    }
}

fuzz_target!(|data: &[u8]| {
    let key = HmacKey::new(KEY);
    // The first octets pick the reflector's inputs, so they vary too.
    let params = ReflectParams {
        sequence_number: u32::from_be_bytes([1, 2, 3, *data.first().unwrap_or(&0)]),
        received_ttl: *data.get(1).unwrap_or(&0),
        received_dscp: *data.get(2).unwrap_or(&0) >> 2,
        received_ecn: *data.get(2).unwrap_or(&0) & 3,
        reverse_path: *data.get(3).unwrap_or(&0) & 3,
        ..ReflectParams::default()
    };

    for mode in [Mode::Unauthenticated, Mode::Authenticated] {
        for k in [None, Some(key)] {
            sender_round_trip(data, mode, k);
            reflector_round_trip(data, mode, k);
            reflect_checked(data, mode, k, &params);
        }
    }

    // Random octets almost never carry a valid HMAC; seal a copy so the
    // authenticated paths past verification are reached as well.
    if data.len() >= Mode::Authenticated.base_len() {
        let mut sealed = data.to_vec();
        if let Ok(mut view) = SenderPacket::new_checked(&mut sealed[..], Mode::Authenticated) {
            assert_eq!(view.fill_hmac(key), Ok(()));
        }
        let mut out = vec![0u8; sealed.len()];
        let n = reflect(&sealed, Mode::Authenticated, Some(key), &params, &mut out);
        assert_eq!(n, Ok(sealed.len()));
        let reply = ReflectorPacket::new_checked(&out[..], Mode::Authenticated);
        // The reply verifies, base and HMAC TLVs, unless the request's TLV
        // area was malformed or held an HMAC TLV of the wrong length.
        if let Ok(reply) = reply {
            let well_formed = TlvIter::new(reply.tlv_bytes()).all(|item| {
                matches!(item, Ok((_, t)) if t.tlv_type() != tlv_type::HMAC || t.value().len() == HMAC_LEN)
            });
            if well_formed {
                assert_eq!(reply.verify(key), Ok(()));
            }
        }
        sender_round_trip(&sealed, Mode::Authenticated, Some(key));
    }

    // What a sender reads of the reflector's clock in its replies.
    for mode in [Mode::Unauthenticated, Mode::Authenticated] {
        let mut clock = probe::sender::ReflectorClock::default();
        clock.note(data, mode);
        assert!(clock.reported + clock.not_reported <= 1);
    }

    let _ = parse_tlvs(data);
    for (_, tlv) in TlvIter::new(data).flatten() {
        let _ = Tlv::parse(&tlv);
    }
    if let Ok(tlv) = TlvPacket::new_checked(data) {
        let _ = Tlv::parse(&tlv);
    }
});
