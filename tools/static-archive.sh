#!/usr/bin/env bash
# Usage: tools/static-archive.sh CARGO_STATICLIB.a OUT.a
#
# Turns the staticlib cargo built into the libpowersync.a we ship: one relocatable object whose
# only global symbols are the two entry points, powersync_init_static and sqlite3_powersync_init.
# Everything else it carries (our code, its own copy of Rust's std, core, alloc and
# compiler_builtins, rust_eh_personality) becomes local, so it links next to other Rust code (a
# host program, the Rust SDK) without clashing with that code's std (docs/decisions.md, "The
# static library"). References to SQLite (sqlite3_*), libc and the unwinder stay undefined.
#
# Steps: `ld -r` pre-links every object of the archive into one (resolving their references to
# each other, dropping what the entry points cannot reach); objcopy localises every other defined
# global, renames the COMDAT groups' signatures (DW.ref.rust_eh_personality) so that a host's
# group of the same name cannot replace ours, and drops the embedded LLVM bitcode; ar wraps the
# object into the archive. Needs GNU binutils (ld, objcopy, ar, readelf).
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 CARGO_STATICLIB.a OUT.a" >&2
  exit 2
fi
in=$1
out=$2
LD=${LD:-ld}
OBJCOPY=${OBJCOPY:-objcopy}
AR=${AR:-ar}
READELF=${READELF:-readelf}
entry_points=(powersync_init_static sqlite3_powersync_init)
# The prefix of the renamed group signatures: unique to this library.
prefix=libpowersync.

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. One relocatable object. --gc-sections with the entry points as roots keeps only what they
#    reach (the .eh_frame entries of dropped functions go with them); --whole-archive lets that
#    decision be made per section rather than per archive member.
roots=()
for sym in "${entry_points[@]}"; do roots+=(-u "$sym"); done
"$LD" -r --gc-sections "${roots[@]}" --whole-archive "$in" --no-whole-archive -o "$tmp/linked.o"

# 2. Localise and rename. A COMDAT group whose signature is a local symbol is still merged by
#    name with a host's group of that name (lld and GNU ld both key groups by the signature's
#    name), which would discard our DW.ref.rust_eh_personality while our .eh_frame still refers
#    to it ("relocation refers to a symbol in a discarded section"); a name nobody else uses
#    keeps our group.
args=()
for sym in "${entry_points[@]}"; do args+=("--keep-global-symbol=$sym"); done
while IFS= read -r sig; do
  [ -n "$sig" ] && args+=("--redefine-sym=$sig=$prefix$sig")
done < <("$READELF" -gW "$tmp/linked.o" | sed -n 's/^COMDAT group section \[ *[0-9]*\] `[^'"'"']*'"'"' \[\(.*\)\] contains .*/\1/p' | sort -u)
"$OBJCOPY" "${args[@]}" --remove-section=.llvmbc --remove-section=.llvmcmd "$tmp/linked.o" "$tmp/powersync.o"

# 3. Check: exactly the entry points are defined globals, and nothing that remains undefined is
#    ours (Rust-mangled names or the allocator shim would mean a missing piece of std).
defined=$("$READELF" -sW "$tmp/powersync.o" | awk '$1 ~ /^[0-9]+:$/ && $5 != "LOCAL" && $7 != "UND" && NF >= 8 {print $8}' | sort | tr '\n' ' ')
want=$(printf '%s\n' "${entry_points[@]}" | sort | tr '\n' ' ')
if [ "$defined" != "$want" ]; then
  echo "$0: global symbols are '$defined', expected '$want'" >&2
  exit 1
fi
rust_undefined=$("$READELF" -sW "$tmp/powersync.o" | awk '$1 ~ /^[0-9]+:$/ && $7 == "UND" && NF >= 8 {print $8}' | grep -E '^(_R|_ZN|__rust|__rdl|__rg_)' || true)
if [ -n "$rust_undefined" ]; then
  echo "$0: Rust symbols left undefined:" >&2
  echo "$rust_undefined" >&2
  exit 1
fi

# 4. The archive, replaced by a rename (a process may be reading the old one).
mkdir -p "$(dirname "$out")"
rm -f "$tmp/out.a"
"$AR" rcsD "$tmp/out.a" "$tmp/powersync.o"
cp "$tmp/out.a" "$out.tmp"
mv -f "$out.tmp" "$out"
