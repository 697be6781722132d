//! Writes a validated topology back out as a topology file (YAML v1), so a
//! changed model (a suggestion applied, a fault taken out) can be handed to
//! `check`, `plan` or netlab like any file. Loading what this writes gives the
//! same model back (a delay the file derived from distance is written as the
//! route factor it came from).
//!
//! Flow mappings, one item a line; every string is double-quoted (JSON
//! escaping, which YAML reads the same), so no name can break the syntax.

use crate::model::{BudgetRule, DelaySource, EndMatch, Topology};
use std::fmt::Write as _;

/// The topology as a YAML v1 file, with `header` as comment lines on top.
pub fn to_yaml(topo: &Topology, header: &str) -> String {
    let mut s = String::new();
    for line in header.lines() {
        let _ = writeln!(s, "# {line}");
    }
    s.push_str("version: 1\n");
    if !topo.hubs.is_empty() {
        s.push_str("hubs:\n");
        for h in &topo.hubs {
            let name = opt("name", h.name.as_deref());
            let _ = writeln!(
                s,
                "  - {{id: {}{name}, role: {}}}",
                q(&h.id),
                h.role.as_str()
            );
        }
    }
    s.push_str("sites:\n");
    for site in &topo.sites {
        let mut f = vec![format!("id: {}", q(&site.id))];
        if let Some(n) = &site.name {
            f.push(format!("name: {}", q(n)));
        }
        f.push(format!("kind: {}", site.kind.as_str()));
        if let Some(h) = &site.hub {
            f.push(format!("hub: {}", q(h)));
        }
        if let Some(c) = &site.serves {
            f.push(format!("serves: {}", q(c)));
        }
        if !topo.networks.is_empty() {
            let nets: Vec<String> = site
                .networks
                .iter()
                .filter_map(|&n| topo.networks.get(n))
                .map(|n| q(&n.id))
                .collect();
            f.push(format!("networks: [{}]", nets.join(", ")));
        }
        f.push(format!(
            "location: [{}, {}]",
            site.location.lat, site.location.lon
        ));
        if !site.addresses.is_empty() {
            let a: Vec<String> = site.addresses.iter().map(|a| q(&a.to_string())).collect();
            f.push(format!("addresses: [{}]", a.join(", ")));
        }
        let _ = writeln!(s, "  - {{{}}}", f.join(", "));
    }
    if !topo.networks.is_empty() {
        s.push_str("networks:\n");
        for n in &topo.networks {
            let name = opt("name", n.name.as_deref());
            let _ = writeln!(s, "  - {{id: {}{name}}}", q(&n.id));
        }
    }
    if !topo.links.is_empty() {
        s.push_str("links:\n");
        for l in &topo.links {
            let site = |i: usize| topo.sites.get(i).map(|x| q(&x.id)).unwrap_or_default();
            let mut f = vec![format!("between: [{}, {}]", site(l.a), site(l.b))];
            if let Some(n) = l.network.and_then(|n| topo.networks.get(n)) {
                f.push(format!("network: {}", q(&n.id)));
            }
            if let DelaySource::Distance { route_factor } = l.delay_source {
                f.push(format!("route_factor: {route_factor}"));
            } else if l.forward_ms == l.reverse_ms {
                f.push(format!("delay_ms: {}", l.forward_ms));
            } else {
                f.push(format!(
                    "delay_ms: {{forward: {}, reverse: {}}}",
                    l.forward_ms, l.reverse_ms
                ));
            }
            if l.jitter_ms != 0.0 {
                f.push(format!("jitter_ms: {}", l.jitter_ms));
            }
            if l.loss_pct != 0.0 {
                f.push(format!("loss_pct: {}", l.loss_pct));
            }
            if let Some(r) = l.rate_mbit {
                f.push(format!("rate_mbit: {r}"));
            }
            let _ = writeln!(s, "  - {{{}}}", f.join(", "));
        }
    }
    if !topo.interconnects.is_empty() {
        s.push_str("interconnects:\n");
        for ix in &topo.interconnects {
            let site = topo
                .sites
                .get(ix.site)
                .map(|x| q(&x.id))
                .unwrap_or_default();
            let nets: Vec<String> = ix
                .networks
                .iter()
                .filter_map(|&n| topo.networks.get(n))
                .map(|n| q(&n.id))
                .collect();
            let _ = writeln!(
                s,
                "  - {{site: {site}, kind: {}, networks: [{}], delay_ms: {}}}",
                ix.kind.as_str(),
                nets.join(", "),
                ix.delay_ms
            );
        }
    }
    match &topo.budgets.preset {
        Some(p) => {
            let _ = writeln!(s, "budgets: {}", q(p));
        }
        None if topo.budgets.rules.is_empty() => s.push_str("budgets: []\n"),
        None => {
            s.push_str("budgets:\n");
            for r in &topo.budgets.rules {
                let _ = writeln!(s, "  - {}", rule(topo, r));
            }
        }
    }
    s
}

fn rule(topo: &Topology, r: &BudgetRule) -> String {
    format!(
        "{{name: {}, from: {}, to: {}, relation: {}, one_way_ms: {}, percentile: {}, both_directions: {}}}",
        q(&r.name),
        end(topo, &r.from),
        end(topo, &r.to),
        r.relation.as_str(),
        r.one_way_ms,
        r.percentile,
        r.both_directions
    )
}

fn end(topo: &Topology, m: &EndMatch) -> String {
    let mut f = Vec::new();
    if let Some(k) = m.kind {
        f.push(format!("kind: {}", k.as_str()));
    }
    if let Some(h) = m.hub.and_then(|h| topo.hubs.get(h)) {
        f.push(format!("hub: {}", q(&h.id)));
    }
    if let Some(r) = m.hub_role {
        f.push(format!("hub_role: {}", r.as_str()));
    }
    format!("{{{}}}", f.join(", "))
}

/// `, key: "value"` when there is a value.
fn opt(key: &str, v: Option<&str>) -> String {
    v.map(|v| format!(", {key}: {}", q(v))).unwrap_or_default()
}

/// A double-quoted scalar.
fn q(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::routing::Routes;

    #[test]
    fn the_national_topology_reads_back_the_same() {
        let topo = crate::national::national();
        let text = to_yaml(&topo, "written by a test\nsecond line");
        assert!(text.starts_with("# written by a test\n# second line\nversion: 1\n"));
        let back = crate::load::from_str(&text, "written.yaml").unwrap();
        assert_eq!(back, topo);
        let (a, b) = (Routes::compute(&topo), Routes::compute(&back));
        let eps = crate::analysis::endpoints(&topo);
        for &s in eps.iter().take(20) {
            for &t in &eps {
                assert_eq!(a.one_way_ms(s, t), b.one_way_ms(s, t));
            }
        }
    }

    #[test]
    fn odd_names_split_delays_and_written_rules_read_back() {
        let src = r#"version: 1
hubs:
  - {id: h1, role: realtime}
sites:
  - {id: a1, name: "它's \"a\"", kind: cluster, hub: h1, location: [25, 102.5], addresses: [198.18.0.1]}
  - {id: b, kind: city, location: [30, 104]}
  - {id: e, kind: edge, serves: b, location: [30, 104]}
links:
  - {between: [a1, b], delay_ms: {forward: 3, reverse: 7.25}, jitter_ms: 0.5, loss_pct: 1, rate_mbit: 100}
  - {between: [e, b], route_factor: 2}
budgets:
  - {name: x, from: {kind: cluster, hub: h1}, to: {kind: city}, relation: any, one_way_ms: 9, percentile: 95, both_directions: false}
"#;
        let topo = crate::load::from_str(src, "t.yaml").unwrap();
        let text = to_yaml(&topo, "");
        let back = crate::load::from_str(&text, "written.yaml").unwrap();
        assert_eq!(back, topo);
    }
}
