//! Bringing a database in line with a new schema (docs/schema-sql.md, "Reconciling an existing database").

use serde_json::json;

use super::*;
use crate::state::DatabaseState;
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
    apply(&db, &DatabaseState::default(), &schema(ITEMS)).unwrap();
    let version = schema_version(&db);
    apply(&db, &DatabaseState::default(), &schema(ITEMS)).unwrap();
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
    apply(&db, &DatabaseState::default(), &schema(ITEMS)).unwrap();
    assert_eq!(query(&db, "SELECT id, name FROM items"), json!([["i1", "a"]]));
    assert_eq!(query(&db, "SELECT type FROM ps_untyped"), json!([["other"]]));

    apply(&db, &DatabaseState::default(), &schema(r#"{"tables":[]}"#)).unwrap();
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
    apply(&db, &DatabaseState::default(), &schema(local)).unwrap();
    assert_eq!(count(&db, "ps_data_local__notes"), 0);
    db.execute_batch("INSERT INTO notes(id, body) VALUES ('mine', 'x')")
        .unwrap();
    apply(&db, &DatabaseState::default(), &schema(r#"{"tables":[]}"#)).unwrap();
    assert_eq!(query(&db, "SELECT type, id FROM ps_untyped"), json!([["notes", "n1"]]));
}

#[test]
fn switching_to_local_only_moves_synced_rows_to_untyped() {
    let db = db();
    apply(&db, &DatabaseState::default(), &schema(ITEMS)).unwrap();
    db.execute_batch("INSERT INTO ps_data__items VALUES ('i1', '{}')")
        .unwrap();
    apply(
        &db,
        &DatabaseState::default(),
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
    apply(&db, &DatabaseState::default(), &schema(two)).unwrap();
    db.execute_batch("CREATE VIEW userview AS SELECT 1").unwrap();
    let lists_sql = query(&db, "SELECT sql FROM sqlite_master WHERE name = 'lists'");
    let changed = r#"{"tables":[{"name":"items","columns":[{"name":"name","type":"TEXT"},{"name":"qty","type":"INTEGER"}],"indexes":[{"name":"by_qty","columns":[{"name":"qty","ascending":false,"type":"INTEGER"}]}]},{"name":"lists","columns":[{"name":"title","type":"TEXT"}]}]}"#;
    apply(&db, &DatabaseState::default(), &schema(changed)).unwrap();
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
    apply(&db, &DatabaseState::default(), &schema(ITEMS)).unwrap();
    apply(
        &db,
        &DatabaseState::default(),
        &schema(r#"{"tables":[{"name":"items","view_name":"things","columns":[{"name":"name","type":"TEXT"}]}]}"#),
    )
    .unwrap();
    assert_eq!(objects(&db, "view"), json!([["things"]]));
    assert_eq!(
        count(&db, "sqlite_master WHERE type = 'trigger' AND tbl_name = 'items'"),
        0
    );
}

/// Table `t(a, b)` of the given kind (`direct`, `local_only`) with the local row `r1`
/// written through the public name, and one `ps_untyped` row `u1`.
fn table_t(direct: bool, local_only: bool) -> String {
    format!(
        r#"{{"tables":[{{"name":"t","columns":[{{"name":"a","type":"text"}},{{"name":"b","type":"integer"}}],"direct":{direct},"local_only":{local_only}}}]}}"#
    )
}

/// The outcome table of a JSON/direct migration (docs/direct-tables-design.md): old kind → new kind,
/// then the new table's rows and what stays in `ps_untyped`. No migration records CRUD rows.
#[test]
fn every_json_direct_migration_moves_rows_as_the_reference_does() {
    let untyped_u1 = json!(["t", "u1", "{\"a\":\"from_untyped\",\"b\":2.5,\"c\":\"extra\"}"]);
    let untyped_r1 = json!(["t", "r1", "{\"a\":\"x\",\"b\":1}"]);
    // (old direct, old local, new direct, new local, new rows, untyped afterwards)
    // Rows as (id, data): a direct table's columns as a JSON object, a JSON table's data text.
    let r1 = json!([["r1", "{\"a\":\"x\",\"b\":1}"]]);
    let u1_direct = json!([["u1", "{\"a\":\"from_untyped\",\"b\":2.5}"]]);
    let u1_json = json!([["u1", "{\"a\":\"from_untyped\",\"b\":2.5,\"c\":\"extra\"}"]]);
    let cases = [
        (false, false, true, false, r1.clone(), json!([untyped_u1])),
        (false, true, true, true, r1.clone(), json!([untyped_u1])),
        (false, true, true, false, u1_direct.clone(), json!([])),
        (false, false, true, true, json!([]), json!([untyped_r1, untyped_u1])),
        (true, false, false, false, r1.clone(), json!([untyped_u1])),
        (true, true, false, true, r1.clone(), json!([untyped_u1])),
        (true, true, false, false, u1_json, json!([])),
        (true, false, false, true, json!([]), json!([untyped_r1, untyped_u1])),
        (true, false, true, true, json!([]), json!([untyped_r1, untyped_u1])),
        (true, true, true, false, u1_direct, json!([])),
    ];
    for (old_direct, old_local, new_direct, new_local, rows, untyped) in cases {
        let label = format!("direct {old_direct} local {old_local} -> direct {new_direct} local {new_local}");
        let db = db();
        let state = DatabaseState::default();
        apply(&db, &state, &schema(&table_t(old_direct, old_local))).unwrap();
        db.execute_batch("INSERT INTO t(id, a, b) VALUES ('r1', 'x', 1); DELETE FROM ps_crud;")
            .unwrap();
        db.execute_batch(r#"INSERT INTO ps_untyped VALUES ('t', 'u1', '{"a":"from_untyped","b":2.5,"c":"extra"}')"#)
            .unwrap();
        apply(&db, &state, &schema(&table_t(new_direct, new_local))).unwrap();
        let storage = match (new_direct, new_local) {
            (true, _) => "t",
            (false, false) => "ps_data__t",
            (false, true) => "ps_data_local__t",
        };
        let contents = if new_direct {
            "SELECT id, json_object('a', a, 'b', b) FROM t ORDER BY id".to_owned()
        } else {
            format!("SELECT id, data FROM {storage} ORDER BY id")
        };
        assert_eq!(query(&db, &contents), rows, "{label}");
        assert_eq!(
            query(&db, "SELECT type, id, data FROM ps_untyped ORDER BY id"),
            untyped,
            "{label}"
        );
        assert_eq!(count(&db, "ps_crud"), 0, "{label}");
        // Only the new kind's storage is left.
        assert_eq!(
            query(&db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('t', 'ps_data__t', 'ps_data_local__t')"),
            json!([[storage]]),
            "{label}"
        );
    }
}

#[test]
fn direct_column_added_sorted_then_dropped_and_resync_requested() {
    let db = db();
    let state = DatabaseState::default();
    let old = r#"{"tables":[{"name":"t","columns":[{"name":"a","type":"text"},{"name":"b","type":"text"}],"indexes":[{"name":"ia","columns":[{"name":"a","ascending":true,"type":"text"}]}],"direct":true}]}"#;
    apply(&db, &state, &schema(old)).unwrap();
    db.execute_batch(
        "INSERT INTO t VALUES ('r1', 'x', 'y'); INSERT INTO ps_buckets(name, last_applied_op, last_op) VALUES ('b', 5, 5);",
    )
    .unwrap();
    let version = schema_version(&db);
    let new = r#"{"tables":[{"name":"t","columns":[{"name":"z","type":"text"},{"name":"a","type":"text"},{"name":"c","type":"text"}],"indexes":[{"name":"ia","columns":[{"name":"a","ascending":true,"type":"text"}]}],"direct":true}]}"#;
    apply(&db, &state, &schema(new)).unwrap();
    assert_eq!(
        query(
            &db,
            "SELECT sql FROM sqlite_master WHERE name IN ('t', 'ps_data__t__ia') ORDER BY type DESC"
        ),
        json!([
            ["CREATE TABLE \"t\"(id TEXT PRIMARY KEY NOT NULL /* ps-managed */,\"a\" ANY,\"c\" ANY, \"z\" ANY) STRICT"],
            ["CREATE INDEX \"ps_data__t__ia\"/* ps-managed */ ON \"t\"(\"a\")"]
        ])
    );
    assert_eq!(query(&db, "SELECT * FROM t"), json!([["r1", "x", null, null]]));
    assert_eq!(query(&db, "SELECT last_applied_op FROM ps_buckets"), json!([[0]]));
    assert!(schema_version(&db) > version);

    // The same schema again, or only a type change, alters nothing.
    let version = schema_version(&db);
    apply(&db, &state, &schema(new)).unwrap();
    apply(
        &db,
        &state,
        &schema(&new.replace(r#""name":"c","type":"text""#, r#""name":"c","type":"integer""#)),
    )
    .unwrap();
    assert_eq!(schema_version(&db), version);
}

#[test]
fn direct_to_json_quotes_names_that_are_not_identifiers() {
    let db = db();
    let state = DatabaseState::default();
    let direct = r#"{"tables":[{"name":"my t","columns":[{"name":"a","type":"text"}],"direct":true}]}"#;
    apply(&db, &state, &schema(direct)).unwrap();
    db.execute_batch(r#"INSERT INTO "my t" VALUES ('r1', 'x'); DELETE FROM ps_crud;"#)
        .unwrap();
    apply(&db, &state, &schema(&direct.replace(r#","direct":true"#, ""))).unwrap();
    assert_eq!(
        query(&db, r#"SELECT id, data FROM "ps_data__my t""#),
        json!([["r1", "{\"a\":\"x\"}"]])
    );
    assert_eq!(query(&db, r#"SELECT a FROM "my t""#), json!([["x"]]));
}

#[test]
fn user_index_marked_ps_managed_is_dropped_plain_one_kept() {
    let db = db();
    let state = DatabaseState::default();
    apply(&db, &state, &schema(&table_t(true, false))).unwrap();
    db.execute_batch(r#"CREATE INDEX "x" /* ps-managed */ ON t(a); CREATE INDEX user_idx ON t(b);"#)
        .unwrap();
    apply(&db, &state, &schema(&table_t(true, false))).unwrap();
    assert_eq!(
        query(
            &db,
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 't' AND name NOT LIKE 'sqlite_%'"
        ),
        json!([["user_idx"]])
    );
}
