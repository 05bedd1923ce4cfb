//! Which table receives a row type: raw → direct → existing synced JSON table → `ps_untyped`.

use super::*;
use crate::sync::test_support::open_with;

fn targets(schema: &str) -> RowTargets {
    RowTargets::new(Some(serde_json::from_str(schema).unwrap()))
}

const BOTH: &str = r#"{
    "tables": [{"name": "x", "columns": [{"name": "a", "type": "text"}], "direct": true}],
    "raw_tables": [{"name": "x", "put": {"sql": "INSERT INTO raw_x VALUES (?)", "params": ["Id"]}, "delete": {"sql": "DELETE FROM raw_x WHERE id = ?", "params": ["Id"]}}]
}"#;

#[test]
fn raw_table_beats_direct_and_json_tables() {
    let db = open_with(r#"{"tables":[{"name":"x","columns":[{"name":"a","type":"text"}]}]}"#);
    let mut t = targets(BOTH);
    t.refresh(&db).unwrap();
    assert_eq!(
        t.statements(&db, "x").unwrap().unwrap().put.sql,
        "INSERT INTO raw_x VALUES (?)"
    );
}

#[test]
fn direct_table_beats_json_table() {
    let db = open_with(r#"{"tables":[{"name":"x","columns":[{"name":"a","type":"text"}]}]}"#);
    let mut t = targets(r#"{"tables": [{"name": "x", "columns": [{"name": "a", "type": "text"}], "direct": true}]}"#);
    assert!(t
        .statements(&db, "x")
        .unwrap()
        .unwrap()
        .put
        .sql
        .starts_with(r#"INSERT INTO "x" (id, "a")"#));
}

#[test]
fn existing_synced_json_table_stores_data_text() {
    let db = open_with(r#"{"tables":[{"name":"x","columns":[]},{"name":"l","columns":[],"local_only":true}]}"#);
    let mut t = RowTargets::new(None);
    let statements = t.statements(&db, "x").unwrap().unwrap();
    assert_eq!(
        statements.put.sql,
        r#"REPLACE INTO "ps_data__x"(id, data) VALUES (?, ?)"#
    );
    assert_eq!(statements.put.params, [StatementParam::Id, StatementParam::Row]);
    assert_eq!(statements.delete.sql, r#"DELETE FROM "ps_data__x" WHERE id = ?"#);
    // Local-only tables and unknown types: ps_untyped.
    assert!(t.statements(&db, "l").unwrap().is_none());
    assert!(t.statements(&db, "nope").unwrap().is_none());
}

#[test]
fn local_only_direct_table_is_no_target() {
    let db = open_with(r#"{"tables":[]}"#);
    let mut t = targets(r#"{"tables": [{"name": "d", "columns": [], "direct": true, "local_only": true}]}"#);
    assert!(t.statements(&db, "d").unwrap().is_none());
}
