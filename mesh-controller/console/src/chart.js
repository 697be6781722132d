// A route's history chart (uPlot): forward and reverse one-way p50 with the
// p50..p99 band above each, the budget as a horizontal line, loss per
// direction on its own axis, and alerts (fired, resolved) and events (level
// shifts, path changes) as vertical markers with tooltips. The container
// says how many points it drew (`data-points`), and each marker is an element
// with `data-marker="alert"` or `data-marker="event"`.
import uPlot from "uplot";
import { h } from "./dom.js";
import { dateTime } from "./format.js";

const COLORS = { fwd: "#1565c0", rev: "#6a1b9a", budget: "#c62828", lossFwd: "#ef6c00", lossRev: "#8d6e63" };

/** The chart's columns from a `/v1/series` answer (x in seconds). */
export function columns(series) {
  const pts = series.points;
  const col = (f) => pts.map((p) => f(p) ?? null);
  return [
    col((p) => p.t / 1000),
    col((p) => p.forward.p50),
    col((p) => p.forward.p99),
    col((p) => p.reverse.p50),
    col((p) => p.reverse.p99),
    col((p) => p.loss_forward_pct),
    col((p) => p.loss_reverse_pct),
  ];
}

/** Markers of a route: alerts fired and resolved, events. */
export function markers(alerts, events) {
  const out = [];
  for (const a of alerts) {
    const what = `${a.alertname} ${a.direction} (${a.rule})`;
    if (a.fired_at) out.push({ t: a.fired_at, kind: "alert", phase: "fired", text: `${what} fired ${dateTime(a.fired_at)}${a.value != null ? `: ${a.value} against ${a.threshold}` : ""}` });
    if (a.resolved_at) out.push({ t: a.resolved_at, kind: "alert", phase: "resolved", text: `${what} resolved ${dateTime(a.resolved_at)}` });
  }
  for (const e of events) out.push({ t: e.at, kind: "event", phase: e.kind, text: e.summary || `${e.kind} ${e.direction}` });
  return out.sort((a, b) => a.t - b.t);
}

/** The budget as a horizontal line across the whole plot. */
function budgetPlugin(budget) {
  const line = (u) => {
    if (budget == null) return;
    const y = u.valToPos(budget, "ms", true);
    const { left, width } = u.bbox;
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = COLORS.budget;
    ctx.lineWidth = 1.5 * devicePixelRatio;
    ctx.setLineDash([8 * devicePixelRatio, 4 * devicePixelRatio]);
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(left + width, y);
    ctx.stroke();
    ctx.restore();
  };
  return { hooks: { draw: [line] } };
}

function markerPlugin(list) {
  const place = (u) => {
    for (const el of u.over.querySelectorAll(".marker")) el.remove();
    for (const m of list) {
      const x = u.valToPos(m.t / 1000, "x");
      if (!(x >= 0 && x <= u.over.clientWidth)) continue;
      u.over.append(h("div", {
        class: `marker ${m.kind} ${m.phase}`, style: `left:${x.toFixed(1)}px`, title: m.text,
        dataset: { marker: m.kind, phase: m.phase, t: String(m.t) },
      }, h("span", { class: "marker-flag" }, m.kind === "alert" ? (m.phase === "fired" ? "▲" : "▽") : "◆")));
    }
  };
  return { hooks: { draw: [place] } };
}

/**
 * Draws the chart into `el` (replacing what was there): `series` from
 * `/v1/series`, `marks` from markers(). Returns the uPlot instance.
 */
export function drawChart(el, series, marks, width) {
  el.replaceChildren();
  const data = columns(series);
  const name = (d) => (d === "fwd" ? `${series.from} → ${series.to}` : `${series.to} → ${series.from}`);
  const opts = {
    width: Math.max(320, width),
    height: 260,
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
    scales: {
      x: { time: true, range: () => [series.since / 1000, series.until / 1000] },
      ms: { auto: true, range: (u, min, max) => [0, Math.max(max ?? 1, (series.budget_ms ?? 0) * 1.1, 1)] },
      loss: { auto: true, range: (u, min, max) => [0, Math.max(max ?? 0, 1)] },
    },
    axes: [
      {},
      { scale: "ms", label: "one-way ms", size: 56 },
      { scale: "loss", side: 1, label: "loss %", grid: { show: false }, size: 48 },
    ],
    series: [
      { label: "time", value: (u, v) => (v == null ? "–" : dateTime(v * 1000)) },
      { label: `p50 ${name("fwd")}`, scale: "ms", stroke: COLORS.fwd, width: 2, spanGaps: false },
      { label: "p99", scale: "ms", stroke: COLORS.fwd + "66", width: 1, dash: [4, 3] },
      { label: `p50 ${name("rev")}`, scale: "ms", stroke: COLORS.rev, width: 2 },
      { label: "p99", scale: "ms", stroke: COLORS.rev + "66", width: 1, dash: [4, 3] },
      { label: "loss fwd %", scale: "loss", stroke: COLORS.lossFwd, width: 1, paths: uPlot.paths.stepped({ align: 1 }) },
      { label: "loss rev %", scale: "loss", stroke: COLORS.lossRev, width: 1, paths: uPlot.paths.stepped({ align: 1 }) },
    ],
    bands: [
      { series: [2, 1], fill: COLORS.fwd + "22" },
      { series: [4, 3], fill: COLORS.rev + "22" },
    ],
    plugins: [budgetPlugin(series.budget_ms), markerPlugin(marks)],
  };
  const u = new uPlot(opts, data, el);
  // Each point's figures are midpoints of honest bands (clock offset, or
  // [L, rtt - L] for half the round trip): say how wide, and on what basis.
  const errors = series.points.map((p) => p.error_ms).filter((e) => e != null);
  const bases = [...new Set(series.points.map((p) => p.basis))].join(" / ");
  const band = errors.length
    ? ` · ${bases}: each figure ± up to ${Math.max(...errors).toFixed(3)} ms (clocks and resolution)`
    : "";
  el.append(h("p", { class: "chart-note" },
    series.budget_ms == null
      ? "No budget rule covers this route."
      : h("span", { class: "budget-key" }, `budget ${series.budget_ms} ms at p${series.percentile} (${series.rule})`),
    ` · ${series.points.length} points, step ${Math.round(series.step_ms / 1000)} s${band}`,
    marks.length ? " · ▲ alert fired, ▽ resolved, ◆ event (hover for details)" : ""));
  el.dataset.points = String(series.points.length);
  el.dataset.markers = String(marks.length);
  return u;
}
