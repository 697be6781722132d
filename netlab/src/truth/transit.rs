//! Pairs where packets entered the emulated WAN with where they left it: the
//! time between is what the WAN did to each packet, the truth a tool's
//! one-way delay is checked against.

use std::collections::{HashMap, VecDeque};

use super::packet_id::PacketId;
use super::record::{Direction, TruthRecord};

/// One packet's trip through the emulated WAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transit {
    pub id: PacketId,
    pub from: String,
    pub to: String,
    /// Kernel time it left `from`'s stack and arrived at `to`'s, ns.
    pub out_ns: u64,
    pub in_ns: u64,
}

impl Transit {
    /// The time in the WAN, ns.
    pub fn wan_ns(&self) -> u64 {
        self.in_ns - self.out_ns
    }
}

/// Every packet seen going in and coming out, in the order they went in,
/// and how many went in and never came out (lost, or still on their way
/// when recording stopped). A packet that comes out twice (identical
/// copies) pairs each exit with the earliest unpaired entry before it.
pub fn transits(records: &[TruthRecord]) -> (Vec<Transit>, usize) {
    let mut order: Vec<&TruthRecord> = records.iter().collect();
    // Entries before exits at the same instant.
    order.sort_by_key(|r| (r.t_ns, r.dir == Direction::In));
    let mut waiting: HashMap<&PacketId, VecDeque<&TruthRecord>> = HashMap::new();
    let mut out = Vec::new();
    for r in order {
        match r.dir {
            Direction::Out => waiting.entry(&r.id).or_default().push_back(r),
            Direction::In => {
                if let Some(entry) = waiting.get_mut(&r.id).and_then(VecDeque::pop_front) {
                    out.push(Transit {
                        id: r.id.clone(),
                        from: entry.site.clone(),
                        to: r.site.clone(),
                        out_ns: entry.t_ns,
                        in_ns: r.t_ns,
                    });
                }
            }
        }
    }
    out.sort_by_key(|t| t.out_ns);
    let lost = waiting.values().map(VecDeque::len).sum();
    (out, lost)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> PacketId {
        PacketId {
            src: "198.18.0.1".parse().unwrap(),
            dst: "198.18.0.2".parse().unwrap(),
            proto: 17,
            sport: 1,
            dport: 2,
            hash: u64::from(n),
            head: format!("{n:02x}"),
        }
    }

    fn rec(site: &str, dir: Direction, t_ns: u64, n: u8) -> TruthRecord {
        TruthRecord {
            site: site.into(),
            dir,
            t_ns,
            id: id(n),
        }
    }

    #[test]
    fn entry_and_exit_pair_by_identity_whatever_the_order_of_lines() {
        use Direction::*;
        let records = [
            rec("b", In, 5_000, 2),
            rec("a", Out, 1_000, 1),
            rec("a", Out, 2_000, 2),
            rec("b", In, 4_500, 1),
            // 3 never comes out.
            rec("a", Out, 3_000, 3),
            // An exit without an entry (recording started late) is ignored.
            rec("b", In, 500, 9),
        ];
        let (t, lost) = transits(&records);
        assert_eq!(lost, 1);
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].id.hash, t[0].wan_ns()), (1, 3_500));
        assert_eq!((t[1].id.hash, t[1].wan_ns()), (2, 3_000));
        assert_eq!((t[0].from.as_str(), t[0].to.as_str()), ("a", "b"));
    }

    #[test]
    fn an_exit_never_pairs_with_a_later_entry() {
        use Direction::*;
        let (t, lost) = transits(&[rec("b", In, 1_000, 1), rec("a", Out, 2_000, 1)]);
        assert!(t.is_empty());
        assert_eq!(lost, 1);
    }

    #[test]
    fn identical_copies_pair_first_in_first_out() {
        use Direction::*;
        let (t, lost) = transits(&[
            rec("a", Out, 1_000, 1),
            rec("a", Out, 2_000, 1),
            rec("b", In, 5_000, 1),
            rec("b", In, 6_000, 1),
        ]);
        assert_eq!(lost, 0);
        let wan: Vec<u64> = t.iter().map(Transit::wan_ns).collect();
        assert_eq!(wan, [4_000, 4_000]);
    }
}
