#!/usr/bin/env bash
# Builds the fuzz targets (fuzz/: the STAMP codec, the bandwidth control codec)
# and runs each for a bounded time.
#
# Only a stable toolchain is assumed. cargo-fuzz passes nightly-only rustc
# flags (-Zsanitizer=address and friends); RUSTC_BOOTSTRAP=1 lets the stable
# compiler accept them, and the stable x86_64 Linux std ships the ASan runtime.
# Should the sanitizer build fail anyway, it falls back to --sanitizer none,
# which needs no -Z flag at all: coverage-guided fuzzing still works, only
# memory-error detection is lost (and the codec has no unsafe code).
#
# Usage: scripts/fuzz-build.sh [seconds]   (per target; default 20, or $FUZZ_MAX_TIME)
set -euo pipefail

cd "$(dirname "$0")/.."

max_time="${1:-${FUZZ_MAX_TIME:-20}}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-build: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1

for target in stamp_packet bw_control; do
    sanitizer=address
    if ! cargo fuzz build --fuzz-dir fuzz --sanitizer "$sanitizer" "$target"; then
        echo "fuzz-build: sanitizer build failed, retrying with --sanitizer none" >&2
        sanitizer=none
        cargo fuzz build --fuzz-dir fuzz --sanitizer "$sanitizer" "$target"
    fi

    mkdir -p "fuzz/corpus/$target"
    echo "fuzz-build: running $target for ${max_time}s (sanitizer: $sanitizer)" >&2
    # libFuzzer stops itself after -max_total_time; the outer timeout is a guard.
    timeout --kill-after=10 "$((max_time + 120))" \
        cargo fuzz run --fuzz-dir fuzz --sanitizer "$sanitizer" "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$max_time" -max_len=2048 -print_final_stats=1
done
