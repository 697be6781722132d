// What needs attention, in order: firing alerts, then routes over budget,
// then events (level shifts, path changes); the endpoints no probe stands on
// are listed apart, as "not instrumented" (never as rows of no data). Every
// route row opens the route panel.
import { h, put } from "./dom.js";
import { ms, pct, routeName, dateTime } from "./format.js";

function section(id, title, count, empty, rows) {
  return h("section", { id, class: "list", dataset: { count: String(count) } },
    h("h2", {}, title, h("span", { class: "count" }, String(count))),
    count ? h("ul", {}, rows) : h("p", { class: "empty" }, empty));
}

function row(cls, from, to, onRoute, ...cells) {
  return h("li", {
    class: `row ${cls}`, tabindex: "0", dataset: { from, to },
    onclick: () => onRoute(from, to),
    onkeydown: (e) => { if (e.key === "Enter") onRoute(from, to); },
  }, cells);
}

export function renderLists(el, model, onRoute) {
  const r = model.report;
  const alerts = r.alerts ?? [];
  const violations = r.violations ?? [];
  const events = r.events ?? [];
  const ni = r.not_instrumented ?? { routes: 0, endpoints: [] };
  put(el,
    section("alerts", "Firing alerts", alerts.length, "No alert is firing.",
      alerts.map((a) => row(`alert sev-${a.severity}`, a.from, a.to, onRoute,
        h("span", { class: "what" }, a.alertname.replace(/^HubmeshRoute/, "")),
        h("span", { class: "route-name" }, routeName(a.from, a.to)),
        h("span", { class: "dir" }, a.direction),
        h("span", { class: "since" }, a.starts_at ? `since ${a.starts_at.slice(11, 19)}Z` : ""),
        h("span", { class: "summary" }, a.annotations?.summary ?? "")))),
    section("violations", "Over budget", violations.length, "No route is over its budget.",
      violations.map((v) => row("violation", v.from, v.to, onRoute,
        h("span", { class: "route-name" }, routeName(v.from, v.to)),
        h("span", { class: "figure" }, `${ms(v.one_way_ms)} / ${ms(v.budget_ms, 0)}`),
        h("span", { class: "rule" }, v.rule ?? ""),
        h("span", { class: "fr" }, v.measured ? `fwd ${ms(v.measured.forward.p50)} rev ${ms(v.measured.reverse.p50)} p50, loss ${pct(v.measured.loss_forward_pct)}/${pct(v.measured.loss_reverse_pct)}` : "")))),
    section("events", "Events", events.length, "No level shift or path change.",
      events.map((e) => row(`event ${e.kind}`, e.from, e.to, onRoute,
        h("span", { class: "what" }, e.kind),
        h("span", { class: "route-name" }, routeName(e.from, e.to)),
        h("span", { class: "since" }, dateTime(e.at)),
        h("span", { class: "summary" }, e.summary)))),
    h("section", { id: "not-instrumented", class: "list apart", dataset: { count: String(ni.endpoints.length) } },
      h("h2", {}, "Not instrumented", h("span", { class: "count" }, String(ni.endpoints.length))),
      ni.endpoints.length
        ? h("p", {}, `${ni.routes} covered routes have an end where no probe stands: `,
          h("span", { class: "endpoints" }, ni.endpoints.join(", ")))
        : h("p", { class: "empty" }, "A probe stands on every endpoint a budget covers.")),
  );
}
