//! What the commands print, as plain text for people.

use crate::engine::LinkState;
use crate::lab::{InterconnectSetReport, LabStatus, LinkSetReport, UpReport};
use std::fmt::Write as _;

/// `netlab up`: the lab, then every site with its namespace and addresses.
pub fn up(r: &UpReport) -> String {
    let p = &r.plan;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "lab {} is up: {} sites, {} endpoints, {} links, forwarder pid {} ({:.2} s)",
        p.lab,
        p.sites.len(),
        p.endpoints.len(),
        p.links.len(),
        r.pid,
        r.elapsed.as_secs_f64()
    );
    let w = p.sites.iter().map(|s| s.id.len()).max().unwrap_or(4).max(4);
    let wn = p
        .sites
        .iter()
        .map(|s| s.namespace.len())
        .max()
        .unwrap_or(9)
        .max(9);
    let _ = writeln!(s, "{:<w$}  {:<wn$}  addresses", "site", "namespace");
    for (i, site) in p.sites.iter().enumerate() {
        let addrs: Vec<String> = site
            .endpoints
            .iter()
            .map(|&e| {
                let ep = &p.endpoints[e];
                match &ep.network {
                    Some(n) => format!("{} {} ({n})", ep.address, ep.address6),
                    None => format!("{} {}", ep.address, ep.address6),
                }
            })
            .collect();
        let _ = i;
        let _ = writeln!(
            s,
            "{:<w$}  {:<wn$}  {}",
            site.id,
            site.namespace,
            addrs.join(", ")
        );
    }
    let _ = writeln!(
        s,
        "routers: 198.19.0.0/17 (one /30 per link), 198.19.128.0/17 (interconnects), 2001:2:0:8000::/51 (a /64 per link), 2001:2:0:c000::/64 (interconnects): `netlab addr --all --name {}`",
        p.lab
    );
    s
}

/// One line per lab for `status --all`.
pub fn status_line(st: &LabStatus) -> String {
    let sites = st.plan.as_ref().map_or(0, |p| p.sites.len());
    match (st.running, st.pid) {
        (true, Some(pid)) => format!("{}: up, {sites} sites, forwarder pid {pid}", st.lab),
        _ => format!(
            "{}: broken (forwarder not running, {} namespaces left): run `netlab down --name {}`",
            st.lab,
            st.namespaces.len(),
            st.lab
        ),
    }
}

/// `netlab status`.
pub fn status(st: &LabStatus) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}", status_line(st));
    if !st.overrides.is_empty() {
        let _ = writeln!(
            s,
            "links changed from the topology file (`netlab link set`):"
        );
        for l in &st.overrides {
            let _ = writeln!(s, "  {}", describe_override(l));
        }
    }
    let Some(f) = &st.status else {
        return s;
    };
    for i in &f.interconnects_down {
        let _ = writeln!(
            s,
            "interconnect {} at {} ({}) is down (`netlab link interconnect`)",
            i.interconnect,
            i.site,
            i.networks.join(", ")
        );
    }
    let t = &f.stats;
    let _ = writeln!(
        s,
        "uptime {:.1} s; packets received {} ({} IPv6), delivered {}, in flight {}, ICMP time-exceeded sent {}, router replies {}",
        f.uptime_s, t.received, t.received_ipv6, t.delivered, f.in_flight, t.icmp_time_exceeded, t.router_replies
    );
    let _ = writeln!(
        s,
        "dropped: loss {}, rate {}, ttl {}, no route {}, to router {}, bad source {}, ipv6 link-local/multicast {}, malformed {}, overload {}, tap full {}, write errors {}",
        t.dropped_loss,
        t.dropped_rate,
        t.dropped_ttl,
        t.dropped_no_route,
        t.dropped_to_router,
        t.dropped_bad_source,
        t.dropped_ipv6,
        t.dropped_malformed,
        t.dropped_overload,
        f.tap_drops,
        f.write_errors
    );
    if t.dropped_link_down > 0 {
        let _ = writeln!(s, "dropped on links taken down: {}", t.dropped_link_down);
    }
    let l = &f.lateness;
    let _ = writeln!(
        s,
        "delivery lateness (forwarder's own clock): p50 {:.0} us, p99 {:.0} us, p99.9 {:.0} us, max {:.0} us over {} packets; wake margin {:.0} us",
        l.p50_us, l.p99_us, l.p999_us, l.max_us, l.count, f.wake_margin_us
    );
    if !f.edges.is_empty() {
        let _ = writeln!(s, "traffic per hop:");
        for e in &f.edges {
            let _ = writeln!(
                s,
                "  {} -> {} ({}): {} packets, {} lost, {} over rate",
                e.from, e.to, e.via, e.packets, e.lost, e.rate_dropped
            );
        }
    }
    s
}

/// `netlab status --json`: the forwarder's counters (fields in their
/// declared order), with the link overrides as last written; `null` before
/// the forwarder first published, unless links were changed already.
pub fn status_json(st: &LabStatus) -> serde_json::Result<String> {
    match &st.status {
        None if !st.overrides.is_empty() => {
            serde_json::to_string_pretty(&serde_json::json!({ "overrides": st.overrides }))
        }
        status => serde_json::to_string_pretty(status),
    }
}

/// A link's name: `link 0 a -- b` (and `(network)` where there are carriers).
fn link_name(l: &LinkState) -> String {
    let [a, b] = &l.between;
    match &l.network {
        Some(n) => format!("link {} {a} -- {b} ({n})", l.link),
        None => format!("link {} {a} -- {b}", l.link),
    }
}

/// One line for a link that differs from the topology file: only what differs.
pub fn describe_override(l: &LinkState) -> String {
    let [a, b] = &l.between;
    let (now, file) = (&l.current, &l.configured);
    let mut parts = Vec::new();
    if l.down {
        parts.push("down".to_string());
    }
    if now.forward_ms != file.forward_ms {
        parts.push(format!(
            "{a} -> {b} {} ms (file {} ms)",
            now.forward_ms, file.forward_ms
        ));
    }
    if now.reverse_ms != file.reverse_ms {
        parts.push(format!(
            "{b} -> {a} {} ms (file {} ms)",
            now.reverse_ms, file.reverse_ms
        ));
    }
    if now.loss_pct != file.loss_pct {
        parts.push(format!(
            "loss {} % (file {} %)",
            now.loss_pct, file.loss_pct
        ));
    }
    format!("{}: {}", link_name(l), parts.join(", "))
}

/// `netlab link set`: one line, what changed (in the order the command named
/// the sites) and how long the forwarder took.
pub fn link_set(r: &LinkSetReport) -> String {
    let q = &r.request;
    let c = &q.change;
    let (a, b) = (&q.a, &q.b);
    let mut parts = Vec::new();
    match (c.forward_ms, c.reverse_ms) {
        (Some(f), Some(r)) if f == r => parts.push(format!("delay {f} ms each way")),
        (f, r) => {
            if let Some(f) = f {
                parts.push(format!("{a} -> {b} {f} ms"));
            }
            if let Some(r) = r {
                parts.push(format!("{b} -> {a} {r} ms"));
            }
        }
    }
    if let Some(l) = c.loss_pct {
        parts.push(format!("loss {l} %"));
    }
    match c.up {
        Some(false) => parts.push("down".into()),
        Some(true) => parts.push("up".into()),
        None => {}
    }
    let links: Vec<String> = r.links.iter().map(link_name).collect();
    format!(
        "lab {}: {}: {}; in force after {:.0} us in the forwarder (answered in {:.2} ms)",
        r.lab,
        links.join(", "),
        parts.join(", "),
        r.apply_us,
        r.round_trip.as_secs_f64() * 1e3
    )
}

/// `netlab link interconnect`: one line, which interconnects changed and how
/// long the forwarder took.
pub fn interconnect_set(r: &InterconnectSetReport) -> String {
    let ixs: Vec<String> = r
        .interconnects
        .iter()
        .map(|i| {
            format!(
                "interconnect {} at {} ({}): {}",
                i.interconnect,
                i.site,
                i.networks.join(", "),
                if i.down { "down" } else { "up" }
            )
        })
        .collect();
    format!(
        "lab {}: {}; in force after {:.0} us in the forwarder (answered in {:.2} ms)",
        r.lab,
        ixs.join("; "),
        r.apply_us,
        r.round_trip.as_secs_f64() * 1e3
    )
}
