//! `powersync_internal_close`: always empty, read-only, and its disconnect releases connection
//! resources before SQLite closes (docs/sql-functions.md, "Virtual tables").

use crate::testing::open;

#[test]
fn close_table_is_always_empty_and_refuses_writes() {
    let db = open();
    let n: i64 = db
        .query_row("SELECT count(*) FROM powersync_internal_close", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
    let err = db
        .execute("INSERT INTO powersync_internal_close VALUES ('x')", [])
        .unwrap_err();
    assert_eq!(err.sqlite_error_code(), Some(rusqlite::ErrorCode::ApiMisuse));
    // DELETE and UPDATE visit no row of the empty table, so they change nothing.
    assert_eq!(db.execute("DELETE FROM powersync_internal_close", []).unwrap(), 0);
    assert_eq!(db.execute("UPDATE powersync_internal_close SET _ = 1", []).unwrap(), 0);
}

#[test]
fn connection_with_active_iteration_and_hooks_closes_cleanly() {
    let db = open();
    db.execute_batch("BEGIN; SELECT powersync_init(); COMMIT;").unwrap();
    db.query_row("SELECT powersync_update_hooks('install')", [], |_| Ok(()))
        .unwrap();
    db.execute_batch("BEGIN").unwrap();
    for (op, payload) in [
        ("start", "{}"),
        (
            "line_text",
            r#"{"checkpoint":{"last_op_id":"1","buckets":[{"bucket":"b","checksum":1}]}}"#,
        ),
        (
            "line_text",
            r#"{"data":{"bucket":"b","data":[{"op_id":"1","op":"PUT","object_type":"t","object_id":"1","checksum":1,"data":"{}"}]}}"#,
        ),
        ("line_text", r#"{"checkpoint_complete":{"last_op_id":"1"}}"#),
    ] {
        db.query_row("SELECT powersync_control(?, ?)", [op, payload], |_| Ok(()))
            .unwrap();
    }
    db.execute_batch("COMMIT").unwrap();
    // Cached sync statements still open would make sqlite3_close fail with SQLITE_BUSY.
    db.close().map_err(|(_, e)| e).unwrap();
}
