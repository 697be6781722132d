#!/usr/bin/env bash
# netlab's own measurements: added-delay error at 1,000 packets/s, forwarding
# capacity, and the national topology's bring-up time and CPU use at 20,000
# packets/s. Needs root. Sends traffic only between the namespaces it makes
# (198.18.0.0/15); every load is bounded in count and time.
#
# usage: scripts/lab-selftest.sh [--seconds S] [--skip-national]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p netlab
exec target/release/netlab selftest "$@"
