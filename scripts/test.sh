#!/usr/bin/env bash
# The test command from the README: every unit, property and integration test in
# the workspace. Tests that need root or network namespaces print why they skip
# when those are missing. Uses cargo-nextest when present, cargo test otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

# What the lab, browser and database tests use, as command -> Debian package.
# Run as root on Debian, the missing ones are installed first; otherwise the
# tests that need them say why they skip.
needs="ip:iproute2 ping:iputils-ping traceroute:traceroute ps:procps python3:python3
irtt:irtt iperf3:iperf3 sockperf:sockperf chromium:chromium chromedriver:chromium-driver
promtool:prometheus /usr/lib/postgresql:postgresql"
missing=""
for pair in $needs; do
    cmd=${pair%%:*} pkg=${pair#*:}
    if [ "${cmd#/}" != "$cmd" ]; then
        [ -e "$cmd" ] || missing="$missing $pkg"
    elif ! command -v "$cmd" >/dev/null 2>&1; then
        missing="$missing $pkg"
    fi
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: installing Debian packages the tests need:$missing" >&2
        apt-get update -qq || true
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
        echo "test.sh: missing (tests that need them will say why they skip):$missing" >&2
    fi
fi
# Tests that drive several binaries (netlab + probe, controller + agents) find
# them side by side in target/: build every binary first.
cargo build --workspace --bins
if cargo nextest --version >/dev/null 2>&1; then
    exec cargo nextest run --workspace --no-fail-fast "$@"
else
    exec cargo test --workspace --no-fail-fast "$@"
fi
