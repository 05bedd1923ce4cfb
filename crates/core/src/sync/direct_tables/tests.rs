//! Direct tables of the `start` schema and their statements.

use super::*;
use crate::schema::model::Schema;

fn schema(json: &str) -> Schema {
    serde_json::from_str(json).unwrap()
}

#[test]
fn only_synced_direct_tables_are_taken() {
    let s = schema(
        r#"{"tables":[
            {"name":"d","columns":[{"name":"a","type":"text"}],"direct":true},
            {"name":"local","columns":[],"direct":true,"local_only":true},
            {"name":"json","columns":[]}
        ]}"#,
    );
    let direct = DirectTables::new(&s.tables);
    assert!(direct.get("d").is_some());
    assert!(direct.get("local").is_none());
    assert!(direct.get("json").is_none());
}

#[test]
fn put_is_an_upsert_over_schema_columns_in_schema_order() {
    let s = schema(
        r#"{"tables":[{"name":"items","columns":[{"name":"title","type":"text"},{"name":"qty","type":"integer"}],"direct":true}]}"#,
    );
    let statements = statements(&s.tables[0]);
    assert_eq!(
        statements.put.sql,
        r#"INSERT INTO "items" (id, "title", "qty") VALUES (?1, ?2, ?3) ON CONFLICT (id) DO UPDATE SET "title" = ?2, "qty" = ?3"#
    );
    assert_eq!(statements.delete.sql, r#"DELETE FROM "items" WHERE id = ?"#);
}

#[test]
fn put_without_columns_does_nothing_on_conflict() {
    let s = schema(r#"{"tables":[{"name":"z","columns":[],"direct":true}]}"#);
    assert_eq!(
        statements(&s.tables[0]).put.sql,
        r#"INSERT INTO "z" (id) VALUES (?1) ON CONFLICT (id) DO NOTHING"#
    );
}
