#!/usr/bin/env bash
# Builds the console (mesh-controller/console/) into console/dist/: npm ci
# (the versions of package-lock.json), its unit tests (node --test: label
# placement, the model, freshness), then esbuild through build.mjs. The dist
# files are committed so `cargo build` needs no node.
#
# usage: scripts/console-build.sh [--check]
#   --check: build into a temporary directory and fail if the committed
#            dist/ differs (the build is deterministic).
set -euo pipefail
cd "$(dirname "$0")/../mesh-controller/console"
check=0
case "${1:-}" in
    "") ;;
    --check) check=1 ;;
    *) echo "usage: scripts/console-build.sh [--check]" >&2; exit 2 ;;
esac
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "console-build: node and npm are needed (apt-get install nodejs npm)" >&2
    exit 2
fi
npm ci --no-audit --no-fund --loglevel=error >/dev/null
node --test test/ > "${TMPDIR:-/tmp}/console-test.$$.log" 2>&1 || {
    cat "${TMPDIR:-/tmp}/console-test.$$.log" >&2
    rm -f "${TMPDIR:-/tmp}/console-test.$$.log"
    echo "console-build: the console's unit tests failed" >&2
    exit 1
}
rm -f "${TMPDIR:-/tmp}/console-test.$$.log"
if [ "$check" = 0 ]; then
    node build.mjs dist
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
node build.mjs "$tmp" >/dev/null
status=0
for f in console.js console.css; do
    if ! cmp -s "$tmp/$f" "dist/$f"; then
        echo "console-build --check: dist/$f differs from a build of the sources: run scripts/console-build.sh and commit dist/" >&2
        status=1
    fi
done
extra=$(comm -3 <(ls "$tmp") <(ls dist) || true)
if [ -n "$extra" ]; then
    echo "console-build --check: dist/ and the build list different files: $extra" >&2
    status=1
fi
[ "$status" = 0 ] && echo "console-build --check: dist/ matches the sources"
exit "$status"
