// The route panel: a route's verdict and figures, its history chart (from
// /v1/series, or the snapshot), its traced path by site (with before and
// after where a path change has them), and the suggestion that fixes it.
import { h, put } from "./dom.js";
import { ms, pct, routeName, dateTime } from "./format.js";
import { drawChart, markers } from "./chart.js";
import { alertsOf, eventsOf, findRoute, pathsOf, suggestionsOf, verdictOf } from "./model.js";

function figures(route) {
  if (!route) return h("p", { class: "empty" }, "No route of the report joins these endpoints.");
  const m = route.measured;
  const v = verdictOf(route);
  return h("dl", { class: "figures" },
    h("dt", {}, "verdict"), h("dd", { class: `v-${v}` }, v),
    h("dt", {}, "one-way"), h("dd", {}, `${ms(route.one_way_ms)}${route.basis ? ` (${route.basis})` : ""}`),
    h("dt", {}, "budget"), h("dd", {}, route.budget_ms == null ? "none" : `${ms(route.budget_ms, 0)} at p${route.percentile} (${route.rule})`),
    m ? [
      h("dt", {}, "forward p50/p99"), h("dd", {}, `${ms(m.forward.p50)} / ${ms(m.forward.p99)}`),
      h("dt", {}, "reverse p50/p99"), h("dd", {}, `${ms(m.reverse.p50)} / ${ms(m.reverse.p99)}`),
      h("dt", {}, "RTT p50/p99"), h("dd", {}, `${ms(m.rtt.p50)} / ${ms(m.rtt.p99)}`),
      h("dt", {}, "loss fwd/rev"), h("dd", {}, `${pct(m.loss_forward_pct)} / ${pct(m.loss_reverse_pct)}`),
      h("dt", {}, "windows"), h("dd", {}, String(m.windows)),
      m.note ? [h("dt", {}, "note"), h("dd", {}, m.note)] : null,
    ] : [h("dt", {}, "measured"), h("dd", {}, "no window in the look-back")],
  );
}

function pathView(model, from, to) {
  const traced = pathsOf(model, from, to);
  const changes = eventsOf(model, from, to).filter((e) => e.kind === "path-change" && e.old_path && e.new_path);
  const items = [];
  for (const p of traced) {
    items.push(h("li", { class: "traced", dataset: { path: p.sites.join(">") } },
      h("span", { class: "label" }, `traced ${routeName(p.from, p.to)} at ${dateTime(p.at_unix_ms)}${p.reached ? "" : " (not reached)"}: `),
      p.sites.join(" › ")));
  }
  for (const e of changes) {
    items.push(h("li", { class: "change" },
      h("span", { class: "label" }, `path change ${e.direction} at ${dateTime(e.at)}: `),
      h("span", { class: "before" }, e.old_path.join(" › ")), " ⟶ ",
      h("span", { class: "after" }, e.new_path.join(" › "))));
  }
  const route = findRoute(model, from, to);
  if (!items.length && route?.path?.length) {
    items.push(h("li", { class: "modelled" }, h("span", { class: "label" }, "modelled: "), route.path.join(" › ")));
  }
  return { el: items.length ? h("ul", { class: "paths" }, items) : h("p", { class: "empty" }, "No traced path."), sites: traced[0]?.sites ?? null };
}

function suggestionView(model, from, to) {
  const list = suggestionsOf(model, from, to);
  if (!list.length) return h("p", { class: "empty" }, "No suggestion applies to this route.");
  return h("ul", { class: "suggestions" }, list.map((sg) => {
    const fix = sg.fixes.find((f) => (f.from === from && f.to === to) || (f.from === to && f.to === from));
    return h("li", {},
      h("b", {}, sg.kind === "direct-link" ? `direct link ${sg.sites.join(" – ")}` : `exchange point at ${sg.sites[0]}`),
      sg.networks?.length ? ` (${sg.networks.join(", ")})` : "",
      `: ${ms(fix.before_ms)} → ${ms(fix.after_ms)} against ${ms(fix.budget_ms, 0)}; `,
      h("span", { class: "why" }, sg.why));
  }));
}

export class RoutePanel {
  constructor(el, { source, onClose, onPath }) {
    this.el = el;
    this.source = source;
    this.onClose = onClose;
    this.onPath = onPath;
    this.route = null;
    this.seq = 0;
  }

  get open() {
    return this.route !== null;
  }

  /** Opens (or refreshes) the panel on from -> to. */
  async show(model, from, to) {
    const seq = ++this.seq;
    const same = this.route && this.route.from === from && this.route.to === to;
    this.route = { from, to };
    const route = findRoute(model, from, to);
    const path = pathView(model, from, to);
    this.onPath(path.sites);
    const chart = same && this.chart ? this.chart : h("div", { id: "route-chart", class: "chart", dataset: { state: "loading" } });
    this.chart = chart;
    chart.dataset.route = `${from}|${to}`;
    this.el.hidden = false;
    this.el.dataset.route = `${from}|${to}`;
    put(this.el,
      h("header", {},
        h("h2", {}, routeName(from, to)),
        h("button", { type: "button", class: "close", title: "close", onclick: () => this.close() }, "×")),
      figures(route),
      h("h3", {}, "History"),
      chart,
      h("h3", {}, "Path"),
      path.el,
      h("h3", {}, "Suggestion"),
      suggestionView(model, from, to),
    );
    try {
      const series = await this.source.series(from, to);
      if (seq !== this.seq) return;
      const marks = markers(alertsOf(model, from, to), eventsOf(model, from, to));
      if (!series.points.length) {
        put(chart, h("p", { class: "empty" }, "No window of this route in the look-back."));
        chart.dataset.points = "0";
        chart.dataset.state = "empty";
        return;
      }
      this.plot?.destroy();
      this.plot = drawChart(chart, series, marks, this.el.clientWidth - 32);
      chart.dataset.state = "ready";
    } catch (e) {
      if (seq !== this.seq) return;
      put(chart, h("p", { class: "error" }, String(e.message ?? e)));
      chart.dataset.points = "0";
      chart.dataset.state = "error";
    }
  }

  close() {
    this.seq++;
    this.plot?.destroy();
    this.plot = null;
    this.route = null;
    this.el.hidden = true;
    delete this.el.dataset.route;
    this.onClose();
  }
}
