#!/usr/bin/env bash
# make rust-sdk-check: the official Rust SDK (powersync 0.2.0) on libpowersync.a, through the
# powersync_core shim (sqlite-ext/rust-shim), against powersync-test-service on 127.0.0.1 with a
# small data set: the program must report every row. Expects `make static` and `make tools`.
# Manual (fetches the SDK's crates on first use; needs libclang for the SDK's bindgen step).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-target/release}
DIR=target/rust-sdk-check/run
LISTS=${CHECK_LISTS:-20}
TODOS=${CHECK_TODOS:-500}
USER_ID=sdk-check
rm -rf "$DIR"
mkdir -p "$DIR"

# Seed: lists in a global bucket (priority 1), the user's todos in a per-user bucket, plus todos
# of another user, which must not arrive (tools/demo/rules.json).
awk -v lists="$LISTS" -v todos="$TODOS" -v user="$USER_ID" 'BEGIN {
  printf "{\"rows\": {\"lists\": [";
  for (i = 1; i <= lists; i++)
    printf "%s{\"id\": \"list-%d\", \"name\": \"List %d\", \"created_at\": \"2026-01-01T00:00:00Z\", \"owner_id\": \"%s\"}", (i > 1 ? ", " : ""), i, i, user;
  printf "], \"todos\": [";
  for (i = 1; i <= todos + 10; i++)
    printf "%s{\"id\": \"todo-%04d\", \"list_id\": \"list-%d\", \"description\": \"Todo %d\", \"notes\": \"n\", \"priority\": %d, \"estimate_hours\": %.1f, \"completed\": %d, \"created_at\": \"2026-01-01T00:00:00Z\", \"owner_id\": \"%s\"}", (i > 1 ? ", " : ""), i, (i % lists) + 1, i, i % 5, (i % 16) / 2.0, i % 3 == 0, (i <= todos ? user : "someone-else");
  printf "]}}\n";
}' > "$DIR/seed.json"

# Built twice: linked by rustc's default linker (rust-lld on x86_64 Linux since Rust 1.90) and by
# GNU ld (`cargo rustc` passes the flag to the program only).
echo "building the check program (the SDK from crates.io, our shim in place of powersync_core)"
check=(--quiet --manifest-path tools/rust-sdk-check/Cargo.toml --target-dir target/rust-sdk-check)
cargo rustc "${check[@]}"
cp target/rust-sdk-check/debug/rust-sdk-check "$DIR/rust-sdk-check-default-linker"
cargo rustc "${check[@]}" -- -C link-arg=-fuse-ld=bfd
cp target/rust-sdk-check/debug/rust-sdk-check "$DIR/rust-sdk-check-gnu-ld"

. tools/lib/test-service.sh
start_test_service "$BIN" tools/demo/rules.json "$DIR/seed.json" "$DIR/service.log"
echo "service at $URL with $LISTS lists, $TODOS todos for $USER_ID (and 10 of another user)"

TOKEN=$("$BIN/powersync-test-service" token --sub "$USER_ID")
passed=0
failed=0
for linker in default-linker gnu-ld; do
  echo "--- the program linked by the $linker, into a new database"
  out=$DIR/output-$linker.txt
  PS_TOKEN=$TOKEN "$DIR/rust-sdk-check-$linker" "$DIR/sdk-$linker.db" "$URL" | tee "$out" || true
  got() { sed -n "s/^$1: //p" "$out"; }
  ok=1
  [ "$(got lists)" = "$LISTS" ] || { echo "FAIL: lists '$(got lists)', want $LISTS"; ok=0; }
  [ "$(got todos)" = "$TODOS" ] || { echo "FAIL: todos '$(got todos)', want $TODOS"; ok=0; }
  case "$(got 'core extension')" in
    0.5.*) ;;
    *) echo "FAIL: core extension version '$(got 'core extension')'"; ok=0 ;;
  esac
  if [ $ok = 1 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "rust-sdk-check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
