//! Checks a tool's per-packet one-way delays against what the emulated WAN
//! did to the same packets ([`Transit`]s): which transit is which packet of
//! the tool comes from the packet's own bytes (its sequence number), never
//! from the times being compared.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::packet_id::unhex;
use super::transit::Transit;

/// A tool's one-way delay for its packet `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measured {
    pub seq: u32,
    pub one_way_ns: i64,
}

/// How far a tool's one-way delays are from the truth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Measured packets with a transit, and without one.
    pub matched: usize,
    pub unmatched: usize,
    /// |measured - truth|, ns: median, 99th percentile, largest.
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
    /// Median of measured - truth, ns: the tool's bias.
    pub median_signed_ns: i64,
}

impl Comparison {
    /// Matched share of what was measured (0 when nothing was).
    pub fn matched_share(&self) -> f64 {
        let n = self.matched + self.unmatched;
        if n == 0 {
            0.0
        } else {
            self.matched as f64 / n as f64
        }
    }
}

/// Nearest-rank percentile `p` (0 < p <= 100) of sorted values.
fn percentile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len().max(1)) - 1)
        .copied()
        .unwrap_or_default()
}

/// Compares `measured` with the transits `seq_of` claims (the tool's packets
/// in one direction, each with its sequence number; the first transit of a
/// number counts).
pub fn compare(
    measured: &[Measured],
    transits: &[Transit],
    seq_of: impl Fn(&Transit) -> Option<u32>,
) -> Comparison {
    let mut truth: HashMap<u32, i64> = HashMap::new();
    for t in transits {
        if let Some(seq) = seq_of(t) {
            truth
                .entry(seq)
                .or_insert_with(|| i64::try_from(t.wan_ns()).unwrap_or(i64::MAX));
        }
    }
    let mut signed: Vec<i64> = measured
        .iter()
        .filter_map(|m| Some(m.one_way_ns.saturating_sub(*truth.get(&m.seq)?)))
        .collect();
    let mut abs: Vec<u64> = signed.iter().map(|e| e.unsigned_abs()).collect();
    signed.sort_unstable();
    abs.sort_unstable();
    Comparison {
        matched: abs.len(),
        unmatched: measured.len() - abs.len(),
        p50_ns: percentile(&abs, 50.0),
        p99_ns: percentile(&abs, 99.0),
        max_ns: abs.last().copied().unwrap_or(0),
        median_signed_ns: percentile(&signed, 50.0),
    }
}

/// A big-endian u32 at `offset` of a transit's UDP payload head.
pub fn be_u32_at(t: &Transit, offset: usize) -> Option<u32> {
    let b = unhex(&t.id.head)?;
    Some(u32::from_be_bytes(
        b.get(offset..offset + 4)?.try_into().ok()?,
    ))
}

/// A little-endian u32 at `offset` of a transit's UDP payload head.
pub fn le_u32_at(t: &Transit, offset: usize) -> Option<u32> {
    let b = unhex(&t.id.head)?;
    Some(u32::from_le_bytes(
        b.get(offset..offset + 4)?.try_into().ok()?,
    ))
}

fn to(t: &Transit, server: SocketAddr) -> bool {
    t.id.proto == 17 && t.id.dst == server.ip() && t.id.dport == server.port()
}

fn from(t: &Transit, server: SocketAddr) -> bool {
    t.id.proto == 17 && t.id.src == server.ip() && t.id.sport == server.port()
}

/// STAMP (RFC 8762), unauthenticated: a test packet to the reflector at
/// `reflector` carries its sequence number first.
pub fn stamp_forward(reflector: SocketAddr) -> impl Fn(&Transit) -> Option<u32> {
    move |t| to(t, reflector).then(|| be_u32_at(t, 0)).flatten()
}

/// STAMP, unauthenticated: a reflected packet carries the sender's sequence
/// number at octet 24 (after its own number, T3, error estimate, MBZ, T2).
pub fn stamp_reverse(reflector: SocketAddr) -> impl Fn(&Transit) -> Option<u32> {
    move |t| from(t, reflector).then(|| be_u32_at(t, 24)).flatten()
}

/// Octet offset of the sequence number in an irtt test packet: magic (3),
/// flags (1), connection token (8), then the number, little-endian.
pub const IRTT_SEQ_OFFSET: usize = 12;

/// irtt's requests to the server at `server` (its handshake packets too,
/// whose numbers no round trip reports).
pub fn irtt_forward(server: SocketAddr) -> impl Fn(&Transit) -> Option<u32> {
    move |t| {
        to(t, server)
            .then(|| le_u32_at(t, IRTT_SEQ_OFFSET))
            .flatten()
    }
}

/// irtt's replies from the server at `server`: they echo the request's number.
pub fn irtt_reverse(server: SocketAddr) -> impl Fn(&Transit) -> Option<u32> {
    move |t| {
        from(t, server)
            .then(|| le_u32_at(t, IRTT_SEQ_OFFSET))
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::truth::packet_id::PacketId;

    const REFLECTOR: &str = "198.18.0.2:862";

    fn transit(forward: bool, head: Vec<u8>, out_ns: u64, in_ns: u64) -> Transit {
        let (a, b) = ("198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap());
        let (src, dst, sport, dport) = if forward {
            (a, b, 40000, 862)
        } else {
            (b, a, 862, 40000)
        };
        Transit {
            id: PacketId {
                src,
                dst,
                proto: 17,
                sport,
                dport,
                hash: 0,
                head: head.iter().map(|b| format!("{b:02x}")).collect(),
            },
            from: "a".into(),
            to: "b".into(),
            out_ns,
            in_ns,
        }
    }

    fn sender_head(seq: u32) -> Vec<u8> {
        let mut h = seq.to_be_bytes().to_vec();
        h.resize(32, 0xee);
        h
    }

    fn reflected_head(seq: u32) -> Vec<u8> {
        let mut h = vec![0xee; 24];
        h.extend_from_slice(&seq.to_be_bytes());
        h.resize(32, 0);
        h
    }

    #[test]
    fn errors_are_per_packet_and_unknown_packets_are_unmatched() {
        let r: SocketAddr = REFLECTOR.parse().unwrap();
        // The WAN took 4 ms for 0 and 5 ms for 1; 2 was never seen.
        let transits = [
            transit(true, sender_head(0), 10_000_000, 14_000_000),
            transit(true, sender_head(1), 20_000_000, 25_000_000),
            // A reply: not a forward packet, whatever its first octets say.
            transit(false, reflected_head(0), 30_000_000, 39_000_000),
        ];
        let measured = [
            Measured {
                seq: 0,
                one_way_ns: 4_000_010,
            },
            Measured {
                seq: 1,
                one_way_ns: 4_999_970,
            },
            Measured {
                seq: 2,
                one_way_ns: 4_000_000,
            },
        ];
        let c = compare(&measured, &transits, stamp_forward(r));
        assert_eq!((c.matched, c.unmatched), (2, 1));
        assert_eq!((c.p50_ns, c.p99_ns, c.max_ns), (10, 30, 30));
        assert_eq!(c.median_signed_ns, -30);
        assert!((c.matched_share() - 2.0 / 3.0).abs() < 1e-9);
        // Against the reply: its number sits at octet 24.
        let back = [Measured {
            seq: 0,
            one_way_ns: 9_000_500,
        }];
        let c = compare(&back, &transits, stamp_reverse(r));
        assert_eq!((c.matched, c.p99_ns), (1, 500));
    }

    #[test]
    fn a_wrong_measurement_shows_as_a_large_error() {
        let r: SocketAddr = REFLECTOR.parse().unwrap();
        let transits: Vec<Transit> = (0..100)
            .map(|k| transit(true, sender_head(k), 0, 4_000_000))
            .collect();
        // The configured delay, not what each packet took: off by 1 ms on 2 of them.
        let measured: Vec<Measured> = (0..100)
            .map(|k| Measured {
                seq: k,
                one_way_ns: if k % 50 == 0 { 5_000_000 } else { 4_000_000 },
            })
            .collect();
        let c = compare(&measured, &transits, stamp_forward(r));
        assert_eq!((c.matched, c.p50_ns, c.p99_ns), (100, 0, 1_000_000));
    }

    #[test]
    fn irtt_numbers_are_little_endian_after_the_token() {
        let server: SocketAddr = REFLECTOR.parse().unwrap();
        let mut head = vec![0x14, 0xa7, 0x5b, 0x00, 1, 2, 3, 4, 5, 6, 7, 8];
        head.extend_from_slice(&258u32.to_le_bytes());
        let t = transit(true, head, 0, 1);
        assert_eq!(irtt_forward(server)(&t), Some(258));
        assert_eq!(irtt_reverse(server)(&t), None);
    }

    #[test]
    fn nothing_measured_is_all_zero() {
        let c = compare(&[], &[], |_| None);
        assert_eq!(c, Comparison::default());
        assert_eq!(c.matched_share(), 0.0);
    }
}
