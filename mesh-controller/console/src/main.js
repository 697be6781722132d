// The console's entry point: lays out the page, reads the data (the live
// API every POLL_MS, or the snapshot of a report.html), renders the header,
// the lists, the map and the route panel, and keeps the freshness line
// ticking. After the first full render it sets body[data-rendered="1"] and
// the performance mark "hubmesh-first-render" (what tests and the benchmark
// read).
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { embeddedSnapshot, LiveSource, SnapshotSource } from "./api.js";
import { buildModel } from "./model.js";
import { h } from "./dom.js";
import { renderSummary, freshness, renderFreshness } from "./header.js";
import { renderLists } from "./lists.js";
import { renderTables } from "./tables.js";
import { MapView } from "./map.js";
import { RoutePanel } from "./route_panel.js";
import { RouteSearch } from "./search.js";

const POLL_MS = 10_000;

function layout(root, live) {
  const ui = {
    summary: h("div", { id: "summary", class: "summary" }),
    freshness: h("div", { id: "freshness", class: "freshness" }, live ? "loading…" : "snapshot"),
    search: h("div", { id: "search" }),
    lists: h("div", { id: "lists" }),
    map: h("div", { id: "map" }),
    tables: h("div", { id: "tables" }),
    panel: h("aside", { id: "route-panel", hidden: true }),
  };
  root.replaceChildren(
    h("header", { class: "top" },
      h("h1", {}, "hubmesh", h("span", { class: "mode" }, live ? "live" : "report")),
      ui.summary, ui.freshness, ui.search),
    h("main", { class: "body" }, ui.lists, h("div", { class: "center" }, ui.map, ui.tables), ui.panel),
  );
  return ui;
}

function routeFromHash() {
  const m = /^#route=([^|]+)\|(.+)$/.exec(decodeURIComponent(location.hash));
  return m ? { from: m[1], to: m[2] } : null;
}

async function boot() {
  const root = document.getElementById("app") ?? document.body;
  const snapshot = embeddedSnapshot();
  const params = new URLSearchParams(location.search);
  const source = snapshot
    ? new SnapshotSource(snapshot)
    : new LiveSource("", params.get("since") || "1h", params.get("budgets"));
  // Ask for the data first: the map is built while the answers travel.
  let pending = source.poll();
  const ui = layout(root, source.live);
  let model = null;
  let last = null;
  let error = null;

  const panel = new RoutePanel(ui.panel, {
    source,
    onClose: () => {
      root.classList.remove("panel-open");
      map.highlight(null, null);
      history.replaceState(null, "", location.pathname + location.search);
    },
    onPath: (sites) => map.highlight(panel.route, sites),
  });
  const openRoute = (from, to) => {
    if (!model) return;
    root.classList.add("panel-open");
    search.set(from, to);
    history.replaceState(null, "", `${location.pathname}${location.search}#route=${encodeURIComponent(`${from}|${to}`)}`);
    panel.show(model, from, to);
  };
  const map = new MapView(ui.map, { onRoute: openRoute });
  const search = new RouteSearch(ui.search, openRoute);

  const tick = () => {
    if (!last) {
      if (error) renderFreshness(ui.freshness, { level: "error", text: "no data" }, error);
      return;
    }
    renderFreshness(ui.freshness, freshness(source.live, last.polledAt, last.report.newest_window_end_ms, Date.now(), POLL_MS), error);
  };

  const poll = async () => {
    try {
      const d = await (pending ?? source.poll());
      model = buildModel(d.topology, d.report, d.alerts);
      last = d;
      error = null;
      renderSummary(ui.summary, d.report);
      renderLists(ui.lists, model, openRoute);
      renderTables(ui.tables, d.report, openRoute);
      map.render(model);
      search.update(model);
      if (panel.open) panel.show(model, panel.route.from, panel.route.to);
      return true;
    } catch (e) {
      error = String(e.message ?? e);
      document.body.dataset.error = error;
      console.error(e);
      return false;
    } finally {
      pending = null;
      tick();
    }
  };

  const ok = await poll();
  if (ok) {
    document.body.dataset.rendered = "1";
    performance.mark("hubmesh-first-render");
    const wanted = routeFromHash();
    if (wanted) openRoute(wanted.from, wanted.to);
  }
  if (source.live) {
    const again = async () => {
      const fine = await poll();
      if (fine && document.body.dataset.rendered !== "1") {
        document.body.dataset.rendered = "1";
        performance.mark("hubmesh-first-render");
      }
      setTimeout(again, POLL_MS);
    };
    setTimeout(again, POLL_MS);
  }
  setInterval(tick, 1000);
}

// Errors land on the page too, where a test or a screenshot sees them.
window.addEventListener("error", (e) => { document.body.dataset.error = String(e.message); });
window.addEventListener("unhandledrejection", (e) => { document.body.dataset.error = String(e.reason?.message ?? e.reason); });

boot();
