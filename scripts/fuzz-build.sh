#!/usr/bin/env bash
# Builds the fuzz targets (fuzz/) and runs each for a bounded time: the STAMP
# codec (stamp_packet), then the other network-facing parsers for a shorter
# time each: the ICMP/ICMPv6 parsers (icmp_parse) and the bandwidth test's
# control codec and UDP datagram header (bw_control).
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
targets=(stamp_packet icmp_parse bw_control)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-build: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1

sanitizer=address
build() {
    for target in "${targets[@]}"; do
        cargo fuzz build --fuzz-dir fuzz --sanitizer "$sanitizer" "$target" || return 1
    done
}
if ! build; then
    echo "fuzz-build: sanitizer build failed, retrying with --sanitizer none" >&2
    sanitizer=none
    build
fi

run() {
    local target=$1 seconds=$2
    mkdir -p "fuzz/corpus/$target"
    echo "fuzz-build: running $target for ${seconds}s (sanitizer: $sanitizer)" >&2
    # libFuzzer stops itself after -max_total_time; the outer timeout is a guard.
    timeout --kill-after=10 "$((seconds + 120))" \
        cargo fuzz run --fuzz-dir fuzz --sanitizer "$sanitizer" "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -max_len=2048 -print_final_stats=1
}
run stamp_packet "$max_time"
run icmp_parse "$other_time"
run bw_control "$other_time"
