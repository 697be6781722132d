#!/usr/bin/env python3
"""The national demo's two halves in Python (scripts/demo.sh runs them):

  demo.py config WORK TOPOLOGY BIN LAB
      every endpoint a budget covers gets a probe (several in one site's
      namespace, each on its carrier's address); writes WORK/mesh.yaml,
      WORK/agents.txt (id site address) and WORK/controller.txt.
  demo.py story WORK OUT BIN LAB URL SECONDS FAULT
      run inside the controller's namespace: waits for a measured baseline,
      puts the fault in (FAULT: kunming or none), prints what the controller
      saw (alert, webhook, level shift, path change), the suggestion over the
      measurements and `check` without and with it, then the report's lead;
      the full report goes to OUT/report.{json,md,html}.

Every wait is bounded; it only talks to the lab's addresses and loopback.
"""
import json
import os
import subprocess
import sys
import time
import urllib.request

# The fault of the story: Kunming's backbone direct-connect point (approved
# 2022-10) goes down, and with it China Unicom's Guiyang-Kunming line, so
# Yunnan's inter-carrier traffic crosses in another province again, as it did
# before 2022 (latency-facts.md: 39.47 ms average inter-network latency then).
# The model puts the crossing at Nanning, 10.15 ms from the Kunming edge data
# centre to China Unicom's users in Kunming: over the 10 ms edge budget.
KUNMING = {
    "interconnect": "kunming",
    "link": ("guiyang", "kunming", "unicom"),
    "route": ("kunming-edge@telecom", "kunming@unicom"),
    "told": "Kunming's direct-connect point is down, and China Unicom's Guiyang-Kunming line",
    "history": "Yunnan's carriers now meet in another province, as before Kunming's point opened "
               "(2022: 39.47 ms inter-network average then)",
    # Lines of topology/data/national.yaml that are gone with the fault.
    "remove": [
        "- {site: kunming, kind: backbone-direct-connect,",
        "- {between: [guiyang, kunming], network: unicom,",
    ],
}


def run(cmd, check=True):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check and r.returncode not in (0, 1):
        sys.exit(f"demo: {' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def config(work, topology, bin_, lab):
    plan = json.loads(run([f"{bin_}/mesh-controller", "plan", "--topology", topology,
                           "--format", "json"]).stdout)
    covered = plan["routes"]
    if not covered:
        # No budget covers anything (a topology without budgets): measure
        # every endpoint, so there is still a mesh to report.
        plan = json.loads(run([f"{bin_}/mesh-controller", "plan", "--topology", topology,
                               "--all", "--format", "json"]).stdout)
    routes = plan["routes"]
    endpoints = sorted({r["from"] for r in routes} | {r["to"] for r in routes})
    sites = sorted({e.split("@")[0] for e in endpoints})
    ctrl_site = "beijing" if "beijing" in sites else sites[0]
    ctrl_ep = next((e for e in endpoints if e.split("@")[0] == ctrl_site), ctrl_site)

    def addr(ep):
        return run([f"{bin_}/netlab", "addr", "--name", lab, ep]).stdout.strip()

    lines = [f"topology: {topology}", "probes:"]
    agents = []
    for ep in endpoints:
        site, _, net = ep.partition("@")
        pid = f"{site}-{net}" if net else site
        a = addr(ep)
        lines += [f"  - id: {pid}", f"    site: {site}"]
        if net:
            lines.append(f"    network: {net}")
        lines.append(f"    stamp: {a}:8620")
        agents.append((pid, site, a))
    ctrl = addr(ctrl_ep)
    lines += [
        "secrets: secrets.yaml",
        # 142 agents on 2 cores: 4 packets a second per session, 5 s windows
        # (the level-shift test wants 6 windows each side of a step: 30 s).
        "measurement: {interval: 250ms, window: 5s, timeout: 1s}",
        # One session per pair of endpoints a rule covers, both directions
        # (every pair when no rule covers any).
        "targets: {mode: covered}" if covered else "targets: {mode: full-mesh}",
        # Traces of every peer every 10 s: a path change is two traces.
        "icmp: {ping_interval: 1s, trace_period: 10s, max_hops: 12}",
        "history: {fine: 5s}",
        "alerts:",
        "  for: 10s",
        "  resolve_for: 10s",
        "  hysteresis_ms: 0.05",
        "  window: 10s",
        "  evaluate_every: 2s",
        "  no_data_after: 1m",
        "  receivers:",
        f"    - {{name: demo-sink, url: \"http://{ctrl}:9099/hook\"}}",
    ]
    open(f"{work}/mesh.yaml", "w").write("\n".join(lines) + "\n")
    open(f"{work}/agents.txt", "w").write("".join(f"{p} {s} {a}\n" for p, s, a in agents))
    open(f"{work}/controller.txt", "w").write(f"{ctrl_site} {ctrl}\n")
    print(f"   {len(covered)} covered routes over {len(endpoints)} endpoints: a probe on each")


def get(url, timeout=20):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return json.loads(r.read().decode())
    except Exception:  # noqa: BLE001 (a bounded poll: try again)
        return None


def routes_now(url, since):
    r = get(f"{url}/v1/routes?since={since}")
    return r["routes"] if r else []


def wait(deadline, what, every=2.0):
    """Calls what() until it returns something true or the deadline passes."""
    while True:
        got = what()
        if got or time.time() >= deadline:
            return got
        time.sleep(every)


def hooks(path, route):
    out = []
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            body = json.loads(json.loads(line)["body"])
        except (ValueError, KeyError):
            continue
        for a in body.get("alerts", []):
            lab = a.get("labels", {})
            if (lab.get("from"), lab.get("to")) in (route, route[::-1]):
                out.append((body.get("status"), lab.get("alertname"), lab.get("from"),
                            lab.get("to"), lab.get("direction")))
    return out


def story(work, out, bin_, lab, url, seconds, fault):
    t_agents = float(open(f"{work}/agents.started").read())
    mc = f"{bin_}/mesh-controller"
    f = KUNMING if fault == "kunming" else None

    # 1. Baseline: every covered route measured, for long enough.
    def measured():
        rs = routes_now(url, "30s")
        covered = [r for r in rs if r.get("budget_ms") is not None] or rs
        nodata = [r for r in covered if r.get("verdict") == "no-data"]
        return (covered, nodata) if covered and not nodata else None

    got = wait(t_agents + seconds + 60, lambda: time.time() >= t_agents + seconds and measured())
    rs = routes_now(url, "30s")
    covered = [r for r in rs if r.get("budget_ms") is not None]
    counts = {}
    for r in covered:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    over = sorted({f"{r['from'].split('@')[0]}" for r in covered if r["verdict"] == "violation"})
    if not covered:
        print(f"== baseline: no budget covers a route here; {len(rs)} pairs measured")
        return finish(work, out, mc, url, None, None)
    print(f"== baseline, {time.time() - t_agents:.0f} s after the agents started: "
          f"{len(covered)} covered routes, {counts.get('ok', 0)} ok, "
          f"{counts.get('violation', 0)} over budget{' (' + ', '.join(over) + ')' if over else ''}, "
          f"{counts.get('uncertain', 0)} uncertain, {counts.get('no-data', 0)} no data"
          + ("" if got else "  [not every route measured in time]"))
    if f is None:
        return finish(work, out, mc, url, None, None)
    a, b = f["route"]

    def route_line(since):
        for r in routes_now(url, since):
            if (r["from"], r["to"]) == (a, b):
                return (f"{a} -> {b}: {r['one_way_ms']:.2f} ms at p{r.get('percentile', 99):g}, "
                        f"budget {r['budget_ms']:g} ms: {r['verdict']}")
        return f"{a} -> {b}: not in the route table"

    print(f"   {route_line('30s')}")

    # 2. The fault.
    site = f["interconnect"]
    la, lb, lnet = f["link"]
    t_fault = time.time()
    r1 = run([f"{bin_}/netlab", "link", "interconnect", "--name", lab, site, "--down"])
    r2 = run([f"{bin_}/netlab", "link", "set", "--name", lab, la, lb, "--network", lnet, "--down"])
    print(f"== fault at {time.strftime('%H:%M:%S', time.gmtime(t_fault))}Z: {f['told']}")
    for r in (r1, r2):
        print(f"   {r.stdout.strip() or r.stderr.strip()}")
    print(f"   {f['history']}")

    # 3. What the controller saw, each bounded.
    deadline = t_fault + 110
    seen = {}

    def poll():
        now = time.time()
        if "alert" not in seen:
            al = get(f"{url}/v1/alerts?state=firing&since=10m") or {}
            for x in al.get("alerts", []):
                if x["alertname"] == "HubmeshRouteOverBudget" and (x["from"], x["to"]) in ((a, b), (b, a)):
                    seen["alert"] = (now, x)
                    break
        if "hook" not in seen and "alert" in seen:
            # The delivery of the alert shown above (the same direction).
            d = seen["alert"][1]["direction"]
            h = [x for x in hooks(f"{work}/hooks.jsonl", (a, b)) if x[0] == "firing" and x[4] == d]
            if h:
                seen["hook"] = (now, h[0])
        ev = get(f"{url}/v1/events?since=10m&from={a}&to={b}") or {}
        for e in reversed(ev.get("events", [])):
            if e["at"] / 1000 < t_fault - 15:
                continue
            if e["kind"] == "level-shift" and "shift" not in seen and (e.get("delta_ms") or 0) > 0:
                seen["shift"] = (now, e)
            if e["kind"] == "path-change" and "path" not in seen:
                seen["path"] = (now, e)
        return len(seen) == 4

    wait(deadline, poll, every=2.0)
    print("== what the controller saw (GET /v1/alerts, the webhook sink, GET /v1/events)")
    if "alert" in seen:
        t, x = seen["alert"]
        val = f"{x['value']:.2f} ms > {x['threshold']:g} ms" if x.get("value") is not None else ""
        print(f"   +{t - t_fault:3.0f} s  ALERT firing {x['alertname']} "
              f"{x['from']} -> {x['to']} {x['direction']}: {val} ({x['rule']})")
    else:
        print("   no over-budget alert within 110 s")
    if "hook" in seen:
        t, (st, name, fr, to, d) = seen["hook"]
        print(f"   +{t - t_fault:3.0f} s  webhook received: status={st} alertname={name} route={fr} -> {to} ({d})")
    else:
        print("   no webhook received within 110 s")
    if "shift" in seen:
        t, e = seen["shift"]
        print(f"   +{t - t_fault:3.0f} s  level shift {e['from']} -> {e['to']} {e['direction']}: "
              f"{e['before_ms']:.2f} -> {e['after_ms']:.2f} ms (at {e['at_time']})")
    else:
        print("   no level shift found within 110 s")
    if "path" in seen:
        t, e = seen["path"]
        print(f"   +{t - t_fault:3.0f} s  path change {e['from']} -> {e['to']} {e['direction']}: "
              f"{' > '.join(e['old_path'])}  became  {' > '.join(e['new_path'])}")
    else:
        print("   no path change found within 110 s")
    print(f"   now: {route_line('20s')}")
    return finish(work, out, mc, url, f, t_fault)


def finish(work, out, mc, url, f, t_fault):
    since = "10m"
    status = 0
    if f is not None:
        # 4. The suggestion over what was measured since the fault, and check.
        look = f"{max(10, int((time.time() - t_fault) // 5 * 5) - 10)}s"
        # The controller's model still has Kunming's point (its lab addresses
        # name trace hops by the topology's interconnects, so it keeps the
        # file it started with): the suggestions are searched over its
        # measurements (its store, read-only) with the network as it now is,
        # national less the fault, as the model of what could be added.
        faulted = faulted_topology(out, f)
        cfg = open(f"{work}/mesh.yaml").read().splitlines()
        cfg = [f"topology: {faulted}" if l.startswith("topology:") else l for l in cfg]
        now_cfg = f"{work}/mesh-now.yaml"
        open(now_cfg, "w").write("\n".join(cfg) + "\n")
        fixed = f"{out}/national-with-the-fault-and-the-suggestion.yaml"
        # Up to ten: over a short look-back the greedy order can put other
        # routes first (Urumqi's exchange point always, a route whose p99
        # brushed its budget); the suggestions are applied up to the one
        # that fixes the fault's route.
        src = ["--db", f"{work}/hubmesh.db", "--config", now_cfg, "--since", look, "--k", "10"]
        s = run([mc, "suggest", *src, "--format", "json"])
        sugg = json.loads(s.stdout)["suggestions"] if s.stdout.strip() else []
        a, b = f["route"]
        n = next((i + 1 for i, x in enumerate(sugg)
                  if any((fx["from"], fx["to"]) == (a, b) for fx in x["fixes"])), 0)
        print(f"== suggestions over the measurements of the last {look} (mesh-controller suggest --db "
              f"STORE --config CONFIG-WITH-THE-FAULT --since {look})")
        for i, x in enumerate(sugg[:max(n, 1)]):
            fix = next((fx for fx in x["fixes"] if (fx["from"], fx["to"]) == (a, b)), None)
            what = (f"{a} -> {b} {fx_ms(fix['before_ms'])} -> {fix['after_ms']:.2f} ms"
                    if fix else f"{x['fixes'][0]['from']} -> {x['fixes'][0]['to']}, ..." if x["fixes"] else "")
            print(f"   {i + 1}. {x['kind']} at {' -- '.join(x['sites'])} on {', '.join(x['networks'])}: "
                  f"+{x['one_way_ms']:.2f} ms, fixes {len(x['fixes'])} routes ({what})")
        if n == 0:
            print(f"   none of the suggestions fixes {a} -> {b}")
            n = len(sugg)
        w = run([mc, "suggest", *src, "--apply", str(n), "--write-topology", fixed])
        print(f"== check: the network as it is now (national less the fault), then with suggestions 1-{n}")
        for topo in (faulted, fixed):
            c = run([mc, "check", "--topology", topo])
            last = c.stdout.strip().splitlines()[-1] if c.stdout.strip() else c.stderr.strip()
            verdict = "PASS" if c.returncode == 0 else "FAIL"
            print(f"   {verdict} (exit {c.returncode}) {os.path.relpath(topo)}: {last}")
            if c.returncode == 1:
                for line in c.stdout.splitlines():
                    if line.startswith("violation") and (a in line and b in line):
                        print(f"      {' '.join(line.split())}")
        if w.returncode != 0:
            print(f"   suggest --write-topology: {w.stderr.strip()}")
    # 5. The report: its lead here, the full tables in files.
    rep = run([mc, "report", "--server", url, "--since", since])
    status = rep.returncode
    lead = rep.stdout.splitlines()
    print(f"== report (mesh-controller report --server URL --since {since}), its summary:")
    for line in lead[:lead.index("") if "" in lead else 8][:8]:
        print(f"   {line}")
    for fmt, extra in (("json", []), ("md", ["--all"]), ("html", [])):
        run([mc, "report", "--server", url, "--since", since, "--format", fmt, *extra,
             "--out", f"{out}/report.{fmt}"])
    j = json.load(open(f"{out}/report.json"))
    s = j.get("summary", {})
    ni = j.get("not_instrumented", {}) or {}
    nd = s.get("no_data", 0)
    print(f"   instrumented routes without data: {nd}"
          + f"; routes with an end no probe stands on: {ni.get('routes', 0)}")
    if nd:
        # Apart, with the reason: which of the route's probes has not uploaded.
        probes = (get(f"{url}/v1/probes") or {}).get("probes", [])

        def reason(ep):
            site, _, net = ep.partition("@")
            mine = [p for p in probes if p.get("site") == site and (p.get("network") or "") == net]
            if not mine:
                return f"no probe at {ep}"
            quiet = [p["id"] for p in mine if not p.get("last_upload_unix_ms")]
            if quiet:
                return f"probe {', '.join(quiet)} has uploaded nothing (its agent log says why)"
            return None

        nodata = [r for r in j.get("routes", []) if r.get("verdict") == "no-data"]
        for r in nodata[:5]:
            why = reason(r["from"]) or reason(r["to"]) or "both probes upload, but no window of this pair yet"
            print(f"      no data: {r['from']} -> {r['to']}: {why}")
        if len(nodata) > 5:
            print(f"      ... and {len(nodata) - 5} more (report.md lists them)")
    print(f"   full tables: {out}/report.json, {out}/report.md (--all), {out}/report.html")
    return status


def faulted_topology(out, f):
    """national.yaml less the fault's interconnect and link, in OUT."""
    faulted = f"{out}/national-with-the-fault.yaml"
    here = os.path.dirname(os.path.abspath(__file__))
    src = open(f"{here}/../topology/data/national.yaml", encoding="utf-8").read().splitlines()
    kept = [l for l in src if not any(l.lstrip().startswith(p) for p in f["remove"])]
    if len(src) - len(kept) != len(f["remove"]):
        sys.exit("demo: topology/data/national.yaml no longer has the fault's lines")
    open(faulted, "w").write("\n".join(kept) + "\n")
    return faulted


def fx_ms(v):
    return "unreachable" if v is None else f"{v:.2f}"


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "config" and len(sys.argv) == 6:
        config(*sys.argv[2:6])
    elif len(sys.argv) >= 2 and sys.argv[1] == "story" and len(sys.argv) == 9:
        w, o, b, lab_, u, secs, flt = sys.argv[2:9]
        sys.exit(story(w, o, b, lab_, u, float(secs), flt))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
