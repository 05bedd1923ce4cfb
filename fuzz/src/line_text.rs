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

/// The synced app data: what the views show, and the direct table's rows.
pub fn app_data(db: &Connection) -> Vec<String> {
    common::digest(db)
        .into_iter()
        .filter(|l| l.starts_with("ps_data__") || l.starts_with("ps_untyped:") || l.starts_with("tasks:"))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The direct table is reachable: the hand-made seed publishes into it (and the invariant
    /// sees its rows), and its invalid second checkpoint leaves them as they were.
    #[test]
    fn the_direct_table_seed_publishes_into_tasks() {
        let seed = include_str!("../seeds/line_text/direct-table");
        let db = common::open_with_schema();
        common::start_with_checkpoint(&db);
        let lines: Vec<&str> = seed.lines().collect();
        for line in &lines[..5] {
            feed(&db, Value::Text((*line).to_owned()), line_key(line).as_deref());
        }
        let tasks = |db: &Connection| -> Vec<(String, Option<String>, Option<i64>)> {
            let mut stmt = db.prepare("SELECT id, title, n FROM tasks ORDER BY id").unwrap();
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap();
            rows.collect::<Result<_, _>>().unwrap()
        };
        assert_eq!(tasks(&db), vec![("t1".to_owned(), Some("b".to_owned()), Some(3))]);
        assert_eq!(app_data(&db).iter().filter(|l| l.starts_with("tasks:")).count(), 1);
        for line in &lines[5..] {
            feed(&db, Value::Text((*line).to_owned()), line_key(line).as_deref());
        }
        assert_eq!(tasks(&db), vec![("t1".to_owned(), Some("b".to_owned()), Some(3))]);
    }
}
