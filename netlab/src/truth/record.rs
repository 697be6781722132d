//! One line of `netlab truth`'s output: a packet seen at a site's TUN device,
//! which way it went and when the kernel saw it.

use serde::{Deserialize, Serialize};

use super::packet_id::PacketId;

/// Which way a packet crossed a site's TUN device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Sent by the site's stack: entering the emulated WAN.
    Out,
    /// Written by the forwarder into the site: leaving the emulated WAN.
    In,
}

/// A packet at a site's TUN device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthRecord {
    pub site: String,
    pub dir: Direction,
    /// The kernel's timestamp (CLOCK_REALTIME, ns since the epoch): on the
    /// way in, the stamp a socket's software RX timestamp is; on the way out,
    /// taken as the packet is handed to the device, a few microseconds before
    /// the driver takes a socket's software TX timestamp.
    pub t_ns: u64,
    #[serde(flatten)]
    pub id: PacketId,
}

/// Reads JSON lines of [`TruthRecord`]s; the error names the line.
pub fn parse_lines(text: &str) -> Result<Vec<TruthRecord>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_one_flat_json_line_and_reads_back() {
        let r = TruthRecord {
            site: "a".into(),
            dir: Direction::Out,
            t_ns: 1_700_000_000_000_000_123,
            id: PacketId {
                src: "198.18.0.1".parse().unwrap(),
                dst: "198.18.0.2".parse().unwrap(),
                proto: 17,
                sport: 40000,
                dport: 862,
                hash: u64::MAX,
                head: "00000001".into(),
            },
        };
        let line = serde_json::to_string(&r).unwrap();
        assert!(line.contains(r#""dir":"out""#), "{line}");
        assert!(line.contains(r#""dport":862"#), "{line}");
        let back = parse_lines(&format!("{line}\n\n{line}\n")).unwrap();
        assert_eq!(back, [r.clone(), r]);
        let err = parse_lines(&format!("{line}\nnot json\n")).unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
    }
}
