// The report's other measurements, below the map, folded: two carriers in
// one city (the pairs worth a line: measured, over budget, or without a
// local exchange), throughput per ordered pair, ICMP to hosts without a
// probe, and the clocks: each probe's as it said, and per measured pair the
// interval its offset lies in. Rows of pairs open the route panel.
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
    clockTables(report, onRoute),
  );
}

const us = (x) => (x == null ? "–" : `${Math.round(x)} µs`);

/** Probe clocks, then one row per measured pair with its offset interval. */
function clockTables(report, onRoute) {
  const probes = report.probe_clocks ?? [];
  const seen = new Set();
  const pairs = (report.routes ?? []).filter((r) => {
    if (!r.clock) return false;
    const key = [r.from, r.to].sort().join("\u0000");
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const contradictions = pairs.filter((r) => r.clock.contradiction).length;
  return [
    table("probe-clocks", "Probe clocks",
      ["probe", "at", "synchronized", "source", "error", "note"],
      probes.map((c) => h("tr", {}, [
        c.probe, c.endpoint, c.synchronized ? "yes" : "no", c.source ?? "–", us(c.error_us),
        c.test_clock
          ? h("span", { class: "v-uncertain" },
            `TEST CLOCK ${(c.test_clock.offset_ns / 1e6).toFixed(3)} ms, ${c.test_clock.drift_ppb} ppb`)
          : c.boot_id ? "kernel clock shared by boot id" : "",
      ].map((x) => h("td", {}, x)))),
      "No probe has said hello.", false),
    table("pair-clocks", "Clock offset per measured pair (to − from)",
      ["from", "to", "offset in", "source", "note"],
      pairs.map((r) => tr(onRoute, r.from, r.to, [
        r.from, r.to, `[${us(r.clock.lo_us)}, ${us(r.clock.hi_us)}]`, r.clock.source,
        r.clock.contradiction
          ? h("span", { class: "v-violation" },
            `claims ±${us(r.clock.claimed_us)} contradict physics`)
          : r.clock.note ?? "",
      ])),
      "No measured pair.", contradictions > 0),
  ];
}
