//! Binding and running put/delete statements for synced rows: value types by JSON type, the
//! `Row` source, error contexts.

use rusqlite::Connection;
use serde_json::json;

use super::*;
use crate::sync::test_support::query;

fn db() -> Connection {
    let db = crate::testing::open();
    db.execute_batch("CREATE TABLE t(id TEXT PRIMARY KEY, a, b, c, d, e, f, g)")
        .unwrap();
    db
}

fn statements(put_sql: &str, put: &[StatementParam]) -> TableStatements {
    TableStatements {
        put: PendingStatement {
            sql: put_sql.to_owned(),
            params: put.to_vec(),
        },
        delete: delete_statement("t"),
    }
}

fn column(name: &str) -> StatementParam {
    StatementParam::Column(name.to_owned())
}

#[test]
fn column_values_bind_by_json_type() {
    let db = db();
    let columns = ["a", "b", "c", "d", "e", "f", "g"];
    let mut writer = TableWriter::new(
        "t",
        TableStatements {
            put: upsert_statement("t", columns),
            delete: delete_statement("t"),
        },
    );
    writer
        .put(
            &db,
            "r1",
            r#"{"a":3,"b":2.5,"c":true,"d":"x","e":{"k":1},"f":9007199254740993,"g":18446744073709551615,"extra":1}"#,
        )
        .unwrap();
    writer
        .put(&db, "r2", r#"{"a":3.0,"b":1e2,"c":false,"d":null,"e":[1],"f":-5}"#)
        .unwrap();
    assert_eq!(
        query(
            &db,
            "SELECT id, typeof(a), a, typeof(b), b, c, d, e, typeof(f), f, typeof(g) FROM t ORDER BY id"
        ),
        json!([
            [
                "r1",
                "integer",
                3,
                "real",
                2.5,
                1,
                "x",
                null,
                "integer",
                9007199254740993i64,
                "real"
            ],
            ["r2", "real", 3.0, "real", 100.0, 0, null, null, "integer", -5, "null"]
        ])
    );
}

#[test]
fn missing_keys_overwrite_columns_with_null() {
    let db = db();
    let mut writer = TableWriter::new(
        "t",
        TableStatements {
            put: upsert_statement("t", ["a", "b"]),
            delete: delete_statement("t"),
        },
    );
    writer.put(&db, "r", r#"{"a":1,"b":2}"#).unwrap();
    writer.put(&db, "r", r#"{"b":7}"#).unwrap();
    assert_eq!(query(&db, "SELECT a, b FROM t"), json!([[null, 7]]));
}

#[test]
fn number_out_of_f64_range_is_invalid_local_data() {
    let db = db();
    let mut writer = TableWriter::new(
        "t",
        statements("INSERT INTO t(id, a) VALUES (?, ?)", &[StatementParam::Id, column("a")]),
    );
    let err = writer.put(&db, "r", r#"{"a":1e400}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid local data: cause: number out of range at line 1 column 10"
    );
    assert_eq!(err.code(), rusqlite::ffi::SQLITE_CORRUPT);
}

#[test]
fn row_source_binds_data_text_verbatim_without_parsing() {
    let db = db();
    let mut writer = TableWriter::new(
        "t",
        statements(
            "INSERT INTO t(id, a) VALUES (?, ?)",
            &[StatementParam::Id, StatementParam::Row],
        ),
    );
    writer.put(&db, "r1", r#"{"z": 1,  "a":[1]}"#).unwrap();
    writer.put(&db, "r2", "not json").unwrap();
    assert_eq!(
        query(&db, "SELECT id, a FROM t ORDER BY id"),
        json!([["r1", r#"{"z": 1,  "a":[1]}"#], ["r2", "not json"]])
    );
}

#[test]
fn row_source_is_not_a_bound_column_for_rest() {
    let db = db();
    let mut writer = TableWriter::new(
        "t",
        statements(
            "INSERT INTO t(id, a, b) VALUES (?, ?, ?)",
            &[StatementParam::Id, StatementParam::Row, StatementParam::Rest],
        ),
    );
    writer.put(&db, "r", r#"{"x":1,"id":"r"}"#).unwrap();
    assert_eq!(query(&db, "SELECT b FROM t"), json!([[r#"{"x":1}"#]]));
}

#[test]
fn rest_keeps_number_formatting() {
    let db = db();
    let mut writer = TableWriter::new(
        "t",
        statements(
            "INSERT INTO t(id, a) VALUES (?, ?)",
            &[StatementParam::Id, StatementParam::Rest],
        ),
    );
    writer.put(&db, "r", r#"{"prio":2.0,"tags":["a"]}"#).unwrap();
    assert_eq!(query(&db, "SELECT a FROM t"), json!([[r#"{"prio":2.0,"tags":["a"]}"#]]));
}

#[test]
fn delete_with_row_source_is_refused() {
    let db = db();
    let mut writer = TableWriter::new(
        "t",
        TableStatements {
            put: upsert_statement("t", ["a"]),
            delete: PendingStatement {
                sql: "DELETE FROM t WHERE a = ?".into(),
                params: vec![StatementParam::Row],
            },
        },
    );
    assert_eq!(
        writer.delete(&db, "r").unwrap_err().to_string(),
        "invalid argument: Raw delete statement parameters must only reference id. cause: unknown"
    );
}

#[test]
fn execution_errors_carry_row_context_with_verbatim_data() {
    let db = db();
    db.execute_batch(
        "INSERT INTO t(id) VALUES ('old');
         CREATE TRIGGER boom BEFORE INSERT ON t BEGIN SELECT RAISE(ABORT, 'boom'); END;
         CREATE TRIGGER boom_del BEFORE DELETE ON t BEGIN SELECT RAISE(ABORT, 'no'); END;",
    )
    .unwrap();
    let mut writer = TableWriter::new(
        "dd",
        TableStatements {
            put: upsert_statement("t", ["a"]),
            delete: delete_statement("t"),
        },
    );
    let err = writer.put(&db, "r1", r#"{"a": 1}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"statement INSERT INTO "t" (id, "a") VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET "a" = ?2: internal SQLite call returned CONSTRAINT_TRIGGER: boom (context: replacing into dd, id = r1, data = {"a": 1})"#
    );
    assert_eq!(err.code(), 1811);
    let err = writer.delete(&db, "old").unwrap_err();
    assert!(
        err.to_string().ends_with("no (context: deleting from dd, id = old)"),
        "{err}"
    );
}

#[test]
fn missing_table_is_reported_without_context() {
    let db = db();
    let mut writer = TableWriter::new(
        "gone",
        TableStatements {
            put: upsert_statement("gone", ["a"]),
            delete: delete_statement("gone"),
        },
    );
    let err = writer.put(&db, "r", r#"{"a":1}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"statement INSERT INTO "gone" (id, "a") VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET "a" = ?2: internal SQLite call returned ERROR: no such table: gone"#
    );
    assert_eq!(err.code(), 1);
}

#[test]
fn upsert_statement_text() {
    assert_eq!(
        upsert_statement("we\"ird", ["a", "co\"l"]).sql,
        r#"INSERT INTO "we""ird" (id, "a", "co""l") VALUES (?1, ?2, ?3) ON CONFLICT (id) DO UPDATE SET "a" = ?2, "co""l" = ?3"#
    );
    assert_eq!(
        upsert_statement("z", []).sql,
        r#"INSERT INTO "z" (id) VALUES (?1) ON CONFLICT (id) DO NOTHING"#
    );
}
