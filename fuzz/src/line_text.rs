//! `line_text`: the input is up to 64 newline-separated JSON sync lines, fed one call each to a
//! started iteration that already tracks a checkpoint (`common::start_with_checkpoint`).

use rusqlite::types::Value;
use rusqlite::Connection;

use super::common;

pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let db = common::open_with_schema();
    common::start_with_checkpoint(&db);
    for line in text.split('\n').take(64) {
        feed(&db, Value::Text(line.to_owned()), line_key(line).as_deref());
    }
    finish(&db);
}

/// The top-level key of a JSON line, if it is an object with one.
fn line_key(line: &str) -> Option<String> {
    match serde_json::from_str::<serde_json::Value>(line) {
        Ok(serde_json::Value::Object(map)) => map.keys().next().cloned(),
        _ => None,
    }
}

/// The synced app data: what the views show.
pub fn app_data(db: &Connection) -> Vec<String> {
    common::digest(db)
        .into_iter()
        .filter(|l| l.starts_with("ps_data__") || l.starts_with("ps_untyped:"))
        .collect()
}

/// Feeds one line (text or binary) and checks that app data only changes when a checkpoint is
/// published, i.e. the views keep showing the last applied checkpoint until a new one is.
/// A call that ends the iteration is followed by a fresh start, so later lines still count.
pub fn feed(db: &Connection, line: Value, key: Option<&str>) {
    let op = if matches!(line, Value::Blob(_)) {
        "line_binary"
    } else {
        "line_text"
    };
    let before = app_data(db);
    match common::control_tx(db, op, line) {
        Ok(result) => {
            let after = app_data(db);
            if before != after {
                let instructions = common::text(&result);
                let published = match key {
                    Some("checkpoint_complete") => instructions.contains("DidCompleteSync"),
                    Some("partial_checkpoint_complete") => instructions.contains("priority_status"),
                    // A binary line's key is not decoded here: any publishing instruction will do.
                    None if op == "line_binary" => {
                        instructions.contains("DidCompleteSync") || instructions.contains("priority_status")
                    }
                    _ => false,
                };
                assert!(
                    published,
                    "app data changed without a published checkpoint ({key:?}): {instructions}"
                );
            }
        }
        Err(e) => {
            if e.to_string().contains("No iteration is active") {
                common::start_with_checkpoint(db);
            }
        }
    }
}

/// Tries to publish whatever the lines left, then checks the database.
pub fn finish(db: &Connection) {
    feed(
        db,
        Value::Text(r#"{"checkpoint_complete":{"last_op_id":"3"}}"#.into()),
        Some("checkpoint_complete"),
    );
    let _ = common::control_tx(db, "stop", Value::Null);
    common::check_integrity(db);
}
