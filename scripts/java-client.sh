#!/usr/bin/env bash
# Builds Apache Arrow's Java Flight client driver (tests/clients/java, flight-core from Maven
# Central into the user's Maven cache) into deps/java-client, then runs it:
#   scripts/java-client.sh HOST PORT PASSWORD TABLE
# Exit 2 when java or mvn is missing.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
command -v java >/dev/null || { echo "java not found" >&2; exit 2; }
command -v mvn >/dev/null || { echo "mvn not found" >&2; exit 2; }
OUT="$ROOT/deps/java-client"
POM="$ROOT/tests/clients/java/pom.xml"
SRC="$ROOT/tests/clients/java/src/main/java/org/mallard/it/JavaFlightClient.java"
if [[ ! -f "$OUT/classpath.txt" || ! -f "$OUT/classes/org/mallard/it/JavaFlightClient.class" ||
      "$SRC" -nt "$OUT/classes/org/mallard/it/JavaFlightClient.class" || "$POM" -nt "$OUT/classpath.txt" ]]; then
  mvn -q -B -f "$POM" compile dependency:build-classpath \
      -Dmdep.outputFile="$OUT/classpath.txt" >&2
fi
# Arrow's Java memory module reads java.nio internals (JDK 16+ needs them opened).
exec java --add-opens=java.base/java.nio=ALL-UNNAMED \
     -cp "$OUT/classes:$(cat "$OUT/classpath.txt")" org.mallard.it.JavaFlightClient "$@"
