#!/usr/bin/env bash
# Installs everything Mallard needs to build, test and run the demo. Idempotent: a second run
# only verifies what is already there and takes seconds.
#   - Debian packages (gRPC core C API, protobuf-c, LZ4, ZSTD, libsodium, clang tools, ...)
#   - DuckDB 1.4.4 (library + header) from two npm packages, sha256-verified, into deps/duckdb
#     (skipped when DUCKDB_PREFIX points at an existing install with include/duckdb.h and lib/libduckdb.so)
#   - the flights dataset (vega-datasets@3.2.1) into data/
#   - a project-local Python virtualenv (.venv) with pinned test tools
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

say() { printf 'deps: %s\n' "$*" >&2; }
die() { printf 'deps: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- Debian packages
APT_PKGS=(build-essential cmake ninja-build pkg-config git
  libgrpc-dev libprotobuf-c-dev protobuf-c-compiler
  liblz4-dev libzstd-dev libsodium-dev
  clang clang-format libclang-rt-14-dev
  python3 python3-venv python3-dev openssl npm procps)

missing=()
for p in "${APT_PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    # npm may come from a non-Debian node install; accept it if the command exists
    if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
      die "missing Debian packages: ${missing[*]} (run: apt-get install ${missing[*]} as root)"; fi
  else SUDO=""; fi
  say "installing Debian packages: ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---------------------------------------------------------------- npm artefacts
# name@version  sha256 of the .tgz that `npm pack` produces
DUCKDB_LIB_PKG="@duckdb/node-bindings-linux-x64@1.4.4-r.4"
DUCKDB_HDR_PKG="duckdb@1.4.4"
VEGA_PKG="vega-datasets@3.2.1"
source "$ROOT/scripts/deps.sha256"   # defines *_SHA256 variables

cache="$ROOT/deps/cache"
mkdir -p "$cache"

npm_fetch() { # pkg expected_sha256 -> prints path of verified tgz
  local pkg=$1 want=$2 tgz
  # npm pack names @scope/name@v as scope-name-v.tgz
  tgz="$cache/$(echo "${pkg%@*}" | sed 's#^@##; s#/#-#')-${pkg##*@}.tgz"
  if [ ! -f "$tgz" ] || [ "$(sha256sum "$tgz" | cut -d' ' -f1)" != "$want" ]; then
    command -v npm >/dev/null 2>&1 || die "npm not found (install it: apt-get install npm)"
    say "fetching $pkg with npm pack"
    rm -f "$tgz"
    (cd "$cache" && npm pack --silent --ignore-scripts "$pkg" >/dev/null)
  fi
  local got; got=$(sha256sum "$tgz" | cut -d' ' -f1)
  [ "$got" = "$want" ] || die "$pkg: sha256 mismatch (got $got, want $want)"
  echo "$tgz"
}

if [ -n "${DUCKDB_PREFIX:-}" ]; then
  [ -f "$DUCKDB_PREFIX/include/duckdb.h" ] && [ -f "$DUCKDB_PREFIX/lib/libduckdb.so" ] ||
    die "DUCKDB_PREFIX=$DUCKDB_PREFIX must hold include/duckdb.h and lib/libduckdb.so"
  say "using DuckDB from DUCKDB_PREFIX=$DUCKDB_PREFIX"
else
  dd="$ROOT/deps/duckdb"
  if [ ! -f "$dd/.ok-1.4.4" ]; then
    lib_tgz=$(npm_fetch "$DUCKDB_LIB_PKG" "$DUCKDB_LIB_SHA256")
    hdr_tgz=$(npm_fetch "$DUCKDB_HDR_PKG" "$DUCKDB_HDR_SHA256")
    rm -rf "$dd"; mkdir -p "$dd/lib" "$dd/include"
    tar -xzf "$lib_tgz" -C "$dd/lib" --strip-components=1 package/libduckdb.so
    tar -xzf "$hdr_tgz" -C "$dd/include" --strip-components=5 package/src/duckdb/src/include/duckdb.h
    [ -f "$dd/lib/libduckdb.so" ] && [ -f "$dd/include/duckdb.h" ] || die "DuckDB archives did not hold the expected files"
    touch "$dd/.ok-1.4.4"
  fi
fi

# ---------------------------------------------------------------- dataset
data="$ROOT/data"
mkdir -p "$data"
if [ "$(sha256sum "$data/flights-3m.parquet" 2>/dev/null | cut -d' ' -f1)" != "$FLIGHTS_3M_SHA256" ] ||
   [ "$(sha256sum "$data/flights-200k.arrow" 2>/dev/null | cut -d' ' -f1)" != "$FLIGHTS_200K_SHA256" ]; then
  vtgz=$(npm_fetch "$VEGA_PKG" "$VEGA_SHA256")
  tar -xzf "$vtgz" -C "$data" --strip-components=2 package/data/flights-3m.parquet package/data/flights-200k.arrow
  [ "$(sha256sum "$data/flights-3m.parquet" | cut -d' ' -f1)" = "$FLIGHTS_3M_SHA256" ] || die "flights-3m.parquet: sha256 mismatch"
  [ "$(sha256sum "$data/flights-200k.arrow" | cut -d' ' -f1)" = "$FLIGHTS_200K_SHA256" ] || die "flights-200k.arrow: sha256 mismatch"
fi

# ---------------------------------------------------------------- python venv
venv="$ROOT/.venv"
req="$ROOT/tests/requirements.txt"
stamp="$venv/.req-$(sha256sum "$req" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  say "installing Python test tools into .venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  rm -f "$venv"/.req-*; touch "$stamp"
fi
say "ok"
