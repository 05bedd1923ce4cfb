#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/ from the conformance vectors (test-vectors/):
every sync line, `start` payload, schema JSON and `powersync_diff` pair the vectors pass, plus each vector's whole
line transcript for the multi-line targets, plus a few hand-made inputs (fuzz/seeds/<target>/).
Re-running it is idempotent (files are named by content hash). Usage: python3 fuzz/seeds.py"""
import hashlib
import json
import pathlib
import re
import shutil

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
HAND = ROOT / "fuzz" / "seeds"
# Keeps the committed corpus small: longer inputs teach the fuzzer nothing the short ones don't.
MAX_BYTES = 4096

seeds = {t: set() for t in ["line_text", "line_binary", "replace_schema", "start_payload", "json_diff"]}
SCHEMA_CALL = re.compile(r"powersync_replace_schema\('((?:[^']|'')*)'\)")

for path in sorted((ROOT / "test-vectors").rglob("*.json")):
    vector = json.loads(path.read_text())
    text_lines = []
    for step in vector.get("steps", []):
        sql = step.get("sql") or step.get("exec") or ""
        params = step.get("params") or []
        for m in SCHEMA_CALL.finditer(sql):
            seeds["replace_schema"].add(m.group(1).replace("''", "'").encode())
        if "powersync_replace_schema" in sql and params and isinstance(params[0], str):
            seeds["replace_schema"].add(params[0].encode())
        if "powersync_diff(" in sql and len(params) == 2 and all(isinstance(p, str) for p in params):
            seeds["json_diff"].add(f"{params[0]}\0{params[1]}".encode())
        if "powersync_control" not in sql or len(params) < 2 or not isinstance(params[0], str):
            continue
        op, payload = params[0], params[1]
        if op == "line_text" and isinstance(payload, str):
            seeds["line_text"].add(payload.encode())
            text_lines.append(payload)
        elif op == "line_binary" and isinstance(payload, dict) and "blob" in payload:
            seeds["line_binary"].add(bytes.fromhex(payload["blob"]))
        elif op == "start" and isinstance(payload, str):
            seeds["start_payload"].add(payload.encode())
    if len(text_lines) > 1:
        seeds["line_text"].add("\n".join(text_lines).encode())

for target in ["line_text", "line_binary", "replace_schema", "start_payload", "crud_insert", "session", "json_diff"]:
    out = CORPUS / target
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    data = {s for s in seeds.get(target, set()) if len(s) <= MAX_BYTES}
    hand = HAND / target
    if hand.is_dir():
        data |= {p.read_bytes() for p in hand.iterdir() if p.is_file()}
    for d in data:
        (out / hashlib.sha1(d).hexdigest()[:16]).write_bytes(d)
    print(f"{target}: {len(data)} seeds")
