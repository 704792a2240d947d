#!/usr/bin/env bash
# `make demo`: starts both servers (127.0.0.1:8815 and :8816) with `mallard serve`, runs
# `mallard demo` against them (arguments are passed on, e.g. --rows 200000), and stops the
# servers cleanly (SIGTERM, then wait) whether the demo passes or fails.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${MALLARD_BIN:-build/mallard}
LOG=${MALLARD_DEMO_LOG:-$(dirname "$BIN")/demo-servers.log}

"$BIN" serve >"$LOG" 2>&1 &
srv=$!
cleanup() {
  if kill -0 "$srv" 2>/dev/null; then
    kill -TERM "$srv" 2>/dev/null
    for _ in $(seq 1 150); do kill -0 "$srv" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$srv" 2>/dev/null || true
  fi
  wait "$srv" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rc=0
# `mallard demo` waits for both servers itself (and says so if they never come).
"$BIN" demo --server1 grpc://127.0.0.1:8815 --server2 grpc://127.0.0.1:8816 "$@" || rc=$?
if ! kill -0 "$srv" 2>/dev/null; then
  echo "demo: the servers exited early; their log ($LOG):" >&2
  tail -n 20 "$LOG" >&2
fi
[ $rc -ne 0 ] && echo "demo: failed (exit $rc); server log: $LOG" >&2
exit $rc
