#!/usr/bin/env bash
# Runs every test: formatting, C unit tests (release/gcc and ASan+UBSan/clang builds),
# integration tests (pytest against real servers, also on the sanitizer build), and a bounded
# fuzz run. Called by `make test` after the builds; prints each runner's summary line.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BUILD_ASAN=${BUILD_ASAN:-build-asan}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
failed=()

step() { printf '\n=== %s\n' "$*"; }

step "format check"
# (The output decides, not the pipeline's status: under pipefail clang-format's own failure made
# an `if ... | grep .` take the "formatted" branch, so a violation never failed the run.)
format_out=$(clang-format --dry-run --Werror $(git ls-files '*.c' '*.h' 2>/dev/null) 2>&1)
if [ -n "$format_out" ]; then
  printf '%s\n' "$format_out" | head -20
  failed+=(format)
else
  echo "clang-format: all files formatted"
fi

step "unit tests (release, gcc)"
ctest --test-dir "$BUILD" --output-on-failure --timeout 300 || failed+=(unit)

step "unit tests (debug, ASan+UBSan, clang)"
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir "$BUILD_ASAN" --output-on-failure --timeout 600 || failed+=(unit-asan)

step "integration tests (pytest, release build)"
MALLARD_BIN="$PWD/$BUILD/mallard" MALLARD_BUILD_DIR="$PWD/$BUILD" .venv/bin/python -m pytest tests/integration -q -p no:cacheprovider --timeout 600 || failed+=(integration)

step "integration tests of the Flight transport and client (pytest, ASan+UBSan build)"
# The fixtures fail a test when a server's stderr holds a sanitizer report. One pytest run per
# folder: each folder's conftest.py is imported by name.
for suite in flight_server flight_client; do
  MALLARD_BIN="$PWD/$BUILD_ASAN/mallard" MALLARD_BUILD_DIR="$PWD/$BUILD_ASAN" \
    ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS="suppressions=$PWD/tests/integration/flight_client/lsan.supp" \
    .venv/bin/python -m pytest "tests/integration/$suite" -q -p no:cacheprovider --timeout 900 ||
    failed+=("integration-asan:$suite")
done

if [ -x scripts/fuzz.sh ]; then
  step "fuzz (${FUZZ_SECONDS}s per target)"
  bash scripts/fuzz.sh "$FUZZ_SECONDS" || failed+=(fuzz)
fi

if [ ${#failed[@]} -gt 0 ]; then
  printf '\nFAILED: %s\n' "${failed[*]}"
  exit 1
fi
printf '\nALL TESTS PASSED\n'
