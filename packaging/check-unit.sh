#!/usr/bin/env bash
# Checks systemd/iocd.service with Debian's systemd tools:
# - `systemd-analyze verify` prints nothing (it exits 0 on mere warnings
#   such as an unknown key, so any output fails the check);
# - `systemd-analyze security --offline` rates the exposure <= 2.0 ("OK").
# verify resolves ExecStart, so it runs against a scratch root holding the
# unit, the binary at /usr/bin/iocd, /bin/kill and the system's targets.
set -euo pipefail
cd "$(dirname "$0")/.."

unit=systemd/iocd.service
bin=${1:-target/x86_64-unknown-linux-gnu/release/iocd}
max=2.0
fail() { echo "FAIL: $*" >&2; exit 1; }

if ! command -v systemd-analyze >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq systemd >/dev/null
fi
echo "systemd $(systemd-analyze --version | head -1 | awk '{print $2}')"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/bin" "$root/bin" "$root/usr/lib/systemd/system"
ln -s usr/lib "$root/lib"
if [ -x "$bin" ]; then cp "$bin" "$root/usr/bin/iocd"; else printf '#!/bin/sh\n' > "$root/usr/bin/iocd"; chmod 755 "$root/usr/bin/iocd"; fi
cp "$(type -P kill)" "$root/bin/kill"
cp -a /usr/lib/systemd/system/*.target /usr/lib/systemd/system/*.slice "$root/usr/lib/systemd/system/" 2>/dev/null || true
cp "$unit" "$root/usr/lib/systemd/system/iocd.service"
out=$(systemd-analyze verify --root="$root" --man=no --generators=no /usr/lib/systemd/system/iocd.service 2>&1) \
  || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify warned: $out"

sec=$(systemd-analyze security --offline=true --no-pager "$unit" 2>&1) || fail "systemd-analyze security: $sec"
level=$(printf '%s\n' "$sec" | sed -n 's/.*Overall exposure level for iocd.service: \([0-9.]*\).*/\1/p')
[ -n "$level" ] || fail "no exposure level in: $sec"
awk -v l="$level" -v m="$max" 'BEGIN { exit !(l <= m) }' || { printf '%s\n' "$sec" | grep '✗' >&2; fail "exposure $level > $max"; }
echo "PASS: $unit: systemd-analyze verify clean; security exposure $level (<= $max)"
