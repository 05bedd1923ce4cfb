#!/usr/bin/env bash
# Runs the extension on SQLite versions around our floor (docs/sql-functions.md, "Loading"), from the
# amalgamations that old libsqlite3-sys crates ship (fetched by cargo; nothing else is downloaded):
#   3.37.0  loading must fail with the floor message;
#   3.38.2  loading works, and the integration tests and all conformance vectors pass.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
ext=${POWERSYNC_EXTENSION:-$root/target/release/libpowersync.so}
out=$root/target/old-sqlite
mkdir -p "$out"

amalgamation() { # version dir -> path of the crate that ships its sqlite3 sources
  cargo metadata --format-version 1 --manifest-path "tests/old-sqlite/$1/Cargo.toml" |
    grep -o '"manifest_path":"[^"]*/libsqlite3-sys-[^"]*/Cargo.toml"' | head -n 1 |
    sed -e 's/^"manifest_path":"//' -e 's#/Cargo.toml"$##'
}

for version in 3.37 3.38; do
  src=$(amalgamation "$version")/sqlite3
  dir=$out/$version
  mkdir -p "$dir"
  if [ ! -f "$dir/libsqlite3.so.0" ]; then
    echo "building SQLite from $src"
    # The soname of Debian's library, so that LD_LIBRARY_PATH puts this one in its place.
    cc -O1 -fPIC -shared -DSQLITE_THREADSAFE=1 -Wl,-soname,libsqlite3.so.0 -o "$dir/libsqlite3.so.0" \
      "$src/sqlite3.c" -lpthread -ldl -lm
    ln -sf libsqlite3.so.0 "$dir/libsqlite3.so"
    cp "$src/sqlite3.h" "$dir/"
  fi
  cc -O1 -Wall -I"$dir" -o "$dir/load_check" tests/c/load_check.c -L"$dir" -lsqlite3 -Wl,-rpath,"$dir"
done

"$out/3.37/load_check" "$ext" expect-refusal
"$out/3.38/load_check" "$ext" expect-ok

echo "integration tests and conformance vectors on SQLite 3.38"
SQLITE3_LIB_DIR=$out/3.38 LD_LIBRARY_PATH=$out/3.38 POWERSYNC_EXTENSION=$ext POWERSYNC_EXPECT_SQLITE=3.38 \
  CARGO_TARGET_DIR=$out/cargo cargo test -p libpowersync-tests --no-default-features
