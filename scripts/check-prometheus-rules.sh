#!/usr/bin/env bash
# Checks the Prometheus rules shipped in deploy/prometheus/ with promtool:
# syntax of the rules, their unit tests (hubmesh-rules.test.yml) and the
# example configuration that loads them. Fails when promtool is missing: it
# never passes without checking. PROMTOOL=/path/to/promtool overrides.
set -euo pipefail
cd "$(dirname "$0")/.."

promtool=${PROMTOOL:-promtool}
if ! command -v "$promtool" >/dev/null 2>&1; then
    echo "error: promtool not found: install Debian's prometheus package (apt-get install prometheus), or set PROMTOOL=/path/to/promtool" >&2
    exit 1
fi

dir=deploy/prometheus
for f in "$dir/hubmesh-rules.yml" "$dir/hubmesh-rules.test.yml" "$dir/prometheus.example.yml"; do
    if [ ! -f "$f" ]; then
        echo "error: $f is missing" >&2
        exit 1
    fi
done

"$promtool" --version 2>&1 | sed -n 1p
echo "== promtool check rules $dir/hubmesh-rules.yml"
"$promtool" check rules "$dir/hubmesh-rules.yml"
echo "== promtool test rules $dir/hubmesh-rules.test.yml"
"$promtool" test rules "$dir/hubmesh-rules.test.yml"
echo "== promtool check config $dir/prometheus.example.yml"
"$promtool" check config "$dir/prometheus.example.yml"
echo "prometheus rules: all checks passed"
