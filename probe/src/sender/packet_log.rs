//! `probe stamp --packets FILE`: every answered packet's four timestamps and
//! one-way delays, one JSON object a line, so another tool (netlab's ground
//! truth) can check them packet by packet rather than as a summary.

use std::io::{self, Write};

use serde::Serialize;

use crate::session::Reply;
use crate::timestamping::Timestamp;

/// One answered packet: the first in-time reply to sender packet `seq`.
/// Times are ns since the Unix epoch on each side's clock; the delays are
/// plain differences (T2 - T1, T4 - T3), meaningful as one-way delays when
/// both ends read one clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PacketRecord {
    pub seq: u32,
    pub reflector_seq: u32,
    pub t1_ns: u64,
    pub t2_ns: u64,
    pub t3_ns: u64,
    pub t4_ns: u64,
    pub forward_ns: i64,
    pub reverse_ns: i64,
    pub rtt_ns: i64,
}

fn ns(t: Timestamp) -> u64 {
    u64::try_from(t.as_nanos()).unwrap_or(u64::MAX)
}

fn diff(later: u64, earlier: u64) -> i64 {
    i64::try_from(i128::from(later) - i128::from(earlier)).unwrap_or(i64::MAX)
}

impl PacketRecord {
    pub fn of(r: &Reply) -> PacketRecord {
        let (t1, t2, t3, t4) = (ns(r.t1), ns(r.t2), ns(r.t3), ns(r.t4));
        PacketRecord {
            seq: r.sender_seq,
            reflector_seq: r.reflector_seq,
            t1_ns: t1,
            t2_ns: t2,
            t3_ns: t3,
            t4_ns: t4,
            forward_ns: diff(t2, t1),
            reverse_ns: diff(t4, t3),
            rtt_ns: diff(t4, t1).saturating_sub(diff(t3, t2)),
        }
    }
}

/// Writes `records` as JSON lines.
pub fn write_jsonl(records: &[PacketRecord], mut out: impl Write) -> io::Result<()> {
    for r in records {
        serde_json::to_writer(&mut out, r)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::ClockSample;
    use crate::timestamping::TsSource;
    use std::time::Duration;

    #[test]
    fn one_line_per_packet_with_each_direction() {
        let r = Reply {
            sender_seq: 7,
            reflector_seq: 3,
            t1: Duration::from_nanos(1_000),
            t2: Duration::from_nanos(5_000),
            t3: Duration::from_nanos(5_200),
            t4: Duration::from_nanos(14_200),
            clock: ClockSample::default(),
            ts_source: TsSource::Kernel,
        };
        let rec = PacketRecord::of(&r);
        assert_eq!(
            (rec.forward_ns, rec.reverse_ns, rec.rtt_ns),
            (4_000, 9_000, 13_000)
        );
        let mut out = Vec::new();
        write_jsonl(&[rec, rec], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 2);
        let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(v["seq"], 7);
        assert_eq!(v["t4_ns"], 14_200);
        assert_eq!(v["reverse_ns"], 9_000);
    }
}
