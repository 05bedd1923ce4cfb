//! The dispatcher's lifecycle rules, through `powersync_control` as an SDK calls it: an error
//! keeps the iteration (0.5.4), `stop` after an error closes it normally, and `start` replaces
//! a running iteration only when the new one could be prepared.

use rusqlite::types::Value as Sql;
use rusqlite::{Connection, ToSql};
use serde_json::{json, Value};

use crate::sync::test_support::{names, open_db};

/// One `powersync_control` call in its own transaction, as the SDKs make it.
fn control(db: &Connection, op: &str, payload: impl ToSql) -> Result<Value, String> {
    db.execute_batch("BEGIN").unwrap();
    let result = db.query_row("SELECT powersync_control(?, ?)", rusqlite::params![op, payload], |r| {
        r.get::<_, String>(0)
    });
    db.execute_batch(if result.is_ok() { "COMMIT" } else { "ROLLBACK" })
        .unwrap();
    result
        .map(|text| serde_json::from_str(&text).unwrap())
        .map_err(|e| e.to_string())
}

fn ok(db: &Connection, op: &str, payload: impl ToSql) -> Value {
    control(db, op, payload).unwrap_or_else(|e| panic!("{op}: {e}"))
}

#[test]
fn event_error_keeps_iteration() {
    let db = open_db();
    ok(&db, "start", "{}");
    for (op, payload) in [
        ("line_text", Sql::Text("not json".into())),
        (
            "line_text",
            Sql::Text(r#"{"checkpoint_complete":{"last_op_id":"1"}}"#.into()),
        ),
        (
            "line_text",
            Sql::Text(r#"{"partial_checkpoint_complete":{"last_op_id":"1","priority":1}}"#.into()),
        ),
        ("line_binary", Sql::Blob(vec![1, 2])),
    ] {
        assert!(control(&db, op, payload).is_err(), "{op} should fail");
    }
    let out = ok(
        &db,
        "line_text",
        r#"{"checkpoint":{"last_op_id":"1","buckets":[{"bucket":"b","checksum":0,"priority":3}]}}"#,
    );
    assert_eq!(names(&out), ["UpdateSyncStatus"]);
}

#[test]
fn stop_after_error_closes_normally() {
    let db = open_db();
    ok(&db, "start", "{}");
    ok(&db, "connection", "established");
    assert!(control(&db, "line_text", "not json").is_err());
    let out = ok(&db, "stop", Sql::Null);
    assert_eq!(
        out,
        json!([
            {"UpdateSyncStatus": {"status": {"connected": false, "connecting": false, "priority_status": [], "downloading": null, "streams": []}}},
            {"CloseSyncStream": {"hide_disconnect": false}}
        ])
    );
    assert_eq!(ok(&db, "stop", Sql::Null), json!([]));
}

#[test]
fn failed_start_keeps_running_iteration() {
    let db = open_db();
    ok(&db, "start", "{}");
    db.execute_batch("DELETE FROM ps_kv WHERE key = 'client_id'").unwrap();
    let err = control(&db, "start", "{}").unwrap_err();
    assert!(err.contains("No client_id found in ps_kv"), "{err}");
    assert_eq!(names(&ok(&db, "connection", "established")), ["UpdateSyncStatus"]);
}

#[test]
fn start_replaces_running_iteration_silently() {
    let db = open_db();
    ok(&db, "start", "{}");
    ok(&db, "connection", "established");
    let out = ok(&db, "start", "{}");
    assert_eq!(names(&out), ["UpdateSyncStatus", "EstablishSyncStream"]);
    assert_eq!(out[0]["UpdateSyncStatus"]["status"]["connecting"], json!(true));
}

#[test]
fn offline_status_reads_bucket_counters_first() {
    let db = crate::testing::open();
    let err = db
        .query_row("SELECT powersync_offline_sync_status()", [], |r| r.get::<_, String>(0))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "powersync_offline_sync_status: statement SELECT id, name, count_at_last, count_since_last FROM ps_buckets: internal SQLite call returned ERROR: no such table: ps_buckets"
    );
}

/// One call in its own transaction that is committed even when the call fails (as the atomicity
/// vector does): whatever the failed call left behind would be kept.
fn commit_anyway(db: &Connection, op: &str, payload: &str) -> Result<(), String> {
    db.execute_batch("BEGIN").unwrap();
    let result = db
        .query_row("SELECT powersync_control(?, ?)", [op, payload], |_| Ok(()))
        .map_err(|e| e.to_string());
    db.execute_batch("COMMIT").unwrap();
    result
}

fn published_state(db: &Connection) -> Value {
    crate::sync::test_support::query(
        db,
        "SELECT (SELECT json_group_array(json_array(name, last_op, last_applied_op)) FROM ps_buckets) AS buckets, \
         (SELECT count(*) FROM ps_sync_state) AS synced, \
         (SELECT json_group_array(id) FROM (SELECT id FROM ps_data__items UNION ALL SELECT id FROM d)) AS rows",
    )
}

/// Two rows, `good` then `bad` (in publish order), downloaded and ready to publish.
fn two_rows_downloaded(db: &Connection, object_type: &str, start: &str) {
    ok(db, "start", start);
    let checkpoint =
        json!({"checkpoint": {"last_op_id": "2", "buckets": [{"bucket": "b", "checksum": 3, "priority": 3}]}});
    ok(db, "line_text", checkpoint.to_string());
    let ops = json!([
        {"op_id": "1", "op": "PUT", "object_type": object_type, "object_id": "a-good", "checksum": 1, "data": "{}"},
        {"op_id": "2", "op": "PUT", "object_type": object_type, "object_id": "b-bad", "checksum": 2, "data": "{}"},
    ]);
    ok(
        db,
        "line_text",
        json!({"data": {"bucket": "b", "data": ops}}).to_string(),
    );
}

/// A publish that fails after its first write keeps the savepoint (docs/decisions.md): an app
/// trigger on a JSON table, or a direct table's trigger, refuses the second row; the caller
/// commits anyway and finds neither row, nor the bucket marked applied, nor a sync time.
#[test]
fn failed_publish_leaves_nothing_behind_even_when_committed() {
    let direct = r#"{"schema":{"tables":[{"name":"d","columns":[],"direct":true}]}}"#;
    for (object_type, start, trigger) in [
        ("items", "{}", "CREATE TRIGGER refuse BEFORE INSERT ON ps_data__items WHEN new.id = 'b-bad' BEGIN SELECT RAISE(ABORT, 'refused'); END"),
        ("d", direct, "CREATE TRIGGER refuse BEFORE INSERT ON d WHEN new.id = 'b-bad' BEGIN SELECT RAISE(ABORT, 'refused'); END"),
    ] {
        let db = open_db();
        db.execute_batch(r#"CREATE TABLE d(id TEXT PRIMARY KEY NOT NULL) STRICT"#).unwrap();
        db.execute_batch(trigger).unwrap();
        two_rows_downloaded(&db, object_type, start);
        let before = published_state(&db);
        let error = commit_anyway(&db, "line_text", r#"{"checkpoint_complete":{"last_op_id":"2"}}"#).unwrap_err();
        assert!(error.contains("refused"), "{error}");
        assert_eq!(published_state(&db), before, "{object_type}");
    }
}

/// An op without a row identity cannot be published: the publish checks for one before its first
/// write, so the bucket's `last_op` and the rows stay as they were.
#[test]
fn unpublishable_row_fails_before_the_first_write() {
    let db = open_db();
    db.execute_batch(r#"CREATE TABLE d(id TEXT PRIMARY KEY NOT NULL) STRICT"#)
        .unwrap();
    ok(&db, "start", "{}");
    let checkpoint =
        json!({"checkpoint": {"last_op_id": "9", "buckets": [{"bucket": "b", "checksum": 3, "priority": 3}]}});
    ok(&db, "line_text", checkpoint.to_string());
    let ops = json!([
        {"op_id": "1", "op": "PUT", "object_type": "items", "object_id": "good", "checksum": 1, "data": "{}"},
        {"op_id": "2", "op": "PUT", "checksum": 2, "data": "{}"},
    ]);
    ok(
        &db,
        "line_text",
        json!({"data": {"bucket": "b", "data": ops}}).to_string(),
    );
    let before = published_state(&db);
    let error = commit_anyway(&db, "line_text", r#"{"checkpoint_complete":{"last_op_id":"9"}}"#).unwrap_err();
    assert!(error.contains("without object_type"), "{error}");
    assert_eq!(published_state(&db), before);
}

/// A data line whose last write (the bucket's counters) an app trigger refuses: the trigger makes
/// the line take the call's savepoint, so none of its ops stay either.
#[test]
fn data_line_refused_at_its_last_write_leaves_nothing_behind() {
    let db = open_db();
    db.execute_batch(
        "CREATE TRIGGER refuse AFTER UPDATE OF last_op ON ps_buckets WHEN new.last_op = 2 BEGIN SELECT RAISE(ABORT, 'refused'); END",
    )
    .unwrap();
    ok(&db, "start", "{}");
    let checkpoint =
        json!({"checkpoint": {"last_op_id": "2", "buckets": [{"bucket": "b", "checksum": 3, "priority": 3}]}});
    ok(&db, "line_text", checkpoint.to_string());
    let ops = json!([
        {"op_id": "1", "op": "PUT", "object_type": "items", "object_id": "a", "checksum": 1, "data": "{}"},
        {"op_id": "2", "op": "PUT", "object_type": "items", "object_id": "b", "checksum": 2, "data": "{}"},
    ]);
    let line = json!({"data": {"bucket": "b", "data": ops}}).to_string();
    let error = commit_anyway(&db, "line_text", &line).unwrap_err();
    assert!(error.contains("refused"), "{error}");
    let left = crate::sync::test_support::query(
        &db,
        "SELECT (SELECT count(*) FROM ps_oplog), (SELECT count(*) FROM ps_buckets)",
    );
    assert_eq!(left, json!([[0, 0]]));
}

/// A publish into our own direct table runs without the savepoint only when every row's data
/// parses (sync::atomic): a second row whose number is out of range fails the publish, and the
/// caller's transaction holds neither row, nor the bucket marked applied, nor a sync time. (The
/// error's code is SQLITE_CORRUPT, as the reference's, after which SQLite refuses the COMMIT, so
/// the transaction is inspected before it is rolled back.)
#[test]
fn direct_table_row_that_fails_to_parse_leaves_nothing_behind() {
    let schema = r#"{"tables":[{"name":"d","columns":[{"name":"a","type":"integer"}],"direct":true}]}"#;
    let db = crate::sync::test_support::open_with(schema);
    ok(&db, "start", format!(r#"{{"schema":{schema}}}"#));
    let checkpoint =
        json!({"checkpoint": {"last_op_id": "2", "buckets": [{"bucket": "b", "checksum": 3, "priority": 3}]}});
    ok(&db, "line_text", checkpoint.to_string());
    let ops = json!([
        {"op_id": "1", "op": "PUT", "object_type": "d", "object_id": "a-good", "checksum": 1, "data": r#"{"a":1}"#},
        {"op_id": "2", "op": "PUT", "object_type": "d", "object_id": "b-bad", "checksum": 2, "data": r#"{"a":1e400}"#},
    ]);
    ok(
        &db,
        "line_text",
        json!({"data": {"bucket": "b", "data": ops}}).to_string(),
    );
    let state = |db: &Connection| {
        crate::sync::test_support::query(
            db,
            "SELECT (SELECT json_group_array(json_array(name, last_op, last_applied_op)) FROM ps_buckets), \
             (SELECT count(*) FROM ps_sync_state), (SELECT json_group_array(id) FROM d)",
        )
    };
    let before = state(&db);
    db.execute_batch("BEGIN").unwrap();
    let error = db
        .query_row(
            "SELECT powersync_control('line_text', ?)",
            [r#"{"checkpoint_complete":{"last_op_id":"2"}}"#],
            |_| Ok(()),
        )
        .unwrap_err()
        .to_string();
    assert!(error.contains("number out of range"), "{error}");
    assert_eq!(state(&db), before);
    db.execute_batch("ROLLBACK").unwrap();
}
