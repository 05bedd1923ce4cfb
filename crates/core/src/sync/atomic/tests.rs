//! When a publish into direct tables may run without the call's savepoint: only when the tables
//! are exactly ours and every candidate op's data parses; each departure keeps it.

use rusqlite::Connection;

use super::*;
use crate::schema::model::Schema;
use crate::sync::test_support::open_with;

const SCHEMA: &str = r#"{"tables":[{"name":"d","columns":[{"name":"a","type":"text"},{"name":"b","type":"integer"}],"indexes":[{"name":"by_a","columns":[{"name":"a","ascending":true,"type":"text"}]}],"direct":true}]}"#;

fn targets() -> RowTargets {
    let schema: Schema = serde_json::from_str(SCHEMA).unwrap();
    RowTargets::new(Some(schema))
}

/// A database with the direct table `d` and one unapplied op for row `r1` with `data`.
fn db_with_op(data: &str) -> Connection {
    let db = open_with(SCHEMA);
    db.execute_batch("INSERT INTO ps_buckets(id, name) VALUES (1, 'b')")
        .unwrap();
    db.execute(
        "INSERT INTO ps_oplog(bucket, op_id, row_type, row_id, key, data, hash) VALUES (1, 1, 'd', 'r1', 'd/r1', ?, 0)",
        [data],
    )
    .unwrap();
    db
}

fn needs(db: &Connection) -> bool {
    publish_needs_savepoint(db, &targets()).unwrap()
}

#[test]
fn our_direct_table_with_parsing_data_needs_no_savepoint() {
    let db = db_with_op(r#"{"a":"x","b":1,"other":[1,{"k":null}]}"#);
    assert!(!needs(&db));
    // Also once buckets were applied (the diff's candidate query) and with a queued local row.
    db.execute_batch(
        "UPDATE ps_buckets SET last_applied_op = 1; \
         INSERT INTO ps_oplog(bucket, op_id, row_type, row_id, key, data, hash) VALUES (1, 2, 'd', 'r2', 'd/r2', '{\"a\":2}', 0); \
         INSERT INTO ps_updated_rows(row_type, row_id) VALUES ('d', 'r1')",
    )
    .unwrap();
    assert!(!needs(&db));
}

#[test]
fn data_that_would_fail_the_put_keeps_the_savepoint() {
    for data in [
        r#"{"a":1e400}"#,
        r#"{"other":1e400}"#,
        "[1]",
        "not json",
        r#"{"a":"\ud800"}"#,
        "{} x",
    ] {
        assert!(needs(&db_with_op(data)), "{data}");
    }
    // An applied database: a new op that fails, and a queued row whose stored op fails.
    let db = db_with_op("[1]");
    db.execute_batch("UPDATE ps_buckets SET last_applied_op = 1").unwrap();
    assert!(!needs(&db), "the failing op is applied and its row not queued");
    db.execute_batch("INSERT INTO ps_updated_rows(row_type, row_id) VALUES ('d', 'r1')")
        .unwrap();
    assert!(needs(&db), "a queued row publishes its stored op again");
    db.execute_batch(
        "DELETE FROM ps_updated_rows; \
         INSERT INTO ps_oplog(bucket, op_id, row_type, row_id, key, data, hash) VALUES (1, 2, 'd', 'r2', 'd/r2', '{\"b\":1e999}', 0)",
    )
    .unwrap();
    assert!(needs(&db), "an unapplied op");
}

#[test]
fn anything_the_app_added_to_the_table_keeps_the_savepoint() {
    for (what, sql) in [
        ("app trigger", "CREATE TRIGGER t AFTER INSERT ON d BEGIN SELECT 1; END"),
        (
            "temp trigger",
            "CREATE TEMP TRIGGER t AFTER INSERT ON main.d BEGIN SELECT 1; END",
        ),
        ("unique index", "CREATE UNIQUE INDEX u ON d(b)"),
        ("partial index", "CREATE INDEX p ON d(b) WHERE b > 0"),
        ("expression index", "CREATE INDEX e ON d(json_extract(a, '$.x'))"),
        ("added column", "ALTER TABLE d ADD COLUMN c ANY"),
        (
            "changed trigger",
            "DROP TRIGGER ps_view_insert_d; CREATE TRIGGER ps_view_insert_d AFTER INSERT ON d BEGIN SELECT 1; END",
        ),
        (
            "foreign key into it",
            "PRAGMA foreign_keys = ON; CREATE TABLE child(x REFERENCES d(id))",
        ),
        (
            "temp table shadowing it",
            "CREATE TEMP TABLE d(id TEXT PRIMARY KEY, a, b CHECK (b < 0))",
        ),
    ] {
        let db = db_with_op(r#"{"a":"x","b":1}"#);
        db.execute_batch(sql).unwrap();
        assert!(needs(&db), "{what}");
    }
    // An ordinary index of the app is harmless, and so is a foreign key into the table while
    // foreign_keys is off (the bundled SQLite of these tests turns it on by default).
    let db = db_with_op(r#"{"a":"x","b":1}"#);
    db.execute_batch("CREATE INDEX app_b ON d(b COLLATE NOCASE, a DESC); CREATE TABLE child(x REFERENCES d(id))")
        .unwrap();
    assert!(needs(&db), "foreign_keys on");
    db.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    assert!(!needs(&db));
}

#[test]
fn a_different_or_missing_table_keeps_the_savepoint() {
    let db = crate::sync::test_support::open_db();
    assert!(needs(&db), "no table d");
    db.execute_batch("CREATE TABLE d(id TEXT PRIMARY KEY NOT NULL, a ANY, b ANY CHECK (b > 0)) STRICT")
        .unwrap();
    assert!(needs(&db), "a table d that is not ours");
}

#[test]
fn the_first_sync_scan_checks_each_direct_table_and_only_those() {
    let schema = r#"{"tables":[{"name":"d","columns":[{"name":"a","type":"text"}],"direct":true},{"name":"e","columns":[{"name":"a","type":"text"}],"direct":true},{"name":"bare","columns":[],"direct":true},{"name":"j","columns":[{"name":"a","type":"text"}]}]}"#;
    let db = open_with(schema);
    let targets = RowTargets::new(Some(serde_json::from_str(schema).unwrap()));
    let op = |op_id: i64, row_type: &str, data: &str| {
        db.execute(
            "INSERT INTO ps_oplog(bucket, op_id, row_type, row_id, key, data, hash) VALUES (1, ?1, ?2, 'r', 'k', ?3, 0)",
            rusqlite::params![op_id, row_type, data],
        )
        .unwrap();
    };
    db.execute_batch("INSERT INTO ps_buckets(id, name) VALUES (1, 'b')")
        .unwrap();
    op(1, "d", r#"{"a":"x"}"#);
    // Data no put parses, of a JSON table, an untyped row and a direct table without columns.
    op(2, "j", "[1]");
    op(3, "other", "not json");
    op(4, "bare", "not json");
    assert!(!publish_needs_savepoint(&db, &targets).unwrap());
    op(5, "e", r#"{"a":1e999}"#);
    assert!(publish_needs_savepoint(&db, &targets).unwrap());
}
