//! A suggestion made real in the model: the topology with the suggested
//! direct link or exchange point added, so the change can be routed, checked
//! (`mesh-controller check`) or written out as a file (`crate::write`).

use super::{Suggestion, SuggestionKind};
use crate::model::{DelaySource, Interconnect, InterconnectKind, Link, Topology};

/// Why a suggestion cannot be added to a topology (it was made for another).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error("{kind} names no site {site:?} of this topology")]
    UnknownSite { kind: &'static str, site: String },
    #[error("{kind} names no network {network:?} of this topology")]
    UnknownNetwork { kind: &'static str, network: String },
    #[error("{kind} needs {want} site(s), has {got}")]
    Sites {
        kind: &'static str,
        want: usize,
        got: usize,
    },
    #[error("exchange-point at {0} joins fewer than two networks")]
    TooFewNetworks(String),
    #[error("bad one-way delay {0} ms")]
    BadDelay(String),
}

/// Adds a suggestion to the topology: a direct link is a link between its two
/// sites on each of its networks (none: one link, where the topology declares
/// no networks), both ways at its `one_way_ms`, or, where the two sites are
/// linked on that network already, that link made as fast (a topology file
/// has one link per pair and network); an exchange point is an
/// interconnect (`internet-exchange`) at its site joining its networks, at
/// its `one_way_ms`. Nothing is changed on error.
pub fn apply(topo: &mut Topology, s: &Suggestion) -> Result<(), ApplyError> {
    let kind = s.kind.as_str();
    if !(s.one_way_ms.is_finite() && s.one_way_ms >= 0.0) {
        return Err(ApplyError::BadDelay(s.one_way_ms.to_string()));
    }
    let want = match s.kind {
        SuggestionKind::DirectLink => 2,
        SuggestionKind::ExchangePoint => 1,
    };
    if s.sites.len() != want {
        return Err(ApplyError::Sites {
            kind,
            want,
            got: s.sites.len(),
        });
    }
    let sites = s
        .sites
        .iter()
        .map(|id| {
            topo.site_index(id).ok_or_else(|| ApplyError::UnknownSite {
                kind,
                site: id.clone(),
            })
        })
        .collect::<Result<Vec<usize>, _>>()?;
    let networks = s
        .networks
        .iter()
        .map(|id| {
            topo.network_index(id)
                .ok_or_else(|| ApplyError::UnknownNetwork {
                    kind,
                    network: id.clone(),
                })
        })
        .collect::<Result<Vec<usize>, _>>()?;
    match s.kind {
        SuggestionKind::DirectLink => {
            let on: Vec<Option<usize>> = if networks.is_empty() {
                vec![None]
            } else {
                networks.into_iter().map(Some).collect()
            };
            for network in on {
                // A link there already (slower, or the suggestion would not
                // be made): the new fibre takes its place.
                let (a, b) = (sites[0], sites[1]);
                if let Some(l) = topo.links.iter_mut().find(|l| {
                    l.network == network && ((l.a, l.b) == (a, b) || (l.a, l.b) == (b, a))
                }) {
                    l.forward_ms = l.forward_ms.min(s.one_way_ms);
                    l.reverse_ms = l.reverse_ms.min(s.one_way_ms);
                    l.delay_source = DelaySource::Configured;
                    continue;
                }
                topo.links.push(Link {
                    a: sites[0],
                    b: sites[1],
                    network,
                    forward_ms: s.one_way_ms,
                    reverse_ms: s.one_way_ms,
                    delay_source: DelaySource::Configured,
                    jitter_ms: 0.0,
                    loss_pct: 0.0,
                    rate_mbit: None,
                });
            }
        }
        SuggestionKind::ExchangePoint => {
            if networks.len() < 2 {
                return Err(ApplyError::TooFewNetworks(s.sites[0].clone()));
            }
            topo.interconnects.push(Interconnect {
                site: sites[0],
                kind: InterconnectKind::InternetExchange,
                networks,
                delay_ms: s.one_way_ms,
            });
        }
    }
    Ok(())
}

/// The topology with the first `n` suggestions added, in order.
pub fn apply_first(
    topo: &Topology,
    suggestions: &[Suggestion],
    n: usize,
) -> Result<Topology, ApplyError> {
    let mut t = topo.clone();
    for s in suggestions.iter().take(n) {
        apply(&mut t, s)?;
    }
    Ok(t)
}
