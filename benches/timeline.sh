#!/usr/bin/env bash
# Statistics timeline benchmark (issue #14, item 4): latency of
# GET /api/v1/stats/timeline on a store of N generated IOCs (default
# 1,000,000), read from the maintained counters (no record scan; the route
# is not in the response cache, so every request reads the counters).
#   - interval=day   (the default 30 days: 30 buckets)
#   - interval=hour  (the default 48 hours)
#   - interval=hour over 30 days (720 buckets)
#   - interval=day&type=domain
# Each with wrk at 2 and at 16 connections over HTTPS on loopback.
# Target: p99 < 5 ms.
#
# usage: benches/timeline.sh [N] [DURATION_SECONDS]   (needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
dur=${2:-10}
# shellcheck source=benches/lib.sh
. benches/lib.sh
wrk_setup
bench_server "$work" "$n" 0.2
since=$(date -u -d '30 days ago' +%Y-%m-%dT%H:00:00Z)
echo "store: $n generated IOCs (20% duplicates); wrk -t2 -d${dur}s over HTTPS on loopback, 2 cores shared with the server"
for conns in 2 16; do
  echo "-- $conns connections"
  printf '%-34s %12s %10s %10s\n' endpoint "requests/s" "p50" "p99"
  bench "/api/v1/stats/timeline" "timeline day (30 buckets)"
  bench "/api/v1/stats/timeline?interval=hour" "timeline hour (48 buckets)"
  bench "/api/v1/stats/timeline?interval=hour&since=$since" "timeline hour (720 buckets)"
  bench "/api/v1/stats/timeline?type=domain" "timeline day, type=domain"
done
