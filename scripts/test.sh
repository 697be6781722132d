#!/usr/bin/env bash
# The test command from the README: every unit, property and integration test in
# the workspace. Tests that need root or network namespaces print why they skip
# when those are missing. Uses cargo-nextest when present, cargo test otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
# Tests that drive several binaries (netlab + probe, controller + agents) find
# them side by side in target/: build every binary first.
cargo build --workspace --bins
if cargo nextest --version >/dev/null 2>&1; then
    exec cargo nextest run --workspace --no-fail-fast "$@"
else
    exec cargo test --workspace --no-fail-fast "$@"
fi
