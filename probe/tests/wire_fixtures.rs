//! Byte-exact fixtures for the STAMP codec, written out field by field from the
//! RFC 8762 / RFC 8972 layouts. HMAC values were computed independently (Python
//! `hmac` + `hashlib.sha256`, truncated to 16 octets) with the key below.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use probe::wire::{
    parse_tlvs, reflect, reply_len, sync_source, timestamp_method, tlv_type, ClassOfService, Error,
    ErrorEstimate, FollowUpTelemetry, HmacKey, Mode, ReflectParams, ReflectorPacket, ReflectorRepr,
    SenderPacket, SenderRepr, Timestamp, TimestampFormat, TimestampInfo, Tlv, TlvBody, TlvFlags,
    TlvPacket,
};

const KEY: &[u8] = b"hubmesh-test-key";

fn key() -> Option<HmacKey<'static>> {
    Some(HmacKey::new(KEY))
}

fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

// ---------------------------------------------------------------------------
// Session-Sender, unauthenticated (RFC 8762 4.2.1 + RFC 8972 SSID): 44 octets.
#[rustfmt::skip]
const SENDER_UNAUTH: [u8; 44] = [
    0x01, 0x02, 0x03, 0x04,             // Sequence Number
    0xe8, 0xa1, 0xb2, 0xc3,             // Timestamp: NTP seconds
    0x80, 0x00, 0x00, 0x00,             // Timestamp: NTP fraction (0.5 s)
    0x81, 0x64,                         // Error Estimate: S=1 Z=0 Scale=1, Multiplier=100
    0xbe, 0xef,                         // SSID
    0x00, 0x00, 0x00, 0x00,             // MBZ (28 octets)
    0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
];

fn sender_unauth_repr() -> SenderRepr {
    SenderRepr {
        mode: Mode::Unauthenticated,
        sequence_number: 0x0102_0304,
        timestamp: Timestamp {
            seconds: 0xe8a1_b2c3,
            fraction: 0x8000_0000,
        },
        error_estimate: ErrorEstimate::new(true, false, 1, 100).unwrap(),
        ssid: 0xbeef,
        tlvs: vec![],
    }
}

// ---------------------------------------------------------------------------
// Session-Sender, authenticated (RFC 8762 4.2.2 + RFC 8972 SSID): 112 octets.
#[rustfmt::skip]
const SENDER_AUTH: [u8; 112] = [
    0x00, 0x00, 0x00, 0x07,             // Sequence Number
    0x00, 0x00, 0x00, 0x00,             // MBZ (12 octets)
    0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
    0x65, 0x53, 0xf1, 0x00,             // Timestamp: PTP seconds (1_700_000_000)
    0x1d, 0xcd, 0x65, 0x00,             // Timestamp: PTP nanoseconds (500_000_000)
    0x4a, 0xc8,                         // Error Estimate: S=0 Z=1 Scale=10, Multiplier=200
    0x01, 0x02,                         // SSID
    0x00, 0x00, 0x00, 0x00,             // MBZ (68 octets)
    0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x40, 0xad, 0xd7, 0xc3,             // HMAC-SHA-256-128 over octets 0..96
    0xd9, 0x9a, 0xd0, 0xf9,
    0x36, 0xd4, 0x96, 0xa5,
    0x89, 0xc8, 0xcb, 0x0d,
];

fn sender_auth_repr() -> SenderRepr {
    SenderRepr {
        mode: Mode::Authenticated,
        sequence_number: 7,
        timestamp: Timestamp {
            seconds: 1_700_000_000,
            fraction: 500_000_000,
        },
        error_estimate: ErrorEstimate::new(false, true, 10, 200).unwrap(),
        ssid: 0x0102,
        tlvs: vec![],
    }
}

// ---------------------------------------------------------------------------
// Session-Reflector, unauthenticated (RFC 8762 4.3.1 + RFC 8972 SSID): 44 octets.
#[rustfmt::skip]
const REFLECTOR_UNAUTH: [u8; 44] = [
    0x00, 0x00, 0x00, 0x2a,             // Sequence Number
    0xe8, 0xa1, 0xb2, 0xc4,             // Timestamp (T3): NTP seconds
    0x00, 0x00, 0x00, 0x01,             // Timestamp (T3): NTP fraction
    0x81, 0x64,                         // Error Estimate
    0xbe, 0xef,                         // SSID
    0xe8, 0xa1, 0xb2, 0xc3,             // Receive Timestamp (T2): seconds
    0xc0, 0x00, 0x00, 0x00,             // Receive Timestamp (T2): fraction (0.75 s)
    0x01, 0x02, 0x03, 0x04,             // Session-Sender Sequence Number
    0xe8, 0xa1, 0xb2, 0xc3,             // Session-Sender Timestamp: seconds
    0x80, 0x00, 0x00, 0x00,             // Session-Sender Timestamp: fraction
    0x81, 0x64,                         // Session-Sender Error Estimate
    0x00, 0x00,                         // MBZ
    0x3f,                               // Ses-Sender TTL
    0x00, 0x00, 0x00,                   // MBZ
];

fn reflector_unauth_repr() -> ReflectorRepr {
    let ee = ErrorEstimate::new(true, false, 1, 100).unwrap();
    ReflectorRepr {
        mode: Mode::Unauthenticated,
        sequence_number: 42,
        timestamp: Timestamp {
            seconds: 0xe8a1_b2c4,
            fraction: 1,
        },
        error_estimate: ee,
        ssid: 0xbeef,
        receive_timestamp: Timestamp {
            seconds: 0xe8a1_b2c3,
            fraction: 0xc000_0000,
        },
        sender_sequence_number: 0x0102_0304,
        sender_timestamp: Timestamp {
            seconds: 0xe8a1_b2c3,
            fraction: 0x8000_0000,
        },
        sender_error_estimate: ee,
        sender_ttl: 63,
        tlvs: vec![],
    }
}

// ---------------------------------------------------------------------------
// Session-Reflector, authenticated (RFC 8762 4.3.2 + RFC 8972 SSID): 112 octets.
#[rustfmt::skip]
const REFLECTOR_AUTH: [u8; 112] = [
    0x00, 0x00, 0x00, 0x2a,             // Sequence Number
    0x00, 0x00, 0x00, 0x00,             // MBZ (12 octets)
    0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
    0xe8, 0xa1, 0xb2, 0xc4,             // Timestamp (T3)
    0x00, 0x00, 0x00, 0x01,
    0x81, 0x64,                         // Error Estimate
    0xbe, 0xef,                         // SSID
    0x00, 0x00, 0x00, 0x00,             // MBZ (4 octets)
    0xe8, 0xa1, 0xb2, 0xc3,             // Receive Timestamp (T2)
    0xc0, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,             // MBZ (8 octets)
    0x00, 0x00, 0x00, 0x00,
    0x01, 0x02, 0x03, 0x04,             // Session-Sender Sequence Number
    0x00, 0x00, 0x00, 0x00,             // MBZ (12 octets)
    0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
    0xe8, 0xa1, 0xb2, 0xc3,             // Session-Sender Timestamp
    0x80, 0x00, 0x00, 0x00,
    0x81, 0x64,                         // Session-Sender Error Estimate
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // MBZ (6 octets)
    0x3f,                               // Ses-Sender TTL
    0x00, 0x00, 0x00, 0x00, 0x00,       // MBZ (15 octets)
    0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00,
    0xf4, 0x43, 0x79, 0x05,             // HMAC-SHA-256-128 over octets 0..96
    0x84, 0xea, 0xe2, 0x4f,
    0x93, 0x9c, 0x95, 0x20,
    0x97, 0x62, 0xc5, 0x63,
];

fn reflector_auth_repr() -> ReflectorRepr {
    ReflectorRepr {
        mode: Mode::Authenticated,
        ..reflector_unauth_repr()
    }
}

// ---------------------------------------------------------------------------

#[test]
fn sender_unauthenticated_fixture() {
    let repr = sender_unauth_repr();
    assert_eq!(repr.buffer_len(), 44);
    let mut buf = [0xffu8; 44];
    assert_eq!(repr.emit(&mut buf, None), Ok(44));
    assert_eq!(buf, SENDER_UNAUTH);

    let packet = SenderPacket::new_checked(&SENDER_UNAUTH[..], Mode::Unauthenticated).unwrap();
    assert_eq!(packet.sequence_number(), 0x0102_0304);
    assert_eq!(packet.ssid(), 0xbeef);
    assert_eq!(
        packet.error_estimate().timestamp_format(),
        TimestampFormat::Ntp
    );
    assert!(packet.error_estimate().synchronized());
    assert_eq!(packet.hmac(), None);
    assert_eq!(SenderRepr::parse(&packet, None), Ok(repr));
}

#[test]
fn sender_authenticated_fixture() {
    let repr = sender_auth_repr();
    assert_eq!(repr.buffer_len(), 112);
    let mut buf = [0xffu8; 112];
    assert_eq!(repr.emit(&mut buf, key()), Ok(112));
    assert_eq!(buf, SENDER_AUTH);

    let packet = SenderPacket::new_checked(&SENDER_AUTH[..], Mode::Authenticated).unwrap();
    assert_eq!(
        packet.error_estimate().timestamp_format(),
        TimestampFormat::Ptp
    );
    assert_eq!(
        packet
            .timestamp()
            .to_duration(TimestampFormat::Ptp)
            .unwrap(),
        Duration::new(1_700_000_000, 500_000_000)
    );
    assert_eq!(SenderRepr::parse(&packet, key()), Ok(repr.clone()));
    // Authenticated mode needs the key both ways.
    assert_eq!(SenderRepr::parse(&packet, None), Err(Error::MissingKey));
    assert_eq!(repr.emit(&mut buf, None), Err(Error::MissingKey));
}

#[test]
fn reflector_unauthenticated_fixture() {
    let repr = reflector_unauth_repr();
    let mut buf = [0xffu8; 44];
    assert_eq!(repr.emit(&mut buf, None), Ok(44));
    assert_eq!(buf, REFLECTOR_UNAUTH);

    let packet =
        ReflectorPacket::new_checked(&REFLECTOR_UNAUTH[..], Mode::Unauthenticated).unwrap();
    assert_eq!(packet.sender_ttl(), 63);
    assert_eq!(packet.sender_sequence_number(), 0x0102_0304);
    assert_eq!(ReflectorRepr::parse(&packet, None), Ok(repr));
}

#[test]
fn reflector_authenticated_fixture() {
    let repr = reflector_auth_repr();
    let mut buf = [0xffu8; 112];
    assert_eq!(repr.emit(&mut buf, key()), Ok(112));
    assert_eq!(buf, REFLECTOR_AUTH);

    let packet = ReflectorPacket::new_checked(&REFLECTOR_AUTH[..], Mode::Authenticated).unwrap();
    assert_eq!(ReflectorRepr::parse(&packet, key()), Ok(repr));
}

#[test]
fn short_buffers_are_errors() {
    assert_eq!(
        SenderPacket::new_checked(&SENDER_UNAUTH[..43], Mode::Unauthenticated).err(),
        Some(Error::Truncated { len: 43, min: 44 })
    );
    assert_eq!(
        ReflectorPacket::new_checked(&REFLECTOR_AUTH[..111], Mode::Authenticated).err(),
        Some(Error::Truncated { len: 111, min: 112 })
    );
    let mut small = [0u8; 43];
    assert_eq!(
        sender_unauth_repr().emit(&mut small, None),
        Err(Error::BufferTooSmall {
            len: 43,
            needed: 44
        })
    );
}

#[test]
fn flipped_bit_fails_authentication() {
    // Every bit the HMAC covers, and the HMAC itself.
    for bit in 0..112 * 8 {
        for fixture in [&SENDER_AUTH, &REFLECTOR_AUTH] {
            let mut bytes = *fixture;
            bytes[bit / 8] ^= 1 << (bit % 8);
            let sender = SenderPacket::new_checked(&bytes[..], Mode::Authenticated).unwrap();
            let reflector = ReflectorPacket::new_checked(&bytes[..], Mode::Authenticated).unwrap();
            assert_eq!(sender.verify(HmacKey::new(KEY)), Err(Error::AuthFailed));
            assert_eq!(reflector.verify(HmacKey::new(KEY)), Err(Error::AuthFailed));
        }
    }
    // A wrong key fails too.
    let packet = SenderPacket::new_checked(&SENDER_AUTH[..], Mode::Authenticated).unwrap();
    assert_eq!(
        SenderRepr::parse(&packet, Some(HmacKey::new(b"other-key"))),
        Err(Error::AuthFailed)
    );
}

// ---------------------------------------------------------------------------
// TLVs (RFC 8972 section 4).

#[rustfmt::skip]
const TLVS_REQUEST: [u8; 56] = [
    0x00, 0x01, 0x00, 0x04,             // Extra Padding, length 4
    0xde, 0xad, 0xbe, 0xef,             //   padding octets
    0x00, 0x04, 0x00, 0x04,             // Class of Service, length 4
    0xb8, 0x00, 0x00, 0x00,             //   DSCP1=46 (EF) DSCP2=0 ECN=0 RP=0, Reserved
    0x00, 0x03, 0x00, 0x04,             // Timestamp Information, length 4
    0x00, 0x00, 0x00, 0x00,             //   Sync Src In, Timestamp In, Sync Src Out, Timestamp Out
    0x00, 0x07, 0x00, 0x10,             // Follow-Up Telemetry, length 16
    0x00, 0x00, 0x00, 0x00,             //   Sequence Number
    0x00, 0x00, 0x00, 0x00,             //   Follow-up Timestamp
    0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,             //   Timestamp M, Reserved
    0x00, 0x0a, 0x00, 0x02,             // type 10 (unassigned), length 2
    0x12, 0x34,
    0x00, 0x04, 0x00, 0x02,             // Class of Service with a wrong length (2)
    0xaa, 0xbb,
];

#[rustfmt::skip]
const TLVS_REPLY: [u8; 56] = [
    0x00, 0x01, 0x00, 0x04,             // Extra Padding, echoed
    0xde, 0xad, 0xbe, 0xef,
    0x00, 0x04, 0x00, 0x04,             // Class of Service
    0xb8, 0xa4, 0x00, 0x00,             //   DSCP1=46 DSCP2=10 (AF11) ECN=1 RP=0
    0x00, 0x03, 0x00, 0x04,             // Timestamp Information
    0x01, 0x02, 0x01, 0x02,             //   NTP, SW local, NTP, SW local
    0x00, 0x07, 0x00, 0x10,             // Follow-Up Telemetry
    0x00, 0x00, 0x00, 0x06,             //   Sequence Number 6
    0xe8, 0xa1, 0xb2, 0xc0,             //   Follow-up Timestamp
    0x00, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x00, 0x00,             //   Timestamp M = SW local, Reserved
    0x80, 0x0a, 0x00, 0x02,             // unknown type echoed with U flag
    0x12, 0x34,
    0x40, 0x04, 0x00, 0x02,             // malformed Class of Service echoed with M flag
    0xaa, 0xbb,
];

fn unauth_params() -> ReflectParams {
    ReflectParams {
        sequence_number: 42,
        receive_timestamp: Timestamp {
            seconds: 0xe8a1_b2c3,
            fraction: 0xc000_0000,
        },
        transmit_timestamp: Timestamp {
            seconds: 0xe8a1_b2c4,
            fraction: 1,
        },
        error_estimate: ErrorEstimate::new(true, false, 1, 100).unwrap(),
        received_ttl: 63,
        received_dscp: 10,
        received_ecn: 1,
        reverse_path: 0,
        timestamp_info: TimestampInfo {
            sync_src_in: sync_source::NTP,
            timestamp_in: timestamp_method::SW_LOCAL,
            sync_src_out: sync_source::NTP,
            timestamp_out: timestamp_method::SW_LOCAL,
            sub_tlvs: vec![],
        },
        follow_up: Some(FollowUpTelemetry {
            sequence_number: 6,
            timestamp: Timestamp {
                seconds: 0xe8a1_b2c0,
                fraction: 0,
            },
            timestamp_mode: timestamp_method::SW_LOCAL,
        }),
    }
}

#[test]
fn tlvs_parse_to_typed_values() {
    let tlvs = parse_tlvs(&TLVS_REQUEST).unwrap();
    assert_eq!(
        tlvs,
        vec![
            Tlv::new(TlvBody::ExtraPadding(vec![0xde, 0xad, 0xbe, 0xef])),
            Tlv::new(TlvBody::ClassOfService(ClassOfService {
                dscp1: 46,
                ..ClassOfService::default()
            })),
            Tlv::new(TlvBody::TimestampInfo(TimestampInfo::default())),
            Tlv::new(TlvBody::FollowUpTelemetry(FollowUpTelemetry::default())),
            Tlv::new(TlvBody::Other {
                tlv_type: 10,
                value: vec![0x12, 0x34]
            }),
            Tlv::new(TlvBody::Other {
                tlv_type: tlv_type::CLASS_OF_SERVICE,
                value: vec![0xaa, 0xbb]
            }),
        ]
    );
    // And the sender emits exactly these octets from the typed values.
    let repr = SenderRepr {
        tlvs,
        ..sender_unauth_repr()
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    assert_eq!(repr.emit(&mut buf, None), Ok(100));
    assert_eq!(buf, concat(&[&SENDER_UNAUTH, &TLVS_REQUEST]));
}

#[test]
fn reflect_unauthenticated_with_tlvs() {
    let request = concat(&[&SENDER_UNAUTH, &TLVS_REQUEST]);
    let mut out = [0u8; 256];
    let n = reflect(
        &request,
        Mode::Unauthenticated,
        None,
        &unauth_params(),
        &mut out,
    )
    .unwrap();
    assert_eq!(n, request.len(), "reply is as long as the request");
    assert_eq!(&out[..44], &REFLECTOR_UNAUTH[..]);
    assert_eq!(&out[44..n], &TLVS_REPLY[..]);

    let reply = ReflectorPacket::new_checked(&out[..n], Mode::Unauthenticated).unwrap();
    let repr = ReflectorRepr::parse(&reply, None).unwrap();
    assert!(repr.tlvs[4].flags.unrecognized());
    assert!(repr.tlvs[5].flags.malformed());
    assert_eq!(
        repr.tlvs[1].body,
        TlvBody::ClassOfService(ClassOfService {
            dscp1: 46,
            dscp2: 10,
            ecn: 1,
            rp: 0
        })
    );
}

#[test]
fn reflect_echoes_unknown_tlv_with_u_flag_only() {
    // Location (2), Direct Measurement (5), Access Report (6) and unassigned
    // types are not interpreted: echoed octet for octet, U flag added.
    for kind in [0u8, 2, 5, 6, 9, 200, 255] {
        let tlv = [0x00, kind, 0x00, 0x03, 0x01, 0x02, 0x03];
        let request = concat(&[&SENDER_UNAUTH, &tlv]);
        let mut out = [0u8; 64];
        let n = reflect(
            &request,
            Mode::Unauthenticated,
            None,
            &unauth_params(),
            &mut out,
        )
        .unwrap();
        assert_eq!(&out[44..n], &[0x80, kind, 0x00, 0x03, 0x01, 0x02, 0x03]);
    }
}

#[test]
fn reflect_marks_overrunning_tlv_malformed() {
    // A Class of Service header announcing 8 octets with only 4 present: the
    // TLV gets M, the rest is echoed as received.
    let tlv = [0x00, 0x04, 0x00, 0x08, 0xb8, 0x00, 0x00, 0x00];
    let request = concat(&[&SENDER_UNAUTH, &tlv]);
    let mut out = [0u8; 64];
    let n = reflect(
        &request,
        Mode::Unauthenticated,
        None,
        &unauth_params(),
        &mut out,
    )
    .unwrap();
    assert_eq!(n, 52);
    assert_eq!(
        &out[44..n],
        &[0x40, 0x04, 0x00, 0x08, 0xb8, 0x00, 0x00, 0x00]
    );
    // The strict parser reports it as an error value.
    assert_eq!(parse_tlvs(&tlv), Err(Error::BadTlv { offset: 0 }));
}

#[test]
fn twamp_light_short_request_gets_base_reply() {
    // TWAMP-light request: Sequence Number, Timestamp, Error Estimate, then 6
    // octets of padding (not an SSID).
    #[rustfmt::skip]
    let request = [
        0x01, 0x02, 0x03, 0x04,         // Sequence Number
        0xe8, 0xa1, 0xb2, 0xc3,         // Timestamp
        0x80, 0x00, 0x00, 0x00,
        0x81, 0x64,                     // Error Estimate
        0x55, 0x55, 0x55, 0x55, 0x55, 0x55, // padding
    ];
    let mut out = [0xffu8; 64];
    let n = reflect(
        &request,
        Mode::Unauthenticated,
        None,
        &unauth_params(),
        &mut out,
    )
    .unwrap();
    assert_eq!(n, 44);
    let mut expected = REFLECTOR_UNAUTH;
    expected[14] = 0; // SSID: none in a TWAMP-light packet
    expected[15] = 0;
    assert_eq!(&out[..n], &expected[..]);

    // The 14-octet minimum is accepted; 13 octets are not.
    assert_eq!(reply_len(14, Mode::Unauthenticated), Ok(44));
    let n = reflect(
        &request[..14],
        Mode::Unauthenticated,
        None,
        &unauth_params(),
        &mut out,
    );
    assert_eq!(n, Ok(44));
    assert_eq!(
        reflect(
            &request[..13],
            Mode::Unauthenticated,
            None,
            &unauth_params(),
            &mut out
        ),
        Err(Error::Truncated { len: 13, min: 14 })
    );
    // Authenticated requests need the whole 112-octet base.
    assert_eq!(
        reply_len(111, Mode::Authenticated),
        Err(Error::Truncated { len: 111, min: 112 })
    );
}

#[test]
fn reply_never_longer_than_request() {
    for len in 44..300 {
        assert_eq!(reply_len(len, Mode::Unauthenticated), Ok(len));
    }
    for len in 112..300 {
        assert_eq!(reply_len(len, Mode::Authenticated), Ok(len));
    }
    let mut small = [0u8; 43];
    assert_eq!(
        reflect(
            &SENDER_UNAUTH,
            Mode::Unauthenticated,
            None,
            &unauth_params(),
            &mut small
        ),
        Err(Error::BufferTooSmall {
            len: 43,
            needed: 44
        })
    );
}

// ---------------------------------------------------------------------------
// Authenticated reflection with an HMAC TLV.

#[rustfmt::skip]
const AUTH_REQUEST_TLVS: [u8; 28] = [
    0x00, 0x04, 0x00, 0x04,             // Class of Service
    0xb8, 0x00, 0x00, 0x00,             //   DSCP1=46
    0x00, 0x08, 0x00, 0x10,             // HMAC TLV, length 16: over Sequence Number + CoS TLV
    0x2e, 0x60, 0x58, 0x86,
    0xe9, 0x1c, 0x28, 0x48,
    0x8d, 0x61, 0x6b, 0x91,
    0x14, 0xa9, 0x34, 0x2f,
];

#[rustfmt::skip]
const AUTH_REPLY: [u8; 140] = [
    0x00, 0x00, 0x00, 0x09,             // Sequence Number (reflector's)
    0x00, 0x00, 0x00, 0x00,             // MBZ (12 octets)
    0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
    0x65, 0x53, 0xf1, 0x01,             // Timestamp (T3), PTP: 1_700_000_001 s
    0x00, 0x00, 0x00, 0x0a,             //   10 ns
    0x4a, 0xc8,                         // Error Estimate
    0x01, 0x02,                         // SSID (copied)
    0x00, 0x00, 0x00, 0x00,             // MBZ (4 octets)
    0x65, 0x53, 0xf1, 0x00,             // Receive Timestamp (T2): 1_700_000_000 s
    0x00, 0x00, 0x00, 0x05,             //   5 ns
    0x00, 0x00, 0x00, 0x00,             // MBZ (8 octets)
    0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x07,             // Session-Sender Sequence Number
    0x00, 0x00, 0x00, 0x00,             // MBZ (12 octets)
    0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
    0x65, 0x53, 0xf1, 0x00,             // Session-Sender Timestamp
    0x1d, 0xcd, 0x65, 0x00,
    0x4a, 0xc8,                         // Session-Sender Error Estimate
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // MBZ (6 octets)
    0x40,                               // Ses-Sender TTL (64)
    0x00, 0x00, 0x00, 0x00, 0x00,       // MBZ (15 octets)
    0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00,
    0xac, 0xd4, 0x86, 0xfa,             // HMAC over octets 0..96
    0x7a, 0xd9, 0x4b, 0x5c,
    0xf9, 0x8b, 0xc0, 0x0d,
    0xc8, 0x7a, 0x31, 0x0c,
    0x00, 0x04, 0x00, 0x04,             // Class of Service
    0xb8, 0xa4, 0x00, 0x00,             //   DSCP1=46 DSCP2=10 ECN=1 RP=0
    0x00, 0x08, 0x00, 0x10,             // HMAC TLV over reply Sequence Number + CoS TLV
    0xf5, 0x6a, 0x6e, 0x04,
    0x8e, 0x5f, 0x60, 0x23,
    0x42, 0xd5, 0x26, 0x5c,
    0x06, 0x27, 0xb3, 0xba,
];

fn auth_params() -> ReflectParams {
    ReflectParams {
        sequence_number: 9,
        receive_timestamp: Timestamp {
            seconds: 1_700_000_000,
            fraction: 5,
        },
        transmit_timestamp: Timestamp {
            seconds: 1_700_000_001,
            fraction: 10,
        },
        error_estimate: ErrorEstimate::new(false, true, 10, 200).unwrap(),
        received_ttl: 64,
        ..unauth_params()
    }
}

#[test]
fn sender_emits_hmac_tlv() {
    let repr = SenderRepr {
        tlvs: vec![
            Tlv::new(TlvBody::ClassOfService(ClassOfService {
                dscp1: 46,
                ..ClassOfService::default()
            })),
            Tlv::new(TlvBody::Hmac([0; 16])),
        ],
        ..sender_auth_repr()
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    assert_eq!(repr.emit(&mut buf, key()), Ok(140));
    assert_eq!(buf, concat(&[&SENDER_AUTH, &AUTH_REQUEST_TLVS]));
}

#[test]
fn reflect_authenticated_with_hmac_tlv() {
    let request = concat(&[&SENDER_AUTH, &AUTH_REQUEST_TLVS]);
    let mut out = [0u8; 200];
    let n = reflect(
        &request,
        Mode::Authenticated,
        key(),
        &auth_params(),
        &mut out,
    )
    .unwrap();
    assert_eq!(n, 140);
    assert_eq!(&out[..n], &AUTH_REPLY[..]);
    // The sender can check the whole reply.
    let reply = ReflectorPacket::new_checked(&out[..n], Mode::Authenticated).unwrap();
    let repr = ReflectorRepr::parse(&reply, key()).unwrap();
    assert_eq!(repr.sequence_number, 9);
    assert_eq!(repr.sender_sequence_number, 7);
}

#[test]
fn reflect_refuses_a_forged_request() {
    let mut request = concat(&[&SENDER_AUTH, &AUTH_REQUEST_TLVS]);
    request[20] ^= 0x01; // timestamp nanoseconds
    let mut out = [0u8; 200];
    assert_eq!(
        reflect(
            &request,
            Mode::Authenticated,
            key(),
            &auth_params(),
            &mut out
        ),
        Err(Error::AuthFailed)
    );
    assert_eq!(
        reflect(
            &SENDER_AUTH,
            Mode::Authenticated,
            None,
            &auth_params(),
            &mut out
        ),
        Err(Error::MissingKey)
    );
}

#[test]
fn reflect_flags_tlvs_whose_hmac_fails() {
    // Flip a bit inside the CoS TLV: the base HMAC still verifies, the HMAC
    // TLV does not, so every reply TLV gets the I flag and nothing is filled.
    let mut request = concat(&[&SENDER_AUTH, &AUTH_REQUEST_TLVS]);
    request[112 + 7] ^= 0x01;
    let mut out = [0u8; 200];
    let n = reflect(
        &request,
        Mode::Authenticated,
        key(),
        &auth_params(),
        &mut out,
    )
    .unwrap();
    let reply = ReflectorPacket::new_checked(&out[..n], Mode::Authenticated).unwrap();
    let tlvs: Vec<_> = reply.tlvs().map(|t| t.unwrap().1).collect();
    assert_eq!(tlvs.len(), 2);
    for tlv in &tlvs {
        assert!(tlv.flags().integrity_failed());
    }
    // Class of Service left as the sender sent it (not filled).
    assert_eq!(tlvs[0].value(), &[0xb8, 0x00, 0x00, 0x01]);
    // The reply itself is authentic: its HMACs were recomputed.
    assert_eq!(reply.verify(HmacKey::new(KEY)), Ok(()));

    // A sender parsing a request with a bad HMAC TLV gets an error value.
    let packet = SenderPacket::new_checked(&request[..], Mode::Authenticated).unwrap();
    assert_eq!(SenderRepr::parse(&packet, key()), Err(Error::AuthFailed));
}

#[test]
fn hmac_tlv_without_key_is_unrecognized() {
    let tlvs = &AUTH_REQUEST_TLVS;
    let request = concat(&[&SENDER_UNAUTH, tlvs]);
    let mut out = [0u8; 200];
    let n = reflect(
        &request,
        Mode::Unauthenticated,
        None,
        &unauth_params(),
        &mut out,
    )
    .unwrap();
    let hmac_tlv = TlvPacket::new_checked(&out[44 + 8..n]).unwrap();
    assert_eq!(hmac_tlv.tlv_type(), tlv_type::HMAC);
    assert_eq!(
        hmac_tlv.flags(),
        TlvFlags::from_bits(TlvFlags::UNRECOGNIZED)
    );
    assert_eq!(hmac_tlv.value(), &tlvs[12..]);
}

#[test]
fn error_estimate_fixture_values() {
    // 1 ms = 4_294_967.296 units of 2^-32 s -> smallest m * 2^s >= that.
    let ee = ErrorEstimate::from_error(Duration::from_millis(1), false, false);
    assert!(ee.error() >= Duration::from_millis(1));
    assert!(ee.error() < Duration::from_micros(1008));
    assert_eq!((ee.scale(), ee.multiplier()), (15, 132)); // 132 * 2^15 = 4_325_376
                                                          // 16 s (an unsynchronized kernel's maxerror): 16 * 2^32 = 128 * 2^29.
    let ee = ErrorEstimate::from_error(Duration::from_secs(16), false, false);
    assert_eq!((ee.scale(), ee.multiplier()), (29, 128));
    assert_eq!(ee.to_bits(), 0x1d80);
}
