// What the views share, derived once per poll from the raw API answers: the
// sites and endpoints, each route's verdict, the routes that matter, and
// lookups by route. Pure: no DOM, no fetch.

export const VERDICTS = ["violation", "uncertain", "ok", "no-data", "none"];
// "none": measured, but no budget rule covers the route.
const RANK = { violation: 0, uncertain: 1, ok: 2, "no-data": 3, none: 4 };

/** The site an endpoint (`site` or `site@network`) stands on. */
export function siteOf(endpoint) {
  const at = endpoint.indexOf("@");
  return at < 0 ? endpoint : endpoint.slice(0, at);
}

export function routeKey(from, to) {
  return `${from}|${to}`;
}

/** Same two endpoints, either way round. */
export function samePair(a, b, from, to) {
  return (a === from && b === to) || (a === to && b === from);
}

export function worse(a, b) {
  return RANK[a] <= RANK[b] ? a : b;
}

/** The verdict a route is drawn with. */
export function verdictOf(route) {
  if (route.budget_ms === null || route.budget_ms === undefined) return route.measured ? "none" : "no-data";
  if (route.verdict === "violation" || route.verdict === "uncertain" || route.verdict === "ok") {
    return route.measured || route.verdict === "violation" ? route.verdict : "no-data";
  }
  return "no-data";
}

/**
 * Builds the model from the topology (`/v1/topology`), the report
 * (`/v1/report?format=json`) and the alerts (`/v1/alerts?state=all`).
 */
export function buildModel(topology, report, alerts) {
  const sites = new Map(topology.sites.map((s) => [s.id, s]));
  const notInstrumented = new Set(report.not_instrumented?.endpoints ?? []);
  const routes = new Map();
  for (const r of report.routes) routes.set(routeKey(r.from, r.to), r);

  // Site pairs the map draws: the worst verdict of the routes between them
  // (any carrier, either direction). Routes with an end no probe stands on
  // are not drawn as "no data": they are listed apart.
  const pairs = new Map();
  for (const r of report.routes) {
    if (r.budget_ms === null && !r.measured) continue;
    if (!r.measured && (notInstrumented.has(r.from) || notInstrumented.has(r.to))) continue;
    const a = siteOf(r.from), b = siteOf(r.to);
    if (a === b || !sites.has(a) || !sites.has(b)) continue;
    const key = a < b ? `${a}|${b}` : `${b}|${a}`;
    const v = verdictOf(r);
    const p = pairs.get(key);
    if (!p) pairs.set(key, { a: a < b ? a : b, b: a < b ? b : a, verdict: v, route: r });
    else if (RANK[v] < RANK[p.verdict]) Object.assign(p, { verdict: v, route: r });
  }

  const endpoints = new Set();
  for (const r of report.routes) {
    endpoints.add(r.from);
    endpoints.add(r.to);
  }

  // Sites in trouble get their labels placed first.
  const trouble = new Map();
  const mark = (endpoint, v) => {
    const s = siteOf(endpoint);
    trouble.set(s, trouble.has(s) ? worse(trouble.get(s), v) : v);
  };
  for (const r of report.violations ?? []) { mark(r.from, "violation"); mark(r.to, "violation"); }
  for (const a of report.alerts ?? []) { mark(a.from, "violation"); mark(a.to, "violation"); }

  return {
    topology,
    report,
    alerts: alerts ?? [],
    sites,
    routes,
    pairs: [...pairs.values()],
    endpoints: [...endpoints].sort(),
    notInstrumented,
    trouble,
  };
}

/** The route of the report between two endpoints (as asked, else reversed). */
export function findRoute(model, from, to) {
  return model.routes.get(routeKey(from, to)) ?? model.routes.get(routeKey(to, from)) ?? null;
}

/** Alerts (any state) and events of one route, either way round. */
export function alertsOf(model, from, to) {
  return model.alerts.filter((a) => samePair(a.from, a.to, from, to));
}

export function eventsOf(model, from, to) {
  return (model.report.events ?? []).filter((e) => samePair(e.from, e.to, from, to));
}

export function pathsOf(model, from, to) {
  return (model.report.paths ?? []).filter((p) => samePair(p.from, p.to, from, to));
}

/** Suggestions that bring this route within budget. */
export function suggestionsOf(model, from, to) {
  return (model.report.suggestions ?? []).filter((s) =>
    (s.fixes ?? []).some((f) => samePair(f.from, f.to, from, to)),
  );
}
