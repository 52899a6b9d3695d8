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
# name comes from /proc, feed hosts are resolved by hickory), and this
# script fails if gethostbyname, getpwnam & co. are linked in.
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
# The symbol table is read into a variable first: `nm | grep -q` under
# pipefail fails whenever grep stops reading early, so it could never fire.
# dlopen is not in the list: static glibc carries a weak reference to it
# for iconv's gconv modules, which only iconv() reaches and iocd never
# calls (smoke-static.sh runs the binary in an empty chroot).
# getaddrinfo is not in the list either: reqwest (feeds, src/feeds/fetch.rs)
# links its default getaddrinfo resolver even when, as in iocd, every
# client is built with `hickory_dns(true)`, so feed host names are resolved
# by hickory (pure Rust) and getaddrinfo is never called. The other NSS
# entry points (users, groups, gethostbyname) must stay out.
syms=$(nm "$bin" 2>/dev/null || true)
[ -n "$syms" ] || fail "nm could not read the symbols of $bin"
nss=$(grep -E ' (gethostbyname|gethostbyname_r|getpwnam|getpwnam_r|getpwuid|getpwuid_r|getgrnam|getgrnam_r|getgrgid)$' <<<"$syms" || true)
[ -z "$nss" ] || fail "$bin links NSS-dependent calls: $nss"
size=$(stat -c %s "$bin")
echo "static binary: $bin ($size bytes, $((size / 1024 / 1024)) MiB; ldd: ${ldd_out//$'\t'/})"
