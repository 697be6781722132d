#!/usr/bin/env bash
# Benchmarks, side by side with peer tools where one exists, ratios printed.
# Not run by CI's tests (timings belong here, not in tests).
#
# usage: scripts/bench.sh [plan|all]
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cargo build --release -q -p mesh-controller
bin=target/release

bench_plan() {
    echo "== plan: synthetic 1,000-site topology (target: under 2 s)"
    python3 scripts/synthetic-topology.py --sites 1000 > "$tmp/syn.yaml"
    echo "   $(grep -c '^  - {id: s' "$tmp/syn.yaml") sites, $(grep -c between "$tmp/syn.yaml") links"
    for budgets in plan-2021 plan-2023; do
        local best=999999 routes=0
        for _ in 1 2 3; do
            local t0 t1
            t0=$(date +%s%N)
            "$bin/mesh-controller" plan --topology "$tmp/syn.yaml" --budgets "$budgets" --format json > "$tmp/out.json" || [ $? = 1 ]
            t1=$(date +%s%N)
            local ms=$(( (t1 - t0) / 1000000 ))
            [ "$ms" -lt "$best" ] && best=$ms
        done
        routes=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["routes"])' "$tmp/out.json")
        printf '   %-10s best of 3: %6d ms for %d routes (%s of the 2 s target)\n' \
            "$budgets" "$best" "$routes" "$(python3 -c "print(f'{$best/2000:.2f}x')")"
    done
}

case "$what" in
    plan) bench_plan ;;
    all) bench_plan ;;
    *) echo "usage: scripts/bench.sh [plan|all]" >&2; exit 2 ;;
esac
