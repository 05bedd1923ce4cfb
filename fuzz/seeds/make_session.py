#!/usr/bin/env python3
"""Writes hand-made `session` seeds (fuzz/seeds/session/bulk-*) that reach bulk mode in fuzzing
builds (`sync::bulk::MIN_OPS` is 4 under `--cfg fuzzing`): the service gets a few ops per bucket,
some superseded and some REMOVEs, then checkpoints whose counts announce them, data lines in
several parts, partial and complete checkpoints. The bytes follow `arbitrary` 1.x's encoding of
the `Step` enum of fuzz/src/session.rs (a variant is a little-endian u32 `x` with
`x * variants >> 32` the index; a bool is a byte's low bit). Usage: python3 fuzz/seeds/make_session.py
then python3 fuzz/seeds.py."""
import pathlib
import re
import struct

HERE = pathlib.Path(__file__).resolve().parent
SOURCE = (HERE.parent / "src" / "session.rs").read_text()


def variants(enum):
    body = re.search(r"enum " + enum + r" \{(.*?)\n\}", SOURCE, re.S).group(1)
    return re.findall(r"^    (\w+)", body, re.M)


STEP, CMD = variants("Step"), variants("Cmd")


def tag(names, name):
    i, n = names.index(name), len(names)
    return struct.pack("<I", -(-(i << 32) // n))


def put(row, v=1, n=2):
    return tag(STEP, "ServerPut") + bytes([row, v, n])


def remove(row):
    return tag(STEP, "ServerRemove") + bytes([row])


def control(cmd, *fields):
    return tag(STEP, "Control") + tag(CMD, cmd) + bytes(fields) + b"\x00"  # rollback: false


def checkpoint(binary=0):
    return control("Checkpoint", binary, 0, 0)


def data(bucket, max_ops, binary=0):
    return control("Data", binary, bucket, max_ops)


# Rows r0, r3, r6 are in bucket b0 (priority 0), r1, r4, r7 in b1 (priority 1), r2, r5 in b2.
first = (
    put(0) + put(3) + put(6) + put(0, 2, 3) + put(3, 3, 4) + remove(6)
    + checkpoint() + data(0, 2) + data(0, 7) + control("Complete", 0)
)
second = (
    put(1) + put(4) + put(7) + put(1, 2, 2) + remove(4) + remove(0) + put(2) + put(5)
    + checkpoint(1) + data(1, 1, 1) + data(0, 7) + control("Partial", 0, 1)
    + data(1, 7) + data(2, 0) + data(2, 7, 1) + control("Complete", 1)
)
# A restart in the middle of a bulk download (8 new ops, at least the 6 stored): `start` must
# finish it, the rest resumes.
restart = (
    first + put(0, 3, 1) + put(3, 1, 1) + remove(3) + put(6) + put(6, 1, 1) + put(0, 1, 3) + put(3, 2, 2)
    + remove(0) + checkpoint() + data(0, 1) + control("Start", 0, 0) + control("Established")
    + checkpoint() + data(0, 7) + control("Complete", 0)
)
out = HERE / "session"
for name, seed in [("bulk-first", first), ("bulk-second", first + second), ("bulk-restart", restart)]:
    (out / name).write_bytes(seed)
    print(name, len(seed), "bytes")
