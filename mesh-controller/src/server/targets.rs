//! Target lists: which probes each probe measures (full mesh, or hierarchical
//! for large meshes), with a STAMP SSID per (sender, target) pair that stays the
//! same across reloads, and a generation number that changes exactly when a
//! probe's assignment does.

use crate::server::config::{Config, TargetMode};
use protocol::api::{Assignment, IcmpSettings, IcmpTarget, Settings, Target};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};

/// A probe's assignment without the sequence numbers (which come from the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub generation: u64,
    pub settings: Settings,
    pub targets: Vec<Target>,
    pub icmp_targets: Vec<IcmpTarget>,
    pub icmp: Option<IcmpSettings>,
    pub bandwidth: bool,
}

impl Planned {
    pub fn assignment(&self, probe: &str, next_seq: u64, next_result_seq: u64) -> Assignment {
        Assignment {
            probe: probe.to_string(),
            generation: self.generation,
            settings: self.settings,
            targets: self.targets.clone(),
            next_seq,
            next_result_seq,
            icmp_targets: self.icmp_targets.clone(),
            icmp: self.icmp,
            bandwidth: self.bandwidth,
        }
    }
}

/// Hosts without a probe that agents ping: sites with an address (the first
/// of `addresses`) where no probe sits. Empty when `icmp:` is not configured.
pub fn icmp_targets(config: &Config) -> Vec<IcmpTarget> {
    if config.icmp.is_none() {
        return Vec::new();
    }
    config
        .topology
        .sites
        .iter()
        .enumerate()
        .filter(|(i, _)| !config.probes.iter().any(|p| p.endpoint.site == *i))
        .filter_map(|(_, s)| {
            s.addresses.first().map(|a| IcmpTarget {
                site: s.id.clone(),
                address: a.to_string(),
            })
        })
        .collect()
}

/// Which probes each probe measures (indices into `config.probes`).
pub fn target_indices(config: &Config) -> Vec<Vec<usize>> {
    let n = config.probes.len();
    match config.targets {
        TargetMode::FullMesh => (0..n)
            .map(|i| (0..n).filter(|&j| j != i).collect())
            .collect(),
        TargetMode::Hierarchical { representatives } => hierarchical(config, representatives),
        TargetMode::Covered { representatives } => {
            let mut out = if representatives > 0 {
                hierarchical(config, representatives)
            } else {
                vec![Vec::new(); n]
            };
            for (i, j) in covered_sessions(config) {
                if !out[i].contains(&j) && !out[j].contains(&i) {
                    out[i].push(j);
                }
            }
            for t in &mut out {
                t.sort_unstable();
            }
            out
        }
    }
}

/// Full mesh within a site; the first `representatives` probes of each site
/// (file order) also measure each other across sites.
fn hierarchical(config: &Config, representatives: usize) -> Vec<Vec<usize>> {
    let n = config.probes.len();
    let mut per_site: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, p) in config.probes.iter().enumerate() {
        per_site.entry(p.endpoint.site).or_default().push(i);
    }
    let reps: HashSet<usize> = per_site
        .values()
        .flat_map(|v| v.iter().take(representatives).copied())
        .collect();
    (0..n)
        .map(|i| {
            let site = config.probes[i].endpoint.site;
            (0..n)
                .filter(|&j| j != i)
                .filter(|&j| {
                    config.probes[j].endpoint.site == site
                        || (reps.contains(&i) && reps.contains(&j))
                })
                .collect()
        })
        .collect()
}

/// One session (sender, target) per pair of probed endpoints that a budget
/// rule covers in either direction: sent from the endpoint earlier in the
/// topology's order, each endpoint's probes taking turns.
pub fn covered_sessions(config: &Config) -> Vec<(usize, usize)> {
    let topo = &config.topology;
    let mut by_endpoint: BTreeMap<topology::Endpoint, Vec<usize>> = BTreeMap::new();
    for (i, p) in config.probes.iter().enumerate() {
        by_endpoint.entry(p.endpoint).or_default().push(i);
    }
    let order = topology::analysis::endpoints(topo);
    let probed: Vec<(topology::Endpoint, &Vec<usize>)> = order
        .iter()
        .filter_map(|e| by_endpoint.get(e).map(|v| (*e, v)))
        .collect();
    let mut turn: BTreeMap<usize, usize> = BTreeMap::new();
    let mut next = |probes: &[usize]| {
        let k = turn.entry(probes[0]).or_insert(0);
        let p = probes[*k % probes.len()];
        *k += 1;
        p
    };
    let mut out = Vec::new();
    for (x, &(a, pa)) in probed.iter().enumerate() {
        for &(b, pb) in &probed[x + 1..] {
            let covered = topology::budgets::rule_for(topo, &config.budgets, a, b).is_some()
                || topology::budgets::rule_for(topo, &config.budgets, b, a).is_some();
            if covered {
                out.push((next(pa), next(pb)));
            }
        }
    }
    out
}

/// A stable 64-bit hash (FNV-1a): the same on every build and run.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in part.as_bytes().iter().chain(&[0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// SSIDs for every (sender, target) pair. A pair's SSID depends only on the two
/// ids unless it collides with another sender's to the same reflector; then the
/// sender later in id order moves to the next free value.
pub fn ssids(config: &Config, targets: &[Vec<usize>]) -> BTreeMap<(String, String), u16> {
    let mut by_target: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (i, ts) in targets.iter().enumerate() {
        for &j in ts {
            by_target
                .entry(config.probes[j].id.as_str())
                .or_default()
                .push(config.probes[i].id.as_str());
        }
    }
    let mut out = BTreeMap::new();
    for (target, mut senders) in by_target {
        senders.sort_unstable();
        let mut used = HashSet::new();
        for sender in senders {
            // 1..=65535: SSID 0 is left out, some implementations treat it as unset.
            let mut ssid = (fnv1a(&[sender, target]) % 65_535) as u16 + 1;
            while !used.insert(ssid) {
                ssid = if ssid == u16::MAX { 1 } else { ssid + 1 };
            }
            out.insert((sender.to_string(), target.to_string()), ssid);
        }
    }
    out
}

/// Every probe's assignment under `config`.
pub fn plan(config: &Config) -> BTreeMap<String, Planned> {
    let targets = target_indices(config);
    let ssids = ssids(config, &targets);
    let icmp_targets = icmp_targets(config);
    let mut out = BTreeMap::new();
    for (i, p) in config.probes.iter().enumerate() {
        let list: Vec<Target> = targets[i]
            .iter()
            .map(|&j| {
                let t = &config.probes[j];
                Target {
                    probe: t.id.clone(),
                    site: config.topology.sites[t.endpoint.site].id.clone(),
                    network: t
                        .endpoint
                        .network
                        .map(|n| config.topology.networks[n].id.clone()),
                    stamp: crate::server::family::stamp_for(p, t).to_string(),
                    ssid: ssids
                        .get(&(p.id.clone(), t.id.clone()))
                        .copied()
                        .unwrap_or(1),
                }
            })
            .collect();
        let mut planned = Planned {
            generation: 0,
            settings: config.settings,
            targets: list,
            icmp_targets: icmp_targets.clone(),
            icmp: config.icmp,
            bandwidth: config.bandwidth.is_some(),
        };
        planned.generation = generation(&planned);
        out.insert(p.id.clone(), planned);
    }
    out
}

/// A fingerprint of the assignment's content, below 2^53 so that it survives
/// JSON readers that use doubles.
fn generation(p: &Planned) -> u64 {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(&p.settings).unwrap_or_default());
    h.update(serde_json::to_vec(&p.targets).unwrap_or_default());
    h.update(serde_json::to_vec(&p.icmp_targets).unwrap_or_default());
    h.update(serde_json::to_vec(&p.icmp).unwrap_or_default());
    h.update([u8::from(p.bandwidth)]);
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    (u64::from_be_bytes(b) & ((1 << 53) - 1)).max(1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(targets: &str, probes: &[(&str, &str)]) -> Config {
        let mut src = String::from(
            "topology:\n  version: 1\n  sites:\n    - {id: a, kind: city, location: [30, 104]}\n    - {id: b, kind: city, location: [31, 105]}\n    - {id: c, kind: city, location: [32, 106]}\nprobes:\n",
        );
        for (i, (id, site)) in probes.iter().enumerate() {
            src.push_str(&format!(
                "  - {{id: {id}, site: {site}, stamp: 127.0.0.1:{}}}\n",
                20000 + i
            ));
        }
        src.push_str(targets);
        crate::server::config::from_str(&src, "t.yaml", Path::new("t.yaml")).unwrap()
    }

    #[test]
    fn covered_measures_each_covered_pair_once_spread_over_probes() {
        // A cluster and two cities of one real-time hub (plan-2021 covers
        // cluster <-> city), and a city elsewhere (uncovered).
        let src = "topology:\n  version: 1\n  hubs: [{id: rt, role: realtime}]\n  sites:\n    - {id: cl, kind: cluster, hub: rt, location: [30, 104]}\n    - {id: a, kind: city, hub: rt, location: [31, 105]}\n    - {id: b, kind: city, hub: rt, location: [32, 106]}\n    - {id: z, kind: city, location: [40, 116]}\n  budgets: plan-2021\nprobes:\n  - {id: cl-1, site: cl, stamp: 127.0.0.1:20000}\n  - {id: cl-2, site: cl, stamp: 127.0.0.1:20001}\n  - {id: a-1, site: a, stamp: 127.0.0.1:20002}\n  - {id: b-1, site: b, stamp: 127.0.0.1:20003}\n  - {id: z-1, site: z, stamp: 127.0.0.1:20004}\ntargets: {mode: covered}\n";
        let c = crate::server::config::from_str(src, "t.yaml", Path::new("t.yaml")).unwrap();
        let p = plan(&c);
        let t =
            |id: &str| -> Vec<String> { p[id].targets.iter().map(|t| t.probe.clone()).collect() };
        // cl <-> a and cl <-> b, one session each, from the cluster's probes in turn.
        assert_eq!(t("cl-1"), vec!["a-1"]);
        assert_eq!(t("cl-2"), vec!["b-1"]);
        assert!(t("a-1").is_empty() && t("b-1").is_empty() && t("z-1").is_empty());
        let c = crate::server::config::from_str(
            &src.replace("{mode: covered}", "{mode: covered, representatives: 1}"),
            "t.yaml",
            Path::new("t.yaml"),
        )
        .unwrap();
        let p = plan(&c);
        assert!(
            p["z-1"].targets.iter().any(|t| t.probe == "cl-1"),
            "representatives too"
        );
    }

    #[test]
    fn full_mesh_is_every_other_probe() {
        let c = config("", &[("a-1", "a"), ("b-1", "b"), ("c-1", "c")]);
        let p = plan(&c);
        assert_eq!(p["a-1"].targets.len(), 2);
        assert!(p["a-1"].targets.iter().all(|t| t.probe != "a-1"));
    }

    #[test]
    fn hierarchical_meshes_sites_and_links_representatives() {
        let c = config(
            "targets: {mode: hierarchical, representatives: 1}\n",
            &[
                ("a-1", "a"),
                ("a-2", "a"),
                ("b-1", "b"),
                ("b-2", "b"),
                ("c-1", "c"),
            ],
        );
        let p = plan(&c);
        let names =
            |id: &str| -> Vec<String> { p[id].targets.iter().map(|t| t.probe.clone()).collect() };
        assert_eq!(names("a-1"), vec!["a-2", "b-1", "c-1"]);
        assert_eq!(names("a-2"), vec!["a-1"]);
        assert_eq!(names("c-1"), vec!["a-1", "b-1"]);
    }

    #[test]
    fn ssids_are_stable_and_unique_per_reflector() {
        let small = config("", &[("a-1", "a"), ("b-1", "b")]);
        let big = config(
            "",
            &[("a-1", "a"), ("b-1", "b"), ("c-1", "c"), ("c-2", "c")],
        );
        let (ps, pb) = (plan(&small), plan(&big));
        assert_eq!(ps["a-1"].targets[0].ssid, pb["a-1"].targets[0].ssid);
        // Adding probes changes a-1's target list, so its generation.
        assert_ne!(ps["a-1"].generation, pb["a-1"].generation);
        assert_eq!(ps["a-1"].generation, plan(&small)["a-1"].generation);
        let mut seen = HashSet::new();
        for (id, pl) in &pb {
            for t in &pl.targets {
                assert!(
                    seen.insert((t.probe.clone(), t.ssid)),
                    "{id} -> {}",
                    t.probe
                );
            }
        }
    }
}
