//! Graphviz DOT of the topology map: sites at their coordinates (for `neato -n`
//! style layouts), links coloured by network, interconnect sites doubled, and
//! routes over budget as dashed red edges.

use crate::analysis::{RouteTable, Verdict};
use crate::model::{SiteKind, Topology};

const PALETTE: [&str; 6] = [
    "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The map as a DOT graph. Node positions are longitude/latitude scaled to
/// points, pinned, so `neato -n2 -Tsvg` draws a geographic map.
pub fn map_dot(topo: &Topology, routes: Option<&RouteTable>) -> String {
    let mut out = String::from(
        "digraph hubmesh {\n  graph [overlap=true, splines=true, outputorder=edgesfirst];\n  node [fontsize=10, style=filled, fillcolor=white];\n  edge [arrowhead=none, fontsize=8];\n",
    );
    let ix_sites: Vec<usize> = topo.interconnects.iter().map(|i| i.site).collect();
    for (i, s) in topo.sites.iter().enumerate() {
        let shape = match s.kind {
            SiteKind::Cluster => "box",
            SiteKind::City => "ellipse",
            SiteKind::Edge => "diamond",
            SiteKind::Router => "point",
        };
        let periph = if ix_sites.contains(&i) { 2 } else { 1 };
        let label = match &s.name {
            Some(n) => format!("{}\\n{}", s.id, n),
            None => s.id.clone(),
        };
        out.push_str(&format!(
            "  {} [label={}, shape={shape}, peripheries={periph}, pos=\"{:.1},{:.1}!\"];\n",
            quote(&s.id),
            quote(&label).replace("\\\\n", "\\n"),
            s.location.lon * 20.0,
            s.location.lat * 20.0,
        ));
    }
    for l in &topo.links {
        let (color, net) = match l.network {
            Some(n) => (PALETTE[n % PALETTE.len()], topo.networks[n].id.as_str()),
            None => (PALETTE[0], ""),
        };
        let delay = if (l.forward_ms - l.reverse_ms).abs() < 1e-9 {
            format!("{:.2}", l.forward_ms)
        } else {
            format!("{:.2}/{:.2}", l.forward_ms, l.reverse_ms)
        };
        out.push_str(&format!(
            "  {} -> {} [color=\"{color}\", label=\"{delay}\", tooltip={}];\n",
            quote(&topo.sites[l.a].id),
            quote(&topo.sites[l.b].id),
            quote(net),
        ));
    }
    if let Some(t) = routes {
        for r in t.routes.iter().filter(|r| r.verdict == Verdict::Violation) {
            let site = |e: &str| e.split('@').next().unwrap_or(e).to_string();
            out.push_str(&format!(
                "  {} -> {} [color=red, style=dashed, arrowhead=normal, constraint=false, label=\"{}\"];\n",
                quote(&site(&r.from)),
                quote(&site(&r.to)),
                r.one_way_ms.map_or_else(|| "?".to_string(), |v| format!("{v:.1} ms")),
            ));
        }
    }
    out.push_str("}\n");
    out
}
