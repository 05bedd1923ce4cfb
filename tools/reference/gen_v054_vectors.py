#!/usr/bin/env python3
"""Generates the vectors for the 0.5.4 changes (their spec fields name docs/direct-tables-design.md or docs/decisions.md, which describe them) by running scripted steps against the
0.5.4 reference (tools/reference/setup054.sh) and recording its results.

    python3 tools/reference/gen_v054_vectors.py            # (re)write all of them
    python3 tools/reference/gen_v054_vectors.py -k direct  # only names containing 'direct'
    python3 tools/reference/gen_v054_vectors.py --dry-run

The scenarios are in scenarios_v054.py. Recording rules (test-vectors/README.md):
* every `sql` step records its rows (or its error) as returned by the reference; a step may pin
  what the spec quotes with `expect=` (rows) / `expect_error=` (message) and the generator stops
  when the reference disagrees — so a regenerated file says what the specification says, not only what the
  reference did;
* timestamps (`last_synced_at`, `expires_at`) inside JSON text become `{"$": "int"}` in a json
  matcher; client ids are fixed by the scenarios;
* error messages are recorded exactly, except serde decoder texts (prefix up to `cause: `) and
  where a step gives `prefix=` (`prefix=""`: exact message after all);
* `ours-` vectors (our decisions) are written with their hand-written expectations and are not
  recorded (the reference differs there on purpose).
"""

import argparse
import json
import os
import sys

SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, SCRIPT_DIR)
import run_vectors as rv  # noqa: E402
from rerecord import new_expected_value, write_vector  # noqa: E402

REPO_ROOT = rv.REPO_ROOT
SERDE_MARKERS = ["invalid argument: . cause: ", "invalid local data: cause: ", "invalid text line. cause: "]


class S:
    """One step. kind: 'sql' | 'exec'."""

    def __init__(self, kind, text, params=None, expect=None, expect_error=None, prefix=None, note=None,
                 unordered=False, rows=None, error=None):
        self.kind, self.text, self.params = kind, text, params
        self.expect, self.expect_error, self.prefix, self.note = expect, expect_error, prefix, note
        self.unordered, self.rows, self.error = unordered, rows, error


def q(text, *params, **kw):
    return S("sql", text, list(params) if params else None, **kw)


def x(text, **kw):
    return S("exec", text, **kw)


VECTORS = []


def vec(name, description, spec, steps):
    flat = []
    for s in steps:
        if isinstance(s, list):
            flat.extend(s)
        else:
            flat.append(s)
    VECTORS.append((name, description, spec, flat))


def auto_prefix(msg):
    for m in SERDE_MARKERS:
        i = msg.find(m)
        if i >= 0:
            return msg[: i + len(m)]
    return None


def record(apsw, ext, name, steps):
    problems = []
    conn = apsw.Connection(":memory:")
    conn.enable_load_extension(True)
    conn.load_extension(ext, "sqlite3_powersync_init")
    out = []
    captures = {}
    for i, s in enumerate(steps):
        step = {s.kind: s.text}
        if s.params:
            step["params"] = s.params
        rows, err = None, None
        try:
            cur = conn.cursor()
            if s.kind == "sql":
                rows = [list(r) for r in cur.execute(s.text, s.params or [])]
            else:
                for _ in cur.execute(s.text):
                    pass
        except apsw.Error as e:
            err = e
        note = s.note
        if err is not None:
            code = err.extendedresult
            msg = rv.strip_apsw_prefix(err)
            # prefix="" asks for the exact message even where a serde text would be compared by prefix
            prefix = (s.prefix or None) if s.prefix is not None else auto_prefix(msg)
            if prefix is not None:
                if not msg.startswith(prefix):
                    problems.append(f"{name} step {i}: error {msg!r} does not start with {prefix!r}")
                step["error"] = {"code": code, "message_prefix": prefix}
                note = (note + "; " if note else "") + f"observed: {msg}"
            else:
                step["error"] = {"code": code, "message": msg}
            if s.expect_error is not None and s.expect_error != msg:
                problems.append(f"{name} step {i}: expected error {s.expect_error!r}, got {msg!r}")
            if s.expect is not None:
                problems.append(f"{name} step {i}: expected rows {s.expect!r}, got error {msg!r}")
        else:
            if s.expect_error is not None:
                problems.append(f"{name} step {i}: expected error {s.expect_error!r}, got rows {rows!r}")
            if s.kind == "sql":
                step["rows"] = [[new_expected_value(None, v, captures) for v in r] for r in rows]
                if s.unordered:
                    step["unordered"] = True
                if s.expect is not None and rows != s.expect:
                    problems.append(f"{name} step {i}: expected {s.expect!r}, got {rows!r}")
        if note:
            step["note"] = note
        out.append(step)
    conn.close()
    return out, problems


def hand_written(steps):
    out = []
    for s in steps:
        step = {s.kind: s.text}
        if s.params:
            step["params"] = s.params
        if s.rows is not None:
            step["rows"] = s.rows
            if s.unordered:
                step["unordered"] = True
        if s.error is not None:
            step["error"] = s.error
        if s.note:
            step["note"] = s.note
        out.append(step)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-k", default=None)
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("--reference", choices=sorted(rv.REFERENCES), default=rv.DEFAULT_REFERENCE)
    args = ap.parse_args()
    import scenarios_v054  # noqa: F401  (fills VECTORS)

    ext, setup = rv.REFERENCES[args.reference]
    if not os.path.isfile(ext):
        rv.run_setup(setup)
    apsw = rv.import_apsw(allow_setup=True)
    problems = []
    names = set()
    count = 0
    for name, desc, spec, steps in VECTORS:
        if name in names:
            raise SystemExit(f"duplicate vector {name}")
        names.add(name)
        if args.k and args.k not in name:
            continue
        if name.split("/", 1)[1].startswith("ours-"):
            out = hand_written(steps)
        else:
            out, p = record(apsw, ext, name, steps)
            problems += p
        count += 1
        if not args.dry_run:
            path = os.path.join(REPO_ROOT, "test-vectors", name + ".json")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_vector(path, {"name": name, "description": desc, "spec": spec, "steps": out})
    print(f"{count} vectors recorded" + (" (dry run)" if args.dry_run else ""))
    if problems:
        print("SPEC MISMATCHES:")
        for p in problems:
            print("  " + p)
        sys.exit(1)


if __name__ == "__main__":
    sys.modules.setdefault("gen_v054_vectors", sys.modules[__name__])
    main()
