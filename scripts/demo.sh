#!/usr/bin/env bash
# `make demo`: starts two servers with `mallard serve` (free ports, read from its `listening`
# lines; MALLARD_DEMO_LISTEN="127.0.0.1:8815 127.0.0.1:8816" picks fixed ones), runs
# `mallard demo` against them (arguments are passed on, e.g. --rows 200000), and stops the
# servers cleanly (SIGTERM, then wait) whether the demo passes or fails.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${MALLARD_BIN:-build/mallard}
LOG=${MALLARD_DEMO_LOG:-$(dirname "$BIN")/demo-servers.log}
LISTEN=${MALLARD_DEMO_LISTEN:-127.0.0.1:0 127.0.0.1:0}

args=()
for l in $LISTEN; do args+=(--listen "$l"); done
"$BIN" serve "${args[@]}" >"$LOG" 2>&1 &
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

# The addresses the servers chose (`mallard demo` itself waits until they answer).
uris=()
for _ in $(seq 1 300); do
  mapfile -t uris < <(sed -n 's/^listening \(grpc:\/\/[^ ]*\)$/\1/p' "$LOG")
  [ ${#uris[@]} -ge 2 ] && break
  kill -0 "$srv" 2>/dev/null || break
  sleep 0.1
done
if [ ${#uris[@]} -lt 2 ]; then
  echo "demo: mallard serve did not start; its log ($LOG):" >&2
  tail -n 20 "$LOG" >&2
  exit 3
fi

rc=0
"$BIN" demo --server1 "${uris[0]}" --server2 "${uris[1]}" "$@" || rc=$?
if ! kill -0 "$srv" 2>/dev/null; then
  echo "demo: the servers exited early; their log ($LOG):" >&2
  tail -n 20 "$LOG" >&2
fi
[ $rc -ne 0 ] && echo "demo: failed (exit $rc); server log: $LOG" >&2
exit $rc
