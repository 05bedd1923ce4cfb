#!/usr/bin/env python3
"""Run conformance test vectors (test-vectors/README.md) against a SQLite extension.

Default extension: the reference PowerSync core of the drop-in target, 0.5.4, built from the
published crate by tools/reference/setup054.sh into <repo>/.cache/reference054/. `--reference 0.5.3`
(or REFERENCE=0.5.3 in the environment) uses the 0.5.3 binary that tools/reference/setup.sh installs
into <repo>/.cache/reference/. Use --ext to check another build, e.g.

    python3 tools/reference/run_vectors.py                       # all vectors, 0.5.4 reference
    REFERENCE=0.5.3 python3 tools/reference/run_vectors.py       # all vectors, 0.5.3 reference
    python3 tools/reference/run_vectors.py test-vectors/migrations
    python3 tools/reference/run_vectors.py --ext target/release/libpowersync.so
    python3 tools/reference/run_vectors.py --show-actual test-vectors/migrations/foo.json

Vectors whose file name starts with `ours-` pin our deliberate decisions (docs/decisions.md, "Our behaviour
decisions (D1–D5)"); against a reference build they are expected to fail and are reported on their own
("ours- vectors that differ from the reference"), not counted as failures. Against --ext they count
like any other vector.

Every vector runs on a fresh apsw ':memory:' connection with the extension loaded (entry point
sqlite3_powersync_init). The last line printed is "N passed, M failed"; the exit status is 0 only
when nothing failed.

Matchers in expected rows: any, uuid4, regex, capture, ref, and json (structural JSON comparison:
object key order and integer-vs-float significant, nested matchers incl. {"$": "int"}); see
test-vectors/README.md. Self-test of the json matcher: tools/reference/test_json_matcher.py.
"""

import argparse
import json
import os
import re
import subprocess
import sys

SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(SCRIPT_DIR))
CACHE = os.path.join(REPO_ROOT, ".cache", "reference")
REFERENCES = {
    "0.5.3": (os.path.join(CACHE, "node", "package", "lib", "libpowersync_x64.linux.so"), "setup.sh"),
    "0.5.4": (os.path.join(REPO_ROOT, ".cache", "reference054", "libpowersync054.so"), "setup054.sh"),
}
DEFAULT_REFERENCE = "0.5.4"
PYDIR = os.path.join(CACHE, "python")
DEFAULT_VECTORS = os.path.join(REPO_ROOT, "test-vectors")

UUID4_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")

TOP_KEYS = {"name", "description", "spec", "steps", "sqlite"}
STEP_KEYS = {"sql", "exec", "params", "rows", "unordered", "error", "note"}
ERROR_KEYS = {"code", "message", "message_prefix"}


def run_setup(script="setup.sh"):
    setup = os.path.join(SCRIPT_DIR, script)
    subprocess.run(["bash", setup], check=True, stdout=subprocess.DEVNULL)


def import_apsw(allow_setup):
    if os.path.isdir(PYDIR) and PYDIR not in sys.path:
        sys.path.insert(0, PYDIR)
    try:
        import apsw  # noqa: F401
    except ImportError:
        if not allow_setup:
            raise
        run_setup()
        if PYDIR not in sys.path:
            sys.path.insert(0, PYDIR)
        import apsw  # noqa: F401
    import apsw
    return apsw


class FormatError(Exception):
    """The vector file itself is malformed."""


class Mismatch(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Values


def is_matcher(v):
    return isinstance(v, dict) and "$" in v


def check_matcher_shape(kind, v, where, check_inner):
    """Validates a matcher that may appear both in rows and inside json values; returns False
    for kinds it does not know. `check_inner` validates a capture's inner matcher."""
    if kind in ("any", "uuid4"):
        if set(v) != {"$"}:
            raise FormatError(f"{where}: bad matcher {v!r}")
        return True
    if kind == "regex":
        if set(v) != {"$", "pattern"} or not isinstance(v["pattern"], str):
            raise FormatError(f"{where}: bad regex matcher {v!r}")
        try:
            re.compile(v["pattern"])
        except re.error as e:
            raise FormatError(f"{where}: bad regex {v['pattern']!r}: {e}")
        return True
    if kind == "capture":
        if set(v) != {"$", "as", "match"} or not isinstance(v["as"], str):
            raise FormatError(f"{where}: bad capture matcher {v!r}")
        check_inner(v["match"])
        return True
    if kind == "ref":
        if set(v) != {"$", "name"} or not isinstance(v["name"], str):
            raise FormatError(f"{where}: bad ref matcher {v!r}")
        return True
    return False


def check_value_format(v, where, in_rows):
    if v is None or isinstance(v, str):
        return
    if isinstance(v, bool):
        raise FormatError(f"{where}: booleans are not vector values (use 0/1)")
    if isinstance(v, (int, float)):
        return
    if isinstance(v, dict):
        if set(v.keys()) == {"blob"} and isinstance(v["blob"], str):
            try:
                bytes.fromhex(v["blob"])
            except ValueError:
                raise FormatError(f"{where}: invalid blob hex {v['blob']!r}")
            return
        if "$" in v:
            kind = v["$"]
            if kind != "ref" and not in_rows:
                raise FormatError(f"{where}: matcher {kind!r} not allowed in params")
            if check_matcher_shape(kind, v, where, lambda inner: check_value_format(inner, where, in_rows)):
                return
            if kind == "json":
                if set(v) != {"$", "value"}:
                    raise FormatError(f"{where}: bad json matcher {v!r}")
                check_json_pattern(v["value"], f"{where} json value")
                return
            raise FormatError(f"{where}: unknown matcher {kind!r}")
    raise FormatError(f"{where}: unsupported value {v!r}")


def check_json_pattern(v, where):
    """Validates the `value` of a {"$": "json"} matcher: any JSON, where objects with a `$` key are
    nested matchers (any, uuid4, regex, capture, ref, int)."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return
    if isinstance(v, list):
        for i, e in enumerate(v):
            check_json_pattern(e, f"{where}[{i}]")
        return
    if isinstance(v, dict):
        if "$" not in v:
            for k, e in v.items():
                check_json_pattern(e, f"{where}.{k}")
            return
        kind = v["$"]
        if kind == "int":
            if set(v) != {"$"}:
                raise FormatError(f"{where}: bad matcher {v!r}")
            return
        if check_matcher_shape(kind, v, where, lambda inner: check_json_pattern(inner, where)):
            return
        raise FormatError(f"{where}: unknown matcher {kind!r} inside json value")
    raise FormatError(f"{where}: unsupported JSON value {v!r}")


def to_sqlite(v, captures):
    """Vector JSON value (params) -> Python value bound by apsw."""
    if isinstance(v, dict):
        if "blob" in v:
            return bytes.fromhex(v["blob"])
        if v.get("$") == "ref":
            if v["name"] not in captures:
                raise Mismatch(f"param references unknown capture {v['name']!r}")
            cap = captures[v["name"]]
            if isinstance(cap, (JsonObject, list)):
                raise Mismatch(f"capture {v['name']!r} holds a JSON object/array and cannot be bound")
            if cap is True or cap is False:
                return int(cap)
            return cap
    return v


def show(v):
    """Python value from SQLite -> vector JSON notation (for messages)."""
    if isinstance(v, (bytes, bytearray, memoryview)):
        return json.dumps({"blob": bytes(v).hex()})
    if isinstance(v, float):
        return json.dumps(v)  # keeps '1.0'
    return json.dumps(v, ensure_ascii=False)


def show_expected(v):
    return json.dumps(v, ensure_ascii=False)


def same_value(expected, actual):
    """Plain (non-matcher) expected value vs actual SQLite value, type-exact."""
    if expected is None:
        return actual is None
    if isinstance(expected, dict) and "blob" in expected:
        return isinstance(actual, (bytes, bytearray, memoryview)) and bytes(actual) == bytes.fromhex(expected["blob"])
    if isinstance(expected, bool):
        return False
    if isinstance(expected, int):
        return type(actual) is int and actual == expected
    if isinstance(expected, float):
        return type(actual) is float and (actual == expected or (actual != actual and expected != expected))
    if isinstance(expected, str):
        return isinstance(actual, str) and actual == expected
    return False


def match_value(expected, actual, captures):
    """Returns (ok, reason). May add entries to `captures` (caller copies on backtracking)."""
    if is_matcher(expected):
        kind = expected["$"]
        if kind == "any":
            return True, ""
        if kind == "uuid4":
            if isinstance(actual, str) and UUID4_RE.fullmatch(actual):
                return True, ""
            return False, "not a lowercase UUID v4"
        if kind == "regex":
            if isinstance(actual, str) and re.fullmatch(expected["pattern"], actual):
                return True, ""
            return False, f"does not fully match /{expected['pattern']}/"
        if kind == "capture":
            ok, why = match_value(expected["match"], actual, captures)
            if ok:
                captures[expected["as"]] = actual
            return ok, why
        if kind == "ref":
            name = expected["name"]
            if name not in captures:
                return False, f"no value captured as {name!r}"
            if same_value_actual(captures[name], actual):
                return True, ""
            return False, f"differs from captured {name!r} = {show(captures[name])}"
        if kind == "json":
            if not isinstance(actual, str):
                return False, "not TEXT (json matcher)"
            try:
                parsed = parse_json_ordered(actual)
            except ValueError as e:
                return False, f"not valid JSON: {e}"
            ok, why = match_json(expected["value"], parsed, captures, "$")
            return ok, why
        return False, f"unknown matcher {kind!r}"
    if same_value(expected, actual):
        return True, ""
    return False, ""


# ---------------------------------------------------------------------------------------------
# Structural JSON comparison ({"$": "json"} matcher)


class JsonObject:
    """A parsed JSON object that keeps its keys in document order (duplicates included)."""

    __slots__ = ("pairs",)

    def __init__(self, pairs):
        self.pairs = list(pairs)

    def __eq__(self, other):
        return isinstance(other, JsonObject) and len(self.pairs) == len(other.pairs) and all(
            ka == kb and json_equal(va, vb) for (ka, va), (kb, vb) in zip(self.pairs, other.pairs))

    def __repr__(self):
        return dump_json(self)


def _reject_constant(name):
    raise ValueError(f"invalid JSON constant {name}")


def parse_json_ordered(text):
    """Parses JSON text; objects become JsonObject (key order kept), integers int, others float."""
    return json.loads(text, object_pairs_hook=JsonObject, parse_constant=_reject_constant)


def json_kind(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, JsonObject):
        return "object"
    return type(v).__name__


def json_equal(a, b):
    """Structural equality of two parsed JSON values (JsonObject key order significant,
    integer vs float significant)."""
    ka, kb = json_kind(a), json_kind(b)
    if ka != kb:
        return False
    if ka == "array":
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    return a == b


def dump_json(v):
    """Compact rendering of a parsed JSON value (for messages)."""
    if isinstance(v, JsonObject):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + dump_json(x) for k, x in v.pairs) + "}"
    if isinstance(v, list):
        return "[" + ",".join(dump_json(x) for x in v) + "]"
    if isinstance(v, dict):  # expected pattern from the vector file
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(v, ensure_ascii=False)


def short_json(v, n=120):
    t = dump_json(v)
    return t if len(t) <= n else t[: n - 3] + "..."


def match_json(expected, actual, captures, path):
    """expected: value from the vector file (dict = object pattern, possibly a matcher);
    actual: parsed with parse_json_ordered. Returns (ok, reason)."""
    if isinstance(expected, dict) and "$" in expected:
        kind = expected["$"]
        if kind == "any":
            return True, ""
        if kind == "int":
            if json_kind(actual) == "int":
                return True, ""
            return False, f"at {path}: expected a JSON integer, got {short_json(actual)}"
        if kind == "uuid4":
            if isinstance(actual, str) and UUID4_RE.fullmatch(actual):
                return True, ""
            return False, f"at {path}: expected a lowercase UUID v4 string, got {short_json(actual)}"
        if kind == "regex":
            if isinstance(actual, str) and re.fullmatch(expected["pattern"], actual):
                return True, ""
            return False, f"at {path}: {short_json(actual)} is not a string fully matching /{expected['pattern']}/"
        if kind == "capture":
            ok, why = match_json(expected["match"], actual, captures, path)
            if ok:
                captures[expected["as"]] = actual
            return ok, why
        if kind == "ref":
            name = expected["name"]
            if name not in captures:
                return False, f"at {path}: no value captured as {name!r}"
            cap = captures[name]
            if isinstance(cap, (bytes, bytearray, memoryview)):
                return False, f"at {path}: captured {name!r} is a BLOB, not a JSON value"
            if json_equal(cap, actual):
                return True, ""
            return False, f"at {path}: expected captured {name!r} = {short_json(cap)}, got {short_json(actual)}"
        return False, f"at {path}: unknown matcher {kind!r}"
    if isinstance(expected, dict):
        if not isinstance(actual, JsonObject):
            return False, f"at {path}: expected an object, got {short_json(actual)}"
        exp_keys = list(expected.keys())
        act_keys = [k for k, _ in actual.pairs]
        if exp_keys != act_keys:
            return False, f"at {path}: object keys {act_keys}, expected {exp_keys} (order matters)"
        for (k, a) in actual.pairs:
            ok, why = match_json(expected[k], a, captures, f"{path}.{k}")
            if not ok:
                return ok, why
        return True, ""
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return False, f"at {path}: expected an array, got {short_json(actual)}"
        if len(expected) != len(actual):
            return False, f"at {path}: array has {len(actual)} elements, expected {len(expected)}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            ok, why = match_json(e, a, captures, f"{path}[{i}]")
            if not ok:
                return ok, why
        return True, ""
    # scalars: null, bool, int, float, string
    if json_kind(expected) == json_kind(actual) and expected == actual:
        return True, ""
    return False, f"at {path}: expected {short_json(expected)}, got {short_json(actual)}"


def same_value_actual(a, b):
    if isinstance(a, (JsonObject, list)):
        return False  # a captured JSON object/array never equals an SQLite value
    if type(a) is not type(b):
        if isinstance(a, (bytes, bytearray, memoryview)) and isinstance(b, (bytes, bytearray, memoryview)):
            return bytes(a) == bytes(b)
        return False
    return a == b


def match_row(exp_row, act_row, captures):
    if not isinstance(exp_row, list):
        raise FormatError(f"expected row is not a list: {exp_row!r}")
    if len(exp_row) != len(act_row):
        return False, f"row has {len(act_row)} columns, expected {len(exp_row)}"
    for i, (e, a) in enumerate(zip(exp_row, act_row)):
        ok, why = match_value(e, a, captures)
        if not ok:
            return False, f"column {i}: expected {show_expected(e)}, got {show(a)}" + (f" ({why})" if why else "")
    return True, ""


def compare_rows(expected, actual, unordered, captures):
    """Returns None on success or a human readable description of the difference.
    On success `captures` is updated."""
    if len(expected) != len(actual):
        return f"expected {len(expected)} rows, got {len(actual)}"
    if not unordered:
        trial = dict(captures)
        for i, (e, a) in enumerate(zip(expected, actual)):
            ok, why = match_row(e, a, trial)
            if not ok:
                return f"row {i}: {why}"
        captures.clear()
        captures.update(trial)
        return None

    # Multiset comparison with matchers: backtracking assignment of actual rows to expected rows.
    n = len(expected)
    used = [False] * n

    def solve(i, caps):
        if i == n:
            return caps
        for j in range(n):
            if used[j]:
                continue
            trial = dict(caps)
            ok, _ = match_row(expected[i], actual[j], trial)
            if ok:
                used[j] = True
                res = solve(i + 1, trial)
                if res is not None:
                    return res
                used[j] = False
        return None

    res = solve(0, dict(captures))
    if res is None:
        # Find the first expected row that matches nothing, for the message.
        for i, e in enumerate(expected):
            if not any(match_row(e, a, dict(captures))[0] for a in actual):
                return f"unordered: expected row {i} {show_expected(e)} matches no actual row"
        return "unordered: rows cannot be matched one to one"
    captures.clear()
    captures.update(res)
    return None


def format_rows(rows, actual):
    if actual:
        return "\n".join("      [" + ", ".join(show(v) for v in r) + "]" for r in rows) or "      (no rows)"
    return "\n".join("      " + show_expected(r) for r in rows) or "      (no rows)"


# ---------------------------------------------------------------------------------------------
# Running


def strip_apsw_prefix(exc):
    msg = str(exc)
    # Older apsw versions render "SQLError: <message>"; current ones give the bare message.
    prefix = type(exc).__name__ + ": "
    if msg.startswith(prefix):
        msg = msg[len(prefix):]
    return msg


def validate_vector(vec, path, root):
    if not isinstance(vec, dict):
        raise FormatError("top level is not an object")
    extra = set(vec) - TOP_KEYS
    if extra:
        raise FormatError(f"unknown top-level keys {sorted(extra)}")
    for k in ("name", "description", "steps"):
        if k not in vec:
            raise FormatError(f"missing key {k!r}")
    if not isinstance(vec["steps"], list) or not vec["steps"]:
        raise FormatError("steps must be a non-empty list")
    stem = os.path.splitext(os.path.basename(path))[0]
    area = os.path.basename(os.path.dirname(os.path.abspath(path)))
    if vec["name"] != f"{area}/{stem}":
        raise FormatError(f"name {vec['name']!r} should be {area + '/' + stem!r}")
    for i, st in enumerate(vec["steps"]):
        where = f"step {i}"
        if not isinstance(st, dict):
            raise FormatError(f"{where}: not an object")
        extra = set(st) - STEP_KEYS
        if extra:
            raise FormatError(f"{where}: unknown keys {sorted(extra)}")
        if ("sql" in st) == ("exec" in st):
            raise FormatError(f"{where}: needs exactly one of sql/exec")
        if "exec" in st and "params" in st:
            raise FormatError(f"{where}: params only allowed with sql")
        if "exec" in st and "rows" in st:
            raise FormatError(f"{where}: exec steps return no rows")
        for v in st.get("params", []):
            check_value_format(v, f"{where} params", False)
        if "rows" in st:
            if not isinstance(st["rows"], list):
                raise FormatError(f"{where}: rows must be a list")
            for r in st["rows"]:
                if not isinstance(r, list):
                    raise FormatError(f"{where}: row {r!r} is not a list")
                for v in r:
                    check_value_format(v, f"{where} rows", True)
        if "error" in st:
            err = st["error"]
            if not isinstance(err, dict) or "code" not in err or set(err) - ERROR_KEYS:
                raise FormatError(f"{where}: bad error spec {err!r}")
            if "message" in err and "message_prefix" in err:
                raise FormatError(f"{where}: message and message_prefix are exclusive")


def version_number(text):
    parts = [int(p) for p in text.split(".")] + [0, 0]
    return parts[0] * 1_000_000 + parts[1] * 1000 + parts[2]


def run_vector(apsw, ext, entry, vec, show_actual):
    """Returns list of failure strings (empty = pass)."""
    wanted = vec.get("sqlite") or {}
    linked = version_number(apsw.sqlite_lib_version())
    if ("min" in wanted and linked < version_number(wanted["min"])) or (
        "below" in wanted and linked >= version_number(wanted["below"])
    ):
        print(f"not run on SQLite {apsw.sqlite_lib_version()} ({wanted}): {vec['name']}")
        return []
    conn = apsw.Connection(":memory:")
    try:
        conn.enable_load_extension(True)
        conn.load_extension(ext, entry)
    except Exception as e:  # noqa: BLE001
        return [f"loading extension {ext} failed: {type(e).__name__}: {e}"]

    captures = {}
    failures = []
    try:
        for i, st in enumerate(vec["steps"]):
            is_sql = "sql" in st
            text = st["sql"] if is_sql else st["exec"]
            label = f"step {i} ({'sql' if is_sql else 'exec'}: {short(text)})"
            rows = None
            err = None
            try:
                params = [to_sqlite(v, captures) for v in st.get("params", [])]
                cur = conn.cursor()
                if is_sql:
                    count = [0]

                    def tracer(_cursor, _sql, _bindings, count=count):
                        count[0] += 1
                        return True

                    cur.exec_trace = tracer
                    rows = [list(r) for r in cur.execute(text, params)]
                    if count[0] > 1:
                        failures.append(f"{label}: 'sql' step ran {count[0]} statements (use 'exec' for batches)")
                        break
                else:
                    for _ in cur.execute(text):
                        pass
            except Mismatch as m:
                failures.append(f"{label}: {m}")
                break
            except apsw.Error as e:
                err = e

            if show_actual:
                if err is not None:
                    print(f"    {label}\n      ERROR code={getattr(err, 'extendedresult', None)} "
                          f"message={json.dumps(strip_apsw_prefix(err), ensure_ascii=False)}")
                else:
                    print(f"    {label}")
                    if rows is not None:
                        print("      " + json.dumps([[json.loads(show(v)) for v in r] for r in rows],
                                                    ensure_ascii=False))

            if "error" in st:
                exp = st["error"]
                if err is None:
                    failures.append(f"{label}: expected error code={exp['code']}"
                                    f"{' message=' + json.dumps(exp['message']) if 'message' in exp else ''}"
                                    f"{' message_prefix=' + json.dumps(exp['message_prefix']) if 'message_prefix' in exp else ''}"
                                    f", but it succeeded" + (f" with rows:\n{format_rows(rows, True)}" if rows else ""))
                    break
                code = getattr(err, "extendedresult", None)
                msg = strip_apsw_prefix(err)
                problems = []
                if code != exp["code"]:
                    problems.append(f"code: expected {exp['code']}, got {code}")
                if "message" in exp and msg != exp["message"]:
                    problems.append(f"message:\n      expected {json.dumps(exp['message'], ensure_ascii=False)}"
                                    f"\n      actual   {json.dumps(msg, ensure_ascii=False)}")
                if "message_prefix" in exp and not msg.startswith(exp["message_prefix"]):
                    problems.append(f"message prefix:\n      expected {json.dumps(exp['message_prefix'], ensure_ascii=False)}..."
                                    f"\n      actual   {json.dumps(msg, ensure_ascii=False)}")
                if problems:
                    failures.append(f"{label}: wrong error\n    " + "\n    ".join(problems))
                    break
                continue

            if err is not None:
                failures.append(f"{label}: unexpected error code={getattr(err, 'extendedresult', None)} "
                                f"({type(err).__name__}): {strip_apsw_prefix(err)}")
                break
            if "rows" in st:
                diff = compare_rows(st["rows"], rows, bool(st.get("unordered")), captures)
                if diff is not None:
                    failures.append(f"{label}: {diff}\n    expected rows{' (unordered)' if st.get('unordered') else ''}:\n"
                                    f"{format_rows(st['rows'], False)}\n    actual rows:\n{format_rows(rows, True)}")
                    break
    finally:
        conn.close()
    return failures


def short(text, n=70):
    t = " ".join(text.split())
    return t if len(t) <= n else t[: n - 3] + "..."


def collect(paths):
    files = []
    for p in paths:
        if os.path.isdir(p):
            for dirpath, _dirs, names in os.walk(p):
                for name in names:
                    if name.endswith(".json"):
                        files.append(os.path.join(dirpath, name))
        elif os.path.isfile(p):
            files.append(p)
        else:
            print(f"no such file or directory: {p}", file=sys.stderr)
            sys.exit(2)
    return sorted(files)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="*", help=f"vector files or directories (default {DEFAULT_VECTORS})")
    ap.add_argument("--ext", default=None, help="extension to load (default: the reference .so)")
    ap.add_argument("--reference", choices=sorted(REFERENCES),
                    default=os.environ.get("REFERENCE") or DEFAULT_REFERENCE,
                    help=f"reference build used without --ext (default $REFERENCE or {DEFAULT_REFERENCE})")
    ap.add_argument("--entry", default="sqlite3_powersync_init", help="entry point symbol")
    ap.add_argument("-q", "--quiet", action="store_true", help="print failures and the summary only")
    ap.add_argument("--show-actual", action="store_true", help="print the actual result of every step")
    args = ap.parse_args()

    if args.reference not in REFERENCES:
        print(f"unknown reference {args.reference!r} (known: {', '.join(sorted(REFERENCES))})", file=sys.stderr)
        sys.exit(2)
    ref_ext, ref_setup = REFERENCES[args.reference]
    ext = args.ext or ref_ext
    use_default = args.ext is None
    if use_default and not os.path.isfile(ext):
        run_setup(ref_setup)
    ext = os.path.abspath(ext)
    if not os.path.isfile(ext):
        print(f"extension not found: {ext}", file=sys.stderr)
        sys.exit(2)
    apsw = import_apsw(allow_setup=True)

    files = collect(args.paths or [DEFAULT_VECTORS])
    passed = failed = 0
    ours_differ = []
    ours_same = []
    if use_default:
        print(f"reference {args.reference}: {ext}")
    for path in files:
        rel = os.path.relpath(path)
        try:
            with open(path, encoding="utf-8") as f:
                vec = json.load(f)
            validate_vector(vec, path, DEFAULT_VECTORS)
        except (ValueError, FormatError) as e:
            failed += 1
            print(f"FAIL {rel}: invalid vector: {e}")
            continue
        if args.show_actual:
            print(f"---- {vec['name']}")
        failures = run_vector(apsw, ext, args.entry, vec, args.show_actual)
        is_ours = os.path.basename(path).startswith("ours-")
        if use_default and is_ours:
            # Our deliberate decisions: the reference is expected to differ.
            (ours_differ if failures else ours_same).append((vec["name"], failures))
            if not args.quiet:
                print(f"{'ours' if failures else 'ours (same as reference)'} {vec['name']}")
            continue
        if failures:
            failed += 1
            print(f"FAIL {vec['name']} ({rel})")
            for fl in failures:
                print("  " + fl)
        else:
            passed += 1
            if not args.quiet:
                print(f"ok   {vec['name']}")
    if ours_differ or ours_same:
        print(f"ours- vectors (our decisions; not counted): {len(ours_differ)} differ from the reference,"
              f" {len(ours_same)} pass on it too")
        if not args.quiet:
            for name, fl in ours_differ:
                print(f"  differs: {name}: {fl[0].splitlines()[0] if fl else ''}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(0 if failed == 0 else 1)


if __name__ == "__main__":
    main()
