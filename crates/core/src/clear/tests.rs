//! `powersync_clear` and `powersync_trigger_resync` (docs/sql-functions.md, "Scalar functions").

use serde_json::json;

use super::*;
use crate::sync::test_support::*;

const WITH_LOCAL: &str = r#"{"tables":[{"name":"items","columns":[{"name":"name","type":"TEXT"},{"name":"qty","type":"INTEGER"}]},{"name":"notes","local_only":true,"columns":[{"name":"body","type":"TEXT"}]}]}"#;

/// Synced data, a local-only row, a pending upload and sync state.
fn filled() -> Connection {
    let db = open_with(WITH_LOCAL);
    db.execute_batch(
        "INSERT INTO ps_buckets(name, last_applied_op, last_op) VALUES ('b', 3, 3);
         INSERT INTO ps_oplog(bucket, op_id, row_type, row_id, key, data, hash) VALUES (1, 3, 'items', 'i', 'items/i/null', '{}', 1);
         INSERT INTO ps_data__items VALUES ('i', '{}');
         INSERT INTO ps_untyped VALUES ('u', 'u1', '{}');
         INSERT INTO ps_updated_rows VALUES ('items', 'x');
         INSERT INTO ps_sync_state VALUES (2147483647, 1);
         INSERT INTO ps_stream_subscriptions(stream_name, ttl, last_synced_at) VALUES ('s', 10, 1);
         INSERT INTO ps_kv VALUES ('last_seen_checkpoint_request_id', 3);
         INSERT INTO notes(id, body) VALUES ('n', 'local');",
    )
    .unwrap();
    local_write(&db, "pending");
    db
}

fn summary(db: &Connection) -> serde_json::Value {
    json!({
        "buckets": query(db, "SELECT name, last_applied_op FROM ps_buckets"),
        "oplog": count(db, "ps_oplog"),
        "items": count(db, "ps_data__items"),
        "notes": count(db, "ps_data_local__notes"),
        "crud": count(db, "ps_crud"),
        "untyped": count(db, "ps_untyped"),
        "updated": count(db, "ps_updated_rows"),
        "sync_state": count(db, "ps_sync_state"),
        "streams": count(db, "ps_stream_subscriptions"),
        "kv": query(db, "SELECT key FROM ps_kv"),
    })
}

#[test]
fn clear_forgets_downloaded_and_uploaded_state_but_keeps_client_id_and_local_rows() {
    let db = filled();
    clear(&db, &DatabaseState::default(), 0).unwrap();
    assert_eq!(
        summary(&db),
        json!({"buckets": [], "oplog": 0, "items": 0, "notes": 1, "crud": 0, "untyped": 0, "updated": 0,
               "sync_state": 0, "streams": 0, "kv": [["client_id"]]})
    );
}

#[test]
fn clear_local_flag_also_empties_local_only_tables() {
    let db = filled();
    clear(&db, &DatabaseState::default(), CLEAR_LOCAL).unwrap();
    assert_eq!(count(&db, "ps_data_local__notes"), 0);
}

#[test]
fn soft_clear_keeps_bucket_data_for_reapplying() {
    let db = filled();
    clear(&db, &DatabaseState::default(), SOFT_CLEAR).unwrap();
    let s = summary(&db);
    assert_eq!(s["buckets"], json!([["b", 0]]));
    assert_eq!(s["oplog"], json!(1));
    assert_eq!(s["items"], json!(0));
    assert_eq!(s["notes"], json!(1));
}

#[test]
fn soft_clear_is_refused_while_an_iteration_is_active() {
    let db = filled();
    let state = DatabaseState::default();
    let (it, _) = crate::sync::iteration::Iteration::start(&db, Default::default()).unwrap();
    crate::state::lock(&state.sync).iteration = Some(it);
    let err = clear(&db, &state, SOFT_CLEAR).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid argument: Cannot clear or trigger resync while a sync iteration is active.. cause: unknown"
    );
    assert_eq!(count(&db, "ps_crud"), 1, "nothing was cleared");
    // A full clear is not refused (as in the reference).
    clear(&db, &state, 0).unwrap();
    assert_eq!(count(&db, "ps_crud"), 0);
}

#[test]
fn raw_table_clear_statements_run_as_sync_operation() {
    let db =
        open_with(r#"{"tables":[],"raw_tables":[{"name":"todo","table_name":"todos","clear":"DELETE FROM todos"}]}"#);
    db.execute_batch(
        "CREATE TABLE todos(id TEXT PRIMARY KEY);
         INSERT INTO todos VALUES ('t');
         CREATE TABLE seen(flag INTEGER);
         CREATE TRIGGER log AFTER DELETE ON todos BEGIN INSERT INTO seen VALUES (powersync_in_sync_operation()); END;
         BEGIN; SELECT powersync_clear(0); COMMIT;",
    )
    .unwrap();
    assert_eq!(count(&db, "todos"), 0);
    assert_eq!(query(&db, "SELECT flag FROM seen"), json!([[1]]));
}

#[test]
fn failing_raw_table_clear_names_the_table() {
    let db = open_with(r#"{"tables":[],"raw_tables":[{"name":"todo","clear":"DELETE FROM missing"}]}"#);
    db.execute_batch("BEGIN").unwrap();
    let err = db.query_row("SELECT powersync_clear(0)", [], |_| Ok(())).unwrap_err();
    assert!(err.to_string().ends_with("(context: Clearing raw table todo)"), "{err}");
}

#[test]
fn trigger_resync_reapplies_buckets_and_optionally_forgets_progress() {
    let db = filled();
    db.execute_batch("BEGIN; SELECT powersync_trigger_resync(0); COMMIT;")
        .unwrap();
    assert_eq!(query(&db, "SELECT last_applied_op FROM ps_buckets"), json!([[0]]));
    assert_eq!(count(&db, "ps_sync_state"), 1);
    assert_eq!(count(&db, "ps_crud"), 1);
    db.execute_batch("BEGIN; SELECT powersync_trigger_resync(1); COMMIT;")
        .unwrap();
    assert_eq!(count(&db, "ps_sync_state"), 0);
    assert_eq!(
        query(&db, "SELECT last_synced_at FROM ps_stream_subscriptions"),
        json!([[null]])
    );
    assert_eq!(count(&db, "ps_data__items"), 2, "data is kept");
}

#[test]
fn trigger_resync_is_refused_while_an_iteration_is_active() {
    let db = filled();
    db.execute_batch("BEGIN").unwrap();
    db.query_row("SELECT powersync_control('start', NULL)", [], |_| Ok(()))
        .unwrap();
    let err = db
        .query_row("SELECT powersync_trigger_resync(0)", [], |_| Ok(()))
        .unwrap_err();
    assert!(err.to_string().contains("while a sync iteration is active"), "{err}");
    db.execute_batch("ROLLBACK").unwrap();
}

#[test]
fn clear_empties_direct_tables_without_recording_crud() {
    let db = open_with(
        r#"{"tables":[{"name":"d","columns":[{"name":"a","type":"text"}],"direct":true},{"name":"dl","columns":[{"name":"a","type":"text"}],"direct":true,"local_only":true},{"name":"j","columns":[{"name":"a","type":"text"}]}]}"#,
    );
    for flags in [0, 1, 2] {
        db.execute_batch(
            "INSERT INTO d VALUES ('d1', 'x'), ('d2', 'y'); INSERT INTO dl VALUES ('l1', 'z'); INSERT INTO j(id, a) VALUES ('j1', 'w'); DELETE FROM ps_crud;",
        )
        .unwrap();
        db.execute_batch(&format!("BEGIN; SELECT powersync_clear({flags}); COMMIT;"))
            .unwrap();
        assert_eq!(count(&db, "d"), 0, "flags {flags}");
        assert_eq!(count(&db, "ps_data__j"), 0, "flags {flags}");
        assert_eq!(count(&db, "dl"), if flags & 1 != 0 { 0 } else { 1 }, "flags {flags}");
        assert_eq!(count(&db, "ps_crud"), 0, "flags {flags}");
        db.execute_batch("DELETE FROM dl").unwrap();
    }
}
