#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ briefly (CI) or for as long as you
# like (developer machine). Needs a nightly toolchain (rustup) and
# cargo-fuzz; installs cargo-fuzz when missing. Without nightly it prints
# a SKIP line and exits 0.
#
#   bash fuzz/run.sh                 # every target, FUZZ_SECS (4) seconds each
#   FUZZ_SECS=3600 bash fuzz/run.sh import_misp   # one target, one hour
#   FUZZ_SANITIZER=address bash fuzz/run.sh       # with AddressSanitizer
#
# Before fuzzing, each target replays fuzz/regressions/<target>/ (inputs
# that once crashed it): a regression fails the run. A new crash leaves its
# input in fuzz/artifacts/<target>/; copy it to fuzz/regressions/<target>/
# once fixed. Prints one line per target: executions, seconds, corpus size.
set -euo pipefail
cd "$(dirname "$0")"
secs=${FUZZ_SECS:-4}
sanitizer=${FUZZ_SANITIZER:-none}

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "SKIP: fuzz/run.sh needs a nightly toolchain (rustup toolchain install nightly)"
  exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install -q --locked cargo-fuzz
fi

targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
t0=$SECONDS
mkdir -p corpus
if ! cargo +nightly fuzz build -s "$sanitizer" >corpus/build.log 2>&1; then
  grep -vE "^\s+(Compiling|Checking)" corpus/build.log | tail -60
  echo "FUZZ: the targets do not build"
  exit 1
fi
echo "fuzz: built ${#targets[@]} targets in $((SECONDS - t0))s (sanitizer: $sanitizer)"

fixtures=../tests/fixtures
seed() { # target, files...
  local t=$1; shift
  mkdir -p "corpus/$t"
  for f in "$@"; do
    [ -f "$f" ] && cp "$f" "corpus/$t/seed-$(basename "$f")"
  done
  if [ -d "seeds/$t" ]; then cp seeds/"$t"/* "corpus/$t/" 2>/dev/null || true; fi
}
seed import_misp $fixtures/import/misp_*.json $fixtures/fidelity/misp_types.json $fixtures/feeds/event.json
seed import_csv $fixtures/import/*.csv $fixtures/fidelity/*.csv $fixtures/feeds/list.csv
seed import_text $fixtures/import/list.txt $fixtures/import/samples.sha256 $fixtures/feeds/list.txt $fixtures/live/good.txt
seed import_stix $fixtures/import/bundle.stix.json $fixtures/feeds/bundle.json seeds/taxii_envelope/00
seed import_openioc $fixtures/fidelity/openioc_1_0.ioc $fixtures/fidelity/openioc_1_1.xml $fixtures/feeds/iocs.ioc
seed import_rss $fixtures/articles/feed.rss $fixtures/articles/feed.atom $fixtures/articles/bad.xml
seed import_report $fixtures/articles/report.html $fixtures/articles/report.md
seed import_auto $fixtures/import/* $fixtures/articles/* $fixtures/fidelity/*
seed config_file ../config/iocd.toml
for t in ioc_value stix_pattern query_params taxii_envelope backup_reader; do seed "$t"; done

status=0
for t in "${targets[@]}"; do
  bin=target/x86_64-unknown-linux-gnu/release/$t
  if [ -d "regressions/$t" ] && [ -n "$(ls -A "regressions/$t")" ]; then
    if ! "$bin" -runs=0 "regressions/$t"/* >"corpus/$t.replay.log" 2>&1; then
      echo "FUZZ $t: a regression input fails again (fuzz/regressions/$t):"
      tail -30 "corpus/$t.replay.log"
      status=1
      continue
    fi
  fi
  mkdir -p "artifacts/$t"
  log=corpus/$t.log
  if "$bin" "corpus/$t" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 \
       -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"$log" 2>&1; then
    runs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$log" | grep -oE "[0-9]+$" || echo "?")
    echo "FUZZ $t: $runs executions in ${secs}s, corpus $(ls "corpus/$t" | wc -l) inputs, no crash"
  else
    echo "FUZZ $t: CRASH; input in fuzz/artifacts/$t/; reproduce with: cargo +nightly fuzz run $t fuzz/artifacts/$t/<file>"
    grep -E "panicked|ERROR|SUMMARY" "$log" | head -10
    tail -40 "$log"
    status=1
  fi
done
exit $status
