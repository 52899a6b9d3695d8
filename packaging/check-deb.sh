#!/usr/bin/env bash
# Checks the .deb: its contents (dpkg-deb -c), conffiles, that the packaged
# unit and binary are the checked ones, lintian (0 errors), and, as root on
# a host without iocd installed, a real install -> first-start -> reinstall
# -> remove -> purge cycle (service started by hand: CI has no systemd as
# PID 1). Usage: packaging/check-deb.sh [path/to/iocd_*.deb]
set -euo pipefail
cd "$(dirname "$0")/.."

deb=${1:-$(ls -t target/debian/iocd_*_amd64.deb 2>/dev/null | head -1)}
[ -f "$deb" ] || { echo "FAIL: no .deb; run packaging/build-deb.sh" >&2; exit 1; }
fail() { echo "FAIL: $*" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive

contents=$(dpkg-deb -c "$deb")
for want in "-rwxr-xr-x root/root .* ./usr/bin/iocd" \
            "./usr/lib/systemd/system/iocd.service" \
            "./etc/iocd/iocd.toml" \
            "./usr/lib/sysusers.d/iocd.conf" \
            "./usr/share/doc/iocd/copyright" \
            "./usr/share/doc/iocd/README.md" \
            "./usr/share/man/man1/iocd.1.gz"; do
  printf '%s\n' "$contents" | sed 's|0/0|root/root|' | grep -q -- "$want" || fail "$deb lacks $want"
done
[ "$(dpkg-deb -f "$deb" Package)" = iocd ] || fail "package name"
dpkg-deb -I "$deb" conffiles | grep -qx /etc/iocd/iocd.toml || fail "/etc/iocd/iocd.toml is not a conffile"

x=$(mktemp -d)
cleanup() {
  rm -rf "$x"
}
trap cleanup EXIT
dpkg-deb -x "$deb" "$x/root"
cmp -s "$x/root/usr/lib/systemd/system/iocd.service" systemd/iocd.service || fail "the packaged unit differs from systemd/iocd.service"
ldd "$x/root/usr/bin/iocd" 2>&1 | grep -Eq "statically linked|not a dynamic executable" || fail "the packaged binary is dynamic"
grep -qx 'seed_when_empty = false' "$x/root/etc/iocd/iocd.toml" || fail "the packaged config loads demo data"
grep -qx 'data_dir = "/var/lib/iocd"' "$x/root/etc/iocd/iocd.toml" || fail "the packaged config's data_dir"
"$x/root/usr/bin/iocd" check-config --config "$x/root/etc/iocd/iocd.toml" >/dev/null || fail "the packaged config does not check"

if ! command -v lintian >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq lintian >/dev/null
fi
lint=$(lintian --allow-root "$deb" 2>&1 || true)
printf '%s\n' "$lint" | grep -v '^$' || true
errors=$(printf '%s\n' "$lint" | grep -c '^E:' || true)
[ "$errors" = 0 ] || fail "lintian: $errors error(s)"
echo "lintian: 0 errors, $(printf '%s\n' "$lint" | grep -c '^W:' || true) warnings"

# The install cycle changes the host (user iocd, /usr/bin/iocd, /etc/iocd,
# /var/lib/iocd), so only as root and only where iocd is not installed.
if [ "$(id -u)" != 0 ] || dpkg -s iocd >/dev/null 2>&1 || [ -e /var/lib/iocd ] || [ -e /etc/iocd ]; then
  echo "SKIP: install cycle (needs root and a host without iocd)"
  echo "PASS: $deb contents, conffiles, lintian"
  exit 0
fi
had_user=0; getent passwd iocd >/dev/null && had_user=1
pid=
cleanup() {
  if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null || true; fi
  dpkg -P iocd >/dev/null 2>&1 || true
  [ "$had_user" = 1 ] || { userdel iocd 2>/dev/null || true; groupdel iocd 2>/dev/null || true; }
  rm -rf "$x"
}
out=$(dpkg -i "$deb" 2>&1) || fail "dpkg -i: $out"
printf '%s\n' "$out" | grep -q "initial-admin-key" || fail "postinst did not say where the admin key is: $out"
getent passwd iocd >/dev/null || fail "no iocd user"
key=/var/lib/iocd/initial-admin-key
[ "$(stat -c '%a %U' "$key")" = "600 root" ] || fail "$key is $(stat -c '%a %U' "$key")"
grep -q '^sk_live_' "$key" || fail "$key holds no key"
[ "$(stat -c '%U %a' /var/lib/iocd)" = "iocd 750" ] || fail "/var/lib/iocd is $(stat -c '%U %a' /var/lib/iocd)"
[ "$(stat -c '%U' /var/lib/iocd/store)" = iocd ] || fail "the store is not owned by iocd"

# First start, as the unit would run it (setpriv execs: $! is iocd itself).
log=$x/serve.log
setpriv --reuid=iocd --regid=iocd --init-groups /usr/bin/iocd serve --config /etc/iocd/iocd.toml --listen 127.0.0.1:0 >/dev/null 2>"$log" &
pid=$!
addr=
for _ in $(seq 1 100); do
  addr=$(sed -n 's|.*listening on https://\([^/]*\)/.*|\1|p' "$log" | head -1)
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { cat "$log" >&2; fail "the installed iocd did not start"; }
n=$(curl -sS --cacert /var/lib/iocd/tls/ca.crt -H "Authorization: Bearer $(cat "$key")" "https://$addr/api/v1/keys" | jq .count)
[ "$n" = 1 ] || fail "the initial admin key does not work (keys: $n)"
# An online backup by root through the control socket.
/usr/bin/iocd backup --config /etc/iocd/iocd.toml --to "$x/b.iocdbak" 2>&1 | grep -q online || fail "online backup as root"
kill -TERM "$pid"; wait "$pid" || fail "serve did not stop cleanly"; pid=

# Reinstall (the upgrade path): no new key, data kept.
before=$(cat "$key")
dpkg -i "$deb" >/dev/null 2>&1 || fail "reinstall"
[ "$(cat "$key")" = "$before" ] || fail "reinstall replaced the admin key"
# Remove keeps data and config; purge deletes them.
dpkg -r iocd >/dev/null 2>&1 || fail "dpkg -r"
[ -e /var/lib/iocd/store ] && [ -e /etc/iocd/iocd.toml ] || fail "remove deleted data or config"
[ ! -e /usr/bin/iocd ] || fail "remove left /usr/bin/iocd"
dpkg -P iocd >/dev/null 2>&1 || fail "dpkg -P"
[ ! -e /var/lib/iocd ] && [ ! -e /etc/iocd/iocd.toml ] || fail "purge left data or config"
echo "PASS: $deb contents, conffiles, lintian, install/first start/reinstall/remove/purge"
