#!/usr/bin/env bash
# Builds the statically linked release binary that is carried across the
# air gap: target/x86_64-unknown-linux-gnu/release/iocd.
#
# glibc with crt-static (the musl target is not installed on this build
# machine): rustc then links a static-pie executable. mimalloc's C code
# (libmimalloc-sys, built by cc) and ring's C/asm are static archives
# linked in; nothing is loaded at run time. --target keeps RUSTFLAGS off
# build scripts and proc macros, which must stay dynamic.
#
# Name lookups in a static glibc binary would need the build host's NSS
# libraries: iocd makes none (listen addresses are IP literals, the host
# name comes from /proc), and this script fails if getaddrinfo & co. are
# linked in.
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-gnu
bin="target/$target/release/iocd"
RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --locked --target "$target"

fail() { echo "FAIL: $*" >&2; exit 1; }
# glibc's ldd says "statically linked" for static-pie, "not a dynamic
# executable" for static non-PIE; either is fine, a library list is not.
ldd_out=$(ldd "$bin" 2>&1 || true)
case "$ldd_out" in
  *"not a dynamic executable"*|*"statically linked"*) ;;
  *) fail "$bin has dynamic dependencies: $ldd_out" ;;
esac
if readelf -d "$bin" | grep -q '(NEEDED)'; then
  fail "$bin has NEEDED entries: $(readelf -d "$bin" | grep NEEDED)"
fi
if readelf -l "$bin" | grep -q 'INTERP'; then
  fail "$bin asks for a program interpreter"
fi
if nm "$bin" 2>/dev/null | grep -Eq ' (getaddrinfo|gethostbyname|getpwnam|getpwuid|getgrnam|dlopen)'; then
  fail "$bin links NSS-dependent or dlopen calls: $(nm "$bin" | grep -E ' (getaddrinfo|gethostbyname|getpwnam|getpwuid|getgrnam|dlopen)')"
fi
size=$(stat -c %s "$bin")
echo "static binary: $bin ($size bytes, $((size / 1024 / 1024)) MiB; ldd: ${ldd_out//$'\t'/})"
