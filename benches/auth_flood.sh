#!/usr/bin/env bash
# Invalid-key flood (issue #11, item 1): a valid client's p50/p99 idle and
# during a flood of wrong secrets over HTTP/2 from several loopback
# addresses; the flood's answers by status; the server's peak memory and
# threads. Bounded: two phases of SECS seconds each, loopback only.
#
# usage: benches/auth_flood.sh [SECS] [ADDRS] [STREAMS]   (defaults 5 4 64)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5} ADDRS=${2:-4} STREAMS=${3:-64} cargo bench --quiet --bench auth_flood
