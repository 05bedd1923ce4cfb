//! Writing synced rows into raw tables (spec sync.md §5.1).

use serde_json::json;

use super::*;
use crate::sync::test_support::*;

fn tables(json: &str) -> RawTables {
    RawTables::new(serde_json::from_str(json).unwrap())
}

fn todo_db() -> Connection {
    let db = crate::testing::open();
    db.execute_batch(
        "CREATE TABLE todos(id TEXT PRIMARY KEY, title TEXT NOT NULL, done INTEGER, extra TEXT);
         CREATE TABLE notes(id TEXT PRIMARY KEY, body TEXT, secret TEXT);",
    )
    .unwrap();
    db
}

const TODO: &str = r#"[{"name":"todo","put":{"sql":"INSERT OR REPLACE INTO todos(id,title,done,extra) VALUES (?,?,?,?)","params":["Id",{"Column":"title"},{"Column":"done"},"Rest"]},"delete":{"sql":"DELETE FROM todos WHERE id = ?","params":["Id"]}}]"#;

#[test]
fn put_binds_id_columns_and_rest_of_the_object() {
    let db = todo_db();
    let mut raw = tables(TODO);
    assert!(raw.contains("todo") && !raw.contains("todos"));
    raw.write(
        &db,
        "todo",
        "t1",
        Some(r#"{"title":"write spec","done":true,"prio":2,"tags":["a"]}"#),
    )
    .unwrap();
    raw.write(&db, "todo", "t2", Some(r#"{"title":"x","done":false,"id":"ignored"}"#))
        .unwrap();
    raw.write(&db, "todo", "t3", Some(r#"{"title":"n","done":1.5}"#))
        .unwrap();
    assert_eq!(
        query(&db, "SELECT id, title, done, extra FROM todos ORDER BY id"),
        json!([
            ["t1", "write spec", 1, r#"{"prio":2,"tags":["a"]}"#],
            ["t2", "x", 0, null],
            ["t3", "n", 1.5, null]
        ])
    );
    raw.write(&db, "todo", "t2", None).unwrap();
    assert_eq!(query(&db, "SELECT id FROM todos ORDER BY id"), json!([["t1"], ["t3"]]));
}

#[test]
fn statements_are_inferred_from_the_local_table() {
    let db = todo_db();
    let mut raw = tables(r#"[{"name":"note","table_name":"notes","synced_columns":["body"]}]"#);
    raw.refresh(&db).unwrap();
    raw.write(&db, "note", "n1", Some(r#"{"body":"hello","secret":"s"}"#))
        .unwrap();
    db.execute_batch("UPDATE notes SET secret = 'local'").unwrap();
    raw.write(&db, "note", "n1", Some(r#"{"body":"again"}"#)).unwrap();
    assert_eq!(query(&db, "SELECT * FROM notes"), json!([["n1", "again", "local"]]));
    raw.write(&db, "note", "n1", None).unwrap();
    assert_eq!(count(&db, "notes"), 0);
}

#[test]
fn refresh_rebuilds_inferred_statements_after_a_schema_change() {
    let db = todo_db();
    let mut raw = tables(r#"[{"name":"note","table_name":"notes"}]"#);
    raw.refresh(&db).unwrap();
    raw.write(&db, "note", "n1", Some(r#"{"body":"b","extra":"e"}"#))
        .unwrap();
    db.execute_batch("ALTER TABLE notes ADD COLUMN extra TEXT").unwrap();
    raw.refresh(&db).unwrap();
    raw.write(&db, "note", "n2", Some(r#"{"body":"b","extra":"e"}"#))
        .unwrap();
    assert_eq!(
        query(&db, "SELECT id, extra FROM notes ORDER BY id"),
        json!([["n1", null], ["n2", "e"]])
    );
}

#[test]
fn data_that_is_not_an_object_is_refused() {
    let db = todo_db();
    let mut raw = tables(TODO);
    let err = raw.write(&db, "todo", "t1", Some("[1]")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid argument: expected oplog data to be an object. cause: unknown"
    );
    assert_eq!(err.code(), crate::error::SQLITE_CONSTRAINT_DATATYPE);
    let err = raw.write(&db, "todo", "t1", Some("not json")).unwrap_err();
    assert!(err.to_string().starts_with("invalid local data: cause: "), "{err}");
    assert_eq!(err.code(), rusqlite::ffi::SQLITE_CORRUPT);
}

#[test]
fn failing_statement_reports_the_row_as_context() {
    let db = todo_db();
    let mut raw = tables(TODO);
    let err = raw.write(&db, "todo", "t1", Some(r#"{"x":1}"#)).unwrap_err();
    assert_eq!(err.code(), 1299, "{err}");
    assert!(
        err.to_string().ends_with(
            r#"NOT NULL constraint failed: todos.title (context: replacing into todo, id = t1, data = {"x":1})"#
        ),
        "{err}"
    );
    let mut raw = tables(
        r#"[{"name":"gone","put":{"sql":"INSERT INTO nowhere VALUES (?)","params":["Id"]},"delete":{"sql":"DELETE FROM nowhere WHERE id = ?","params":["Id"]}}]"#,
    );
    let err = raw.write(&db, "gone", "g", Some("{}")).unwrap_err();
    assert!(
        !err.to_string().contains("(context:"),
        "preparing carries no context: {err}"
    );
    let err = raw.write(&db, "gone", "g", None).unwrap_err();
    assert!(err.to_string().contains("no such table: nowhere"), "{err}");
}

#[test]
fn parameter_count_must_match_the_statement() {
    let db = todo_db();
    let mut raw = tables(
        r#"[{"name":"todo","put":{"sql":"INSERT INTO todos(id, title) VALUES (?, ?)","params":["Id"]},"delete":{"sql":"DELETE FROM todos WHERE id = ?","params":["Id"]}}]"#,
    );
    let err = raw.write(&db, "todo", "t1", Some("{}")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid argument: Statement INSERT INTO todos(id, title) VALUES (?, ?) has 2 parameters, but 1 values were provided as sources.. cause: unknown"
    );
}

#[test]
fn delete_statement_may_only_bind_the_id() {
    let db = todo_db();
    let mut raw = tables(
        r#"[{"name":"todo","put":{"sql":"INSERT INTO todos(id, title) VALUES (?, ?)","params":["Id",{"Column":"title"}]},"delete":{"sql":"DELETE FROM todos WHERE title = ?","params":[{"Column":"title"}]}}]"#,
    );
    raw.write(&db, "todo", "t1", Some(r#"{"title":"a"}"#)).unwrap();
    let err = raw.write(&db, "todo", "t1", None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid argument: Raw delete statement parameters must only reference id. cause: unknown"
    );
    assert_eq!(count(&db, "todos"), 1);
}

#[test]
fn missing_local_table_is_reported_when_statements_are_inferred() {
    let db = todo_db();
    let mut raw = tables(r#"[{"name":"a"},{"name":"b","table_name":"absent"}]"#);
    assert_eq!(
        raw.write(&db, "a", "1", Some("{}")).unwrap_err().to_string(),
        "invalid argument: Raw table a has no local name. cause: unknown"
    );
    assert_eq!(
        raw.write(&db, "b", "1", Some("{}")).unwrap_err().to_string(),
        "invalid argument: Could not find absent in local schema.. cause: unknown"
    );
}
