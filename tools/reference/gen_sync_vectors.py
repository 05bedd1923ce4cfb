#!/usr/bin/env python3
"""Generates the transcript vectors in test-vectors/sync/ by replaying scripted sync sessions
against the reference extension and recording its results: by default the 0.5.4 reference (the
drop-in target, built by setup054.sh); `--reference 0.5.3` (or REFERENCE=0.5.3) records against the
0.5.3 binary that setup.sh installs.

    python3 tools/reference/gen_sync_vectors.py               # (re)write all sync vectors
    python3 tools/reference/gen_sync_vectors.py -k bson       # only vectors whose name contains 'bson'
    python3 tools/reference/gen_sync_vectors.py --transcript /tmp/t.txt   # also write a readable log

The recorded results are what the reference returned, so a regenerated file is only as good as the
review of its transcript: every scenario below states what it demonstrates, and `expect=` /
`expect_rows=` pin results quoted in the specification (the script stops if the reference disagrees).

Recording rules (see test-vectors/README.md):
* powersync_control results are compared as exact text unless they contain values that vary
  between runs (`last_synced_at`, `expires_at`, UUID client ids); then a `{"$": "json"}` matcher is
  written with `{"$": "int"}` captures for timestamps (`ts1`, `ts2`, ... ; a later occurrence of the
  same value becomes a `ref`, so "carried over unchanged" is checked too).
* Timestamps read back from tables are compared with `ref` to the captured instruction values.
* Serde / BSON decoder error texts are compared by prefix up to `cause: ` (the full observed text
  goes into the step's `note`).
"""

import argparse
import json
import os
import re
import sys
import time

SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, SCRIPT_DIR)
import run_vectors  # noqa: E402
from minibson import Double, Int32, Int64, encode as bson_encode  # noqa: E402

REPO_ROOT = run_vectors.REPO_ROOT
OUT_DIR = os.path.join(REPO_ROOT, "test-vectors", "sync")

UUID4_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
TS_MIN, TS_MAX = 1_750_000_000_000_000, 2_600_000_000_000_000  # µs timestamps produced "now" (fixed test values stay below)

SCHEMA = {"tables": [
    {"name": "items", "columns": [{"name": "name", "type": "TEXT"}, {"name": "qty", "type": "INTEGER"}]},
    {"name": "lists", "columns": [{"name": "title", "type": "TEXT"}]},
]}


def jtext(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# Sync line builders (plain dicts; used for both JSON and BSON)

ABSENT = object()


def bk(name, checksum, priority=ABSENT, count=ABSENT):
    d = {"bucket": name, "checksum": checksum}
    if priority is not ABSENT:
        d["priority"] = priority
    if count is not ABSENT:
        d["count"] = count
    return d


def checkpoint(last, buckets, wc=ABSENT):
    d = {"last_op_id": last}
    if wc is not ABSENT:
        d["write_checkpoint"] = wc
    d["buckets"] = buckets
    return {"checkpoint": d}


def diff(last, updated, removed, wc=ABSENT):
    d = {"last_op_id": last}
    if wc is not ABSENT:
        d["write_checkpoint"] = wc
    d["updated_buckets"] = updated
    d["removed_buckets"] = removed
    return {"checkpoint_diff": d}


def op(op_id, kind, checksum, otype=ABSENT, oid=ABSENT, data=ABSENT, subkey=ABSENT):
    d = {"op_id": op_id, "op": kind}
    if otype is not ABSENT:
        d["object_type"] = otype
    if oid is not ABSENT:
        d["object_id"] = oid
    d["checksum"] = checksum
    if subkey is not ABSENT:
        d["subkey"] = subkey
    if data is not ABSENT:
        d["data"] = data
    return d


def put(op_id, otype, oid, checksum, data, subkey=ABSENT):
    return op(op_id, "PUT", checksum, otype, oid, data, subkey)


def remove(op_id, otype, oid, checksum):
    return op(op_id, "REMOVE", checksum, otype, oid)


def data(bucket, ops):
    return {"data": {"bucket": bucket, "data": ops}}


def complete(last):
    return {"checkpoint_complete": {"last_op_id": last}}


def partial(last, prio):
    return {"partial_checkpoint_complete": {"last_op_id": last, "priority": prio}}


def tok(n):
    return {"token_expires_in": n}


class Bson:
    """A line_binary payload: BSON document built from a dict (see minibson for types)."""

    def __init__(self, doc=None, raw=None, note=None):
        self.doc = doc
        self.raw = raw if raw is not None else bson_encode(doc)
        self.note = note


def describe_bson(v):
    """Human-readable rendering of a BSON doc with explicit numeric types, for step notes."""
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {describe_bson(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(describe_bson(x) for x in v) + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, Int64):
        return f"int64 {int(v)}"
    if isinstance(v, Int32):
        return f"int32 {int(v)}"
    if isinstance(v, int):
        return f"int32 {v}" if -(2 ** 31) <= v < 2 ** 31 else f"int64 {v}"
    if isinstance(v, float):
        return f"double {float(v)!r}"
    return json.dumps(v, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# Vector description DSL


class Ctl:
    def __init__(self, op, payload=None, expect=None, err_prefix=None, note=None, rollback=None,
                 sql="select powersync_control(?, ?)", tx=True):
        self.op, self.payload, self.expect = op, payload, expect
        self.err_prefix, self.note, self.rollback, self.sql, self.tx = err_prefix, note, rollback, sql, tx


class Q:
    def __init__(self, sql, expect_rows=None, unordered=False, note=None, params=None, err_prefix=None):
        self.sql, self.expect_rows, self.unordered, self.note, self.params = sql, expect_rows, unordered, note, params
        self.err_prefix = err_prefix


class X:
    def __init__(self, sql, note=None):
        self.sql, self.note = sql, note


class Vector:
    def __init__(self, name, description, spec, steps, schema=SCHEMA, client_id="client-1", init=True):
        self.name, self.description, self.spec, self.steps = name, description, spec, steps
        self.schema, self.client_id, self.init = schema, client_id, init


VECTORS = []


def vec(name, description, spec, steps, **kw):
    VECTORS.append(Vector(name, description, spec, steps, **kw))


# Shorthands used by the scenarios
def line(obj, **kw):
    """line_text with compact JSON of obj (or obj itself when it is already a str)."""
    return Ctl("line_text", obj if isinstance(obj, str) else jtext(obj), **kw)


def bline(obj, **kw):
    return Ctl("line_binary", obj if isinstance(obj, Bson) else Bson(obj), **kw)


def both(obj, binary, **kw):
    return bline(obj, **kw) if binary else line(obj, **kw)


def start(payload=None, **kw):
    if isinstance(payload, (dict, list)):
        payload = jtext(payload)
    return Ctl("start", payload, **kw)


def ctl(opname, payload=None, **kw):
    return Ctl(opname, payload, **kw)


BUCKETS_Q = "select id, name, last_applied_op, last_op, add_checksum, op_checksum, pending_delete, count_at_last, count_since_last, downloaded_size from ps_buckets order by id"
OPLOG_Q = "select bucket, op_id, row_type, row_id, key, data, hash from ps_oplog order by bucket, op_id"
UPDATED_Q = "select row_type, row_id from ps_updated_rows order by row_type, row_id"
ITEMS_Q = "select id, data from ps_data__items order by id"
LISTS_Q = "select id, data from ps_data__lists order by id"
UNTYPED_Q = "select type, id, data from ps_untyped order by type, id"
SYNCSTATE_Q = "select priority, last_synced_at from ps_sync_state order by priority"
KV_Q = "select key, value, typeof(value) from ps_kv order by key"
CRUD_Q = "select id, data, tx_id from ps_crud order by id"
OFFLINE_Q = "select powersync_offline_sync_status()"


# ---------------------------------------------------------------------------------------------
# Recording


class Recorder:
    def __init__(self, apsw, ext, transcript):
        self.apsw, self.ext, self.transcript = apsw, ext, transcript
        self.problems = []

    def log(self, s=""):
        if self.transcript is not None:
            self.transcript.append(s)

    def run(self, v):
        apsw = self.apsw
        conn = apsw.Connection(":memory:")
        conn.enable_load_extension(True)
        conn.load_extension(self.ext, "sqlite3_powersync_init")
        self.ts_names = {}
        self.captures = {}
        self.uuid_name = None
        steps = []
        self.log(f"==== {v.name}: {v.description}")

        def execute(sql, params=()):
            cur = conn.cursor()
            return [list(r) for r in cur.execute(sql, params)]

        if v.init:
            if v.schema is not None:
                init_sql = ("begin; select powersync_init(); select powersync_replace_schema('"
                            + jtext(v.schema).replace("'", "''") + "'); commit")
            else:
                init_sql = "begin; select powersync_init(); commit"
            execute(init_sql)
            steps.append({"exec": init_sql})
            if v.client_id is not None:
                s = f"update ps_kv set value = '{v.client_id}' where key = 'client_id'"
                execute(s)
                steps.append({"exec": s})

        for st in v.steps:
            if isinstance(st, X):
                execute(st.sql)
                step = {"exec": st.sql}
                if st.note:
                    step["note"] = st.note
                steps.append(step)
                self.log(f"--- exec {st.sql}")
            elif isinstance(st, Q):
                params = st.params or []
                step = {"sql": st.sql}
                if params:
                    step["params"] = params
                try:
                    rows = execute(st.sql, params)
                except apsw.Error as e:
                    msg = run_vectors.strip_apsw_prefix(e)
                    note = st.note
                    if st.err_prefix is not None:
                        if not msg.startswith(st.err_prefix):
                            self.problem(v, f"error {msg!r} does not start with {st.err_prefix!r}")
                        step["error"] = {"code": e.extendedresult, "message_prefix": st.err_prefix}
                        note = (note + "; " if note else "") + f"observed: {msg}"
                    else:
                        step["error"] = {"code": e.extendedresult, "message": msg}
                    if note:
                        step["note"] = note
                    steps.append(step)
                    self.log(f"--- {st.sql}\n    ERROR {e.extendedresult} {msg}")
                    continue
                step["rows"] = [[self.row_value(x) for x in r] for r in rows]
                if st.unordered:
                    step["unordered"] = True
                if st.note:
                    step["note"] = st.note
                steps.append(step)
                self.log(f"--- {st.sql}")
                for r in rows:
                    self.log(f"    {tuple(r)!r}")
                if st.expect_rows is not None and rows != st.expect_rows:
                    self.problem(v, f"{st.sql}: expected {st.expect_rows!r}, got {rows!r}")
            elif isinstance(st, Ctl):
                self.run_ctl(v, st, execute, steps)
            else:
                raise TypeError(st)
        conn.close()
        return steps

    def problem(self, v, msg):
        self.problems.append(f"{v.name}: {msg}")
        self.log(f"!!! SPEC MISMATCH: {msg}")

    def row_value(self, x):
        if isinstance(x, (bytes, bytearray)):
            return {"blob": bytes(x).hex()}
        if type(x) is int and TS_MIN <= x <= TS_MAX:
            return self.ts_matcher(x, top_level=True)
        if isinstance(x, str):
            parsed = None
            if x[:1] in "[{":
                try:
                    parsed = run_vectors.parse_json_ordered(x)
                except ValueError:
                    parsed = None
            if parsed is not None and self.has_volatile(parsed):
                return {"$": "json", "value": self.pattern(parsed)}
            if UUID4_RE.fullmatch(x):
                return self.uuid_matcher(x)
        return x

    def ts_matcher(self, value, top_level=False):
        if value in self.ts_names:
            return {"$": "ref", "name": self.ts_names[value]}
        name = f"ts{len(self.ts_names) + 1}"
        self.ts_names[value] = name
        return {"$": "capture", "as": name, "match": {"$": "any"} if top_level else {"$": "int"}}

    def uuid_matcher(self, value):
        if self.uuid_name is not None and self.captures.get(self.uuid_name) == value:
            return {"$": "ref", "name": self.uuid_name}
        self.uuid_name = "client_id"
        self.captures[self.uuid_name] = value
        return {"$": "capture", "as": "client_id", "match": {"$": "uuid4"}}

    def has_volatile(self, v):
        if isinstance(v, run_vectors.JsonObject):
            for k, x in v.pairs:
                if k in ("last_synced_at", "expires_at") and type(x) is int and TS_MIN <= x <= TS_MAX:
                    return True
                if k == "client_id" and isinstance(x, str) and UUID4_RE.fullmatch(x):
                    return True
                if self.has_volatile(x):
                    return True
            return False
        if isinstance(v, list):
            return any(self.has_volatile(x) for x in v)
        return False

    def pattern(self, v, key=None):
        if isinstance(v, run_vectors.JsonObject):
            return {k: self.pattern(x, k) for k, x in v.pairs}
        if isinstance(v, list):
            return [self.pattern(x) for x in v]
        if key in ("last_synced_at", "expires_at") and type(v) is int and TS_MIN <= v <= TS_MAX:
            return self.ts_matcher(v)
        if key == "client_id" and isinstance(v, str) and UUID4_RE.fullmatch(v):
            return self.uuid_matcher(v)
        return v

    def run_ctl(self, v, st, execute, steps):
        apsw = self.apsw
        payload = st.payload
        note = st.note
        if isinstance(payload, Bson):
            bound = payload.raw
            pparam = {"blob": payload.raw.hex()}
            desc = payload.note or ("BSON " + describe_bson(payload.doc) if payload.doc is not None else None)
            if desc:
                note = desc if not note else note + "; " + desc
        elif isinstance(payload, (bytes, bytearray)):
            bound = bytes(payload)
            pparam = {"blob": bound.hex()}
        else:
            bound = payload
            pparam = payload
        op_param = st.op
        time.sleep(0.004)  # distinct millisecond timestamps for distinct sync_local runs
        if st.tx:
            execute("begin")
            steps.append({"exec": "begin"})
        err = None
        result = None
        try:
            rows = execute(st.sql, [op_param, bound])
            result = rows[0][0]
        except apsw.Error as e:
            err = e
        step = {"sql": st.sql, "params": [{"blob": op_param.hex()} if isinstance(op_param, bytes) else op_param, pparam]}
        shown = payload.raw.hex() if isinstance(payload, Bson) else payload
        self.log(f">>> powersync_control({op_param!r}, {shown!r})" + (f"   [{note}]" if note else ""))
        if err is not None:
            code = err.extendedresult
            msg = run_vectors.strip_apsw_prefix(err)
            self.log(f"<<< ERROR {code} {msg}")
            prefix = st.err_prefix if st.err_prefix is not None else auto_prefix(msg)
            if prefix is not None:
                if not msg.startswith(prefix):
                    self.problem(v, f"error {msg!r} does not start with {prefix!r}")
                step["error"] = {"code": code, "message_prefix": prefix}
                extra = f"observed: {msg}"
                note = extra if not note else note + "; " + extra
            else:
                step["error"] = {"code": code, "message": msg}
            if st.expect is not None and st.expect != msg:
                self.problem(v, f"expected error {st.expect!r}, got {msg!r}")
        else:
            self.log(f"<<< {result!r}")
            step["rows"] = [[self.row_value(result)]]
            if st.expect is not None:
                norm = normalize(result) if isinstance(result, str) else result
                if norm != st.expect:
                    self.problem(v, f"expected\n      {st.expect}\n    got\n      {norm}")
        if note:
            step["note"] = note
        steps.append(step)
        if st.tx:
            rollback = st.rollback if st.rollback is not None else (err is not None)
            end = "rollback" if rollback else "commit"
            execute(end)
            steps.append({"exec": end})


MARKERS = ["invalid text line. cause: ", "invalid binary line. cause: ", "invalid argument: . cause: ",
           "invalid local data: cause: "]


def auto_prefix(msg):
    for m in MARKERS:
        i = msg.find(m)
        if i >= 0:
            prefix = msg[: i + len(m)]
            inner = "invalid argument: Invalid bucket priority value. cause: unknown"
            if msg[i + len(m):].startswith(inner):
                prefix += inner
            return prefix
    return None


def normalize(text):
    """Replaces timestamps by T for comparison with transcripts quoted in the spec."""
    text = re.sub(r'"(last_synced_at|expires_at)":\d+', r'"\1":T', text)
    return text


# ---------------------------------------------------------------------------------------------
# Writing


def write_vector(v, steps):
    doc_head = {"name": v.name, "description": v.description}
    if v.spec:
        doc_head["spec"] = v.spec
    lines = ["{"]
    for k, val in doc_head.items():
        lines.append(f"  {json.dumps(k)}: {json.dumps(val, ensure_ascii=False)},")
    lines.append('  "steps": [')
    for i, s in enumerate(steps):
        lines.append("    " + json.dumps(s, ensure_ascii=False) + ("," if i + 1 < len(steps) else ""))
    lines.append("  ]")
    lines.append("}")
    path = os.path.join(OUT_DIR, v.name.split("/", 1)[1] + ".json")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-k", default=None, help="only vectors whose name contains this text")
    ap.add_argument("--transcript", default=None, help="write a readable transcript to this file")
    ap.add_argument("--dry-run", action="store_true", help="do not write vector files")
    ap.add_argument("--reference", choices=sorted(run_vectors.REFERENCES),
                    default=os.environ.get("REFERENCE") or run_vectors.DEFAULT_REFERENCE,
                    help=f"reference build to record from (default $REFERENCE or {run_vectors.DEFAULT_REFERENCE})")
    args = ap.parse_args()

    import scenarios_sync  # noqa: F401  (fills VECTORS)

    ext, setup = run_vectors.REFERENCES[args.reference]
    if not os.path.isfile(ext):
        run_vectors.run_setup(setup)
    apsw = run_vectors.import_apsw(allow_setup=True)
    transcript = [] if args.transcript else None
    rec = Recorder(apsw, ext, transcript)
    os.makedirs(OUT_DIR, exist_ok=True)
    names = set()
    count = 0
    for v in VECTORS:
        if v.name in names:
            raise SystemExit(f"duplicate vector name {v.name}")
        names.add(v.name)
        if args.k and args.k not in v.name:
            continue
        steps = rec.run(v)
        count += 1
        if not args.dry_run:
            write_vector(v, steps)
        rec.log()
    if args.transcript:
        with open(args.transcript, "w", encoding="utf-8") as f:
            f.write("\n".join(transcript) + "\n")
    print(f"{count} vectors recorded" + (" (dry run)" if args.dry_run else f" into {os.path.relpath(OUT_DIR)}"))
    if rec.problems:
        print("SPEC MISMATCHES:")
        for p in rec.problems:
            print("  " + p)
        sys.exit(1)


if __name__ == "__main__":
    sys.modules.setdefault("gen_sync_vectors", sys.modules[__name__])
    main()
