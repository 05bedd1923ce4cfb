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
