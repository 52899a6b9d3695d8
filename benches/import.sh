#!/usr/bin/env bash
# Import benchmark (issue #3): 1,000,000 generated IOCs of mixed types with
# 20% duplicates, from one text file, end to end through `iocd import`.
# Prints IOCs/s, peak RSS and bytes on disk per stored IOC, then the time
# and peak RSS of exporting the whole store as STIX and as MISP.
#
# usage: benches/import.sh [N]      (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release --quiet
bin=target/release/iocd
python3 benches/gen_iocs.py "$n" 0.2 "$work/iocs.txt"
/usr/bin/time -v "$bin" import --create "$work/iocs.txt" --data-dir "$work/data" --source bench --json \
  >"$work/summary.json" 2>"$work/time.txt"
secs=$(grep 'Elapsed (wall clock)' "$work/time.txt" | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
rss_kb=$(grep 'Maximum resident set size' "$work/time.txt" | awk '{print $NF}')
disk=$(du -sb "$work/data/store" | cut -f1)
stored=$("$bin" stats --data-dir "$work/data" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
python3 - "$n" "$secs" "$rss_kb" "$disk" "$stored" <<'PY'
import sys
n, secs, rss_kb, disk, stored = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print(f"import: {n} lines ({stored} unique stored) in {secs:.2f} s = {n/secs:,.0f} IOCs/s")
print(f"peak RSS: {rss_kb/1024:.1f} MiB")
print(f"on disk: {disk/2**20:.1f} MiB = {disk/stored:.0f} bytes per stored IOC")
PY

# Hand-off export of the whole store (issue #5: < 10 s, < 100 MiB).
for fmt in stix misp; do
  /usr/bin/time -v "$bin" export --format "$fmt" --data-dir "$work/data" -o "$work/export.$fmt" \
    2>"$work/etime.txt" >/dev/null
  esecs=$(grep 'Elapsed (wall clock)' "$work/etime.txt" | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  erss=$(grep 'Maximum resident set size' "$work/etime.txt" | awk '{print $NF}')
  ebytes=$(stat -c %s "$work/export.$fmt")
  python3 -c "import sys; s,r,b=float(sys.argv[1]),int(sys.argv[2]),int(sys.argv[3]); print(f'export --format $fmt: {s:.2f} s, peak RSS {r/1024:.1f} MiB, {b/2**20:.0f} MiB written')" "$esecs" "$erss" "$ebytes"
done
