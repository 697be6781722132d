// The header: the summary of the report (routes covered, measured, ok,
// violations, uncertain, not instrumented) and how fresh the data is.
import { h, put } from "./dom.js";
import { age, clock } from "./format.js";

export function renderSummary(el, report) {
  const s = report.summary;
  const ni = report.not_instrumented ?? { routes: 0 };
  const measured = s.ok + s.violations + s.uncertain;
  const stat = (cls, n, label) => h("span", { class: `stat ${cls}`, dataset: { stat: cls } }, h("b", {}, String(n)), " ", label);
  put(el,
    stat("covered", s.routes, "routes covered"),
    stat("measured", measured, "measured"),
    stat("v-ok", s.ok, "ok"),
    stat("v-violation", s.violations, "over budget"),
    stat("v-uncertain", s.uncertain, "uncertain"),
    stat("v-no-data", Math.max(0, s.no_data - ni.routes), "no data"),
    stat("not-instrumented", ni.routes, "not instrumented"),
  );
}

/** How old the data is: `fresh`, `late` or `stale`, and the words. */
export function freshness(live, polledAt, newestWindowEnd, now, pollMs) {
  const parts = [];
  let level = "fresh";
  if (live) {
    const since = now - polledAt;
    parts.push(`updated ${clock(polledAt)} (${age(since)} ago)`);
    if (since > 3 * pollMs) level = "stale";
  } else {
    parts.push(`snapshot of ${clock(polledAt)} (${age(now - polledAt)} ago)`);
  }
  if (newestWindowEnd) {
    const windowAge = polledAt - newestWindowEnd;
    parts.push(`newest window ended ${age(windowAge)} before that`);
    if (windowAge > 10 * 60_000) level = "stale";
    else if (windowAge > 2 * 60_000 && level === "fresh") level = "late";
  } else {
    parts.push("no window measured yet");
    level = "stale";
  }
  return { level, text: parts.join(" · ") };
}

export function renderFreshness(el, f, error) {
  el.className = `freshness ${error ? "error" : f.level}`;
  el.dataset.level = error ? "error" : f.level;
  put(el, f.text, error ? h("span", { class: "poll-error" }, ` · last poll failed: ${error}`) : null);
}
