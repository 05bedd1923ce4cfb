//! Bringing a database in line with a new schema (spec schema.md §6).

use serde_json::json;

use super::*;
use crate::sync::test_support::{count, query};

fn db() -> Connection {
    let db = crate::testing::open();
    db.execute_batch("BEGIN; SELECT powersync_init(); COMMIT;").unwrap();
    db
}

fn schema(json: &str) -> Schema {
    crate::schema::model::parse(json).unwrap()
}

fn objects(db: &Connection, kind: &str) -> serde_json::Value {
    query(
        db,
        &format!("SELECT name FROM sqlite_master WHERE type = '{kind}' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'ps\\_%' ESCAPE '\\' ORDER BY name"),
    )
}

fn schema_version(db: &Connection) -> i64 {
    db.query_row("PRAGMA schema_version", [], |r| r.get(0)).unwrap()
}

const ITEMS: &str = r#"{"tables":[{"name":"items","columns":[{"name":"name","type":"TEXT"}],"indexes":[{"name":"by_name","columns":[{"name":"name","ascending":true,"type":"TEXT"}]}]}]}"#;

#[test]
fn same_schema_twice_changes_nothing() {
    let db = db();
    apply(&db, &schema(ITEMS)).unwrap();
    let version = schema_version(&db);
    apply(&db, &schema(ITEMS)).unwrap();
    assert_eq!(schema_version(&db), version);
    assert_eq!(objects(&db, "view"), json!([["items"]]));
    assert_eq!(
        query(
            &db,
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name GLOB 'ps_data_*'"
        ),
        json!([["ps_data__items__by_name"]])
    );
}

#[test]
fn new_synced_table_adopts_untyped_rows_and_removed_table_returns_them() {
    let db = db();
    db.execute_batch("INSERT INTO ps_untyped VALUES ('items', 'i1', '{\"name\":\"a\"}'), ('other', 'o1', '{}')")
        .unwrap();
    apply(&db, &schema(ITEMS)).unwrap();
    assert_eq!(query(&db, "SELECT id, name FROM items"), json!([["i1", "a"]]));
    assert_eq!(query(&db, "SELECT type FROM ps_untyped"), json!([["other"]]));

    apply(&db, &schema(r#"{"tables":[]}"#)).unwrap();
    assert_eq!(objects(&db, "view"), json!([]));
    assert_eq!(count(&db, "sqlite_master WHERE name = 'ps_data__items'"), 0);
    assert_eq!(
        query(&db, "SELECT type, id FROM ps_untyped ORDER BY type"),
        json!([["items", "i1"], ["other", "o1"]])
    );
}

#[test]
fn local_only_table_neither_adopts_nor_returns_untyped_rows() {
    let db = db();
    db.execute_batch("INSERT INTO ps_untyped VALUES ('notes', 'n1', '{}')")
        .unwrap();
    let local = r#"{"tables":[{"name":"notes","local_only":true,"columns":[{"name":"body","type":"TEXT"}]}]}"#;
    apply(&db, &schema(local)).unwrap();
    assert_eq!(count(&db, "ps_data_local__notes"), 0);
    db.execute_batch("INSERT INTO notes(id, body) VALUES ('mine', 'x')")
        .unwrap();
    apply(&db, &schema(r#"{"tables":[]}"#)).unwrap();
    assert_eq!(query(&db, "SELECT type, id FROM ps_untyped"), json!([["notes", "n1"]]));
}

#[test]
fn switching_to_local_only_moves_synced_rows_to_untyped() {
    let db = db();
    apply(&db, &schema(ITEMS)).unwrap();
    db.execute_batch("INSERT INTO ps_data__items VALUES ('i1', '{}')")
        .unwrap();
    apply(
        &db,
        &schema(r#"{"tables":[{"name":"items","local_only":true,"columns":[{"name":"name","type":"TEXT"}]}]}"#),
    )
    .unwrap();
    assert_eq!(query(&db, "SELECT type, id FROM ps_untyped"), json!([["items", "i1"]]));
    assert_eq!(count(&db, "ps_data_local__items"), 0);
}

#[test]
fn changed_table_recreates_its_view_and_indexes_only() {
    let db = db();
    let two = r#"{"tables":[{"name":"items","columns":[{"name":"name","type":"TEXT"}],"indexes":[{"name":"by_name","columns":[{"name":"name","ascending":true,"type":"TEXT"}]}]},{"name":"lists","columns":[{"name":"title","type":"TEXT"}]}]}"#;
    apply(&db, &schema(two)).unwrap();
    db.execute_batch("CREATE VIEW userview AS SELECT 1").unwrap();
    let lists_sql = query(&db, "SELECT sql FROM sqlite_master WHERE name = 'lists'");
    let changed = r#"{"tables":[{"name":"items","columns":[{"name":"name","type":"TEXT"},{"name":"qty","type":"INTEGER"}],"indexes":[{"name":"by_qty","columns":[{"name":"qty","ascending":false,"type":"INTEGER"}]}]},{"name":"lists","columns":[{"name":"title","type":"TEXT"}]}]}"#;
    apply(&db, &schema(changed)).unwrap();
    db.execute_batch("INSERT INTO ps_data__items VALUES ('i', '{\"qty\": 3}')")
        .unwrap();
    assert_eq!(query(&db, "SELECT qty FROM items"), json!([[3]]));
    assert_eq!(
        query(
            &db,
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name GLOB 'ps_data_*'"
        ),
        json!([["ps_data__items__by_qty"]])
    );
    assert_eq!(
        query(&db, "SELECT sql FROM sqlite_master WHERE name = 'lists'"),
        lists_sql
    );
    assert_eq!(objects(&db, "view"), json!([["items"], ["lists"], ["userview"]]));
}

#[test]
fn renamed_view_drops_the_old_one() {
    let db = db();
    apply(&db, &schema(ITEMS)).unwrap();
    apply(
        &db,
        &schema(r#"{"tables":[{"name":"items","view_name":"things","columns":[{"name":"name","type":"TEXT"}]}]}"#),
    )
    .unwrap();
    assert_eq!(objects(&db, "view"), json!([["things"]]));
    assert_eq!(
        count(&db, "sqlite_master WHERE type = 'trigger' AND tbl_name = 'items'"),
        0
    );
}
