#!/usr/bin/env bash
# TAXII 2.1 benchmark (issue #6): page the `all` collection to the end at
# limit=1000 over HTTPS, on stores of 100,000 and 1,000,000 generated
# indicators, with a keep-alive Python client (http.client + ssl: no JSON
# parsing, it reads `more`/`next` from the head of the envelope and counts
# the objects). Prints objects/s, first / median / last full page time,
# the server's peak RSS, then the latency of a limit=1 request under 8
# concurrent connections (wrk -t2 -c8).
# With --medallion (or MEDALLION=1), also pages a 2,000-object collection on
# medallion (OASIS reference server, memory backend, pip-installed into a
# temporary venv) with the same client.
#
# usage: benches/taxii.sh [SIZES...] [--medallion]   (default sizes: 100000 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=()
medallion=${MEDALLION:-0}
for a in "$@"; do
  case $a in
    --medallion) medallion=1 ;;
    *) sizes+=("$a") ;;
  esac
done
[ ${#sizes[@]} -eq 0 ] && sizes=(100000 1000000)
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
work=$(mktemp -d)
pid=
mpid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  [ -n "$mpid" ] && kill "$mpid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cargo build --release --quiet
bin=$PWD/target/release/iocd
# shellcheck source=benches/lib.sh
. benches/lib.sh
ALL=57dce6a1-9cbf-52cf-89a5-7fecd7501cb4
ACCEPT="application/taxii+json;version=2.1"

# The pager: GET objects/?limit=L[&next=…] until more is false.
cat >"$work/pager.py" <<'PY'
import base64, http.client, re, ssl, statistics, sys, time
from urllib.parse import quote, urlsplit

url, ca, user, password, limit = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
u = urlsplit(url)
if u.scheme == "https":
    ctx = ssl.create_default_context(cafile=ca) if ca != "-" else ssl._create_unverified_context()
    conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx)
else:
    conn = http.client.HTTPConnection(u.hostname, u.port)
headers = {"Accept": "application/taxii+json;version=2.1",
           "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
head = re.compile(rb'"more"\s*:\s*(true|false)')
nxt = re.compile(rb'"next"\s*:\s*"([^"]*)"')
total, times, counts, cursor = 0, [], [], None
conn.connect()  # TCP + TLS handshake outside the page times
t0 = time.perf_counter()
while True:
    path = f"{u.path}?limit={limit}" + (f"&next={quote(cursor)}" if cursor else "")
    t = time.perf_counter()
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    body = r.read()
    times.append(time.perf_counter() - t)
    if r.status != 200:
        sys.exit(f"HTTP {r.status} on page {len(times)}: {body[:300]!r}")
    n = body.count(b'"spec_version"')  # one per STIX 2.1 object
    counts.append(n)
    total += n
    m = head.search(body[:200]) or head.search(body)
    if m.group(1) == b"false":
        break
    cursor = (nxt.search(body[:300]) or nxt.search(body)).group(1).decode()
wall = time.perf_counter() - t0
full = [t for t, c in zip(times, counts) if c == limit] or times
print(f"{total} objects in {len(times)} pages, {wall:.2f} s: {total / wall:,.0f} objects/s; "
      f"page ms first {times[0] * 1000:.1f}, median {statistics.median(full) * 1000:.1f}, "
      f"last full {full[-1] * 1000:.1f}, last {times[-1] * 1000:.1f}")
PY

python3 - <<'PY' >/dev/null || { echo "python3 is required"; exit 1; }
import http.client, ssl
PY

for n in "${sizes[@]}"; do
  d="$work/n$n"
  bench_server "$d" "$n" 0
  stored=$(curl -s --cacert "$d/data/tls/ca.crt" -H "Authorization: Bearer $key" "$base/api/v1/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
  echo "== $stored indicators (generated $n), collection 'all', limit=1000, HTTPS on loopback, 2 cores shared with the client"
  for run in 1 2; do
    printf 'run %s: ' "$run"
    python3 "$work/pager.py" "$base/api/taxii2/iocs/collections/$ALL/objects/" "$d/data/tls/ca.crt" taxii "$key" 1000
  done
  echo "server peak RSS: $(awk '/VmHWM/ {printf "%d MiB", $2/1024}' /proc/$pid/status)"
  echo "limit=1 under 8 connections (wrk -t2 -c8 -d10s):"
  wrk -t2 -c8 -d10s --latency -H "Authorization: Bearer $key" -H "Accept: $ACCEPT" \
    "$base/api/taxii2/iocs/collections/$ALL/objects/?limit=1" |
    awk '/Requests\/sec/ {rps=$2} $1=="50%" {p50=$2} $1=="99%" {p99=$2} /Non-2xx/ {bad=$0} END {printf "  %s requests/s, p50 %s, p99 %s %s\n", rps, p50, p99, bad}'
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  rm -rf "$d"
done

if [ "$medallion" = 1 ]; then
  echo "== medallion (OASIS reference TAXII server, memory backend), 2000 indicators, limit=1000 (HTTP, no TLS)"
  python3 -m venv "$work/mvenv" >/dev/null
  "$work/mvenv/bin/pip" install -q medallion >/dev/null 2>&1 || { echo "pip install medallion failed"; exit 0; }
  "$work/mvenv/bin/python" - "$work/medallion.json" <<'PY'
import datetime, json, sys, uuid
coll = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
objs, man = [], []
t0 = datetime.datetime(2026, 1, 1)
for i in range(2000):
    ts = (t0 + datetime.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    o = {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}", "created": ts[:23] + "Z",
         "modified": ts[:23] + "Z", "name": f"Malicious IPv4 Address - 45.0.{i // 256}.{i % 256}",
         "indicator_types": ["malicious-activity"], "pattern": f"[ipv4-addr:value = '45.0.{i // 256}.{i % 256}']",
         "pattern_type": "stix", "pattern_version": "2.1", "valid_from": ts[:23] + "Z", "confidence": 50}
    objs.append(o)
    man.append({"id": o["id"], "date_added": ts, "version": o["modified"], "media_type": "application/stix+json;version=2.1"})
doc = {
    "/discovery": {"title": "bench", "default": "http://127.0.0.1/api1/", "api_roots": ["http://127.0.0.1/api1/"]},
    "api1": {
        "information": {"title": "bench", "versions": ["application/taxii+json;version=2.1"], "max_content_length": 100000000},
        "status": [],
        "collections": [{"id": coll, "title": "bench", "can_read": True, "can_write": False,
                         "media_types": ["application/stix+json;version=2.1"], "objects": objs, "manifest": man}],
    },
}
json.dump(doc, open(sys.argv[1], "w"))
PY
  cat >"$work/medallion.conf" <<JSON
{"backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend", "filename": "$work/medallion.json"},
 "users": {"bench": "bench"}, "taxii": {"max_page_size": 1000}}
JSON
  mport=$((20000 + RANDOM % 20000))
  (cd "$work" && exec "$work/mvenv/bin/medallion" --host 127.0.0.1 --port "$mport" "$work/medallion.conf" >"$work/medallion.log" 2>&1) &
  mpid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$mport/taxii2/" && break; sleep 0.3; done
  printf 'medallion: '
  python3 "$work/pager.py" "http://127.0.0.1:$mport/api1/collections/91a7b528-80eb-42ed-a74d-c6fbd5a26116/objects/" - bench bench 1000 || tail -5 "$work/medallion.log"
  # medallion's session-checker thread can outlive SIGTERM for a while.
  kill "$mpid" 2>/dev/null; sleep 1; kill -9 "$mpid" 2>/dev/null; wait "$mpid" 2>/dev/null || true; mpid=
fi
