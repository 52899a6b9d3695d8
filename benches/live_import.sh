#!/usr/bin/env bash
# Live import benchmark (issue #13, item 1): `iocd import` of N generated
# IOCs (20% duplicates, one text file) through the control socket of a
# running server while a TAXII reader pages the `all` collection, against
# the same import offline (server stopped) from the same starting store.
# Prints the offline rate, the live rate, their ratio (target >= 0.70) and
# the reader's TAXII p50/p99 latency idle and during the live import.
#
# The reader is a keep-alive HTTPS client (http.client + ssl) paging
# objects/?limit=100 by `next` (from the start again after the last page),
# pausing READER_PAUSE_MS (default 20) between requests: a SIEM polling
# hard, not a flood. Each mode runs ROUNDS times (default 2, alternating,
# each from a copy of the same starting store) and the best run of each is
# compared, so a neighbour's burst on a shared machine does not decide it.
#
# usage: benches/live_import.sh [N]      (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
base_n=${BASE_N:-20000}
idle_secs=${IDLE_SECS:-10}
rounds=${ROUNDS:-2}
pause_ms=${READER_PAUSE_MS:-20}
work=$(mktemp -d)
pid=
rpid=
cleanup() {
  [ -n "$rpid" ] && kill "$rpid" 2>/dev/null
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cargo build --release --quiet
bin=$PWD/target/release/iocd
# shellcheck source=benches/lib.sh
. benches/lib.sh
ALL=57dce6a1-9cbf-52cf-89a5-7fecd7501cb4

cat >"$work/reader.py" <<'PY'
import base64, http.client, os, re, ssl, sys, time
from urllib.parse import quote, urlsplit

url, ca, key, stop, out, pause = sys.argv[1:7]
u = urlsplit(url)
conn = http.client.HTTPSConnection(u.hostname, u.port, context=ssl.create_default_context(cafile=ca))
headers = {"Accept": "application/taxii+json;version=2.1",
           "Authorization": "Basic " + base64.b64encode(f"taxii:{key}".encode()).decode()}
more = re.compile(rb'"more"\s*:\s*(true|false)')
nxt = re.compile(rb'"next"\s*:\s*"([^"]*)"')
lat, bad, cursor = [], 0, None
while not os.path.exists(stop):
    path = f"{u.path}?limit=100" + (f"&next={quote(cursor)}" if cursor else "")
    t = time.perf_counter()
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    body = r.read()
    lat.append((time.perf_counter() - t) * 1000)
    if r.status != 200:
        bad += 1
        cursor = None
    else:
        m = more.search(body[:200]) or more.search(body)
        cursor = None if m is None or m.group(1) == b"false" else (nxt.search(body[:300]) or nxt.search(body)).group(1).decode()
    time.sleep(int(pause) / 1000)
with open(out, "w") as f:
    f.write(f"{bad}\n" + "\n".join(f"{x:.3f}" for x in lat) + "\n")
PY

# reader_run OUT: starts the reader in the background (sets rpid).
reader_run() {
  rm -f "$work/stop"
  python3 "$work/reader.py" "$base/api/taxii2/iocs/collections/$ALL/objects/" \
    "$d/data/tls/ca.crt" "$key" "$work/stop" "$1" "$pause_ms" &
  rpid=$!
}
reader_stop() {
  touch "$work/stop"
  wait "$rpid"
  rpid=
}
now() { date +%s.%N; }
serve() {
  IOCD_LOG=warn "$bin" serve --config "$d/iocd.toml" --listen "127.0.0.1:$port" 2>>"$d/serve.log" &
  pid=$!
  for _ in $(seq 100); do curl -sk "$base/api/v1/health" >/dev/null && break; sleep 0.2; done
}
stop_server() {
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
}

d="$work/live"
bench_server "$d" "$base_n" 0
python3 benches/gen_iocs.py "$n" 0.2 "$work/iocs.txt"
echo "== $n IOCs (20% duplicates) into a store of $base_n; 2 cores shared by server, CLI and reader"

# Idle TAXII latency.
reader_run "$work/idle.txt"
sleep "$idle_secs"
reader_stop

# The starting store, kept for every round.
stop_server
cp -a "$d/data" "$work/start"
: >"$work/times.txt"
for r in $(seq "$rounds"); do
  # Offline: server stopped.
  rm -rf "$work/offline"
  cp -a "$work/start" "$work/offline"
  t0=$(now)
  "$bin" import "$work/iocs.txt" --data-dir "$work/offline" --source bench --json >"$work/offline.json" 2>/dev/null
  t1=$(now)
  rm -rf "$work/offline"
  # Live: through the control socket while the reader pages.
  rm -rf "$d/data"
  cp -a "$work/start" "$d/data"
  serve
  reader_run "$work/during$r.txt"
  t2=$(now)
  "$bin" import "$work/iocs.txt" --config "$d/iocd.toml" --source bench --json >"$work/live.json" 2>/dev/null
  t3=$(now)
  reader_stop
  stored=$("$bin" stats --config "$d/iocd.toml" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
  stop_server
  echo "$t0 $t1 $t2 $t3" >>"$work/times.txt"
done

python3 - "$n" "$work" "$stored" "$rounds" "$pause_ms" <<'PY'
import json, statistics, sys
n, work, stored, rounds, pause = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
runs = [list(map(float, l.split())) for l in open(f"{work}/times.txt")]
off_s = [t1 - t0 for t0, t1, _, _ in runs]
live_s = [t3 - t2 for _, _, t2, t3 in runs]
off, live = json.load(open(f"{work}/offline.json")), json.load(open(f"{work}/live.json"))
same = all(off[k] == live[k] for k in ("observations", "new", "updated", "unchanged", "rejected"))
def lat(names):
    bad, xs = 0, []
    for name in names:
        lines = open(f"{work}/{name}.txt").read().split()
        bad += int(lines[0]); xs += [float(x) for x in lines[1:]]
    xs.sort()
    p = lambda q: xs[min(len(xs) - 1, int(q * len(xs)))]
    return len(xs), bad, statistics.median(xs), p(0.99)
ro, rl = n / min(off_s), n / min(live_s)
print(f"offline import: best of {rounds} {min(off_s):.2f} s = {ro:,.0f} IOCs/s (runs: {', '.join(f'{x:.2f}' for x in off_s)} s)")
print(f"live import (control socket, reader every {pause} ms): best of {rounds} {min(live_s):.2f} s = {rl:,.0f} IOCs/s (runs: {', '.join(f'{x:.2f}' for x in live_s)} s)")
print(f"live / offline: {rl / ro:.2f} (target >= 0.70)")
print(f"summaries equal (observations/new/updated/unchanged/rejected): {same}; stored after the live import: {stored}")
for names, label in ((["idle"], "idle"), ([f"during{r + 1}" for r in range(rounds)], "during the live imports")):
    k, bad, p50, p99 = lat(names) if any(open(f"{work}/{x}.txt").read().split()[1:] for x in names) else (0, 0, float("nan"), float("nan"))
    print(f"TAXII objects?limit=100 {label}: {k} requests, {bad} non-200, p50 {p50:.1f} ms, p99 {p99:.1f} ms")
PY
