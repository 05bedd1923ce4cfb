#!/usr/bin/env python3
"""Re-records the expectations of hand-written vectors against a reference build, step by step.

    python3 tools/reference/rerecord.py test-vectors/sync/raw-error-data-not-json.json [...]
    python3 tools/reference/rerecord.py --dry-run test-vectors/sync/foo.json   # only show changes

For use when the reference changes behaviour (e.g. the 0.5.3 -> 0.5.4 target move): every step is
run against the reference (default: run_vectors.py's default reference, see --reference); a step
whose expectation does not match the actual result gets the actual result instead:

* rows: plain values are written as observed; where the old expectation used a matcher the
  matcher is kept if it still matches the new value, and JSON text that holds `last_synced_at` /
  `expires_at` timestamps (or whose old expectation was a `{"$": "json"}` matcher) becomes a json
  matcher with `{"$": "int"}` in place of those timestamps;
* errors: the actual code and exact message (or the old `message_prefix` when the new message
  still starts with it); a step that now succeeds loses its `error` and gets `rows`, a step that
  now fails loses `rows` and gets `error`.

Every change is printed. The description and `spec` fields are NOT touched: review each change and
update them by hand (a re-recorded vector must still say what it shows).
"""

import argparse
import copy
import json
import os
import sys

SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, SCRIPT_DIR)
import run_vectors as rv  # noqa: E402

TS_KEYS = ("last_synced_at", "expires_at")
TS_MIN, TS_MAX = 1_750_000_000_000_000, 2_600_000_000_000_000  # µs timestamps of "now" (as gen_sync_vectors.py)


def has_timestamp(parsed, key=None):
    if isinstance(parsed, rv.JsonObject):
        return any(has_timestamp(x, k) for k, x in parsed.pairs)
    if isinstance(parsed, list):
        return any(has_timestamp(x) for x in parsed)
    return key in TS_KEYS and type(parsed) is int and TS_MIN <= parsed <= TS_MAX


def to_vector_value(v):
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"blob": bytes(v).hex()}
    return v


def json_pattern(parsed, key=None):
    if isinstance(parsed, rv.JsonObject):
        return {k: json_pattern(x, k) for k, x in parsed.pairs}
    if isinstance(parsed, list):
        return [json_pattern(x) for x in parsed]
    if key in TS_KEYS and type(parsed) is int and TS_MIN <= parsed <= TS_MAX:
        return {"$": "int"}
    return parsed


def new_expected_value(old, actual, captures):
    """The expectation to write for `actual`, given the old expectation `old` (may be None)."""
    if old is not None and rv.is_matcher(old):
        ok, _ = rv.match_value(old, actual, dict(captures))
        if ok:
            return old
        if old.get("$") == "json" and isinstance(actual, str):
            try:
                return {"$": "json", "value": json_pattern(rv.parse_json_ordered(actual))}
            except ValueError:
                pass
        if old.get("$") == "capture":
            inner = new_expected_value(old["match"], actual, captures)
            return {"$": "capture", "as": old["as"], "match": inner}
    if isinstance(actual, str) and actual[:1] in "[{":
        try:
            parsed = rv.parse_json_ordered(actual)
        except ValueError:
            parsed = None
        if parsed is not None and has_timestamp(parsed):
            return {"$": "json", "value": json_pattern(parsed)}
    return to_vector_value(actual)


def new_rows(old_rows, actual_rows, captures):
    out = []
    for i, row in enumerate(actual_rows):
        old_row = old_rows[i] if old_rows is not None and i < len(old_rows) else None
        out.append([new_expected_value(old_row[j] if old_row is not None and j < len(old_row) else None, v, captures)
                    for j, v in enumerate(row)])
    return out


def run_and_patch(apsw, ext, vec):
    """Returns (patched vector, list of change descriptions)."""
    vec = copy.deepcopy(vec)
    changes = []
    conn = apsw.Connection(":memory:")
    conn.enable_load_extension(True)
    conn.load_extension(ext, "sqlite3_powersync_init")
    captures = {}
    try:
        for i, st in enumerate(vec["steps"]):
            is_sql = "sql" in st
            text = st["sql"] if is_sql else st["exec"]
            rows, err = None, None
            try:
                params = [rv.to_sqlite(v, captures) for v in st.get("params", [])]
                cur = conn.cursor()
                if is_sql:
                    rows = [list(r) for r in cur.execute(text, params)]
                else:
                    for _ in cur.execute(text):
                        pass
            except apsw.Error as e:
                err = e
            label = f"step {i} ({rv.short(text)})"
            if err is not None:
                code = getattr(err, "extendedresult", None)
                msg = rv.strip_apsw_prefix(err)
                exp = st.get("error")
                ok = exp is not None and exp["code"] == code and (
                    ("message" not in exp or exp["message"] == msg)
                    and ("message_prefix" not in exp or msg.startswith(exp["message_prefix"])))
                if not ok:
                    new = {"code": code}
                    if exp and "message_prefix" in exp and msg.startswith(exp["message_prefix"]):
                        new["message_prefix"] = exp["message_prefix"]
                    else:
                        new["message"] = msg
                    changes.append(f"{label}: error {json.dumps(exp) if exp else '(none: rows ' + json.dumps(st.get('rows')) + ')'}"
                                   f"\n      -> error {json.dumps(new, ensure_ascii=False)}")
                    st.pop("rows", None)
                    st.pop("unordered", None)
                    st["error"] = new
                continue
            if "error" in st:
                new = new_rows(None, rows, captures) if is_sql else None
                changes.append(f"{label}: error {json.dumps(st['error'], ensure_ascii=False)}\n      -> succeeded"
                               + (f" with rows {json.dumps(new, ensure_ascii=False)}" if is_sql else ""))
                del st["error"]
                if is_sql:
                    st["rows"] = new
                    rv.compare_rows(new, rows, False, captures)
                continue
            if "rows" in st:
                diff = rv.compare_rows(st["rows"], rows, bool(st.get("unordered")), captures)
                if diff is not None:
                    new = new_rows(st["rows"], rows, captures)
                    changes.append(f"{label}: rows {json.dumps(st['rows'], ensure_ascii=False)}"
                                   f"\n      -> {json.dumps(new, ensure_ascii=False)}")
                    st["rows"] = new
                    st.pop("unordered", None)
                    rv.compare_rows(new, rows, False, captures)
    finally:
        conn.close()
    return vec, changes


def write_vector(path, vec):
    """Writes in the layout of the existing files: header keys, then one step per line."""
    lines = ["{"]
    for k in ("name", "description", "spec", "sqlite"):
        if k in vec:
            lines.append(f"  {json.dumps(k)}: {json.dumps(vec[k], ensure_ascii=False)},")
    lines.append('  "steps": [')
    for i, s in enumerate(vec["steps"]):
        lines.append("    " + json.dumps(s, ensure_ascii=False) + ("," if i + 1 < len(vec["steps"]) else ""))
    lines.append("  ]")
    lines.append("}")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--reference", choices=sorted(rv.REFERENCES),
                    default=os.environ.get("REFERENCE") or rv.DEFAULT_REFERENCE)
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()
    ext, setup = rv.REFERENCES[args.reference]
    if not os.path.isfile(ext):
        rv.run_setup(setup)
    apsw = rv.import_apsw(allow_setup=True)
    for path in args.paths:
        with open(path, encoding="utf-8") as f:
            vec = json.load(f)
        new, changes = run_and_patch(apsw, ext, vec)
        if not changes:
            print(f"unchanged {vec['name']}")
            continue
        print(f"re-recorded {vec['name']}:")
        for c in changes:
            print("    " + c)
        if not args.dry_run:
            write_vector(path, new)


if __name__ == "__main__":
    main()
