//! The console page of a route report: one self-contained HTML document (inline
//! CSS, SVG and a few lines of script; no external assets) with a map (sites
//! placed by longitude/latitude, links coloured by the verdict of the routes
//! that use them, else by network; routes over budget drawn as red arcs), a
//! heat-map grid of one-way delay per ordered endpoint pair coloured by budget
//! verdict, and tables of violations, detours and suggestions.
//!
//! Everything is drawn here, server side, so the page reads the same without
//! script; the inline script only adds hover highlighting and marks the map
//! and grid `data-rendered="1"` once it has walked them (what the headless
//! browser test looks for). All text is escaped.

use crate::escape::markup;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use topology::analysis::{RouteReport, Verdict};
use topology::suggest::Suggestion;
use topology::{SiteKind, Topology};

const PALETTE: [&str; 6] = [
    "#1f77b4", "#9467bd", "#17becf", "#8c564b", "#e377c2", "#7f7f7f",
];

/// What the page shows.
#[derive(Debug, Clone)]
pub struct Page<'a> {
    /// Heading and `<title>`.
    pub title: &'a str,
    /// A line under the heading (where the data came from, when).
    pub subtitle: &'a str,
    pub topology: &'a Topology,
    /// The analysed routes (plan's or measured).
    pub routes: &'a [RouteReport],
    /// Routes that detour (a faster relay, or a high stretch).
    pub detours: &'a [RouteReport],
    pub suggestions: &'a [Suggestion],
    /// Extra text per (from, to) for the grid's tooltips and the violation
    /// table (e.g. measured forward/reverse, RTT, loss).
    pub notes: &'a HashMap<(String, String), String>,
    /// Reload the page every this many seconds (`<meta http-equiv=refresh>`).
    pub refresh_s: Option<u32>,
    /// Tables that lead the page (firing alerts, events), before the map.
    pub lead: &'a [Section],
    /// Further tables, after the violations.
    pub sections: &'a [Section],
    /// Measured paths (traceroutes) to draw on the map: a label and the site
    /// ids crossed, in order.
    pub paths: &'a [(String, Vec<String>)],
}

/// A plain table section of the page.
#[derive(Debug, Clone, Default)]
pub struct Section {
    /// The table's `id` attribute.
    pub id: String,
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Said instead of an empty table.
    pub empty: String,
}

fn verdict_class(r: &RouteReport) -> &'static str {
    if r.budget_ms.is_none() {
        return if r.one_way_ms.is_some() {
            "v-none"
        } else {
            "v-no-data"
        };
    }
    match r.verdict {
        Verdict::Ok => "v-ok",
        Verdict::Violation => "v-violation",
        Verdict::Uncertain => "v-uncertain",
        Verdict::NoData => "v-no-data",
    }
}

fn rank(v: Verdict) -> u8 {
    match v {
        Verdict::Ok => 0,
        Verdict::NoData => 1,
        Verdict::Uncertain => 2,
        Verdict::Violation => 3,
    }
}

fn verdict_colour(v: Verdict) -> &'static str {
    match v {
        Verdict::Ok => "#2e9e44",
        Verdict::Violation => "#d62728",
        Verdict::Uncertain => "#f0a30a",
        Verdict::NoData => "#9e9e9e",
    }
}

fn site_of(endpoint: &str) -> &str {
    endpoint.split('@').next().unwrap_or(endpoint)
}

fn ms(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"))
}

const CSS: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.5em 0 .5em}
.sub{color:#666;margin:0 0 1em}.summary span{margin-right:1em}
svg.map{background:#fff;border:1px solid #ddd;max-width:100%;height:auto}
svg.map .link{stroke-width:1.5;opacity:.85}svg.map .trace{stroke:#6a1b9a;stroke-width:2.5;fill:none;opacity:.6}svg.map .viol{stroke:#d62728;stroke-width:1.5;stroke-dasharray:4 3;fill:none;opacity:.7}
svg.map text{font-size:10px;fill:#333}svg.map .site{stroke:#333;stroke-width:1}
svg.map .hl{stroke-width:4;opacity:1}
.legend span{display:inline-block;padding:0 .5em;margin-right:.3em;border-radius:3px}
.gridwrap{overflow:auto;max-height:80vh;border:1px solid #ddd;background:#fff}
table.grid{border-collapse:collapse;font-size:10px}
table.grid th{position:sticky;top:0;background:#eee;font-weight:normal;padding:2px;white-space:nowrap}
table.grid th.row{position:sticky;left:0;text-align:right}
table.grid td{width:2.6em;height:1.5em;text-align:center;border:1px solid #fff;padding:0}
td.hl,th.hl{outline:2px solid #000}
.v-ok{background:#8fd19e}.v-violation{background:#f28b82}.v-uncertain{background:#fbc56d}
.v-no-data{background:#d5d5d5}.v-none{background:#e8eef7}.v-self{background:#fff}
table.list{border-collapse:collapse;font-size:13px;background:#fff}
table.list th,table.list td{border:1px solid #ddd;padding:3px 6px;text-align:left}
table.list td.n{text-align:right;font-variant-numeric:tabular-nums}
";

const SCRIPT: &str = "
(function(){
  var map=document.getElementById('map'),grid=document.getElementById('grid');
  if(map){
    var sites=map.querySelectorAll('circle.site,rect.site,path.site');
    map.querySelectorAll('.site').forEach(function(s){
      s.addEventListener('mouseenter',function(){
        var id=s.getAttribute('data-site');
        map.querySelectorAll('line[data-a=\"'+id+'\"],line[data-b=\"'+id+'\"]').forEach(function(l){l.classList.add('hl');});
      });
      s.addEventListener('mouseleave',function(){
        map.querySelectorAll('line.hl').forEach(function(l){l.classList.remove('hl');});
      });
    });
    map.setAttribute('data-sites',String(sites.length));
    map.setAttribute('data-rendered','1');
  }
  if(grid){
    var cells=grid.querySelectorAll('td.cell');
    cells.forEach(function(c){
      c.addEventListener('mouseenter',function(){
        var r=c.getAttribute('data-from'),t=c.getAttribute('data-to');
        grid.querySelectorAll('th').forEach(function(h){
          var n=h.getAttribute('data-ep');
          if(n===r||n===t){h.classList.add('hl');}
        });
        c.classList.add('hl');
      });
      c.addEventListener('mouseleave',function(){
        grid.querySelectorAll('.hl').forEach(function(h){h.classList.remove('hl');});
      });
    });
    grid.setAttribute('data-cells',String(cells.length));
    grid.setAttribute('data-rendered','1');
  }
})();
";

/// The whole page.
pub fn report_html(p: &Page<'_>) -> String {
    let mut out = String::with_capacity(64 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    if let Some(s) = p.refresh_s {
        let _ = writeln!(out, "<meta http-equiv=\"refresh\" content=\"{s}\">");
    }
    let _ = writeln!(out, "<title>{}</title>", markup(p.title));
    let _ = writeln!(out, "<style>{CSS}</style>\n</head>\n<body>");
    let _ = writeln!(out, "<h1>{}</h1>", markup(p.title));
    let _ = writeln!(out, "<p class=\"sub\">{}</p>", markup(p.subtitle));
    for sec in p.lead {
        section(&mut out, sec);
    }
    summary(&mut out, p);
    out.push_str("<h2>Map</h2>\n");
    map_svg(&mut out, p);
    out.push_str("<h2>One-way delay per pair (ms)</h2>\n");
    out.push_str("<p class=\"legend\"><span class=\"v-ok\">within budget</span><span class=\"v-violation\">over budget</span><span class=\"v-uncertain\">uncertain</span><span class=\"v-no-data\">no data</span><span class=\"v-none\">no budget</span> rows: from, columns: to</p>\n");
    grid(&mut out, p);
    violations(&mut out, p);
    for sec in p.sections {
        section(&mut out, sec);
    }
    detours(&mut out, p);
    suggestions(&mut out, p);
    let _ = writeln!(out, "<script>{SCRIPT}</script>\n</body>\n</html>");
    out
}

fn summary(out: &mut String, p: &Page<'_>) {
    let count = |v: Verdict| {
        p.routes
            .iter()
            .filter(|r| r.budget_ms.is_some() && r.verdict == v)
            .count()
    };
    let _ = writeln!(
        out,
        "<p class=\"summary\"><span>{} routes</span><span class=\"v-ok\">{} ok</span><span class=\"v-violation\">{} violations</span><span class=\"v-uncertain\">{} uncertain</span><span class=\"v-no-data\">{} no data</span><span>{} detours</span><span>{} suggestions</span></p>",
        p.routes.len(),
        count(Verdict::Ok),
        count(Verdict::Violation),
        count(Verdict::Uncertain),
        count(Verdict::NoData),
        p.detours.len(),
        p.suggestions.len()
    );
}

fn map_svg(out: &mut String, p: &Page<'_>) {
    let topo = p.topology;
    const W: f64 = 900.0;
    const H: f64 = 560.0;
    const PAD: f64 = 40.0;
    let (mut lo_lon, mut hi_lon, mut lo_lat, mut hi_lat) = (180.0f64, -180.0f64, 90.0f64, -90.0f64);
    for s in &topo.sites {
        lo_lon = lo_lon.min(s.location.lon);
        hi_lon = hi_lon.max(s.location.lon);
        lo_lat = lo_lat.min(s.location.lat);
        hi_lat = hi_lat.max(s.location.lat);
    }
    if topo.sites.is_empty() {
        (lo_lon, hi_lon, lo_lat, hi_lat) = (0.0, 1.0, 0.0, 1.0);
    }
    // Equirectangular, longitude shrunk by the cosine of the middle latitude.
    let k = ((lo_lat + hi_lat) / 2.0).to_radians().cos().max(0.1);
    let span_x = ((hi_lon - lo_lon) * k).max(1e-3);
    let span_y = (hi_lat - lo_lat).max(1e-3);
    let scale = ((W - 2.0 * PAD) / span_x).min((H - 2.0 * PAD) / span_y);
    let xy = |i: usize| {
        let l = topo.sites[i].location;
        (
            PAD + (l.lon - lo_lon) * k * scale,
            H - PAD - (l.lat - lo_lat) * scale,
        )
    };
    // Worst verdict of the covered routes whose path uses each site pair.
    let mut worst: HashMap<(&str, &str), Verdict> = HashMap::new();
    for r in p
        .routes
        .iter()
        .filter(|r| r.budget_ms.is_some() && r.verdict != Verdict::NoData)
    {
        for w in r.path.windows(2) {
            let (a, b) = (site_of(&w[0]), site_of(&w[1]));
            if a == b {
                continue;
            }
            let key = if a < b { (a, b) } else { (b, a) };
            let e = worst.entry(key).or_insert(r.verdict);
            if rank(r.verdict) > rank(*e) {
                *e = r.verdict;
            }
        }
    }
    let _ = writeln!(
        out,
        "<svg id=\"map\" class=\"map\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\" aria-label=\"map of sites and links\">"
    );
    out.push_str("<g class=\"links\">\n");
    for l in &topo.links {
        let (a, b) = (&topo.sites[l.a].id, &topo.sites[l.b].id);
        let key = if a < b {
            (a.as_str(), b.as_str())
        } else {
            (b.as_str(), a.as_str())
        };
        let (colour, what) = match worst.get(&key) {
            Some(&v) => (verdict_colour(v).to_string(), v.as_str().to_string()),
            None => match l.network {
                Some(n) => (
                    PALETTE[n % PALETTE.len()].to_string(),
                    topo.networks[n].id.clone(),
                ),
                None => (PALETTE[0].to_string(), "link".to_string()),
            },
        };
        let ((mut x1, mut y1), (mut x2, mut y2)) = (xy(l.a), xy(l.b));
        // Parallel links of several carriers side by side, 2 px apart.
        if let Some(n) = l.network {
            let shift = (n as f64 - (topo.networks.len() as f64 - 1.0) / 2.0) * 2.0;
            let len = ((x2 - x1).powi(2) + (y2 - y1).powi(2)).sqrt().max(1e-9);
            let (px, py) = (-(y2 - y1) / len * shift, (x2 - x1) / len * shift);
            (x1, y1, x2, y2) = (x1 + px, y1 + py, x2 + px, y2 + py);
        }
        let _ = writeln!(
            out,
            "<line class=\"link\" data-a=\"{}\" data-b=\"{}\" x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"{colour}\"><title>{} - {}: {:.2}/{:.2} ms ({})</title></line>",
            markup(a),
            markup(b),
            markup(a),
            markup(b),
            l.forward_ms,
            l.reverse_ms,
            markup(&what)
        );
    }
    out.push_str("</g>\n<g class=\"violations\">\n");
    // Routes over budget, one arc per site pair.
    let mut drawn: BTreeMap<(usize, usize), Vec<String>> = BTreeMap::new();
    for r in p
        .routes
        .iter()
        .filter(|r| r.budget_ms.is_some() && r.verdict == Verdict::Violation)
    {
        let (Some(a), Some(b)) = (
            topo.site_index(site_of(&r.from)),
            topo.site_index(site_of(&r.to)),
        ) else {
            continue;
        };
        if a == b {
            continue;
        }
        drawn.entry((a.min(b), a.max(b))).or_default().push(format!(
            "{} -> {}: {} ms",
            r.from,
            r.to,
            ms(r.one_way_ms)
        ));
    }
    for ((a, b), what) in &drawn {
        let ((x1, y1), (x2, y2)) = (xy(*a), xy(*b));
        // A quadratic arc bulging to one side, so it does not hide the link.
        let (mx, my) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
        let (dx, dy) = (x2 - x1, y2 - y1);
        let (cx, cy) = (mx - dy * 0.15, my + dx * 0.15);
        let _ = writeln!(
            out,
            "<path class=\"viol\" d=\"M{x1:.1},{y1:.1} Q{cx:.1},{cy:.1} {x2:.1},{y2:.1}\"><title>over budget: {}</title></path>",
            markup(&what.join("; "))
        );
    }
    out.push_str("</g>\n<g class=\"traced\">\n");
    // Measured paths: a polyline through the sites each crossed.
    for (label, sites) in p.paths {
        let pts: Vec<String> = sites
            .iter()
            .filter_map(|s| topo.site_index(s))
            .map(|i| {
                let (x, y) = xy(i);
                format!("{x:.1},{y:.1}")
            })
            .collect();
        if pts.len() < 2 {
            continue;
        }
        let _ = writeln!(
            out,
            "<polyline class=\"trace\" points=\"{}\"><title>measured path {}: {}</title></polyline>",
            pts.join(" "),
            markup(label),
            markup(&sites.join(" > "))
        );
    }
    out.push_str("</g>\n<g class=\"sites\">\n");
    for (i, s) in topo.sites.iter().enumerate() {
        let (x, y) = xy(i);
        let fill = match s.kind {
            SiteKind::Cluster => "#ffd54f",
            SiteKind::City => "#ffffff",
            SiteKind::Edge => "#aed581",
            SiteKind::Router => "#bdbdbd",
        };
        let r = if s.kind == SiteKind::Cluster { 6 } else { 4 };
        let label = match &s.name {
            Some(n) => format!("{} ({n})", s.id),
            None => s.id.clone(),
        };
        let _ = writeln!(
            out,
            "<circle class=\"site\" data-site=\"{id}\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{r}\" fill=\"{fill}\"><title>{} [{}] {:.2}, {:.2}</title></circle><text x=\"{:.1}\" y=\"{:.1}\">{id}</text>",
            markup(&label),
            s.kind.as_str(),
            s.location.lat,
            s.location.lon,
            x + 7.0,
            y + 3.0,
            id = markup(&s.id),
        );
    }
    out.push_str("</g>\n</svg>\n");
    out.push_str("<p class=\"legend\">");
    for (i, n) in topo.networks.iter().enumerate() {
        let _ = write!(
            out,
            "<span style=\"color:{}\">&#9473; {}</span>",
            PALETTE[i % PALETTE.len()],
            markup(&n.id)
        );
    }
    out.push_str("links on measured or modelled routes (worst verdict): <span style=\"color:#2e9e44\">&#9473; ok</span><span style=\"color:#f0a30a\">&#9473; uncertain</span><span style=\"color:#d62728\">&#9473; violation</span> <span style=\"color:#d62728\">&#8943; route over budget</span>");
    if !p.paths.is_empty() {
        out.push_str(" <span style=\"color:#6a1b9a\">&#9473; measured path (traceroute) of a detour or a route over budget</span>");
    }
    out.push_str("</p>\n");
}

fn grid(out: &mut String, p: &Page<'_>) {
    // Endpoints in first-seen order of the routes.
    let mut eps: Vec<&str> = Vec::new();
    let mut seen: HashMap<&str, ()> = HashMap::new();
    let mut by_pair: HashMap<(&str, &str), &RouteReport> = HashMap::new();
    for r in p.routes {
        for e in [r.from.as_str(), r.to.as_str()] {
            if seen.insert(e, ()).is_none() {
                eps.push(e);
            }
        }
        by_pair.insert((r.from.as_str(), r.to.as_str()), r);
    }
    out.push_str("<div class=\"gridwrap\"><table id=\"grid\" class=\"grid\">\n<tr><th class=\"row\">from \\ to</th>");
    for e in &eps {
        let _ = write!(out, "<th data-ep=\"{0}\">{0}</th>", markup(e));
    }
    out.push_str("</tr>\n");
    for from in &eps {
        let _ = write!(
            out,
            "<tr><th class=\"row\" data-ep=\"{0}\">{0}</th>",
            markup(from)
        );
        for to in &eps {
            if from == to {
                out.push_str("<td class=\"v-self\"></td>");
                continue;
            }
            match by_pair.get(&(*from, *to)) {
                Some(r) => {
                    let mut title = format!(
                        "{} -> {}: {} ms",
                        r.from,
                        r.to,
                        match (r.one_way_ms, r.error_ms) {
                            (Some(v), Some(e)) => format!("{v:.2} ± {e:.2}"),
                            (v, _) => ms(v),
                        }
                    );
                    if let Some(b) = r.basis {
                        let _ = write!(title, " ({})", basis_str(b));
                    }
                    if let Some(b) = r.budget_ms {
                        let _ = write!(
                            title,
                            ", budget {b:.2} ms at p{} ({}): {}",
                            r.percentile.unwrap_or(50.0),
                            r.rule.as_deref().unwrap_or("-"),
                            r.verdict.as_str()
                        );
                    }
                    if let Some(n) = p.notes.get(&(r.from.clone(), r.to.clone())) {
                        let _ = write!(title, "; {n}");
                    }
                    let text = r.one_way_ms.map_or_else(String::new, |v| {
                        if v >= 100.0 {
                            format!("{v:.0}")
                        } else {
                            format!("{v:.1}")
                        }
                    });
                    let _ = write!(
                        out,
                        "<td class=\"cell {}\" data-from=\"{}\" data-to=\"{}\" title=\"{}\">{}</td>",
                        verdict_class(r),
                        markup(from),
                        markup(to),
                        markup(&title),
                        text
                    );
                }
                None => out.push_str("<td class=\"cell v-no-data\"></td>"),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table></div>\n");
}

fn basis_str(b: topology::analysis::Basis) -> &'static str {
    match b {
        topology::analysis::Basis::Model => "model",
        topology::analysis::Basis::OneWay => "one-way",
        topology::analysis::Basis::RttHalf => "rtt-half",
    }
}

fn violations(out: &mut String, p: &Page<'_>) {
    let mut v: Vec<&RouteReport> = p
        .routes
        .iter()
        .filter(|r| {
            r.budget_ms.is_some() && matches!(r.verdict, Verdict::Violation | Verdict::Uncertain)
        })
        .collect();
    v.sort_by(|a, b| {
        let over = |r: &RouteReport| r.one_way_ms.unwrap_or(0.0) - r.budget_ms.unwrap_or(0.0);
        rank(b.verdict)
            .cmp(&rank(a.verdict))
            .then(over(b).total_cmp(&over(a)))
    });
    let _ = writeln!(out, "<h2>Violations ({})</h2>", v.len());
    if v.is_empty() {
        out.push_str("<p id=\"violations\">No covered route is over its budget.</p>\n");
        return;
    }
    out.push_str("<table id=\"violations\" class=\"list\"><tr><th>from</th><th>to</th><th>one-way ms</th><th>basis</th><th>budget ms</th><th>rule</th><th>verdict</th><th>measured</th></tr>\n");
    for r in v {
        let one_way = match (r.one_way_ms, r.error_ms) {
            (Some(x), Some(e)) => format!("{x:.2} ± {e:.2}"),
            (x, _) => ms(x),
        };
        let _ = writeln!(
            out,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            verdict_class(r),
            markup(&r.from),
            markup(&r.to),
            markup(&one_way),
            r.basis.map_or("-", basis_str),
            ms(r.budget_ms),
            markup(r.rule.as_deref().unwrap_or("-")),
            r.verdict.as_str(),
            markup(
                p.notes
                    .get(&(r.from.clone(), r.to.clone()))
                    .map_or("", String::as_str)
            )
        );
    }
    out.push_str("</table>\n");
}

fn section(out: &mut String, s: &Section) {
    let _ = writeln!(out, "<h2>{} ({})</h2>", markup(&s.title), s.rows.len());
    if s.rows.is_empty() {
        let _ = writeln!(out, "<p id=\"{}\">{}</p>", markup(&s.id), markup(&s.empty));
        return;
    }
    let _ = write!(out, "<table id=\"{}\" class=\"list\"><tr>", markup(&s.id));
    for h in &s.headers {
        let _ = write!(out, "<th>{}</th>", markup(h));
    }
    out.push_str("</tr>\n");
    for row in &s.rows {
        out.push_str("<tr>");
        for c in row {
            let _ = write!(out, "<td>{}</td>", markup(c));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

fn detours(out: &mut String, p: &Page<'_>) {
    let _ = writeln!(out, "<h2>Detours ({})</h2>", p.detours.len());
    if p.detours.is_empty() {
        out.push_str("<p id=\"detours\">No route detours.</p>\n");
        return;
    }
    out.push_str("<table id=\"detours\" class=\"list\"><tr><th>from</th><th>to</th><th>one-way ms</th><th>distance km</th><th>stretch</th><th>faster relay</th><th>relay ms</th><th>saved ms</th></tr>\n");
    for r in p.detours {
        let (via, relay_ms, saved) = match &r.relay {
            Some(x) => (
                x.via.join(" ~ "),
                format!("{:.2}", x.one_way_ms),
                format!("{:.2}", x.saved_ms),
            ),
            None => ("-".to_string(), "-".to_string(), "-".to_string()),
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            markup(&r.from),
            markup(&r.to),
            ms(r.one_way_ms),
            r.distance_km,
            r.stretch.map_or_else(|| "-".to_string(), |s| format!("{s:.2}")),
            markup(&via),
            relay_ms,
            saved
        );
    }
    out.push_str("</table>\n");
}

fn suggestions(out: &mut String, p: &Page<'_>) {
    let _ = writeln!(out, "<h2>Suggestions ({})</h2>", p.suggestions.len());
    if p.suggestions.is_empty() {
        out.push_str("<p id=\"suggestions\">No suggestion saves enough.</p>\n");
        return;
    }
    out.push_str("<table id=\"suggestions\" class=\"list\"><tr><th>#</th><th>kind</th><th>sites</th><th>networks</th><th>distance km</th><th>one-way ms</th><th>routes fixed</th><th>saved ms</th><th>why</th></tr>\n");
    for (i, s) in p.suggestions.iter().enumerate() {
        let fixes: Vec<String> = s
            .fixes
            .iter()
            .map(|f| {
                format!(
                    "{} -> {}: {} -> {:.2} ms",
                    f.from,
                    f.to,
                    ms(f.before_ms),
                    f.after_ms
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{:.1}</td><td class=\"n\">{:.2}</td><td class=\"n\" title=\"{}\">{}</td><td class=\"n\">{:.2}</td><td>{}</td></tr>",
            i + 1,
            s.kind.as_str(),
            markup(&s.sites.join(" - ")),
            markup(&s.networks.join(", ")),
            s.distance_km,
            s.one_way_ms,
            markup(&fixes.join("; ")),
            s.fixes.len(),
            s.saved_ms_total,
            markup(&s.why)
        );
    }
    out.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use topology::analysis::{self, Options};
    use topology::routing::Routes;

    #[test]
    fn national_page_is_self_contained_and_escaped() {
        let topo = topology::national::resolve("national").expect("national");
        let routes = Routes::compute(&topo);
        let table = analysis::analyse(&topo, &topo.budgets, &routes, &Options::default());
        let detours: Vec<RouteReport> = table
            .routes
            .iter()
            .filter(|r| r.relay.is_some())
            .cloned()
            .collect();
        let mut notes = HashMap::new();
        notes.insert(
            (table.routes[0].from.clone(), table.routes[0].to.clone()),
            "<script>alert(1)</script>".to_string(),
        );
        let html = report_html(&Page {
            title: "t <&> \"q\"",
            subtitle: "s",
            topology: &topo,
            routes: &table.routes,
            detours: &detours,
            suggestions: &[],
            notes: &notes,
            refresh_s: Some(30),
            lead: &[],
            sections: &[
                Section {
                    id: "x".into(),
                    title: "Extra <b>".into(),
                    headers: vec!["a".into(), "b".into()],
                    rows: vec![vec!["1".into(), "<i>".into()]],
                    empty: String::new(),
                },
                Section {
                    id: "y".into(),
                    title: "Empty".into(),
                    empty: "nothing here".into(),
                    ..Section::default()
                },
            ],
            paths: &[(
                "beijing -> shanghai".to_string(),
                vec![
                    "beijing".into(),
                    "nowhere".into(),
                    "wuhan".into(),
                    "shanghai".into(),
                ],
            )],
        });
        assert_eq!(html.matches("<polyline class=\"trace\"").count(), 1);
        assert!(html.contains(
            "measured path beijing -&gt; shanghai: beijing &gt; nowhere &gt; wuhan &gt; shanghai"
        ));
        assert!(html.contains("<h2>Extra &lt;b&gt; (1)</h2>"));
        assert!(html.contains("<table id=\"x\" class=\"list\"><tr><th>a</th><th>b</th></tr>\n<tr><td>1</td><td>&lt;i&gt;</td></tr>"));
        assert!(html.contains("<p id=\"y\">nothing here</p>"));
        assert!(html.contains("t &lt;&amp;&gt; &quot;q&quot;"));
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;script&gt;alert(1)"));
        // The only URL is the SVG namespace, which is not fetched.
        let stripped = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assert!(!stripped.contains("http://") && !stripped.contains("https://"));
        assert_eq!(
            html.matches("<circle class=\"site\"").count(),
            topo.sites.len()
        );
        assert!(html.contains("<meta http-equiv=\"refresh\" content=\"30\">"));
        assert!(html.contains("class=\"cell v-"));
    }
}
