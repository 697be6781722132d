#!/usr/bin/env bash
# Benchmarks, side by side with peer tools where one exists, ratios printed.
# Not run by CI's tests (timings belong here, not in tests).
#
# usage: scripts/bench.sh [plan|suggest|ingest|all]
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

# Best wall time of 3 runs of a command (ms) in $best; stdout kept in $tmp/out.json.
# Exit status 1 ("found violations") counts as success.
best_of_3() {
    best=999999
    for _ in 1 2 3; do
        local t0 t1 ms
        t0=$(date +%s%N)
        "$@" > "$tmp/out.json" || [ $? = 1 ]
        t1=$(date +%s%N)
        ms=$(( (t1 - t0) / 1000000 ))
        if [ "$ms" -lt "$best" ]; then best=$ms; fi
    done
}

summary() {  # suggest's JSON summary in one line
    python3 -c 'import json, sys
d = json.load(open(sys.argv[1])); s = d["summary"]
print("{n} suggestions: {fixed} of {violations_before} routes over budget fixed, {saved:.0f} ms saved over {routes} covered routes ({candidates} candidates)".format(
    n=len(d["suggestions"]), fixed=s["violations_before"] - s["violations_after"], saved=s["saved_ms_total"], **s))' "$tmp/out.json"
}

bench_suggest() {
    echo "== suggest (k = 5): synthetic 1,000-site topology (target: under 10 s)"
    echo "   side by side with plan, which routes the same topology once (suggest routes it once too, then searches)"
    python3 scripts/synthetic-topology.py --sites 1000 > "$tmp/syn.yaml"
    echo "   $(grep -c '^  - {id: s' "$tmp/syn.yaml") sites, $(grep -c between "$tmp/syn.yaml") links"
    for budgets in plan-2021 plan-2023; do
        best_of_3 "$bin/mesh-controller" plan --topology "$tmp/syn.yaml" --budgets "$budgets" --format json
        local plan_ms=$best
        best_of_3 "$bin/mesh-controller" suggest --topology "$tmp/syn.yaml" --budgets "$budgets" --format json
        printf '   %-10s best of 3: %6d ms (%s of the 10 s target; plan %d ms, suggest/plan %s)\n' \
            "$budgets" "$best" "$(python3 -c "print(f'{$best/10000:.2f}x')")" "$plan_ms" \
            "$(python3 -c "print(f'{$best/max($plan_ms,1):.2f}x')")"
        echo "              $(summary)"
    done
    echo "== suggest (k = 5): embedded national topology, plan-2023"
    best_of_3 "$bin/mesh-controller" suggest --budgets plan-2023 --format json
    printf '   best of 3: %6d ms\n' "$best"
    echo "   $(summary)"
}

bench_ingest() {
    echo "== ingest: simulated probes uploading windows as fast as they are acknowledged (mesh-controller serve on loopback)"
    echo "   side by side with the same batches written straight into the store (no HTTP, no checks)"
    cargo build --release -q -p mesh-controller --example ingest_load
    "$bin/examples/ingest_load" --probes 100,1000 --seconds "${INGEST_SECONDS:-10}" --batch 10
}

case "$what" in
    plan) bench_plan ;;
    suggest) bench_suggest ;;
    ingest) bench_ingest ;;
    all) bench_plan; bench_suggest; bench_ingest ;;
    *) echo "usage: scripts/bench.sh [plan|suggest|ingest|all]" >&2; exit 2 ;;
esac
