#!/usr/bin/env bash
# The national demo, a story in about 80 seconds (warm build): the embedded
# national topology emulated by netlab, a probe agent on every endpoint a
# budget covers (142: every route a budget covers is measured), the
# controller with budget alerts and a webhook receiver beside it. After a
# measured baseline, Kunming's direct-connect point goes down with China
# Unicom's Guiyang-Kunming line, so Yunnan's inter-carrier traffic crosses in
# another province, as before 2022; the demo prints what the controller saw
# (the alert firing and its webhook, the level shift, the path change), the
# suggestion over the measurements that brings the route back within budget,
# `check` failing on the network as it now is and passing with the
# suggestion applied, and the report's lead. Full tables go to files in the
# output directory. Everything is torn down at the end, also on Ctrl-C.
#
# usage: scripts/demo.sh [--seconds N] [--topology FILE|national] [--out DIR] [--no-fault]
#   --seconds N   baseline before the fault, at least (default 40; the level-shift
#                 test wants 30 s of windows before a step)
#   --topology T  the topology to emulate (default national; the fault is
#                 national's, so another topology is measured without one)
#   --out DIR     where report.json, report.md, report.html and the topology
#                 files go (default demo-out)
#   --no-fault    measure and report only
# Needs root (netlab), python3 and a Rust toolchain. Builds in release mode
# into $CARGO_TARGET_DIR (default target/).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=40
topology=national
out=demo-out
fault=kunming
usage="usage: scripts/demo.sh [--seconds N] [--topology FILE|national] [--out DIR] [--no-fault]"
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds=${2:?$usage}; shift 2 ;;
        --topology) topology=${2:?$usage}; shift 2 ;;
        --out) out=${2:?$usage}; shift 2 ;;
        --no-fault) fault=none; shift ;;
        *) echo "$usage" >&2; exit 2 ;;
    esac
done
case "$seconds" in ''|*[!0-9]*) echo "$usage" >&2; exit 2 ;; esac
if [ "$(id -u)" != 0 ]; then
    echo "demo: needs root (netlab makes network namespaces and TUN devices)" >&2
    exit 2
fi
[ "$topology" = national ] || fault=none
# The controller's configuration lives elsewhere: a file is named absolutely.
if [ "$topology" != national ]; then
    [ -f "$topology" ] || { echo "demo: no topology file $topology" >&2; exit 2; }
    topology=$(realpath "$topology")
fi
t0=$(date +%s.%N)
since() { python3 -c "import sys,time; print(f'{time.time()-float(sys.argv[1]):.1f}')" "$1"; }

echo "== hubmesh demo: $topology, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
cargo build --release -q --workspace --bins
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
bin=$target/release
lab=hubmesh-demo
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d /tmp/hubmesh-demo.XXXXXX)

cleanup() {
    trap - EXIT INT TERM
    # netlab down also ends every process left in the lab's namespaces.
    "$bin/netlab" down --name "$lab" >/dev/null 2>&1 || true
    rm -rf "$work"
    echo "== torn down; $(since "$t0") s in all"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$bin/netlab" down --name "$lab" >/dev/null 2>&1 || true
"$bin/netlab" up "$topology" --name "$lab" > "$work/lab.txt"
echo "   built in $(since "$t0") s; $(tail -n 1 "$work/lab.txt")"
python3 scripts/demo.py config "$work" "$topology" "$bin" "$lab"
read -r ctrl_site ctrl_addr < "$work/controller.txt"
url="http://$ctrl_addr:8680"

mkdir -p "$work/tokens" "$work/spool"
while read -r id _ _; do
    "$bin/mesh-controller" token add --config "$work/mesh.yaml" "$id" > "$work/tokens/$id" \
        2> "$work/token.err" || { cat "$work/token.err" >&2; exit 2; }
done < "$work/agents.txt"
"$bin/netlab" exec --name "$lab" "$ctrl_site" -- \
    "$bin/mesh-controller" serve --config "$work/mesh.yaml" --db "$work/hubmesh.db" \
    --listen "$ctrl_addr:8680" --insecure-plaintext > "$work/controller.log" 2>&1 &
disown $!
"$bin/netlab" exec --name "$lab" "$ctrl_site" -- \
    python3 scripts/webhook-sink.py --listen "$ctrl_addr:9099" --out "$work/hooks.jsonl" \
    > "$work/sink.log" 2>&1 &
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
        --listen "$addr:8620" --spool "$work/spool/$id" --no-bw --poll 2s \
        > "$work/agent-$id.log" 2>&1 &
    disown $!
done < "$work/agents.txt"
date +%s.%N > "$work/agents.started"
echo "   controller in $ctrl_site at $url, webhook sink at $ctrl_addr:9099;" \
    "$(wc -l < "$work/agents.txt") probe agents started $(since "$t0") s in"

status=0
"$bin/netlab" exec --name "$lab" "$ctrl_site" -- \
    python3 scripts/demo.py story "$work" "$out" "$bin" "$lab" "$url" "$seconds" "$fault" || status=$?
if [ "$status" = 130 ]; then
    exit 130
elif [ "$status" -gt 1 ]; then
    echo "demo: the story ended with exit status $status; controller log: $(tail -n 3 "$work/controller.log")" >&2
    exit "$status"
fi
