//! Property tests for the STAMP codec: Repr round trips, no panics on arbitrary
//! input, the reflector's length and echo rules, honest Error Estimates and
//! timestamp precision.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use probe::wire::{
    parse_tlvs, reflect, reply_len, tlv_type, ClassOfService, ErrorEstimate, FollowUpTelemetry,
    HmacKey, Mode, ReflectParams, ReflectorPacket, ReflectorRepr, SenderPacket, SenderRepr,
    Timestamp, TimestampFormat, TimestampInfo, Tlv, TlvBody, TlvFlags, TlvIter, TlvPacket,
};
use proptest::prelude::*;

const KEY: &[u8] = b"property-test-key";

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (any::<u32>(), any::<u32>()).prop_map(|(seconds, fraction)| Timestamp { seconds, fraction })
}

fn error_estimate() -> impl Strategy<Value = ErrorEstimate> {
    any::<u16>().prop_map(ErrorEstimate::from_bits)
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![Just(Mode::Unauthenticated), Just(Mode::Authenticated)]
}

fn octets(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

/// Which HMAC TLVs a generated TLV list may hold.
#[derive(Debug, Clone, Copy)]
enum Hmacs {
    /// None: any key verifies the list.
    None,
    /// Well-formed ones only: a key recomputes and verifies them.
    Keyed,
    /// Well-formed and malformed: their octets survive only without a key.
    Unkeyed,
}

/// TLV bodies that parse back to themselves.
fn tlv_body(hmacs: Hmacs) -> BoxedStrategy<TlvBody> {
    let uninterpreted = (any::<u8>(), octets(40))
        .prop_filter("interpreted type", |(t, _)| {
            ![
                tlv_type::EXTRA_PADDING,
                tlv_type::TIMESTAMP_INFO,
                tlv_type::CLASS_OF_SERVICE,
                tlv_type::FOLLOW_UP_TELEMETRY,
                tlv_type::HMAC,
            ]
            .contains(t)
        })
        .prop_map(|(tlv_type, value)| TlvBody::Other { tlv_type, value });
    // Known types with a length wrong for them stay `Other`.
    let malformed = prop_oneof![
        octets(12)
            .prop_filter("cos len", |v| v.len() != ClassOfService::LEN)
            .prop_map(|value| (tlv_type::CLASS_OF_SERVICE, value)),
        octets(4).prop_map(|value| (tlv_type::TIMESTAMP_INFO, value)),
        octets(24)
            .prop_filter("fut len", |v| v.len() != FollowUpTelemetry::LEN)
            .prop_map(|value| (tlv_type::FOLLOW_UP_TELEMETRY, value)),
    ]
    .prop_map(|(tlv_type, value)| TlvBody::Other { tlv_type, value });
    let well_formed_hmac = any::<[u8; 16]>().prop_map(TlvBody::Hmac);
    let malformed_hmac = octets(24)
        .prop_filter("hmac len", |v| v.len() != 16)
        .prop_map(|value| TlvBody::Other {
            tlv_type: tlv_type::HMAC,
            value,
        });
    let known = prop_oneof![
        octets(64).prop_map(TlvBody::ExtraPadding),
        (any::<[u8; 4]>(), octets(16)).prop_map(|(f, sub_tlvs)| {
            TlvBody::TimestampInfo(TimestampInfo {
                sync_src_in: f[0],
                timestamp_in: f[1],
                sync_src_out: f[2],
                timestamp_out: f[3],
                sub_tlvs,
            })
        }),
        (0u8..64, 0u8..64, 0u8..4, 0u8..4).prop_map(|(dscp1, dscp2, ecn, rp)| {
            TlvBody::ClassOfService(ClassOfService {
                dscp1,
                dscp2,
                ecn,
                rp,
            })
        }),
        (any::<u32>(), timestamp(), any::<u8>()).prop_map(|(sequence_number, ts, mode)| {
            TlvBody::FollowUpTelemetry(FollowUpTelemetry {
                sequence_number,
                timestamp: ts,
                timestamp_mode: mode,
            })
        }),
        uninterpreted,
        malformed,
    ];
    match hmacs {
        Hmacs::None => known.boxed(),
        Hmacs::Keyed => prop_oneof![known, well_formed_hmac].boxed(),
        Hmacs::Unkeyed => prop_oneof![known, well_formed_hmac, malformed_hmac].boxed(),
    }
}

fn tlvs(hmacs: Hmacs) -> impl Strategy<Value = Vec<Tlv>> {
    proptest::collection::vec(
        (any::<u8>(), tlv_body(hmacs)).prop_map(|(flags, body)| Tlv {
            flags: TlvFlags::from_bits(flags),
            body,
        }),
        0..6,
    )
}

fn sender_repr(mode: Mode, hmacs: Hmacs) -> impl Strategy<Value = SenderRepr> {
    (
        any::<u32>(),
        timestamp(),
        error_estimate(),
        any::<u16>(),
        tlvs(hmacs),
    )
        .prop_map(
            move |(sequence_number, timestamp, error_estimate, ssid, tlvs)| SenderRepr {
                mode,
                sequence_number,
                timestamp,
                error_estimate,
                ssid,
                tlvs,
            },
        )
}

fn reflector_repr(mode: Mode, hmacs: Hmacs) -> impl Strategy<Value = ReflectorRepr> {
    (
        (any::<u32>(), timestamp(), error_estimate(), any::<u16>()),
        (timestamp(), any::<u32>(), timestamp(), error_estimate()),
        any::<u8>(),
        tlvs(hmacs),
    )
        .prop_map(
            move |((seq, ts, ee, ssid), (rx, sseq, sts, see), ttl, tlvs)| ReflectorRepr {
                mode,
                sequence_number: seq,
                timestamp: ts,
                error_estimate: ee,
                ssid,
                receive_timestamp: rx,
                sender_sequence_number: sseq,
                sender_timestamp: sts,
                sender_error_estimate: see,
                sender_ttl: ttl,
                tlvs,
            },
        )
}

fn reflect_params() -> impl Strategy<Value = ReflectParams> {
    (
        (any::<u32>(), timestamp(), timestamp(), error_estimate()),
        (any::<u8>(), 0u8..64, 0u8..4, 0u8..4),
        any::<[u8; 4]>(),
        proptest::option::of((any::<u32>(), timestamp(), any::<u8>())),
    )
        .prop_map(
            |((seq, rx, tx, ee), (ttl, dscp, ecn, rp), info, follow)| ReflectParams {
                sequence_number: seq,
                receive_timestamp: rx,
                transmit_timestamp: tx,
                error_estimate: ee,
                received_ttl: ttl,
                received_dscp: dscp,
                received_ecn: ecn,
                reverse_path: rp,
                timestamp_info: TimestampInfo {
                    sync_src_in: info[0],
                    timestamp_in: info[1],
                    sync_src_out: info[2],
                    timestamp_out: info[3],
                    sub_tlvs: vec![],
                },
                follow_up: follow.map(|(sequence_number, timestamp, timestamp_mode)| {
                    FollowUpTelemetry {
                        sequence_number,
                        timestamp,
                        timestamp_mode,
                    }
                }),
            },
        )
}

fn key_for(mode: Mode) -> Option<HmacKey<'static>> {
    match mode {
        Mode::Authenticated => Some(HmacKey::new(KEY)),
        Mode::Unauthenticated => None,
    }
}

/// Every parser and the reflector on one input; none may panic.
fn exercise_everything(bytes: &[u8]) {
    let keys = [None, Some(HmacKey::new(KEY))];
    for mode in [Mode::Unauthenticated, Mode::Authenticated] {
        for key in keys {
            if let Ok(p) = SenderPacket::new_checked(bytes, mode) {
                let _ = SenderRepr::parse(&p, key);
                let _ = p.timestamp().to_unix(p.error_estimate().timestamp_format());
                let _ = p.error_estimate().error();
                let _ = p.tlvs().count();
            }
            if let Ok(p) = ReflectorPacket::new_checked(bytes, mode) {
                let _ = ReflectorRepr::parse(&p, key);
                let _ = p.receive_timestamp().to_duration(TimestampFormat::Ptp);
                let _ = p.sender_error_estimate().error();
            }
            let params = ReflectParams::default();
            let mut out = vec![0u8; bytes.len() + 44];
            let _ = reflect(bytes, mode, key, &params, &mut out);
            let mut tiny = vec![0u8; bytes.len() / 2];
            let _ = reflect(bytes, mode, key, &params, &mut tiny);
        }
    }
    let _ = parse_tlvs(bytes);
    for item in TlvIter::new(bytes).flatten() {
        let _ = Tlv::parse(&item.1);
    }
    if let Ok(p) = TlvPacket::new_checked(bytes) {
        let _ = Tlv::parse(&p);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn sender_round_trip(mode in mode(), repr in sender_repr(Mode::Unauthenticated, Hmacs::None)) {
        let repr = SenderRepr { mode, ..repr };
        let key = key_for(mode);
        let mut buf = vec![0u8; repr.buffer_len()];
        prop_assert_eq!(repr.emit(&mut buf, key), Ok(repr.buffer_len()));
        let packet = SenderPacket::new_checked(&buf[..], mode).unwrap();
        prop_assert_eq!(SenderRepr::parse(&packet, key), Ok(repr));
    }

    #[test]
    fn reflector_round_trip(mode in mode(), repr in reflector_repr(Mode::Unauthenticated, Hmacs::None)) {
        let repr = ReflectorRepr { mode, ..repr };
        let key = key_for(mode);
        let mut buf = vec![0u8; repr.buffer_len()];
        prop_assert_eq!(repr.emit(&mut buf, key), Ok(repr.buffer_len()));
        let packet = ReflectorPacket::new_checked(&buf[..], mode).unwrap();
        prop_assert_eq!(ReflectorRepr::parse(&packet, key), Ok(repr));
    }

    #[test]
    fn unkeyed_hmac_tlvs_round_trip_as_stored(repr in sender_repr(Mode::Unauthenticated, Hmacs::Unkeyed)) {
        let mut buf = vec![0u8; repr.buffer_len()];
        prop_assert!(repr.emit(&mut buf, None).is_ok());
        let packet = SenderPacket::new_checked(&buf[..], Mode::Unauthenticated).unwrap();
        prop_assert_eq!(SenderRepr::parse(&packet, None), Ok(repr));
    }

    #[test]
    fn keyed_hmac_tlvs_verify_and_reemit_identically(repr in sender_repr(Mode::Authenticated, Hmacs::Keyed)) {
        let key = Some(HmacKey::new(KEY));
        let mut buf = vec![0u8; repr.buffer_len()];
        prop_assert!(repr.emit(&mut buf, key).is_ok());
        let packet = SenderPacket::new_checked(&buf[..], Mode::Authenticated).unwrap();
        let parsed = SenderRepr::parse(&packet, key).unwrap();
        let mut again = vec![0u8; parsed.buffer_len()];
        prop_assert!(parsed.emit(&mut again, key).is_ok());
        prop_assert_eq!(buf, again);
    }

    #[test]
    fn parsers_never_panic(bytes in octets(320)) {
        exercise_everything(&bytes);
    }

    #[test]
    fn parsers_never_panic_on_valid_looking_packets(
        repr in sender_repr(Mode::Authenticated, Hmacs::Keyed),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
    ) {
        // Start from a well-formed packet, then truncate and flip one bit, to
        // reach deeper than random octets do.
        let mut buf = vec![0u8; repr.buffer_len()];
        prop_assert!(repr.emit(&mut buf, Some(HmacKey::new(KEY))).is_ok());
        let at = flip.index(buf.len() * 8);
        buf[at / 8] ^= 1 << (at % 8);
        buf.truncate(cut.index(buf.len() + 1));
        exercise_everything(&buf);
    }

    #[test]
    fn reflect_keeps_length_and_copies_sender_fields(
        mode in mode(),
        sender in sender_repr(Mode::Unauthenticated, Hmacs::None),
        params in reflect_params(),
    ) {
        let sender = SenderRepr { mode, ..sender };
        let key = key_for(mode);
        let mut request = vec![0u8; sender.buffer_len()];
        prop_assert!(sender.emit(&mut request, key).is_ok());
        let mut out = vec![0u8; request.len() + 64];
        let n = reflect(&request, mode, key, &params, &mut out).unwrap();
        prop_assert_eq!(n, request.len());
        prop_assert_eq!(reply_len(request.len(), mode), Ok(n));
        let reply = ReflectorPacket::new_checked(&out[..n], mode).unwrap();
        let repr = ReflectorRepr::parse(&reply, key).unwrap();
        prop_assert_eq!(repr.sequence_number, params.sequence_number);
        prop_assert_eq!(repr.timestamp, params.transmit_timestamp);
        prop_assert_eq!(repr.receive_timestamp, params.receive_timestamp);
        prop_assert_eq!(repr.error_estimate, params.error_estimate);
        prop_assert_eq!(repr.ssid, sender.ssid);
        prop_assert_eq!(repr.sender_sequence_number, sender.sequence_number);
        prop_assert_eq!(repr.sender_timestamp, sender.timestamp);
        prop_assert_eq!(repr.sender_error_estimate, sender.error_estimate);
        prop_assert_eq!(repr.sender_ttl, params.received_ttl);
        prop_assert_eq!(repr.tlvs.len(), sender.tlvs.len());
        for (sent, echoed) in sender.tlvs.iter().zip(&repr.tlvs) {
            prop_assert_eq!(sent.tlv_type(), echoed.tlv_type());
            prop_assert_eq!(sent.buffer_len(), echoed.buffer_len());
        }
    }

    #[test]
    fn reflect_echoes_unknown_tlvs_with_u_flag(
        kind in any::<u8>().prop_filter("interpreted", |t| !(1..=8).contains(t) || [2, 5, 6].contains(t)),
        flags in any::<u8>(),
        value in octets(64),
    ) {
        let mut request = vec![0u8; 44];
        request.extend_from_slice(&[flags, kind]);
        request.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
        request.extend_from_slice(&value);
        let mut out = vec![0u8; request.len()];
        let n = reflect(&request, Mode::Unauthenticated, None, &ReflectParams::default(), &mut out).unwrap();
        prop_assert_eq!(n, request.len());
        prop_assert_eq!(out[44], flags | TlvFlags::UNRECOGNIZED);
        prop_assert_eq!(&out[45..n], &request[45..]);
    }

    #[test]
    fn error_estimate_never_understates_and_is_smallest(
        nanos in prop_oneof![0u64..2_000, 0u64..10_000_000_000, any::<u64>()],
        synchronized in any::<bool>(),
        ptp in any::<bool>(),
    ) {
        let error = Duration::from_nanos(nanos);
        let ee = ErrorEstimate::from_error(error, synchronized, ptp);
        prop_assert!(ee.multiplier() >= 1);
        prop_assert!(ee.error() >= error);
        prop_assert_eq!(ee.synchronized(), synchronized);
        prop_assert_eq!(ee.ptp(), ptp);
        // No representation is both >= the error and below the chosen one.
        let units = (u128::from(nanos) << 32).div_ceil(1_000_000_000);
        let chosen = u128::from(ee.multiplier()) << ee.scale();
        prop_assert!(chosen >= units);
        for scale in 0..64u32 {
            for multiplier in 1..=255u128 {
                let value = multiplier << scale;
                prop_assert!(value < units || value >= chosen);
            }
        }
    }

    #[test]
    fn error_estimate_wire_value_round_trips(bits in any::<u16>()) {
        let ee = ErrorEstimate::from_bits(bits);
        prop_assert_eq!(ee.to_bits(), bits);
        prop_assert_eq!(ErrorEstimate::new(ee.synchronized(), ee.ptp(), ee.scale(), ee.multiplier()), Ok(ee));
    }

    #[test]
    fn unix_to_wire_to_unix_is_exact(secs in 0u64..(1 << 32), nanos in 0u32..1_000_000_000) {
        for format in [TimestampFormat::Ntp, TimestampFormat::Ptp] {
            let ts = Timestamp::from_unix(format, secs, nanos).unwrap();
            prop_assert_eq!(ts.to_unix(format), Ok((secs, nanos)));
            let d = Duration::new(secs, nanos);
            prop_assert_eq!(Timestamp::from_duration(format, d).unwrap().to_duration(format), Ok(d));
        }
    }

    #[test]
    fn ntp_wire_to_unix_to_wire_is_within_a_nanosecond(seconds in any::<u32>(), fraction in any::<u32>()) {
        let ts = Timestamp { seconds, fraction };
        let (secs, nanos) = ts.to_unix(TimestampFormat::Ntp).unwrap();
        let back = Timestamp::from_unix(TimestampFormat::Ntp, secs, nanos).unwrap();
        let wide = |t: Timestamp| (i128::from(t.seconds) << 32) | i128::from(t.fraction);
        let diff = (wide(back) - wide(ts)).abs();
        // 1 ns is about 4.3 units of 2^-32 s.
        prop_assert!(diff <= 3, "diff {diff}");
    }

    #[test]
    fn ptp_wire_to_unix_to_wire_is_exact(seconds in any::<u32>(), fraction in 0u32..1_000_000_000) {
        let ts = Timestamp { seconds, fraction };
        let (secs, nanos) = ts.to_unix(TimestampFormat::Ptp).unwrap();
        prop_assert_eq!(Timestamp::from_unix(TimestampFormat::Ptp, secs, nanos), Ok(ts));
    }
}
