// Where the data comes from: the controller's JSON API (the live page), or
// the snapshot a report.html carries (opened from a file, no server).

/** The snapshot embedded in a report.html, or null on the live page. */
export function embeddedSnapshot() {
  const el = document.getElementById("hubmesh-snapshot");
  if (!el) return null;
  return JSON.parse(el.textContent);
}

async function getJson(url) {
  const resp = await fetch(url, { headers: { accept: "application/json" }, cache: "no-store" });
  if (!resp.ok) {
    let reason = `${resp.status} ${resp.statusText}`;
    try {
      const body = await resp.json();
      if (body.reason) reason += `: ${body.reason}`;
    } catch (_) { /* not JSON */ }
    throw new Error(`GET ${url}: ${reason}`);
  }
  return resp.json();
}

/** The live controller, polled. `since` is the look-back (e.g. "1h"). */
export class LiveSource {
  constructor(base, since, budgets) {
    this.base = base;
    this.since = since;
    this.budgets = budgets;
    this.live = true;
    this.topology = null;
  }

  /** One poll: {topology, report, alerts, polledAt}. */
  async poll() {
    const since = encodeURIComponent(this.since);
    const budgets = this.budgets ? `&budgets=${encodeURIComponent(this.budgets)}` : "";
    const [topology, report, alerts] = await Promise.all([
      this.topology ? Promise.resolve(this.topology) : getJson(`${this.base}/v1/topology`),
      getJson(`${this.base}/v1/report?format=json&since=${since}${budgets}`),
      getJson(`${this.base}/v1/alerts?state=all&since=${since}`),
    ]);
    this.topology = topology;
    return { topology, report, alerts: alerts.alerts, polledAt: Date.now() };
  }

  /** A route's history (`/v1/series`, step auto). */
  series(from, to) {
    const q = new URLSearchParams({ from, to, since: this.since, step: "auto" });
    return getJson(`${this.base}/v1/series?${q}`);
  }
}

/** A report.html's snapshot: one "poll", and the series it carries. */
export class SnapshotSource {
  constructor(snapshot) {
    this.snapshot = snapshot;
    this.live = false;
  }

  async poll() {
    const s = this.snapshot;
    return {
      topology: s.topology,
      report: s.report,
      alerts: s.alerts,
      polledAt: s.generated_unix_ms,
    };
  }

  async series(from, to) {
    const hit = (this.snapshot.series ?? []).find(
      (x) => (x.from === from && x.to === to) || (x.from === to && x.to === from),
    );
    if (!hit) {
      throw new Error(
        "this snapshot holds the history of firing alerts, routes over budget and routes with events only",
      );
    }
    return hit;
  }
}
