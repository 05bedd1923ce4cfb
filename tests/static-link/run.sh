#!/usr/bin/env bash
# libpowersync.a next to other Rust code (`make smoke-static`, part of `make test`):
#   1. the archive defines exactly two global symbols, powersync_init_static and
#      sqlite3_powersync_init (tools/static-archive.sh makes everything else local);
#   2. a C program links it together with a second Rust staticlib (other/: its own std) and a
#      SQLite, and calls into both, once per available linker (GNU ld, the toolchain's rust-lld,
#      a system ld.lld);
#   3. a Rust program (host/: rusqlite with its bundled SQLite) links it through its build script
#      and uses it, linked by rustc's default linker, GNU ld and rust-lld.
# Expects target/release/libpowersync.a (make static). SQLITE_STATIC names a libsqlite3.a.
set -euo pipefail
cd "$(dirname "$0")/../.."
archive=target/release/libpowersync.a
out=target/static-link
CC=${CC:-cc}
: "${SQLITE_STATIC:?SQLITE_STATIC must name a libsqlite3.a}"
mkdir -p "$out"
failed=0
passed=0
pass() { echo "ok   $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }

# The linker that wrote a binary, from the .comment section (lld records itself there).
linked_by() { if readelf -p .comment "$1" 2>/dev/null | grep -q 'Linker: LLD'; then echo lld; else echo gnu; fi; }

# 1. Exported symbols.
globals=$(nm -g --defined-only "$archive" | awk 'NF == 3 {print $3}' | sort | paste -sd ' ')
if [ "$globals" = "powersync_init_static sqlite3_powersync_init" ]; then
  pass "$archive defines exactly these globals: $globals"
else
  fail "$archive defines these globals: $globals"
fi

# The linker variants: name, cc flags, expected linker.
gcc_ld=$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/gcc-ld
variants=("gnu-ld|-fuse-ld=bfd|gnu")
[ -x "$gcc_ld/ld.lld" ] && variants+=("rust-lld|-B$gcc_ld -fuse-ld=lld|lld")
command -v ld.lld >/dev/null && variants+=("system-lld|-fuse-ld=lld|lld")

# 2. C + libpowersync.a + a second Rust staticlib.
cargo build --release --locked --quiet --manifest-path tests/static-link/other/Cargo.toml --target-dir "$out"
for variant in "${variants[@]}"; do
  IFS='|' read -r name flags want <<< "$variant"
  bin=$out/two_rust-$name
  # shellcheck disable=SC2086 # $flags is a list of flags
  if ! $CC $flags -O1 -Wall -Werror -Iinclude -o "$bin" tests/static-link/two_rust.c "$archive" \
      "$out/release/libother_rust.a" "$SQLITE_STATIC" -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc; then
    fail "C program with two Rust libraries: link with $name"
  elif [ "$(linked_by "$bin")" != "$want" ]; then
    fail "C program with two Rust libraries: $name linked by $(linked_by "$bin")"
  elif "$bin" > "$bin.log" 2>&1; then
    pass "C program with two Rust libraries, linked with $name: $(tail -n 1 "$bin.log")"
  else
    cat "$bin.log"
    fail "C program with two Rust libraries, linked with $name: run"
  fi
done

# 3. A Rust program. `cargo rustc` passes the linker flags to the program only, so rusqlite and
#    the bundled SQLite are built once.
host=(--locked --quiet --manifest-path tests/static-link/host/Cargo.toml --target-dir "$out")
rust_variants=("rustc-default||")
for variant in "${variants[@]}"; do
  IFS='|' read -r name flags want <<< "$variant"
  link_args=()
  for flag in $flags; do link_args+=("-Clink-arg=$flag"); done
  rust_variants+=("$name|${link_args[*]}|$want")
done
cargo build "${host[@]}"
for variant in "${rust_variants[@]}"; do
  IFS='|' read -r name flags want <<< "$variant"
  bin=$out/debug/ps-static-host
  # shellcheck disable=SC2086 # $flags is a list of flags
  if ! cargo rustc "${host[@]}" -- $flags; then
    fail "Rust program: link with $name"
  elif [ -n "$want" ] && [ "$(linked_by "$bin")" != "$want" ]; then
    fail "Rust program: $name linked by $(linked_by "$bin")"
  elif "$bin" > "$bin.log" 2>&1; then
    pass "Rust program, linked with $name ($(linked_by "$bin")): $(tail -n 1 "$bin.log")"
  else
    cat "$bin.log"
    fail "Rust program, linked with $name: run"
  fi
done

echo "static-link: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
