//! `powersync_diagnostics()` and its tables.

use serde_json::{json, Value};

use crate::sync::test_support::{local_write, open_with, query};

const ITEMS: &str = r#"{"tables":[{"name":"items","columns":[{"name":"name","type":"text"},{"name":"qty","type":"integer"}]},{"name":"d","columns":[{"name":"a","type":"text"}],"direct":true,"local_only":true}]}"#;

fn diagnostics(db: &rusqlite::Connection) -> Value {
    let text: String = db
        .query_row("SELECT powersync_diagnostics()", [], |r| r.get(0))
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_fresh_database_says_nothing_is_held_back() {
    let db = open_with(ITEMS);
    let d = diagnostics(&db);
    assert_eq!(d["internal_version"], 14);
    assert_eq!(d["internal_version_supported"], true);
    assert!(d["client_id"].as_str().unwrap().len() == 36);
    assert_eq!(
        d["tables"],
        json!([
            {"name": "d", "kind": "direct", "local_only": true, "storage": "d"},
            {"name": "items", "kind": "json", "local_only": false, "storage": "ps_data__items"}
        ])
    );
    assert_eq!(d["held_back"], json!([]));
    assert_eq!(d["notes"], json!([]));
    assert_eq!(d["write_checkpoint"]["healed"], Value::Null);
    assert_eq!(d["uploads"]["transactions"], 0);
    assert_eq!(d["sync_running_here"], false);
}

#[test]
fn pending_writes_buckets_and_the_write_checkpoint_are_explained() {
    let db = open_with(ITEMS);
    local_write(&db, "x");
    db.execute_batch(
        "INSERT INTO ps_buckets(name, last_applied_op, last_op, count_at_last, count_since_last, add_checksum, op_checksum) VALUES ('b1', 3, 7, 2, 5, 1, -2), ('b2', 4, 4, 1, 0, 0, 0);",
    )
    .unwrap();
    let d = diagnostics(&db);
    assert_eq!(d["oplog_ops"], 8);
    assert_eq!(d["uploads"]["transactions"], 1);
    assert_eq!(d["uploads"]["ops"], 1);
    assert_eq!(d["write_checkpoint"]["target"], "after upload");
    assert_eq!(d["buckets"][0]["checksum"], "0xffffffff");
    assert_eq!(
        d["held_back"],
        json!([
            "1 local write(s) in 1 transaction(s) wait for upload; no checkpoint is applied until they are uploaded",
            "bucket b1 has operations up to 7 downloaded but applied only up to 3 (its checkpoint is not complete, or waits)"
        ])
    );

    // Uploaded, but no write checkpoint yet: the gate stays closed for a reason it names.
    db.execute_batch("DELETE FROM ps_crud").unwrap();
    let d = diagnostics(&db);
    assert_eq!(
        d["held_back"][0],
        "local writes were uploaded, but no write checkpoint was requested yet; checkpoints wait for one"
    );
    db.execute_batch("UPDATE ps_kv SET value = 812 WHERE key = 'target_checkpoint_request_id'; INSERT INTO ps_kv VALUES ('last_seen_checkpoint_request_id', 790);").unwrap();
    assert_eq!(
        diagnostics(&db)["held_back"][0],
        "waiting for write checkpoint 812, last seen 790"
    );
}

#[test]
fn a_healed_write_gate_is_shown_with_a_note() {
    let db = open_with(ITEMS);
    local_write(&db, "x");
    db.execute_batch("DELETE FROM ps_crud").unwrap();
    let heal = |requests: bool| {
        crate::sync::checkpoint_requests::heal_stuck_gate(&db, requests, 1_700_000_000_000_000).unwrap()
    };
    assert_eq!(
        heal(false),
        Some(crate::sync::checkpoint_requests::GateHeal::LeftToClient)
    );
    let d = diagnostics(&db);
    assert_eq!(
        d["write_checkpoint"]["healed"],
        json!({"at": 1_700_000_000_000_000_i64, "mode": "legacy", "action": "left to the client"})
    );
    assert_eq!(
        d["notes"],
        json!(["a sync start at 1700000000000000 (microseconds since the epoch) found the local-write gate closed with nothing to upload and no write checkpoint requested; in legacy mode the core cannot request a write checkpoint, so it left that to the client"])
    );

    assert_eq!(
        heal(true),
        Some(crate::sync::checkpoint_requests::GateHeal::Requested(2))
    );
    let d = diagnostics(&db);
    assert_eq!(d["write_checkpoint"]["target"], 2);
    assert_eq!(d["write_checkpoint"]["healed"]["checkpoint_request_id"], 2);
    assert_eq!(
        d["notes"],
        json!(["a sync start at 1700000000000000 (microseconds since the epoch) found the local-write gate closed with nothing to upload and no write checkpoint requested; it healed the gate by waiting for checkpoint request 2 instead"])
    );
    assert_eq!(
        d["held_back"],
        json!(["waiting for write checkpoint 2, last seen none"])
    );

    // A record this build did not write is shown as it is, not dropped.
    db.execute_batch("UPDATE ps_kv SET value = 'by hand' WHERE key = 'healed_write_gate'")
        .unwrap();
    let d = diagnostics(&db);
    assert_eq!(d["write_checkpoint"]["healed"], "by hand");
    assert_eq!(
        d["notes"],
        json!(["a sync start recorded a stuck local-write gate: \"by hand\""])
    );
}

#[test]
fn applying_around_pending_uploads_reports_the_held_rows() {
    let db = open_with(ITEMS);
    let d = diagnostics(&db);
    assert_eq!(
        (d["apply_around_pending_uploads"].clone(), d["held_rows"].clone()),
        (json!(false), json!(0))
    );
    db.query_row(
        "SELECT powersync_config_set('apply_around_pending_uploads', 1)",
        [],
        |_| Ok(()),
    )
    .unwrap();
    local_write(&db, "x");
    local_write(&db, "y");
    let d = diagnostics(&db);
    assert_eq!(
        (d["apply_around_pending_uploads"].clone(), d["held_rows"].clone()),
        (json!(true), json!(2))
    );
    assert_eq!(
        d["held_back"],
        json!([
            "2 local write(s) in 2 transaction(s) wait for upload; checkpoints are applied around the rows they touch",
            "2 row(s) with local writes keep their local version until the service covers those writes (apply_around_pending_uploads)"
        ])
    );
}

#[test]
fn tables_give_the_same_per_bucket_and_per_transaction() {
    let db = open_with(ITEMS);
    local_write(&db, "x");
    local_write(&db, "y");
    db.execute_batch("INSERT INTO ps_buckets(name, last_applied_op, last_op, count_at_last) VALUES ('b1', 3, 3, 3)")
        .unwrap();
    assert_eq!(
        query(
            &db,
            "SELECT name, ops, last_op, checksum, priority FROM powersync_diagnostics_buckets"
        ),
        json!([["b1", 3, 3, "0x00000000", null]])
    );
    assert_eq!(
        query(&db, "SELECT tx_id, ops, tables FROM powersync_diagnostics_uploads"),
        json!([[1, 1, "items"], [2, 1, "items"]])
    );
}

#[test]
fn reading_changes_nothing() {
    let db = open_with(ITEMS);
    local_write(&db, "x");
    let before: i64 = db.query_row("PRAGMA data_version", [], |r| r.get(0)).unwrap();
    let changes = db.total_changes();
    diagnostics(&db);
    query(&db, "SELECT * FROM powersync_diagnostics_buckets");
    assert_eq!(db.total_changes(), changes);
    let after: i64 = db.query_row("PRAGMA data_version", [], |r| r.get(0)).unwrap();
    assert_eq!(before, after);
}

#[test]
fn raw_tables_are_found_by_their_triggers() {
    let db = open_with(ITEMS);
    db.execute_batch(
        r#"CREATE TABLE users(id TEXT PRIMARY KEY, name TEXT);
           SELECT powersync_create_raw_table_crud_trigger('{"name":"users","table_name":"users"}', 'users_insert', 'INSERT');"#,
    )
    .unwrap();
    let d = diagnostics(&db);
    assert_eq!(
        d["tables"][2],
        json!({"name": "users", "kind": "raw", "local_only": false, "storage": "users"})
    );
}

#[test]
fn before_init_it_says_so() {
    let db = crate::testing::open();
    let d = diagnostics(&db);
    assert_eq!(d["internal_version"], 0);
}

#[test]
fn another_internal_version_is_reported_not_an_error() {
    let db = open_with(ITEMS);
    db.execute_batch("BEGIN; SELECT powersync_test_migration(10); COMMIT;")
        .unwrap();
    let d = diagnostics(&db);
    assert_eq!(d["internal_version"], 10);
    assert_eq!(d["internal_version_supported"], true);
    assert!(d["held_back"][0].as_str().unwrap().contains("version 10"));
}

#[test]
fn a_bulk_download_is_reported_with_a_note() {
    let db = open_with(ITEMS);
    assert_eq!(diagnostics(&db)["bulk_download"], json!(false));
    assert!(crate::sync::bulk::maybe_enter(&db, crate::sync::bulk::MIN_OPS).unwrap());
    let d = diagnostics(&db);
    assert_eq!(d["bulk_download"], json!(true));
    assert!(d["notes"][0]
        .as_str()
        .unwrap()
        .starts_with("a large download is being stored in bulk"));
    crate::sync::bulk::finish(&db).unwrap();
    let d = diagnostics(&db);
    assert_eq!(
        (d["bulk_download"].clone(), d["notes"].clone()),
        (json!(false), json!([]))
    );
}
