// Minimal BSON encoder for the mock service (documents, arrays, strings, numbers, booleans, null).
// Integers in the int32 range become int32, other safe integers int64, everything else double.
// `{ $int64: n }` forces int64 and `{ $double: n }` forces double.

function encodeElement(parts, name, value) {
  const key = Buffer.from(String(name) + '\0', 'utf8');
  const push = (type, payload) => {
    parts.push(Buffer.from([type]), key, payload);
  };
  if (value === null || value === undefined) {
    push(0x0a, Buffer.alloc(0));
  } else if (typeof value === 'boolean') {
    push(0x08, Buffer.from([value ? 1 : 0]));
  } else if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    const b = Buffer.alloc(4 + bytes.length + 1);
    b.writeInt32LE(bytes.length + 1, 0);
    bytes.copy(b, 4);
    push(0x02, b);
  } else if (typeof value === 'bigint') {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(value);
    push(0x12, b);
  } else if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= -2147483648 && value <= 2147483647) {
      const b = Buffer.alloc(4);
      b.writeInt32LE(value);
      push(0x10, b);
    } else if (Number.isSafeInteger(value)) {
      const b = Buffer.alloc(8);
      b.writeBigInt64LE(BigInt(value));
      push(0x12, b);
    } else {
      const b = Buffer.alloc(8);
      b.writeDoubleLE(value);
      push(0x01, b);
    }
  } else if (Array.isArray(value)) {
    push(0x04, encodeDocument(Object.fromEntries(value.map((v, i) => [String(i), v]))));
  } else if (typeof value === 'object' && '$int64' in value) {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(BigInt(value.$int64));
    push(0x12, b);
  } else if (typeof value === 'object' && '$double' in value) {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(value.$double);
    push(0x01, b);
  } else if (typeof value === 'object') {
    push(0x03, encodeDocument(value));
  } else {
    throw new Error(`bson: cannot encode ${typeof value}`);
  }
}

export function encodeDocument(obj) {
  const parts = [];
  for (const [k, v] of Object.entries(obj)) {
    encodeElement(parts, k, v);
  }
  const body = Buffer.concat(parts);
  const out = Buffer.alloc(4 + body.length + 1);
  out.writeInt32LE(out.length, 0);
  body.copy(out, 4);
  out[out.length - 1] = 0;
  return out;
}
