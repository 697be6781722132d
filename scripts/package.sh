#!/usr/bin/env bash
# Builds the Debian packages hubmesh-probe and hubmesh-controller into
# <target dir>/debian/ and checks them on this machine:
#
#   1. cargo-deb (installed when missing), a release build of both binaries,
#      the man pages and shell completions from the clap definitions
#      (examples/probe-docs.rs, examples/controller-docs.rs; dev profile, it
#      only renders text) into <target dir>/release/docs/, both .debs.
#   2. As root with dpkg (CI): installs both, runs `systemd-analyze verify` on
#      the installed units (offline: no running systemd is needed) and prints
#      `systemd-analyze security --offline=yes` scores (failing above
#      MAX_EXPOSURE), checks binaries, units, sysusers files, system users,
#      state directories, man pages (man -w), completions and conffiles,
#      runs `--version`, starts the agent on the shipped (unconfigured)
#      probe.yaml as its system user with only its two capabilities (one
#      line, exit 2), pings (raw ICMP) and binds port 862 as that user with
#      those capabilities, then purges both and checks that every file is gone,
#      the probe's spool directory too, the controller's database directory
#      kept (as its postrm says) and the system users kept.
#
# Usage: scripts/package.sh [--build-only]
# Uses CARGO_TARGET_DIR when set (the release build is the cost: reuse it).
set -euo pipefail
cd "$(dirname "$0")/.."

build_only=false
[ "${1:-}" = "--build-only" ] && build_only=true
# Highest `systemd-analyze security` exposure accepted (0 best, 10 worst).
MAX_EXPOSURE=${MAX_EXPOSURE:-3.0}

say() { printf 'package: %s\n' "$*" >&2; }
fail() {
    say "FAILED: $*"
    exit 1
}

if ! cargo deb --version >/dev/null 2>&1; then
    say "installing cargo-deb"
    cargo install cargo-deb --locked
fi

target=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
docs="$target/release/docs"

say "release build (probe, mesh-controller)"
cargo build --release -p probe -p mesh-controller --bins

say "man pages and completions into $docs"
rm -rf "$docs"
cargo run -q -p probe --example probe-docs -- "$docs/probe"
cargo run -q -p mesh-controller --example controller-docs -- "$docs/mesh-controller"
# Gzipped here (Debian policy): cargo-deb compresses only the man pages it
# did not find under target/release/. -n: no name or time stamp inside.
for page in "$docs"/*/man/*.1; do
    gzip -9nc "$page" >"$page.gz"
done

say "packages into $target/debian"
mkdir -p "$target/debian"
rm -f "$target"/debian/hubmesh-probe_*.deb "$target"/debian/hubmesh-controller_*.deb
# Stripped: the release profile keeps debug info for the benchmarks.
cargo deb -p probe --no-build --strip
cargo deb -p mesh-controller --no-build --strip
probe_deb=$(ls "$target"/debian/hubmesh-probe_*.deb)
controller_deb=$(ls "$target"/debian/hubmesh-controller_*.deb)
ls -l "$probe_deb" "$controller_deb" >&2

# What each .deb holds (checked before any install, so that a dpkg told to
# skip /usr/share/man, as minimal images are, cannot hide a missing page).
contents() { dpkg-deb -c "$1" | awk '{print $NF}' | sed 's|^\./|/|'; }
for spec in "$probe_deb:probe" "$controller_deb:mesh-controller"; do
    deb=${spec%%:*} bin=${spec##*:}
    list=$(contents "$deb")
    for page in "$docs/$bin"/man/*.1; do
        want="/usr/share/man/man1/$(basename "$page").gz"
        grep -qx "$want" <<<"$list" || fail "$(basename "$deb") lacks $want"
    done
    for want in "/usr/bin/$bin" "/usr/share/bash-completion/completions/$bin" \
        "/usr/share/zsh/vendor-completions/_$bin" "/usr/share/fish/vendor_completions.d/$bin.fish"; do
        grep -qx "$want" <<<"$list" || fail "$(basename "$deb") lacks $want"
    done
done

if $build_only; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v dpkg >/dev/null 2>&1; then
    say "install checks skipped: they need root and dpkg (run as root, or pass --build-only)"
    exit 0
fi

# What the checks use (on CI's Debian: systemd-analyze, man, setpriv).
missing=()
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v man >/dev/null 2>&1 || missing+=(man-db)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

packages=(hubmesh-probe hubmesh-controller)
units=(hubmesh-probe.service hubmesh-controller.service)

# A run that stopped half way leaves them installed: start clean.
for p in "${packages[@]}"; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q installed; then
        say "purging $p left from an earlier run"
        dpkg --purge "$p" >/dev/null
    fi
done
rm -rf /var/lib/hubmesh-controller

say "dpkg -i"
dpkg -i "$probe_deb" "$controller_deb"

unit_dir=""
for d in /usr/lib/systemd/system /lib/systemd/system; do
    if [ -f "$d/hubmesh-probe.service" ]; then
        unit_dir=$d
        break
    fi
done
[ -n "$unit_dir" ] || fail "hubmesh-probe.service is not installed"

say "systemd-analyze verify"
for u in "${units[@]}"; do
    [ -f "$unit_dir/$u" ] || fail "$unit_dir/$u is missing"
    # Warnings about our units are errors here; verify also loads the
    # machine's other units and may warn about those (shown, not ours).
    out=$(systemd-analyze verify "$unit_dir/$u" 2>&1) || fail "verify $u: $out"
    ours=$(grep 'hubmesh-' <<<"$out" || true)
    [ -z "$ours" ] || fail "verify $u: $ours"
    others=$(grep -v 'hubmesh-' <<<"$out" || true)
    [ -z "$others" ] || say "(verify, about other units: $(tr '\n' ' ' <<<"$others"))"
    echo "verify $u: ok"
done

say "systemd-analyze security (offline)"
for u in "${units[@]}"; do
    line=$(systemd-analyze security --offline=yes "$unit_dir/$u" 2>&1 | grep 'Overall exposure level') ||
        fail "security $u: no score"
    echo "$u: $line"
    score=$(sed -E 's/.*: ([0-9.]+) .*/\1/' <<<"$line")
    awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }' ||
        fail "$u: exposure $score is above $MAX_EXPOSURE"
done

say "installed files"
check_file() { [ -f "$1" ] || fail "$1 is missing"; }
check_file /usr/bin/probe
check_file /usr/bin/mesh-controller
probe --version
mesh-controller --version
for p in probe mesh-controller; do
    check_file "/usr/share/bash-completion/completions/$p"
    check_file "/usr/share/zsh/vendor-completions/_$p"
    check_file "/usr/share/fish/vendor_completions.d/$p.fish"
    # Every page made, installed (gzipped) where man finds it.
    for page in "$docs/$p"/man/*.1; do
        name=$(basename "$page" .1)
        found=$(man -w "$name" 2>/dev/null) || fail "man -w $name finds nothing"
        [ "$found" = "/usr/share/man/man1/$name.1.gz" ] || fail "man -w $name: $found"
    done
done
echo "man pages: $(ls "$docs"/*/man/*.1 | wc -l), completions: bash, zsh, fish"
check_file /usr/lib/sysusers.d/hubmesh-probe.conf
check_file /usr/lib/sysusers.d/hubmesh-controller.conf
conffiles=$(dpkg-query -W -f='${Conffiles}\n' "${packages[@]}")
for f in /etc/hubmesh/probe.yaml /etc/hubmesh/controller.yaml /etc/default/hubmesh-controller; do
    check_file "$f"
    grep -q "^ $f " <<<"$conffiles" || fail "$f is not a conffile"
done
for user in hubmesh-probe hubmesh-controller; do
    entry=$(getent passwd "$user") || fail "no system user $user"
    uid=$(cut -d: -f3 <<<"$entry")
    [ "$uid" -lt 1000 ] || fail "$user has uid $uid, not a system uid"
    owner=$(stat -c %U "/var/lib/$user")
    [ "$owner" = "$user" ] || fail "/var/lib/$user is owned by $owner"
    echo "$entry"
done

as_probe() {
    (cd / && setpriv --reuid=hubmesh-probe --regid=hubmesh-probe --init-groups \
        --inh-caps=-all,+net_raw,+net_bind_service --ambient-caps=-all,+net_raw,+net_bind_service \
        --bounding-set=-all,+net_raw,+net_bind_service "$@" </dev/null)
}
say "the agent on the shipped probe.yaml, as hubmesh-probe with CAP_NET_RAW and CAP_NET_BIND_SERVICE only"
set +e
err=$(as_probe probe agent --config /etc/hubmesh/probe.yaml 2>&1)
rc=$?
set -e
echo "$err"
[ "$rc" = 2 ] || fail "probe agent on the unconfigured probe.yaml: exit $rc, expected 2"
[ "$(wc -l <<<"$err")" = 1 ] || fail "expected one line, got: $err"
grep -q "missing --controller" <<<"$err" || fail "unexpected message: $err"

say "as hubmesh-probe with only those two: raw ICMP and port 862"
as_probe probe ping -c 2 -i 100ms 127.0.0.1 >/dev/null || fail "probe ping as hubmesh-probe"
# ...and that it is the capability that lets it (unprivileged ICMP sockets
# may be open to every group, as ping_group_range allows: then say so).
if (cd / && setpriv --reuid=hubmesh-probe --regid=hubmesh-probe --init-groups \
    --inh-caps=-all --bounding-set=-all probe ping -c 1 -W 200ms 127.0.0.1 >/dev/null 2>&1 </dev/null); then
    say "(probe ping works without CAP_NET_RAW here: net.ipv4.ping_group_range lets every group)"
fi
echo "probe ping 127.0.0.1: ok"
set +e
as_probe timeout 1 probe reflect --listen 127.0.0.1:862 >/dev/null 2>&1
rc=$?
set -e
# timeout's 124: still reflecting after a second, so port 862 was bound.
[ "$rc" = 124 ] || fail "probe reflect on port 862 as hubmesh-probe: exit $rc"
echo "probe reflect --listen 127.0.0.1:862: ok"

say "dpkg --purge"
dpkg --purge "${packages[@]}"
for f in /usr/bin/probe /usr/bin/mesh-controller "$unit_dir/hubmesh-probe.service" \
    "$unit_dir/hubmesh-controller.service" /usr/lib/sysusers.d/hubmesh-probe.conf \
    /usr/lib/sysusers.d/hubmesh-controller.conf /etc/hubmesh/probe.yaml \
    /etc/hubmesh/controller.yaml /etc/default/hubmesh-controller \
    /usr/share/bash-completion/completions/probe /usr/share/zsh/vendor-completions/_probe \
    /usr/share/fish/vendor_completions.d/probe.fish /usr/share/man/man1/probe-agent.1.gz \
    /usr/share/man/man1/mesh-controller-serve.1.gz; do
    [ ! -e "$f" ] || fail "$f is still there after purge"
done
[ ! -e /var/lib/hubmesh-probe ] || fail "/var/lib/hubmesh-probe (the spool) is still there after purge"
[ -d /var/lib/hubmesh-controller ] || fail "/var/lib/hubmesh-controller (the database) was removed by purge"
rm -rf /var/lib/hubmesh-controller
for user in hubmesh-probe hubmesh-controller; do
    getent passwd "$user" >/dev/null || fail "system user $user was removed"
done
echo "purged: files gone, spool gone, controller state kept (then removed here), system users kept"
say "ok"
