//! SQL values decoded from fuzz input: mostly snippets that mean something to the extension
//! (ops, table names, JSON), sometimes arbitrary text, numbers or blobs.

use arbitrary::Arbitrary;
use rusqlite::types::Value;

const SNIPPETS: &[&str] = &[
    "PUT",
    "PATCH",
    "DELETE",
    "items",
    "lists",
    "logs",
    "notes",
    "r1",
    "r2",
    "",
    "{}",
    "[]",
    "null",
    "{\"v\":\"x\",\"n\":1}",
    "{\"title\":\"t\",\"r\":1.5}",
    "{\"a\":{\"b\":[1,2,{\"c\":null}]}}",
    "{\"op\":\"PUT\",\"type\":\"items\",\"id\":\"r1\",\"data\":{\"v\":1}}",
    "{\"op\":\"PATCH\",\"type\":\"lists\",\"id\":\"r2\",\"data\":{}}",
    "{\"op\":\"DELETE\",\"type\":\"items\",\"id\":\"r1\"}",
    "\"quoted\"",
    "not json",
    "{\"v\":1,\"v\":2}",
    "é\u{0}\u{ffff}",
    "9223372036854775807",
];

#[derive(Arbitrary, Debug, Clone)]
pub enum Val {
    Null,
    Int(i64),
    Small(u8),
    Real(f64),
    Snippet(u8),
    Text(String),
    Blob(Vec<u8>),
}

impl Val {
    pub fn to_sql(&self) -> Value {
        match self {
            Val::Null => Value::Null,
            Val::Int(i) => Value::Integer(*i),
            Val::Small(i) => Value::Integer(*i as i64),
            Val::Real(r) => Value::Real(*r),
            Val::Snippet(i) => Value::Text(SNIPPETS[*i as usize % SNIPPETS.len()].to_owned()),
            Val::Text(s) => Value::Text(s.clone()),
            Val::Blob(b) => Value::Blob(b.clone()),
        }
    }
}
