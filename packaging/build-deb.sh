#!/usr/bin/env bash
# Builds the .deb (cargo-deb) around the static binary:
#   /usr/bin/iocd, /lib/systemd/system/iocd.service, /etc/iocd/iocd.toml
#   (conffile), /usr/lib/sysusers.d/iocd.conf, README; maintainer scripts
#   from packaging/debian/. Prints the path of the .deb.
# Installs cargo-deb from crates.io when missing (about a minute here).
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-gnu
# Up to date after CI's build-static step: cargo only checks freshness.
bash packaging/build-static.sh >&2
if ! command -v cargo-deb >/dev/null 2>&1; then
  cargo install cargo-deb --locked --version '^3' >&2
fi

# The packaged config is the shipped example (config/iocd.toml: data in
# /var/lib/iocd, listen on 127.0.0.1:8443) without demo data: a production
# appliance must not feed made-up IOCs to SIEMs.
mkdir -p target/packaging
sed 's/^seed_when_empty = true$/seed_when_empty = false/' config/iocd.toml > target/packaging/iocd.toml
grep -q '^seed_when_empty = false$' target/packaging/iocd.toml || { echo "FAIL: demo switch not found in config/iocd.toml" >&2; exit 1; }
grep -q '^data_dir = "/var/lib/iocd"$' target/packaging/iocd.toml || { echo "FAIL: config/iocd.toml does not use /var/lib/iocd" >&2; exit 1; }

cargo deb --no-build --target "$target" --output target/debian/ >&2
ls -t target/debian/iocd_*_amd64.deb | head -1
