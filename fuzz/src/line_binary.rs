//! `line_binary`: the input is a sequence of BSON documents, split by their own little-endian
//! length prefixes (clamped to what is left, so a bad prefix still yields a line), each fed as one
//! `line_binary` call to a started iteration that tracks a checkpoint.

use rusqlite::types::Value;

use super::{common, line_text};

pub fn run(data: &[u8]) {
    let db = common::open_with_schema();
    common::start_with_checkpoint(&db);
    for doc in split(data).into_iter().take(64) {
        line_text::feed(&db, Value::Blob(doc.to_vec()), None);
    }
    line_text::finish(&db);
}

/// Documents by their length prefix; a prefix under 5 or past the end takes the rest.
fn split(mut data: &[u8]) -> Vec<&[u8]> {
    let mut docs = Vec::new();
    while !data.is_empty() {
        let declared = if data.len() >= 4 {
            i32::from_le_bytes([data[0], data[1], data[2], data[3]])
        } else {
            0
        };
        let n = if declared >= 5 && (declared as usize) <= data.len() {
            declared as usize
        } else {
            data.len()
        };
        docs.push(&data[..n]);
        data = &data[n..];
    }
    docs
}
