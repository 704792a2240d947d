#!/usr/bin/env bash
# Builds Apache Arrow's Rust Flight client driver (tests/clients/rust, crates pinned by its
# Cargo.lock) into deps/rust-client, then runs it:
#   scripts/rust-client.sh URL PASSWORD TABLE SQL      (URL: http://HOST:PORT)
# Exit 2 when cargo is missing.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
command -v cargo >/dev/null || { echo "cargo not found" >&2; exit 2; }
export CARGO_TARGET_DIR="$ROOT/deps/rust-client"
# The debug profile: it builds in about half the time of --release, and the driver moves little data.
cargo build -q --locked --manifest-path "$ROOT/tests/clients/rust/Cargo.toml" >&2
exec "$CARGO_TARGET_DIR/debug/mallard-rust-flight-client" "$@"
