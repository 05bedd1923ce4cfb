#!/usr/bin/env bash
# Installs the reference PowerSync core extension (0.5.3, shipped inside the npm package
# @powersync/node@1.1.0) and a Python environment with apsw (bundles a current SQLite, the
# reference refuses SQLite < 3.44) into the git-ignored cache directory <repo>/.cache/reference/.
#
# Idempotent: re-running only installs what is missing. Prints the path of the reference .so on
# the last line of stdout.
#
# Never commit anything from the cache directory (the reference binary is not ours).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
CACHE="$REPO_ROOT/.cache/reference"
NPM_PKG="@powersync/node@1.1.0"
TARBALL_NAME="powersync-node-1.1.0.tgz"
SO="$CACHE/node/package/lib/libpowersync_x64.linux.so"
PYDIR="$CACHE/python"

mkdir -p "$CACHE"

# 1. Reference library from the npm package.
if [ ! -f "$SO" ]; then
    echo "setup.sh: fetching $NPM_PKG" >&2
    rm -rf "$CACHE/node"
    mkdir -p "$CACHE/node"
    (cd "$CACHE/node" && npm pack --silent "$NPM_PKG" >/dev/null)
    tarball="$(ls "$CACHE/node"/*.tgz 2>/dev/null | head -n1)"
    if [ -z "$tarball" ]; then
        echo "setup.sh: npm pack produced no tarball (expected $TARBALL_NAME)" >&2
        exit 1
    fi
    tar -xzf "$tarball" -C "$CACHE/node" package/lib/libpowersync_x64.linux.so
    if [ ! -f "$SO" ]; then
        echo "setup.sh: $SO missing after extraction" >&2
        exit 1
    fi
fi

# 2. apsw (with its bundled SQLite) installed into a private target directory.
PYTHON="${PYTHON:-python3}"
if ! PYTHONPATH="$PYDIR" "$PYTHON" -c 'import apsw, sys; sys.exit(0 if tuple(map(int, apsw.sqlite_lib_version().split("."))) >= (3, 44) else 1)' 2>/dev/null; then
    echo "setup.sh: installing apsw into $PYDIR" >&2
    rm -rf "$PYDIR"
    mkdir -p "$PYDIR"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
        --target "$PYDIR" apsw >&2
fi
PYTHONPATH="$PYDIR" "$PYTHON" -c 'import apsw, sys; print("setup.sh: apsw", apsw.apsw_version(), "SQLite", apsw.sqlite_lib_version(), file=sys.stderr)'

echo "$SO"
