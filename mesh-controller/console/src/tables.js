// The report's other measurements, below the map, folded: two carriers in
// one city (the pairs worth a line: measured, over budget, or without a
// local exchange), throughput per ordered pair, and ICMP to hosts without a
// probe. Rows of pairs open the route panel.
import { h, put } from "./dom.js";
import { ms, pct } from "./format.js";

function table(id, title, headers, rows, empty, open) {
  return h("details", { id, class: "more", open: open || null, dataset: { count: String(rows.length) } },
    h("summary", {}, title, h("span", { class: "count" }, String(rows.length))),
    rows.length
      ? h("table", {}, h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))), h("tbody", {}, rows))
      : h("p", { class: "empty" }, empty));
}

function tr(onRoute, from, to, cells) {
  const attrs = onRoute ? { class: "row-link", onclick: () => onRoute(from, to), dataset: { from, to } } : {};
  return h("tr", attrs, cells.map((c) => h("td", {}, c)));
}

export function renderTables(el, report, onRoute) {
  const city = (report.inter_carrier ?? []).filter(
    (x) => x.measured || x.verdict === "violation" || !x.local_exchange,
  );
  const thr = report.throughput ?? [];
  const icmp = report.icmp ?? [];
  put(el,
    table("inter-carrier", "Two carriers in one city",
      ["city", "from", "to", "one-way", "basis", "budget", "verdict", "local exchange", "model crosses at"],
      city.map((x) => tr(onRoute, x.from, x.to, [
        x.city, x.from, x.to, ms(x.one_way_ms), x.basis ?? "–", ms(x.budget_ms, 0),
        h("span", { class: `v-${x.verdict}` }, x.verdict), x.local_exchange ?? "none",
        x.model_crosses_at?.length ? x.model_crosses_at.join(", ") : "–",
      ])),
      "No pair of carriers in one city is measured, over budget or without a local exchange.", false),
    table("throughput", "Throughput (bandwidth tests)",
      ["from", "to", "proto", "latest Mbit/s", "median", "min / max", "tests", "retrans / loss"],
      thr.map((t) => tr(onRoute, t.from, t.to, [
        t.from, t.to, t.protocol, t.latest_mbit.toFixed(1), t.median_mbit.toFixed(1),
        `${t.min_mbit.toFixed(1)} / ${t.max_mbit.toFixed(1)}`, String(t.tests),
        t.retransmits != null ? String(t.retransmits) : pct(t.loss_pct),
      ])),
      "No bandwidth test in the look-back.", false),
    table("icmp", "ICMP to hosts without a probe",
      ["from", "to", "loss", "RTT p50", "RTT p99", "windows"],
      icmp.map((x) => tr(null, x.from, x.to, [
        x.from, x.to, pct(x.loss_pct), ms(x.rtt_p50_ms), ms(x.rtt_p99_ms), String(x.windows),
      ])),
      "No ICMP target measured.", false),
  );
}
