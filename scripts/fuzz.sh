#!/usr/bin/env bash
# Runs every libFuzzer target for a bounded time over its committed seed corpus.
# usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (needs `make fuzz-build`)
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
BUILD_FUZZ=${BUILD_FUZZ:-build-fuzz}
rc=0
shopt -s nullglob
for bin in "$BUILD_FUZZ"/tests/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin"); name=${name#fuzz_}
  seeds="tests/fuzz/corpus/$name"
  work="tests/fuzz/corpus-work/$name"
  mkdir -p "$work"
  echo "fuzz $name: ${secs}s, seeds from $seeds"
  if ! ASAN_OPTIONS=detect_leaks=1 "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 \
      -max_len=1048576 -print_final_stats=1 -artifact_prefix="$work/" "$work" "$seeds" \
      >"$work.log" 2>&1; then
    echo "fuzz $name: FAILED (see $work.log)"; tail -40 "$work.log"; rc=1
  else
    grep -E 'stat::number_of_executed_units|Done [0-9]+ runs' "$work.log" | tail -2
  fi
done
exit $rc
