// The map: China's outline and provinces, the topology's links, each site at
// its coordinates, and the routes between sites coloured by verdict (the
// worst of the routes between two sites). Labels are placed greedily so they
// do not pile up; hidden ones show on hover and as the map is zoomed in
// (wheel or the +/- buttons; drag to pan). Clicking a route opens it.
import { geoConicEqualArea, geoPath } from "d3-geo";
import { china } from "./geography.js";
import { placeLabels } from "./labels.js";
import { h, s, put } from "./dom.js";
import { routeName } from "./format.js";

const W = 900;
const H = 680;
const DRAW_ORDER = { "no-data": 0, none: 1, ok: 2, uncertain: 3, violation: 4 };
const RADIUS = { cluster: 5, city: 3.5, edge: 2.5, router: 2 };
const LABEL_PRIORITY = { cluster: 1, city: 2, edge: 3, router: 4 };

export class MapView {
  constructor(container, { onRoute }) {
    this.container = container;
    this.onRoute = onRoute;
    this.zoom = { k: 1, x: 0, y: 0 };
    this.model = null;
    this.trace = null;
    this.projection = geoConicEqualArea().parallels([25, 47]).rotate([-105, 0]);
    this.geo = china();
    this.projection.fitExtent([[10, 10], [W - 10, H - 10]], {
      type: "FeatureCollection",
      features: this.geo.provinces.filter((f) => f.part === "chn"),
    });
    this.build();
  }

  build() {
    const path = geoPath(this.projection);
    this.gZoom = s("g", { class: "zoom" },
      s("g", { class: "provinces" },
        this.geo.provinces.map((f) => s("path", { class: `province ${f.part}`, d: path(f) },
          s("title", {}, f.properties.name)))),
      s("path", { class: "borders", d: path(this.geo.borders) }),
      this.geo.outline.map((o) => s("path", { class: "outline", d: path(o) })),
    );
    this.gLinks = s("g", { class: "links" });
    this.gRoutes = s("g", { class: "routes" });
    this.gTrace = s("g", { class: "traces" });
    this.gZoom.append(this.gLinks, this.gRoutes, this.gTrace);
    this.gRings = s("g", { class: "rings" });
    this.gSites = s("g", { class: "sites" });
    this.gLabels = s("g", { class: "labels" });
    this.hover = s("text", { class: "hover-label", visibility: "hidden" });
    this.svg = s("svg", {
      id: "map-svg", viewBox: `0 0 ${W} ${H}`, role: "img",
      "aria-label": "map of the sites and routes",
    }, s("rect", { class: "sea", width: W, height: H }), this.gZoom, this.gRings, this.gSites, this.gLabels, this.hover);
    const zoomBy = (f) => this.zoomAt(f, W / 2, H / 2);
    put(this.container,
      this.svg,
      h("div", { class: "map-tools" },
        h("button", { type: "button", title: "zoom in", onclick: () => zoomBy(1.6) }, "+"),
        h("button", { type: "button", title: "zoom out", onclick: () => zoomBy(1 / 1.6) }, "−"),
        h("button", { type: "button", title: "whole map", onclick: () => this.setZoom({ k: 1, x: 0, y: 0 }) }, "⤢")),
      h("div", { class: "legend" },
        ["ok", "violation", "uncertain", "no-data", "none"].map((v) =>
          h("span", { class: `key v-${v}` }, { ok: "within budget", violation: "over budget", uncertain: "uncertain", "no-data": "no data", none: "no budget" }[v]))),
    );
    this.svg.addEventListener("wheel", (e) => {
      e.preventDefault();
      const p = this.svgPoint(e);
      this.zoomAt(e.deltaY < 0 ? 1.25 : 0.8, p.x, p.y);
    }, { passive: false });
    let drag = null;
    this.svg.addEventListener("pointerdown", (e) => {
      if (e.target.closest(".route, .site")) return;
      drag = { p: this.svgPoint(e), z: { ...this.zoom } };
    });
    window.addEventListener("pointermove", (e) => {
      if (!drag) return;
      const p = this.svgPoint(e);
      this.setZoom({ k: drag.z.k, x: drag.z.x + p.x - drag.p.x, y: drag.z.y + p.y - drag.p.y });
    });
    window.addEventListener("pointerup", () => { drag = null; });
  }

  svgPoint(e) {
    const r = this.svg.getBoundingClientRect();
    return { x: ((e.clientX - r.left) / r.width) * W, y: ((e.clientY - r.top) / r.height) * H };
  }

  zoomAt(f, cx, cy) {
    const k = Math.min(12, Math.max(1, this.zoom.k * f));
    const g = k / this.zoom.k;
    this.setZoom({ k, x: cx - (cx - this.zoom.x) * g, y: cy - (cy - this.zoom.y) * g });
  }

  setZoom(z) {
    this.zoom = z.k === 1 ? { k: 1, x: 0, y: 0 } : z;
    this.gZoom.setAttribute("transform", `translate(${this.zoom.x},${this.zoom.y}) scale(${this.zoom.k})`);
    if (!this.pending) {
      this.pending = requestAnimationFrame(() => {
        this.pending = null;
        this.drawSites();
      });
    }
  }

  /** Projected position of a site, before zoom. */
  at(site) {
    const p = this.projection([site.lon, site.lat]);
    return p ? { x: p[0], y: p[1] } : null;
  }

  screen(p) {
    return { x: p.x * this.zoom.k + this.zoom.x, y: p.y * this.zoom.k + this.zoom.y };
  }

  render(model) {
    const first = this.model === null || this.model.topology !== model.topology;
    this.model = model;
    if (first) this.drawLinks();
    this.drawRoutes();
    this.drawSites();
  }

  drawLinks() {
    const { sites, topology } = this.model;
    const seen = new Set();
    const lines = [];
    for (const l of topology.links) {
      const key = l.a < l.b ? `${l.a}|${l.b}` : `${l.b}|${l.a}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const a = sites.get(l.a), b = sites.get(l.b);
      const pa = a && this.at(a), pb = b && this.at(b);
      if (!pa || !pb) continue;
      lines.push(`M${pa.x.toFixed(1)},${pa.y.toFixed(1)}L${pb.x.toFixed(1)},${pb.y.toFixed(1)}`);
    }
    put(this.gLinks, s("path", { class: "link", d: lines.join("") }, s("title", {}, "links of the topology")));
  }

  arc(pa, pb) {
    // A slight bow, so routes over the same line of sight stay apart.
    const mx = (pa.x + pb.x) / 2, my = (pa.y + pb.y) / 2;
    const dx = pb.x - pa.x, dy = pb.y - pa.y;
    const bow = 0.12;
    return `M${pa.x.toFixed(1)},${pa.y.toFixed(1)}Q${(mx - dy * bow).toFixed(1)},${(my + dx * bow).toFixed(1)} ${pb.x.toFixed(1)},${pb.y.toFixed(1)}`;
  }

  drawRoutes() {
    const { sites, pairs } = this.model;
    const sorted = [...pairs].sort((p, q) => DRAW_ORDER[p.verdict] - DRAW_ORDER[q.verdict]);
    const els = [];
    const rings = [];
    for (const p of sorted) {
      const pa = this.at(sites.get(p.a)), pb = this.at(sites.get(p.b));
      if (!pa || !pb) continue;
      const r = p.route;
      // Sites at one place (an edge data centre and its city) get a ring
      // around them instead of an arc of no length (see drawSites): pairs
      // at one place, drawn with the sites so they keep their size.
      if (Math.hypot(pb.x - pa.x, pb.y - pa.y) < 4) {
        rings.push(p);
        continue;
      }
      els.push(s("path", {
        class: `route v-${p.verdict}`, d: this.arc(pa, pb),
        dataset: { from: r.from, to: r.to, verdict: p.verdict },
        onclick: () => this.onRoute(r.from, r.to),
      }, s("title", {}, `${routeName(r.from, r.to)}: ${p.verdict}`)));
    }
    put(this.gRoutes, els);
    this.rings = rings;
    this.container.dataset.routes = String(els.length + rings.length);
    this.highlight(this.selected);
  }

  drawSites() {
    if (!this.model) return;
    const { topology, trouble } = this.model;
    const dots = [];
    const items = [];
    for (const site of topology.sites) {
      const p0 = this.at(site);
      if (!p0) continue;
      const p = this.screen(p0);
      if (p.x < -10 || p.y < -10 || p.x > W + 10 || p.y > H + 10) continue;
      const r = RADIUS[site.kind] ?? 3;
      // Ids, as the lists and the API spell them (names may need fonts the
      // viewer lacks); the name is in the tooltip.
      const label = site.id;
      const t = trouble.get(site.id);
      dots.push(s("circle", {
        class: `site ${site.kind}${t ? ` trouble-${t}` : ""}`, cx: p.x.toFixed(1), cy: p.y.toFixed(1), r,
        dataset: { site: site.id },
        onmouseenter: () => this.showHover(site.id, label, p, r),
        onmouseleave: () => this.hover.setAttribute("visibility", "hidden"),
      }, s("title", {}, `${site.name && site.name !== site.id ? `${site.id} ${site.name}` : site.id} (${site.kind}${site.hub ? `, hub ${site.hub}` : ""}${site.networks.length ? `; ${site.networks.join(", ")}` : ""})`)));
      items.push({ id: site.id, x: p.x, y: p.y, r, text: label, priority: t ? 0 : LABEL_PRIORITY[site.kind] ?? 5 });
    }
    const placed = placeLabels(items, { w: W, h: H });
    this.placed = placed;
    const labels = [];
    for (const it of items) {
      const b = placed.get(it.id);
      if (!b) continue;
      const x = b.anchor === "start" ? b.x : b.anchor === "end" ? b.x + b.w : b.x + b.w / 2;
      labels.push(s("text", { class: "label", x: x.toFixed(1), y: (b.y + b.h - 2).toFixed(1), "text-anchor": b.anchor, dataset: { site: it.id } }, it.text));
    }
    const rings = (this.rings ?? []).map((p) => {
      const c = this.screen(this.at(this.model.sites.get(p.a)));
      const r = p.route;
      return s("circle", {
        class: `route ring v-${p.verdict}`, cx: c.x.toFixed(1), cy: c.y.toFixed(1), r: 7,
        dataset: { from: r.from, to: r.to, verdict: p.verdict },
        onclick: () => this.onRoute(r.from, r.to),
      }, s("title", {}, `${routeName(r.from, r.to)}: ${p.verdict}`));
    });
    put(this.gRings, rings);
    put(this.gSites, dots);
    put(this.gLabels, labels);
    this.highlight(this.selected);
    this.container.dataset.sites = String(dots.length);
    this.container.dataset.labels = String(labels.length);
  }

  showHover(id, label, p, r) {
    if (this.placed?.has(id)) return;
    this.hover.textContent = label;
    this.hover.setAttribute("x", (p.x + r + 4).toFixed(1));
    this.hover.setAttribute("y", (p.y + 4).toFixed(1));
    this.hover.setAttribute("visibility", "visible");
  }

  /** Marks the open route, and draws its traced path by site (or nothing). */
  highlight(selected, traceSites) {
    this.selected = selected;
    const all = [...this.gRoutes.children, ...this.gRings.children];
    for (const el of all) el.classList.remove("selected");
    if (selected) {
      for (const el of all) {
        const { from, to } = el.dataset;
        if ((from === selected.from && to === selected.to) || (from === selected.to && to === selected.from)) {
          el.classList.add("selected");
        }
      }
    }
    if (traceSites === undefined) return;
    const pts = (traceSites ?? [])
      .map((id) => this.model.sites.get(id))
      .filter(Boolean)
      .map((site) => this.at(site))
      .filter(Boolean);
    put(this.gTrace, pts.length > 1
      ? s("polyline", { class: "trace", points: pts.map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ") },
        s("title", {}, `traced path: ${traceSites.join(" > ")}`))
      : []);
  }
}
