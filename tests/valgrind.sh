#!/usr/bin/env bash
# `make check`: the integration tests (which load the cdylib) under valgrind memcheck; any memory
# error fails. The child processes of the crash and concurrency tests run under valgrind too, with
# fewer kill points and connections. Then the long reliability variants run natively
# (PS_RELIABILITY_LONG=1, docs/reliability.md). Slow (~15 minutes), so it is run by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)"; exit 1; }
# Test executables only (the child-process helper binary is built alongside, not a test).
binaries=$(cargo test -p libpowersync-tests --no-run --message-format=json 2>/dev/null |
  grep '"test":true' | grep -o '"executable":"[^"]*"' | sed -e 's/^"executable":"//' -e 's/"$//')
[ -n "$binaries" ] || { echo "no test binaries found"; exit 1; }
valgrind_cmd="valgrind --error-exitcode=9 --quiet"
export PS_CHILD_WRAPPER="$valgrind_cmd"
export PS_UNDER_VALGRIND=1
export PS_LEAK_CONNECTIONS=60
export PS_CRASH_POINTS=4
export PS_BULK_CRASH_POINTS=2
export PS_CONCURRENCY_CHECKPOINTS=6
passed=0
for binary in $binaries; do
  echo "valgrind: $(basename "$binary")"
  $valgrind_cmd "$binary" --test-threads=1 >/dev/null
  passed=$((passed + 1))
done
echo "valgrind: $passed passed, 0 failed"
unset PS_CHILD_WRAPPER PS_UNDER_VALGRIND PS_LEAK_CONNECTIONS PS_CRASH_POINTS PS_BULK_CRASH_POINTS PS_CONCURRENCY_CHECKPOINTS
echo "long runs: crash consistency and concurrency (PS_RELIABILITY_LONG=1)"
PS_RELIABILITY_LONG=1 cargo test -p libpowersync-tests --test crash --test concurrency
