//! Bandwidth tests in round-robin tournament rounds: every pair of probes
//! meets once per cycle, and within a round each probe is in at most one test,
//! so tests never share a probe (and never measure each other's traffic).
//!
//! Time is cut into slots of `bandwidth.period` (from the Unix epoch, so every
//! controller restart keeps the same schedule); slot `s` runs round
//! `s mod rounds`. In each pair the client runs forward, then reverse, so one
//! meeting measures both directions.

use crate::server::config::{Bandwidth, Config};
use protocol::api::BwTask;

/// The rounds of a tournament among `n` players (circle method): `n - 1`
/// rounds for even `n`, `n` for odd `n` (one player sits out each round).
/// Each pair is `(client, server)`; each player is the client in about half
/// its meetings.
pub fn rounds(n: usize) -> Vec<Vec<(usize, usize)>> {
    if n < 2 {
        return Vec::new();
    }
    // With a phantom player for odd n; meeting it is sitting out.
    let m = if n.is_multiple_of(2) { n } else { n + 1 };
    let mut ring: Vec<usize> = (0..m).collect();
    let mut out = Vec::with_capacity(m - 1);
    for _ in 0..m - 1 {
        let mut pairs = Vec::with_capacity(m / 2);
        for i in 0..m / 2 {
            let (a, b) = (ring[i], ring[m - 1 - i]);
            if a >= n || b >= n {
                continue;
            }
            // The lower index is the client when the sum is odd: about
            // half of each player's meetings.
            let (lo, hi) = (a.min(b), a.max(b));
            pairs.push(if (lo + hi) % 2 == 1 {
                (lo, hi)
            } else {
                (hi, lo)
            });
        }
        out.push(pairs);
        // Keep ring[0] fixed, rotate the rest by one.
        let last = ring[m - 1];
        for j in (2..m).rev() {
            ring[j] = ring[j - 1];
        }
        ring[1] = last;
    }
    out
}

/// What a probe is told when it asks for its bandwidth test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Run(BwTask),
    /// Nothing now; ask again after this many ms.
    Wait(u64),
}

/// Least and most time between two questions of one probe.
const MIN_WAIT_MS: u64 = 1_000;
const MAX_WAIT_MS: u64 = 10_000;
/// Time a test needs beyond its two directions (connect, results).
const SLACK_MS: u64 = 3_000;

fn wait_until(now_ms: u64, at_ms: u64) -> Decision {
    Decision::Wait(at_ms.saturating_sub(now_ms).clamp(MIN_WAIT_MS, MAX_WAIT_MS))
}

/// The test `probe` (an index into `config.probes`) runs at `now_ms`, if any.
/// That a slot is handed out once is the store's (`claim_bw_slot`), so that
/// it holds across controllers and restarts.
pub fn decide(config: &Config, bw: &Bandwidth, probe: usize, now_ms: u64) -> Decision {
    let period = u64::try_from(bw.period.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let slot = now_ms / period;
    let slot_end = (slot + 1).saturating_mul(period);
    let all = rounds(config.probes.len());
    if all.is_empty() {
        return Decision::Wait(MAX_WAIT_MS);
    }
    let round = &all[(slot % all.len() as u64) as usize];
    let duration = u64::try_from(bw.duration.as_millis()).unwrap_or(u64::MAX);
    let needed = duration.saturating_mul(2).saturating_add(SLACK_MS);
    let mine = round.iter().find(|(client, _)| *client == probe);
    match mine {
        Some(&(_, server)) if now_ms.saturating_add(needed) <= slot_end => {
            let target = &config.probes[server];
            Decision::Run(BwTask {
                slot,
                target: target.id.clone(),
                address: target.bw.to_string(),
                duration_ms: duration,
                streams: bw.streams,
                udp_rate_bps: bw.udp_rate_bps,
                deadline_unix_ms: slot_end,
            })
        }
        _ => wait_until(now_ms, slot_end),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::path::Path;

    #[test]
    fn every_pair_meets_once_and_nobody_plays_twice_in_a_round() {
        for n in 0..=13 {
            let r = rounds(n);
            let mut met = HashSet::new();
            for round in &r {
                let mut busy = HashSet::new();
                for &(a, b) in round {
                    assert!(a < n && b < n && a != b);
                    assert!(busy.insert(a) && busy.insert(b), "n={n}: {round:?}");
                    assert!(met.insert((a.min(b), a.max(b))), "n={n}: {a}-{b} twice");
                }
                // Everybody plays except one sitting out when n is odd.
                assert_eq!(busy.len(), n - n % 2, "n={n}: {round:?}");
            }
            assert_eq!(met.len(), n * n.saturating_sub(1) / 2, "n={n}");
            let expected_rounds = match n {
                0 | 1 => 0,
                n if n % 2 == 0 => n - 1,
                n => n,
            };
            assert_eq!(r.len(), expected_rounds);
        }
    }

    #[test]
    fn clients_are_spread() {
        let n = 8;
        let mut as_client = vec![0usize; n];
        for round in rounds(n) {
            for (c, _) in round {
                as_client[c] += 1;
            }
        }
        // 7 meetings each: between 2 and 5 as the client.
        assert!(
            as_client.iter().all(|&k| (2..=5).contains(&k)),
            "{as_client:?}"
        );
    }

    fn config(n: usize) -> Config {
        let mut src = String::from(
            "topology:\n  version: 1\n  sites:\n    - {id: a, kind: city, location: [30, 104]}\nprobes:\n",
        );
        for i in 0..n {
            src.push_str(&format!(
                "  - {{id: p{i}, site: a, stamp: 127.0.0.1:{}}}\n",
                20000 + i
            ));
        }
        src.push_str("bandwidth: {period: 20s, duration: 5s}\n");
        crate::server::config::from_str(&src, "t.yaml", Path::new("t.yaml")).unwrap()
    }

    #[test]
    fn a_slot_runs_one_round_once_and_only_when_it_fits() {
        let c = config(4);
        let bw = c.bandwidth.unwrap();
        let slot_start = 1_000 * 20_000;
        let mut clients = Vec::new();
        let mut servers = HashSet::new();
        for p in 0..4 {
            match decide(&c, &bw, p, slot_start + 100) {
                Decision::Run(t) => {
                    assert_eq!(t.slot, 1_000);
                    assert_eq!(t.deadline_unix_ms, slot_start + 20_000);
                    assert_eq!(t.duration_ms, 5_000);
                    servers.insert(t.target.clone());
                    clients.push(p);
                }
                Decision::Wait(ms) => assert!((MIN_WAIT_MS..=MAX_WAIT_MS).contains(&ms)),
            }
        }
        assert_eq!(clients.len(), 2, "two tests among four probes");
        assert_eq!(servers.len(), 2);
        let client = clients[0];
        // Too late in the slot for 2 x 5 s + slack.
        assert!(matches!(
            decide(&c, &bw, client, slot_start + 8_000),
            Decision::Wait(_)
        ));
        // The next slots go through the other rounds: 3 rounds for 4 probes.
        let mut partners = HashSet::new();
        for s in 0..3u64 {
            for p in 0..4 {
                if let Decision::Run(t) = decide(&c, &bw, p, (1_000 + s) * 20_000) {
                    partners.insert((p, t.target));
                }
            }
        }
        assert_eq!(
            partners.len(),
            6,
            "every pair meets in a cycle: {partners:?}"
        );
    }
}
