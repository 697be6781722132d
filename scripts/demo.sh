#!/usr/bin/env bash
# The national demo: the embedded national topology emulated by netlab, a probe
# agent in every site, the controller, about a minute of measurement, then the
# report (table on stdout, report.html written). Everything is torn down at the
# end, also on Ctrl-C.
#
# usage: scripts/demo.sh [--seconds N] [--topology FILE|national] [--out FILE]
#
# Agents also trace every peer (the report shows the measured path of each
# detour and each route over budget) and run bandwidth tests in round-robin
# rounds (paced UDP at 4 Mbit/s, see below).
#
# Probes: one per cluster and city on China Telecom (41 on the national
# topology), plus one on China Unicom and one on China Mobile in a few cities
# without their own interconnect, so the inter-carrier detours show up measured,
# and the edge data centres of those cities on their own carriers, so the 10 ms
# edge budget is judged towards the city's users on every carrier (the other
# edge sites are in the lab, without an agent). The controller runs inside the
# beijing site and the agents reach it across the emulated WAN.
# Needs root (netlab) and a Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
topology=national
out=report.html
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds=$2; shift 2 ;;
        --topology) topology=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) echo "usage: scripts/demo.sh [--seconds N] [--topology FILE|national] [--out FILE]" >&2; exit 2 ;;
    esac
done
if [ "$(id -u)" != 0 ]; then
    echo "demo: needs root (netlab makes network namespaces and TUN devices)" >&2
    exit 2
fi

echo "== building (release)"
cargo build --release -q --workspace --bins
bin=$PWD/target/release
lab=hubmesh-demo
work=$(mktemp -d /tmp/hubmesh-demo.XXXXXX)

cleanup() {
    trap - EXIT INT TERM
    echo "== tearing down"
    # netlab down also ends every process left in the lab's namespaces.
    "$bin/netlab" down --name "$lab" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$bin/netlab" down --name "$lab" >/dev/null 2>&1 || true
echo "== netlab up $topology"
"$bin/netlab" up "$topology" --name "$lab" > "$work/lab.txt"
tail -n 1 "$work/lab.txt"

# Sites and carriers, from the same topology the lab was built from.
"$bin/mesh-controller" plan --topology "$topology" --all --format json > "$work/plan.json" || [ $? = 1 ]
python3 - "$work" "$topology" "$bin" "$lab" <<'PY'
import json, subprocess, sys
work, topology, bin_, lab = sys.argv[1:5]
plan = json.load(open(f"{work}/plan.json"))
endpoints = sorted({r["from"] for r in plan["routes"]})
sites = sorted({e.split("@")[0] for e in endpoints})
nets = sorted({e.split("@")[1] for e in endpoints if "@" in e})
nets_at = {s: sorted({e.split("@")[1] for e in endpoints if e.startswith(s + "@")}) for s in sites}
first = "telecom" if "telecom" in nets else (nets[0] if nets else None)
# Cities without an interconnect of their own: the carriers cross elsewhere.
# Urumqi's cross in Xining, 1,440 km away, which puts its edge over 10 ms.
extra_cities = ["tianjin", "hong-kong", "urumqi"]
# Edge data centres (named <city>-edge in the national topology) stand only in
# those cities, on the carriers that host them.
edges = {s for s in sites if s.endswith("-edge")}
chosen = []
for s in sites:
    if s not in edges:
        chosen.append((s, first))
for s in extra_cities:
    for n in nets:
        if s in sites and n != first:
            chosen.append((s, n))
    for n in nets_at.get(s + "-edge", []):
        chosen.append((s + "-edge", n))
def addr(site, net):
    ep = f"{site}@{net}" if net else site
    return subprocess.check_output([f"{bin_}/netlab", "addr", "--name", lab, ep], text=True).strip()
ctrl_site = "beijing" if "beijing" in sites else sites[0]
ctrl = addr(ctrl_site, first)
lines = [f"topology: {topology}", "probes:"]
agents = []
for site, net in chosen:
    pid = f"{site}-{net}" if net else site
    a = addr(site, net)
    lines.append(f"  - id: {pid}")
    lines.append(f"    site: {site}")
    if net:
        lines.append(f"    network: {net}")
    lines.append(f"    stamp: {a}:8620")
    agents.append((pid, site, a))
lines += ["secrets: secrets.yaml", "measurement: {interval: 1s, window: 10s}",
          # Traces of every peer (the measured path of each detour and each
          # route over budget), the first round 2 s after an agent starts.
          "icmp: {ping_interval: 1s, trace_period: 30s, max_hops: 16}",
          # Bandwidth in tournament rounds of 10 s: paced UDP at 4 Mbit/s,
          # since about 23 tests run at once through one user-space forwarder
          # on 2 cores, and TCP at full speed would queue in the emulator and
          # spoil the latency figures of the same run.
          "bandwidth: {period: 10s, duration: 2s, udp_rate: 4M}"]
open(f"{work}/mesh.yaml", "w").write("\n".join(lines) + "\n")
open(f"{work}/agents.txt", "w").write("".join(f"{p} {s} {a}\n" for p, s, a in agents))
open(f"{work}/controller.txt", "w").write(f"{ctrl_site} {ctrl}\n")
PY
read -r ctrl_site ctrl_addr < "$work/controller.txt"
url="http://$ctrl_addr:8680"

echo "== controller in $ctrl_site at $url; $(wc -l < "$work/agents.txt") probe agents"
mkdir -p "$work/tokens" "$work/spool"
while read -r id _ _; do
    "$bin/mesh-controller" token add --config "$work/mesh.yaml" "$id" > "$work/tokens/$id" 2>/dev/null
done < "$work/agents.txt"
"$bin/netlab" exec --name "$lab" "$ctrl_site" -- \
    "$bin/mesh-controller" serve --config "$work/mesh.yaml" --db "$work/hubmesh.db" \
    --listen "$ctrl_addr:8680" > "$work/controller.log" 2>&1 &
disown $!
for _ in $(seq 50); do
    "$bin/netlab" exec --name "$lab" "$ctrl_site" -- \
        python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1]+'/healthz', timeout=1)" "$url" \
        >/dev/null 2>&1 && break
    sleep 0.2
done
while read -r id site addr; do
    "$bin/netlab" exec --name "$lab" "$site" -- \
        "$bin/probe" agent --controller "$url" --id "$id" --token-file "$work/tokens/$id" \
        --listen "$addr:8620" --spool "$work/spool/$id" > "$work/agent-$id.log" 2>&1 &
    disown $!
done < "$work/agents.txt"

echo "== measuring for ${seconds}s"
sleep "$seconds"

echo "== report"
status=0
"$bin/mesh-controller" report --db "$work/hubmesh.db" --config "$work/mesh.yaml" --since 1h || status=$?
"$bin/mesh-controller" report --db "$work/hubmesh.db" --config "$work/mesh.yaml" --since 1h \
    --format html --out "$out" || [ $? = 1 ]
echo "== wrote $out (exit status of the report: $status; 1 means budgets are violated)"
