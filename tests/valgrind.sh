#!/usr/bin/env bash
# `make check`: the integration tests (which load the cdylib) under valgrind memcheck; any memory
# error fails. Slow (~8 minutes, most of it the conformance vectors), so it is run by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)"; exit 1; }
binaries=$(cargo test -p libpowersync-tests --no-run --message-format=json 2>/dev/null |
  grep -o '"executable":"[^"]*"' | sed -e 's/^"executable":"//' -e 's/"$//')
[ -n "$binaries" ] || { echo "no test binaries found"; exit 1; }
passed=0
for binary in $binaries; do
  echo "valgrind: $(basename "$binary")"
  valgrind --error-exitcode=9 --quiet "$binary" --test-threads=1 >/dev/null
  passed=$((passed + 1))
done
echo "valgrind: $passed passed, 0 failed"
