//! Sync lines for the workloads, built once as a small value tree and encoded either as JSON
//! text (`line_text`) or as BSON (`line_binary`), so both framings carry exactly the same data.

/// The values the sync lines use; enough of JSON and BSON for the protocol.
pub enum Value {
    Str(String),
    I32(i32),
    I64(i64),
    Arr(Vec<Value>),
    Doc(Vec<(&'static str, Value)>),
}

impl Value {
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut String) {
        match self {
            Value::Str(s) => out.push_str(&serde_json::to_string(s).expect("strings serialise")),
            Value::I32(v) => out.push_str(&v.to_string()),
            Value::I64(v) => out.push_str(&v.to_string()),
            Value::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_json(out);
                }
                out.push(']');
            }
            Value::Doc(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('"');
                    out.push_str(key);
                    out.push_str("\":");
                    value.write_json(out);
                }
                out.push('}');
            }
        }
    }

    /// The BSON document of a `Doc` (the top level of a line is always one).
    pub fn to_bson(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Value::Doc(fields) => write_document(&mut out, &mut fields.iter().map(|(k, v)| (k.to_string(), v))),
            _ => panic!("a BSON line is a document"),
        }
        out
    }
}

fn write_document(out: &mut Vec<u8>, fields: &mut dyn Iterator<Item = (String, &Value)>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    for (key, value) in fields {
        let tag = match value {
            Value::Str(_) => 0x02,
            Value::I32(_) => 0x10,
            Value::I64(_) => 0x12,
            Value::Arr(_) => 0x04,
            Value::Doc(_) => 0x03,
        };
        out.push(tag);
        out.extend_from_slice(key.as_bytes());
        out.push(0);
        match value {
            Value::Str(s) => {
                out.extend_from_slice(&(s.len() as i32 + 1).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
                out.push(0);
            }
            Value::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::Arr(items) => write_document(out, &mut items.iter().enumerate().map(|(i, v)| (i.to_string(), v))),
            Value::Doc(fields) => write_document(out, &mut fields.iter().map(|(k, v)| (k.to_string(), v))),
        }
    }
    out.push(0);
    let len = (out.len() - start) as i32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

fn s(text: impl Into<String>) -> Value {
    Value::Str(text.into())
}

/// The app schema: one table of nine columns (plus `id`), one of them a 200-byte text.
pub const SCHEMA: &str = r#"{"tables":[{"name":"items","columns":[{"name":"name","type":"text"},{"name":"description","type":"text"},{"name":"qty","type":"integer"},{"name":"price","type":"real"},{"name":"created_at","type":"text"},{"name":"owner_id","type":"text"},{"name":"list_id","type":"text"},{"name":"done","type":"integer"},{"name":"rank","type":"integer"}]}]}"#;

/// The same table as a direct table (0.5.4): a STRICT table `items` with triggers, no view.
pub const DIRECT_SCHEMA: &str = r#"{"tables":[{"name":"items","direct":true,"columns":[{"name":"name","type":"text"},{"name":"description","type":"text"},{"name":"qty","type":"integer"},{"name":"price","type":"real"},{"name":"created_at","type":"text"},{"name":"owner_id","type":"text"},{"name":"list_id","type":"text"},{"name":"done","type":"integer"},{"name":"rank","type":"integer"}]}]}"#;

const FILLER: &str = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo";

/// The row id of row `n`.
pub fn row_id(n: u64) -> String {
    format!("r{n:08}")
}

/// A UUIDv4-shaped id of row `n`: deterministic, but in random order like the SDKs' `uuid()`.
pub fn uuid_id(n: u64) -> String {
    // splitmix64 of n, twice, for 128 bits.
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let (hi, lo) = (mix(2 * n), mix(2 * n + 1));
    let hi = (hi & !0xf000) | 0x4000; // version 4
    let lo = (lo & !(0b11 << 62)) | (0b10 << 62); // variant 10
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

/// The JSON object of row `n` in version `version` (updates change every value but the id).
pub fn row_data(n: u64, version: u64) -> String {
    let description = format!("{n:010}{}", &FILLER[..190]);
    debug_assert_eq!(description.len(), 200);
    format!(
        r#"{{"name":"item {n} v{version}","description":"{description}","qty":{},"price":{}.25,"created_at":"2026-01-{:02}T12:{:02}:00Z","owner_id":"user-{}","list_id":"list-{}","done":{},"rank":{}}}"#,
        n + version,
        n % 1000,
        1 + n % 28,
        n % 60,
        n % 97,
        n % 31,
        (n + version) % 2,
        n * 7 % 10_007
    )
}

/// The checksum of op `op_id` (any deterministic 31-bit value).
pub fn op_checksum(op_id: u64) -> u32 {
    (op_id.wrapping_mul(2_654_435_761) % 0x7fff_ffff) as u32
}

pub fn bucket_name(b: usize) -> String {
    format!("bucket-{b}")
}

/// One op of a data line.
pub enum Op {
    Put { op_id: u64, row: u64, version: u64 },
    Remove { op_id: u64, row: u64 },
}

impl Op {
    pub fn op_id(&self) -> u64 {
        match self {
            Op::Put { op_id, .. } | Op::Remove { op_id, .. } => *op_id,
        }
    }

    fn value(&self, id: fn(u64) -> String) -> Value {
        let mut fields = vec![("op_id", s(self.op_id().to_string()))];
        match self {
            Op::Put { row, version, .. } => {
                fields.push(("op", s("PUT")));
                fields.push(("object_type", s("items")));
                fields.push(("object_id", s(id(*row))));
                fields.push(("checksum", Value::I64(op_checksum(self.op_id()).into())));
                fields.push(("data", s(row_data(*row, *version))));
            }
            Op::Remove { row, .. } => {
                fields.push(("op", s("REMOVE")));
                fields.push(("object_type", s("items")));
                fields.push(("object_id", s(id(*row))));
                fields.push(("checksum", Value::I64(op_checksum(self.op_id()).into())));
            }
        }
        Value::Doc(fields)
    }
}

/// A data line; `id` names row `n` (`row_id` or `uuid_id`).
pub fn data_line(bucket: &str, ops: &[Op], id: fn(u64) -> String) -> Value {
    Value::Doc(vec![(
        "data",
        Value::Doc(vec![
            ("bucket", s(bucket)),
            ("data", Value::Arr(ops.iter().map(|op| op.value(id)).collect())),
        ]),
    )])
}

/// A bucket as the checkpoint describes it.
pub struct Bucket {
    pub name: String,
    pub checksum: u32,
    pub count: i64,
    pub priority: i32,
}

fn bucket_values(buckets: &[Bucket]) -> Value {
    Value::Arr(
        buckets
            .iter()
            .map(|b| {
                Value::Doc(vec![
                    ("bucket", s(b.name.clone())),
                    ("checksum", Value::I64(b.checksum.into())),
                    ("priority", Value::I32(b.priority)),
                    ("count", Value::I64(b.count)),
                ])
            })
            .collect(),
    )
}

pub fn checkpoint(last_op_id: u64, buckets: &[Bucket]) -> Value {
    Value::Doc(vec![(
        "checkpoint",
        Value::Doc(vec![
            ("last_op_id", s(last_op_id.to_string())),
            ("buckets", bucket_values(buckets)),
        ]),
    )])
}

pub fn checkpoint_diff(last_op_id: u64, updated: &[Bucket]) -> Value {
    Value::Doc(vec![(
        "checkpoint_diff",
        Value::Doc(vec![
            ("last_op_id", s(last_op_id.to_string())),
            ("updated_buckets", bucket_values(updated)),
            ("removed_buckets", Value::Arr(vec![])),
        ]),
    )])
}

pub fn checkpoint_complete(last_op_id: u64) -> Value {
    Value::Doc(vec![(
        "checkpoint_complete",
        Value::Doc(vec![("last_op_id", s(last_op_id.to_string()))]),
    )])
}

pub fn partial_checkpoint_complete(last_op_id: u64, priority: i32) -> Value {
    Value::Doc(vec![(
        "partial_checkpoint_complete",
        Value::Doc(vec![
            ("last_op_id", s(last_op_id.to_string())),
            ("priority", Value::I32(priority)),
        ]),
    )])
}
