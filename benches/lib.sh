# Shared setup of the HTTP benchmarks (sourced, not run).
#
# wrk_setup: the prologue of the wrk benchmarks: checks wrk is installed,
# builds the release binary, and sets `bin`, `work` (a temporary directory
# removed at exit, after stopping the server `pid` if one runs).
wrk_setup() {
  command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
  work=$(mktemp -d)
  pid=
  trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; fi; wait 2>/dev/null; rm -rf "$work"' EXIT
  cargo build --release --quiet
  bin=$PWD/target/release/iocd
}

# bench_server DIR N DUP [GEN_ARGS]: generates N IOCs (DUP share of
# duplicates) into DIR, initializes a data directory there with a `bench`
# tier that never rate-limits, imports the IOCs, creates a key and starts
# `iocd serve` on a random loopback port. Sets: key, port, base, pid.
# Needs `bin` (the iocd binary) set by the caller.
bench_server() {
  local d=$1 n=$2 dup=$3
  mkdir -p "$d"
  python3 benches/gen_iocs.py "$n" "$dup" "$d/iocs.txt"
  "$bin" init --data-dir "$d/data" --config "$d/iocd.toml" >/dev/null 2>&1
  cat >>"$d/iocd.toml" <<'TOML'
[tiers.bench]
requests_per_minute = 100000000
requests_per_day = 1000000000
lookback_days = 3650
scopes = ["admin"]
TOML
  sed -i 's/^seed_when_empty = true/seed_when_empty = false/' "$d/iocd.toml"
  "$bin" import "$d/iocs.txt" --data-dir "$d/data" --source bench >/dev/null 2>&1
  key=$("$bin" keys --config "$d/iocd.toml" create --name bench --tier bench --scopes admin 2>/dev/null)
  port=$((20000 + RANDOM % 20000))
  IOCD_LOG=warn "$bin" serve --config "$d/iocd.toml" --listen "127.0.0.1:$port" 2>"$d/serve.log" &
  pid=$!
  base="https://127.0.0.1:$port"
  for _ in $(seq 100); do curl -sk "$base/api/v1/health" >/dev/null && break; sleep 0.2; done
}

# bench PATH [LABEL] [WRK_ARGS...]: wrk -t2 -c${conns:-16} against $base$PATH with the
# bench key (2 s warm-up, then $dur seconds); prints one row: label,
# requests/s, p50, p99. Needs `base`, `key`, `dur`.
bench() {
  local path=$1 label=${2:-$1}
  shift 2 || shift
  local out
  # Warm up first (page cache, sled cache, TLS sessions), then measure.
  wrk -t2 -c"${conns:-16}" -d2s -H "Authorization: Bearer $key" "$@" "$base$path" >/dev/null
  out=$(wrk -t2 -c"${conns:-16}" -d"${dur}s" --latency -H "Authorization: Bearer $key" "$@" "$base$path")
  local rps p50 p99
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  printf '%-34s %12s %10s %10s\n' "$label" "$rps" "$p50" "$p99"
  if echo "$out" | grep -q 'Non-2xx'; then echo "  WARNING: $(echo "$out" | grep 'Non-2xx')"; fi
}
