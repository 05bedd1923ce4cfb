#!/usr/bin/env bash
# Loads libpowersync.so into the system `sqlite3` shell (3.40 on Debian 12, older than the
# reference's 3.44 floor) and checks the main functions. Run by `make smoke-shell`.
set -euo pipefail
cd "$(dirname "$0")/.."
ext=${POWERSYNC_EXTENSION:-target/release/libpowersync}
ext=${ext%.so}
db=$(mktemp -d)/smoke.db
trap 'rm -rf "$(dirname "$db")"' EXIT

passed=0
failed=0
check() { # name, expected, actual
  if [[ "$3" == $2 ]]; then
    passed=$((passed + 1)); echo "ok   $1"
  else
    failed=$((failed + 1)); echo "FAIL $1: expected '$2', got '$3'"
  fi
}

echo "system sqlite3 $(sqlite3 --version | cut -d' ' -f1)"
check "version" "0.5.4/[0-9a-f]*" "$(sqlite3 "$db" ".load $ext" 'select powersync_rs_version()')"
check "load touches no table" "0" "$(sqlite3 "$db" ".load $ext" 'select count(*) from sqlite_master')"
check "init in a transaction" "" "$(sqlite3 "$db" ".load $ext" 'begin' 'select powersync_init()' 'commit')"
check "14 migrations" "14" "$(sqlite3 "$db" ".load $ext" 'select max(id) from ps_migration')"
id1=$(sqlite3 "$db" ".load $ext" 'select powersync_client_id()' | tail -n 1)
check "client id is a uuid" "????????-????-4???-????-????????????" "$id1"
id2=$(sqlite3 "$db" ".load $ext" 'begin' 'select powersync_init()' 'commit' 'select powersync_client_id()' | tail -n 1)
check "client id stable across opens" "$id1" "$id2"
check "diff" '{"a":2,"c":null}' "$(sqlite3 "$db" ".load $ext" "select powersync_diff('{\"a\":1,\"c\":3}', '{\"a\":2}')")"
err=$(sqlite3 "$db" ".load $ext" 'select powersync_init()' 2>&1 || true)
check "transaction rule" "*powersync_init: This function may only be called in transactions.*" "$err"
check "uuid" "????????-????-4???-????-????????????" "$(sqlite3 "$db" ".load $ext" 'select uuid()')"

echo "shell smoke: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
