#!/usr/bin/env bash
# Runs the static binary the way an air-gapped host would: alone, in an
# empty root directory (no /etc, no /lib, no NSS configuration, no
# /proc), with an empty environment. Checks --version, then starts
# `iocd serve` there and fetches /api/v1/health over HTTPS with curl
# trusting the CA the binary generated, then stops it with SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-target/x86_64-unknown-linux-gnu/release/iocd}
[ -x "$bin" ] || { echo "FAIL: $bin missing; run packaging/build-static.sh" >&2; exit 1; }
fail() { echo "FAIL: $*" >&2; [ -f "${log:-}" ] && cat "$log" >&2; exit 1; }

ver=$("$bin" --version)
[[ "$ver" == "iocd "* ]] || fail "--version printed '$ver'"

work=$(mktemp -d)
pid=
cleanup() { if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT
root="$work/root"
mkdir -p "$root"
cp "$bin" "$root/iocd"
log="$work/serve.log"
if [ "$(id -u)" = 0 ] && chroot "$root" /iocd --version >/dev/null 2>&1; then
  how="chroot with only the binary"
  env -i "$(command -v chroot)" "$root" /iocd serve --data-dir /data --listen 127.0.0.1:0 --no-demo >/dev/null 2>"$log" &
  data="$root/data"
else
  how="empty environment (no chroot: not root)"
  env -i "$root/iocd" serve --data-dir "$work/data" --listen 127.0.0.1:0 --no-demo >/dev/null 2>"$log" &
  data="$work/data"
fi
pid=$!
addr=
for _ in $(seq 1 100); do
  addr=$(sed -n 's|.*listening on https://\([^/]*\)/.*|\1|p' "$log" | head -1)
  [ -n "$addr" ] && break
  kill -0 "$pid" 2>/dev/null || fail "iocd serve exited early"
  sleep 0.1
done
[ -n "$addr" ] || fail "iocd serve did not start"
health=$(curl -sS --max-time 10 --cacert "$data/tls/ca.crt" "https://$addr/api/v1/health") || fail "HTTPS health check failed"
echo "$health" | grep -q '"status":"ok"' || fail "health answered: $health"
kill -TERM "$pid"
code=0
wait "$pid" || code=$?
pid=
[ "$code" = 0 ] || fail "iocd serve exited $code on SIGTERM"
grep -q "store flushed" "$log" || fail "no clean shutdown line"
echo "PASS: static $ver served HTTPS ($how): $health"
