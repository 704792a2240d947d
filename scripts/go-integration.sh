#!/usr/bin/env bash
# Runs Arrow's cross-language Flight integration client (arrow-go) against
# mallard-flight-integration: every scenario the Go client supports, then the default scenario
# on each gold JSON file. Usage: scripts/go-integration.sh [BUILD_DIR]   (default: build)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:-${MALLARD_BUILD_DIR:-$ROOT/build}}"
SERVER="$BUILD/tests/servers/mallard-flight-integration"
ARROW_GO_VERSION=v18.7.0
CLIENT="$ROOT/deps/go/bin/arrow-flight-integration-client"

command -v go >/dev/null || { echo "go not found: install Go to run the Flight integration suite" >&2; exit 2; }
[ -x "$SERVER" ] || { echo "$SERVER not found: build the target mallard-flight-integration" >&2; exit 2; }
if [ ! -x "$CLIENT" ]; then
  mkdir -p "$ROOT/deps/go/bin"
  GOBIN="$ROOT/deps/go/bin" go install \
    "github.com/apache/arrow-go/v18/arrow/internal/flight_integration/cmd/arrow-flight-integration-client@$ARROW_GO_VERSION"
fi

GOLD="$ROOT/tests/data/arrow-ipc-gold/integration/cpp-21.0.0"
[ -d "$GOLD" ] || GOLD="$ROOT/../shared/testdata/arrow-ipc-gold/integration/cpp-21.0.0"
TMP="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

FAILED=0
PASSED=0
run() { # scenario [json]
  local scenario="$1" json="${2:-}"
  "$SERVER" -port 0 -scenario "$scenario" >"$TMP/server.out" 2>"$TMP/server.err" &
  SERVER_PID=$!
  local port="" i
  for i in $(seq 1 100); do
    port="$(sed -n 's/^Server listening on localhost:\([0-9]*\)$/\1/p' "$TMP/server.out" | head -1)"
    [ -n "$port" ] && break
    sleep 0.05
  done
  local label="${scenario:-default}${json:+ $(basename "$json")}"
  local args=(-host localhost -port "$port")
  [ -n "$scenario" ] && args+=(-scenario "$scenario")
  [ -n "$json" ] && args+=(-path "$json")
  if [ -n "$port" ] && timeout 120 "$CLIENT" "${args[@]}" >"$TMP/client.out" 2>&1; then
    echo "PASS $label"; PASSED=$((PASSED + 1))
  else
    echo "FAIL $label"; FAILED=$((FAILED + 1)); tail -20 "$TMP/client.out" | sed 's/^/  | /'
  fi
  kill "$SERVER_PID" 2>/dev/null || true
  local rc=0
  wait "$SERVER_PID" 2>/dev/null || rc=$?
  SERVER_PID=""
  if grep -q -E "AddressSanitizer|runtime error:|LeakSanitizer" "$TMP/server.err"; then
    echo "FAIL $label: sanitizer report"; sed 's/^/  | /' "$TMP/server.err" | head -40
    FAILED=$((FAILED + 1))
  fi
}

for s in auth:basic_proto middleware ordered expiration_time:do_get expiration_time:list_actions \
         expiration_time:cancel_flight_info expiration_time:renew_flight_endpoint \
         location:reuse_connection poll_flight_info app_metadata_flight_info_endpoint; do
  run "$s"
done
for gz in "$GOLD"/*.json.gz; do
  json="$TMP/$(basename "$gz" .gz)"
  gunzip -c "$gz" >"$json"
  run "" "$json"
done
echo "passed: $PASSED, failed: $FAILED"
[ "$FAILED" -eq 0 ]
