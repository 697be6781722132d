// The model the views share: site pairs drawn with the worst verdict of their
// routes, not-instrumented routes kept off the map, lookups either way round.
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildModel, findRoute, suggestionsOf, verdictOf } from "../src/model.js";
import { freshness } from "../src/header.js";

const topology = {
  sites: [
    { id: "cl", kind: "cluster", lat: 30, lon: 104, networks: [] },
    { id: "a", kind: "city", lat: 31, lon: 105, networks: [] },
    { id: "b", kind: "city", lat: 29, lon: 106, networks: [] },
  ],
  links: [],
};
const measured = { forward: {}, reverse: {}, rtt: {} };
const route = (from, to, verdict, m = measured, budget = 20) => ({ from, to, verdict, budget_ms: budget, measured: m });
const report = {
  summary: {},
  not_instrumented: { routes: 2, endpoints: ["b"] },
  routes: [
    route("cl", "a", "ok"),
    route("a", "cl", "violation"),
    route("cl", "b", "no-data", null),
    route("b", "cl", "no-data", null),
  ],
  violations: [route("a", "cl", "violation")],
  alerts: [],
  events: [],
  suggestions: [{ kind: "direct-link", sites: ["cl", "a"], fixes: [{ from: "a", to: "cl" }] }],
};

test("a site pair takes the worst verdict of its routes", () => {
  const m = buildModel(topology, report, []);
  const pair = m.pairs.find((p) => p.a === "a" && p.b === "cl");
  assert.equal(pair.verdict, "violation");
  assert.equal(pair.route.from, "a");
  assert.equal(m.trouble.get("cl"), "violation");
});

test("routes to an endpoint without a probe are not drawn as no data", () => {
  const m = buildModel(topology, report, []);
  assert.ok(!m.pairs.some((p) => p.a === "b" || p.b === "b"));
  assert.ok(m.notInstrumented.has("b"));
});

test("lookups work either way round; unmeasured or unbudgeted routes say so", () => {
  const m = buildModel(topology, report, []);
  assert.equal(findRoute(m, "cl", "a").verdict, "ok");
  assert.equal(suggestionsOf(m, "cl", "a").length, 1);
  assert.equal(verdictOf(route("x", "y", "ok", null)), "no-data");
  assert.equal(verdictOf(route("x", "y", "ok", measured, null)), "none");
});

test("freshness: old windows and failing polls are not called fresh", () => {
  const now = 1_000_000_000;
  assert.equal(freshness(true, now - 2000, now - 30_000, now, 10_000).level, "fresh");
  assert.equal(freshness(true, now - 2000, now - 5 * 60_000, now, 10_000).level, "late");
  assert.equal(freshness(true, now - 2000, now - 60 * 60_000, now, 10_000).level, "stale");
  assert.equal(freshness(true, now - 60_000, now - 70_000, now, 10_000).level, "stale");
  assert.equal(freshness(true, now, null, now, 10_000).level, "stale");
});
