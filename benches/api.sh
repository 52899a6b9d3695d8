#!/usr/bin/env bash
# HTTPS API benchmark (issues #4 and #5): requests/s and p99 latency with wrk
# over TLS on loopback, on a store of N generated IOCs (default 1,000,000).
#   - GET /api/v1/health                 (the ceiling: no auth, no store)
#   - GET /api/v1/iocs?limit=100         (listing; identity and gzip)
#   - GET /api/v1/iocs/stix?limit=1000   (STIX bundle)
#   - GET /api/v1/iocs/misp?limit=1000   (MISP event)
# The listing and STIX again with the response cache off (every request
# renders). Then `iocd export --format stix` of the whole store: seconds and peak RSS.
#
# usage: benches/api.sh [N] [DURATION_SECONDS]     (needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
dur=${2:-10}
# shellcheck source=benches/lib.sh
. benches/lib.sh
wrk_setup
bench_server "$work" "$n" 0.2
echo "store: $n generated IOCs (20% duplicates); wrk -t2 -c16 -d${dur}s over HTTPS on loopback, 2 cores shared with the server"
printf '%-34s %12s %10s %10s\n' endpoint "requests/s" "p50" "p99"
bench /api/v1/health
bench "/api/v1/iocs?limit=100"
bench "/api/v1/iocs?limit=100" "/api/v1/iocs?limit=100 (gzip)" -H "Accept-Encoding: gzip"
bench "/api/v1/iocs/stix?limit=1000"
bench "/api/v1/iocs/misp?limit=1000"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
# The same reads with the response cache off: every request renders.
sed -i 's/^response_cache_ms = .*/response_cache_ms = 0/' "$work/iocd.toml"
IOCD_LOG=warn "$bin" serve --config "$work/iocd.toml" --listen "127.0.0.1:$port" 2>>"$work/serve.log" &
pid=$!
for _ in $(seq 100); do curl -sk "$base/api/v1/health" >/dev/null && break; sleep 0.2; done
echo "response cache off (response_cache_ms = 0):"
bench "/api/v1/iocs?limit=100" "/api/v1/iocs?limit=100 (uncached)"
bench "/api/v1/iocs/stix?limit=1000" "/api/v1/iocs/stix?limit=1000 (uncached)"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
/usr/bin/time -v "$bin" export --format stix --data-dir "$work/data" -o "$work/all.stix.json" 2>"$work/time.txt" >/dev/null
secs=$(grep 'Elapsed (wall clock)' "$work/time.txt" | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
rss=$(grep 'Maximum resident set size' "$work/time.txt" | awk '{print $NF}')
size=$(stat -c %s "$work/all.stix.json")
echo "iocd export --format stix (whole store): ${secs} s, peak RSS $((rss / 1024)) MiB, $((size / 1048576)) MiB written"
