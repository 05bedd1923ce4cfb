#!/usr/bin/env python3
"""Writes the hand-made BSON seeds of `line_binary` (fuzz/seeds/line_binary/): line shapes the
conformance vectors lack (checkpoint streams and their errors, bucket subscriptions, a whole
session in one input, every element type the decoder only skips, wrong types in typed fields).
Then `python3 fuzz/seeds.py` copies them into the corpus. Usage: python3 fuzz/seeds/make_line_binary.py"""
import pathlib
import struct
def cstr(s): return s.encode() + b"\0"
def string(s): b = s.encode() + b"\0"; return struct.pack("<i", len(b)) + b
def doc(items):
    body = b""
    for k, v in items:
        t, enc = val(v)
        body += bytes([t]) + cstr(k) + enc
    return struct.pack("<i", len(body) + 5) + body + b"\0"
class Raw:
    def __init__(self, t, b): self.t, self.b = t, b
def val(v):
    if isinstance(v, Raw): return v.t, v.b
    if v is None: return 0x0A, b""
    if isinstance(v, bool): return 0x08, bytes([v])
    if isinstance(v, int):
        return (0x10, struct.pack("<i", v)) if -2**31 <= v < 2**31 else (0x12, struct.pack("<q", v))
    if isinstance(v, float): return 0x01, struct.pack("<d", v)
    if isinstance(v, str): return 0x02, string(v)
    if isinstance(v, list): return 0x04, doc([(str(i), x) for i, x in enumerate(v)])
    if isinstance(v, dict): return 0x03, doc(list(v.items()))
    raise TypeError(v)
i64 = lambda n: Raw(0x12, struct.pack("<q", n))
out = pathlib.Path(__file__).resolve().parent / "line_binary"; out.mkdir(parents=True, exist_ok=True)
checkpoint = doc([("checkpoint", {
    "last_op_id": "5", "write_checkpoint": "2",
    "buckets": [
        {"bucket": "b1", "checksum": 3, "priority": 3, "count": i64(2), "subscriptions": [{"default": 0}, {"sub": 1}]},
        {"bucket": "b0", "checksum": 4.0, "priority": 0, "count": 1, "subscriptions": []},
        {"bucket": "b2", "checksum": i64(4294967295), "priority": None, "count": None},
    ],
    "streams": [
        {"name": "s1", "is_default": True, "errors": [{"subscription": 0, "message": "m"}, {"subscription": "default", "message": "n"}]},
        {"name": "s2", "is_default": False, "errors": []},
    ],
})])
data = doc([("data", {"bucket": "b2", "data": [
    {"op_id": "4", "op": "PUT", "object_type": "items", "object_id": "i2", "subkey": "k", "checksum": i64(4294967295), "data": '{"v":"x","n":2}'},
    {"op_id": "5", "op": "REMOVE", "object_type": "lists", "object_id": "l1", "checksum": 1.0, "data": None},
]})])
diff = doc([("checkpoint_diff", {"last_op_id": "6", "updated_buckets": [{"bucket": "b1", "checksum": -1, "subscriptions": [{"sub": 0}]}], "removed_buckets": ["b0"], "write_checkpoint": None})])
complete = doc([("checkpoint_complete", {"last_op_id": "5"})])
partial = doc([("partial_checkpoint_complete", {"last_op_id": "5", "priority": i64(0)})])
# An unknown line holding every element type the decoder only skips (and nested ones).
skipped = doc([("future_line", {
    "objid": Raw(0x07, bytes(range(12))), "undef": Raw(0x06, b""), "date": Raw(0x09, struct.pack("<q", 1)),
    "regex": Raw(0x0B, b"a.*\0i\0"), "dbptr": Raw(0x0C, string("ns") + bytes(12)), "js": Raw(0x0D, string("f()")),
    "sym": Raw(0x0E, string("s")), "jsscope": Raw(0x0F, (lambda c, s: struct.pack("<i", 4 + len(c) + len(s)) + c + s)(string("x"), doc([("y", 1)]))),
    "ts": Raw(0x11, bytes(8)), "dec": Raw(0x13, bytes(16)), "min": Raw(0xFF, b""), "max": Raw(0x7F, b""),
    "bin": Raw(0x05, struct.pack("<i", 3) + b"\0abc"), "nest": [[{"a": [1, 2.5, "s", True, None]}]],
})])
seeds = {
    "streams-checkpoint": checkpoint,
    "session-streams": checkpoint + data + diff + partial + complete,
    "skipped-types": skipped,
    # Known line types carrying values of the skipped types where a field is expected.
    "typed-field-wrong-type": doc([("data", {"bucket": Raw(0x05, struct.pack("<i", 1) + b"\0b"), "data": []})]) +
        doc([("token_expires_in", Raw(0x13, bytes(16)))]) + doc([("checkpoint_complete", Raw(0x0B, b"x\0\0"))]),
}
for name, b in seeds.items():
    (out / name).write_bytes(b)
    print(name, len(b))
