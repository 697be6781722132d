#!/usr/bin/env bash
# Builds the fuzz targets (fuzz/) and runs each for a bounded time: the STAMP
# codec (stamp_packet), then the other parsers of outside input for a shorter
# time each: the ICMP/ICMPv6 parsers (icmp_parse), the bandwidth test's control
# codec and UDP datagram header (bw_control), the controller's window upload
# check (window_batch, and its binary form window_batch_cbor) and
# configuration reader (controller_config), the
# agent's configuration file (probe_agent_config), the topology and budgets
# file reader (topology_yaml), and netlab's packet
# handling and forwarding engine (netlab_wire), control channel
# (netlab_control) and ground-truth recorder (netlab_truth).
#
# Each target starts from its corpus (fuzz/corpus/<target>, not committed:
# what earlier runs found) and its seeds (fuzz/seeds/<target>, committed:
# small valid inputs); new finds go to the corpus.
#
# Only a stable toolchain is assumed. cargo-fuzz passes nightly-only rustc
# flags (-Zsanitizer=address and friends); RUSTC_BOOTSTRAP=1 lets the stable
# compiler accept them, and the stable x86_64 Linux std ships the ASan runtime.
# Should the sanitizer build fail anyway, it falls back to --sanitizer none,
# which needs no -Z flag at all: coverage-guided fuzzing still works, only
# memory-error detection is lost (and the parsers have no unsafe code).
#
# Usage: scripts/fuzz-build.sh [seconds] [other-seconds]
#   seconds:       stamp_packet's run (default 20, or $FUZZ_MAX_TIME)
#   other-seconds: each other target's run (default 10, or $FUZZ_OTHER_TIME)
set -euo pipefail

cd "$(dirname "$0")/.."

max_time="${1:-${FUZZ_MAX_TIME:-20}}"
other_time="${2:-${FUZZ_OTHER_TIME:-10}}"
# target:seconds:longest input (octets). Text formats get room for a
# realistic file; packets and datagrams stay at 2 kB.
targets=(
    "stamp_packet:$max_time:2048"
    "icmp_parse:$other_time:2048"
    "bw_control:$other_time:2048"
    "window_batch:$other_time:4096"
    "window_batch_cbor:$other_time:4096"
    "controller_config:$other_time:4096"
    "probe_agent_config:$other_time:4096"
    "topology_yaml:$other_time:4096"
    "netlab_wire:$other_time:2048"
    "netlab_control:$other_time:2048"
    "netlab_truth:$other_time:4096"
)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-build: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
# The fuzz crate has its own workspace and target directory (fuzz/target).
unset CARGO_TARGET_DIR

sanitizer=address
# All targets in one cargo invocation: shared dependencies build once, in parallel.
build() {
    cargo fuzz build --fuzz-dir fuzz --sanitizer "$sanitizer"
}
if ! build; then
    echo "fuzz-build: sanitizer build failed, retrying with --sanitizer none" >&2
    sanitizer=none
    build
fi

run() {
    local target=$1 seconds=$2 max_len=$3
    local dirs=("fuzz/corpus/$target")
    mkdir -p "fuzz/corpus/$target"
    if [ -d "fuzz/seeds/$target" ]; then
        dirs+=("fuzz/seeds/$target")
    fi
    echo "fuzz-build: running $target for ${seconds}s (sanitizer: $sanitizer)" >&2
    # libFuzzer stops itself after -max_total_time; the outer timeout is a guard.
    timeout --kill-after=10 "$((seconds + 120))" \
        cargo fuzz run --fuzz-dir fuzz --sanitizer "$sanitizer" "$target" "${dirs[@]}" -- \
        -max_total_time="$seconds" -max_len="$max_len" -print_final_stats=1
}
for spec in "${targets[@]}"; do
    IFS=: read -r target seconds max_len <<<"$spec"
    run "$target" "$seconds" "$max_len"
done
