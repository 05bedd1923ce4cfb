//! Writing synced rows into raw tables (docs/protocol.md, "Publishing"), with their given or inferred
//! statements run by the row writer.

use serde_json::json;

use super::*;
use crate::error::PsError;
use crate::sync::row_writer::TableWriter;
use crate::sync::test_support::*;

fn tables(json: &str) -> RawTables {
    RawTables::new(serde_json::from_str(json).unwrap())
}

impl RawTables {
    /// Writes (or, with `data == None`, deletes) one row of raw table `name`, as a publish does.
    fn write(&mut self, db: &Connection, name: &str, id: &str, data: Option<&str>) -> Result<(), PsError> {
        let statements = self.statements(db, name)?.expect("a raw table");
        let mut writer = TableWriter::new(name, statements);
        match data {
            Some(data) => writer.put(db, id, data),
            None => writer.delete(db, id),
        }
    }

    fn contains(&self, name: &str) -> bool {
        self.tables.contains_key(name)
    }
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
    // 0.5.4: the context quotes the data text verbatim (not re-serialised).
    let err = raw.write(&db, "todo", "t1", Some(r#"{"x": 1,  "b":2}"#)).unwrap_err();
    assert_eq!(err.code(), 1299, "{err}");
    assert!(
        err.to_string().ends_with(
            r#"NOT NULL constraint failed: todos.title (context: replacing into todo, id = t1, data = {"x": 1,  "b":2})"#
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

/// 0.5.4: a local table with only `id` gets `... ON CONFLICT (id) DO NOTHING` (two PUTs, one row).
#[test]
fn inferred_put_without_columns_does_nothing_on_conflict() {
    let db = todo_db();
    db.execute_batch("CREATE TABLE onlyid(id TEXT PRIMARY KEY)").unwrap();
    let mut raw = tables(r#"[{"name":"o","table_name":"onlyid"}]"#);
    raw.refresh(&db).unwrap();
    let statements = raw.statements(&db, "o").unwrap().unwrap();
    assert_eq!(
        statements.put.sql,
        r#"INSERT INTO "onlyid" (id) VALUES (?1) ON CONFLICT (id) DO NOTHING"#
    );
    raw.write(&db, "o", "o1", Some("{}")).unwrap();
    raw.write(&db, "o", "o1", Some(r#"{"a":1}"#)).unwrap();
    assert_eq!(query(&db, "SELECT * FROM onlyid"), json!([["o1"]]));
}

/// `synced_columns` that leave no column infer the same `DO NOTHING` put.
#[test]
fn inferred_put_with_no_synced_columns_does_nothing_on_conflict() {
    let db = todo_db();
    let mut raw = tables(r#"[{"name":"n","table_name":"notes","synced_columns":[]}]"#);
    raw.refresh(&db).unwrap();
    let statements = raw.statements(&db, "n").unwrap().unwrap();
    assert_eq!(
        statements.put.sql,
        r#"INSERT INTO "notes" (id) VALUES (?1) ON CONFLICT (id) DO NOTHING"#
    );
}

/// 0.5.4: JSON integers bind as INTEGER (0.5.3: REAL) for `Column` sources.
#[test]
fn column_integers_bind_as_integer() {
    let db = todo_db();
    let mut raw = tables(TODO);
    raw.write(&db, "todo", "t1", Some(r#"{"title":"a","done":2}"#)).unwrap();
    assert_eq!(
        query(&db, "SELECT typeof(done), done FROM todos"),
        json!([["integer", 2]])
    );
}
