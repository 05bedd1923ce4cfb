"""Minimal BSON encoder for writing sync-line test vectors (no dependencies).

    from minibson import encode, Int32, Int64, Double
    encode({"checkpoint": {"last_op_id": "2", "buckets": [{"bucket": "b", "checksum": Int64(5)}]}})

Python -> BSON element types:
  dict -> embedded document (0x03), keys in insertion order
  list / tuple -> array (0x04)
  str -> string (0x02)
  bool -> boolean (0x08)
  None -> null (0x0A)
  int -> int32 (0x10) when it fits, else int64 (0x12); force with Int32(...) / Int64(...)
  float / Double(...) -> double (0x01)
  bytes -> binary, subtype 0 (0x05)
"""

import struct


class Int32(int):
    pass


class Int64(int):
    pass


class Double(float):
    pass


def _cstring(s):
    b = s.encode("utf-8")
    if b"\x00" in b:
        raise ValueError("BSON keys must not contain NUL")
    return b + b"\x00"


def _element(key, value):
    name = _cstring(key)
    if isinstance(value, bool):
        return b"\x08" + name + (b"\x01" if value else b"\x00")
    if value is None:
        return b"\x0a" + name
    if isinstance(value, Int32):
        return b"\x10" + name + struct.pack("<i", int(value))
    if isinstance(value, Int64):
        return b"\x12" + name + struct.pack("<q", int(value))
    if isinstance(value, int):
        if -(2 ** 31) <= value < 2 ** 31:
            return b"\x10" + name + struct.pack("<i", value)
        return b"\x12" + name + struct.pack("<q", value)
    if isinstance(value, float):
        return b"\x01" + name + struct.pack("<d", float(value))
    if isinstance(value, str):
        b = value.encode("utf-8")
        return b"\x02" + name + struct.pack("<i", len(b) + 1) + b + b"\x00"
    if isinstance(value, dict):
        return b"\x03" + name + encode(value)
    if isinstance(value, (list, tuple)):
        return b"\x04" + name + encode({str(i): v for i, v in enumerate(value)})
    if isinstance(value, (bytes, bytearray)):
        return b"\x05" + name + struct.pack("<i", len(value)) + b"\x00" + bytes(value)
    raise TypeError(f"cannot encode {type(value).__name__} as BSON")


def encode(doc):
    """Encodes a dict as one BSON document (int32 total length, elements, 0x00)."""
    body = b"".join(_element(k, v) for k, v in doc.items())
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


if __name__ == "__main__":
    # Self-check against the document quoted in the specification's BSON transcript.
    doc = {"checkpoint": {"last_op_id": "2", "write_checkpoint": None, "buckets": [
        {"bucket": "bb", "checksum": Int32(-1), "priority": Int32(3), "count": Int64(2)}]}}
    expected = ("8a00000003636865636b706f696e740079000000026c6173745f6f705f6964000200000032000a77726974655f636865636b706f696e74"
                "00046275636b65747300470000000330003f000000026275636b6574000300000062620010636865636b73756d00ffffffff107072696f"
                "72697479000300000012636f756e7400020000000000000000000000")
    got = encode(doc).hex()
    assert got == expected, got
    print("ok")
