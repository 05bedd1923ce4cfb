//! A full sync session driven the way an SDK drives it: every `powersync_control` call in its own
//! write transaction, instructions read back as JSON, app data read through the views.

use libpowersync_tests::open_with_extension;
use rusqlite::Connection;
use serde_json::{json, Value};

const SCHEMA: &str = r#"{"tables": [
  {"name": "items", "columns": [{"name": "name", "type": "text"}, {"name": "qty", "type": "integer"}]},
  {"name": "lists", "columns": [{"name": "title", "type": "text"}]}
]}"#;

struct Sdk {
    db: Connection,
}

impl Sdk {
    fn new() -> Sdk {
        let db = open_with_extension();
        db.execute_batch("BEGIN").unwrap();
        db.query_row("SELECT powersync_replace_schema(?)", [SCHEMA], |r| {
            r.get::<_, String>(0)
        })
        .unwrap();
        db.execute_batch("COMMIT").unwrap();
        Sdk { db }
    }

    /// One control call in its own transaction; returns the instructions.
    fn control(&self, op: &str, payload: Option<&str>) -> Vec<Value> {
        self.db.execute_batch("BEGIN").unwrap();
        let result: rusqlite::Result<Option<String>> =
            self.db
                .query_row("SELECT powersync_control(?, ?)", rusqlite::params![op, payload], |r| {
                    r.get(0)
                });
        match result {
            Ok(text) => {
                self.db.execute_batch("COMMIT").unwrap();
                serde_json::from_str::<Value>(&text.unwrap_or_else(|| "[]".into()))
                    .unwrap()
                    .as_array()
                    .unwrap()
                    .clone()
            }
            Err(e) => {
                self.db.execute_batch("ROLLBACK").unwrap();
                panic!("powersync_control({op}) failed: {e}");
            }
        }
    }

    fn line(&self, line: Value) -> Vec<Value> {
        self.control("line_text", Some(&line.to_string()))
    }

    fn rows(&self, sql: &str) -> Vec<String> {
        let mut stmt = self.db.prepare(sql).unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }
}

/// The names of the instructions, in order.
fn kinds(instructions: &[Value]) -> Vec<String> {
    instructions
        .iter()
        .map(|i| i.as_object().unwrap().keys().next().unwrap().clone())
        .collect()
}

fn find<'a>(instructions: &'a [Value], kind: &str) -> Option<&'a Value> {
    instructions.iter().find_map(|i| i.get(kind))
}

fn log_lines(instructions: &[Value]) -> Vec<String> {
    instructions
        .iter()
        .filter_map(|i| i.get("LogLine"))
        .map(|l| l["line"].as_str().unwrap().to_owned())
        .collect()
}

fn put(op_id: u32, table: &str, id: &str, checksum: u32, data: Value) -> Value {
    json!({"op_id": op_id.to_string(), "op": "PUT", "object_type": table, "object_id": id, "checksum": checksum, "data": data.to_string()})
}

#[test]
fn full_session() {
    let sdk = Sdk::new();

    // Start: the request lists no buckets yet.
    let start = sdk.control("start", Some(r#"{"parameters": {"team": "t1"}}"#));
    assert_eq!(kinds(&start), ["UpdateSyncStatus", "EstablishSyncStream"]);
    let request = &find(&start, "EstablishSyncStream").unwrap()["request"];
    assert_eq!(request["buckets"], json!([]));
    assert_eq!(request["parameters"], json!({"team": "t1"}));
    let established = sdk.control("connection", Some("established"));
    assert_eq!(
        find(&established, "UpdateSyncStatus").unwrap()["status"]["connected"],
        json!(true)
    );

    // A checkpoint with a priority-0 bucket (lists) and a default-priority bucket (items).
    let checkpoint = sdk.line(json!({"checkpoint": {"last_op_id": "3", "buckets": [
        {"bucket": "b_hi", "checksum": 5, "priority": 0, "count": 1},
        {"bucket": "b_items", "checksum": 3000000003u32, "priority": 3, "count": 2}]}}));
    let downloading = &find(&checkpoint, "UpdateSyncStatus").unwrap()["status"]["downloading"]["buckets"];
    assert_eq!(downloading["prio_3"]["target_count"], json!(2));
    assert_eq!(downloading["prio_0"]["target_count"], json!(1));
    sdk.line(json!({"data": {"bucket": "b_hi", "data": [put(1, "lists", "l1", 5, json!({"title": "groceries"}))]}}));
    sdk.line(json!({"data": {"bucket": "b_items", "data": [
        put(2, "items", "i1", 3000000000, json!({"name": "apple", "qty": 1})),
        put(3, "items", "i2", 3, json!({"name": "pear", "qty": 2}))]}}));
    assert!(
        sdk.rows("SELECT id FROM items").is_empty(),
        "nothing is visible before a checkpoint completes"
    );

    // Priority 0 completes first: lists are visible, items are not yet.
    let partial = sdk.line(json!({"partial_checkpoint_complete": {"last_op_id": "3", "priority": 0}}));
    let status = &find(&partial, "UpdateSyncStatus").unwrap()["status"];
    assert_eq!(status["priority_status"][0]["priority"], json!(0));
    assert_eq!(sdk.rows("SELECT title FROM lists"), ["groceries"]);
    assert!(sdk.rows("SELECT id FROM items").is_empty());

    let complete = sdk.line(json!({"checkpoint_complete": {"last_op_id": "3"}}));
    assert_eq!(kinds(&complete), ["LogLine", "DidCompleteSync", "UpdateSyncStatus"]);
    assert_eq!(log_lines(&complete), ["Validated and applied checkpoint"]);
    assert_eq!(
        sdk.rows("SELECT name || ':' || qty FROM items ORDER BY id"),
        ["apple:1", "pear:2"]
    );

    // A diff that updates i1 and removes i2.
    sdk.line(json!({"checkpoint_diff": {"last_op_id": "5", "updated_buckets": [
        {"bucket": "b_items", "checksum": 3000000003u32.wrapping_add(7).wrapping_add(9), "priority": 3, "count": 4}],
        "removed_buckets": []}}));
    sdk.line(json!({"data": {"bucket": "b_items", "data": [
        put(4, "items", "i1", 7, json!({"name": "apple", "qty": 5})),
        {"op_id": "5", "op": "REMOVE", "object_type": "items", "object_id": "i2", "checksum": 9}]}}));
    sdk.line(json!({"checkpoint_complete": {"last_op_id": "5"}}));
    assert_eq!(
        sdk.rows("SELECT name || ':' || qty FROM items ORDER BY id"),
        ["apple:5"]
    );

    // A local write closes the gate: the next checkpoint is downloaded but not published.
    sdk.db
        .execute("INSERT INTO items(id, name, qty) VALUES ('local1', 'mine', 1)", [])
        .unwrap();
    sdk.line(
        json!({"checkpoint_diff": {"last_op_id": "6", "write_checkpoint": "8", "updated_buckets": [
        {"bucket": "b_items", "checksum": 3000000003u32.wrapping_add(16).wrapping_add(11), "priority": 3, "count": 5}],
        "removed_buckets": []}}),
    );
    sdk.line(
        json!({"data": {"bucket": "b_items", "data": [put(6, "items", "i1", 11, json!({"name": "apple", "qty": 6}))]}}),
    );
    let held = sdk.line(json!({"checkpoint_complete": {"last_op_id": "6"}}));
    assert_eq!(
        log_lines(&held),
        ["Could not apply checkpoint due to local data. Will retry at completed upload or next checkpoint."]
    );
    assert_eq!(
        sdk.rows("SELECT name || ':' || qty FROM items WHERE id = 'i1'"),
        ["apple:5"]
    );

    // The SDK uploads the queue, records the write checkpoint it got and reports the upload.
    let queued = sdk.rows("SELECT data FROM ps_crud");
    assert_eq!(
        queued,
        [r#"{"op":"PUT","id":"local1","type":"items","data":{"name":"mine","qty":1}}"#]
    );
    sdk.db.execute("DELETE FROM ps_crud", []).unwrap();
    sdk.db.execute_batch("BEGIN").unwrap();
    sdk.db
        .query_row(
            "SELECT powersync_control('target_checkpoint_request_id', '8')",
            [],
            |_| Ok(()),
        )
        .unwrap();
    sdk.db.execute_batch("COMMIT").unwrap();
    let uploaded = sdk.control("completed_upload", None);
    assert_eq!(
        log_lines(&uploaded),
        [
            "Applied pending checkpoint after completed upload",
            "Applied checkpoint request id 8"
        ]
    );
    assert_eq!(
        find(&uploaded, "DidCompleteSync").unwrap()["applied_checkpoint_request_id"],
        json!("8")
    );
    assert_eq!(
        sdk.rows("SELECT name || ':' || qty FROM items WHERE id = 'i1'"),
        ["apple:6"]
    );
    // The service never had local1: publishing dropped the optimistic local row.
    assert!(sdk.rows("SELECT id FROM items WHERE id = 'local1'").is_empty());

    // A corrupted bucket: the checksum does not match, the bucket is deleted, the stream closes
    // (since 0.5.4 with the disconnected status just before the close).
    sdk.line(json!({"checkpoint_diff": {"last_op_id": "7", "updated_buckets": [
        {"bucket": "b_hi", "checksum": 999, "priority": 0, "count": 2}], "removed_buckets": []}}));
    sdk.line(json!({"data": {"bucket": "b_hi", "data": [put(7, "lists", "l2", 20, json!({"title": "extra"}))]}}));
    let failed = sdk.line(json!({"checkpoint_complete": {"last_op_id": "7"}}));
    assert_eq!(kinds(&failed), ["LogLine", "UpdateSyncStatus", "CloseSyncStream"]);
    assert_eq!(
        log_lines(&failed),
        ["Could not apply checkpoint, Checksums didn't match, failed for: b_hi (expected 0x000003e7, got 0x00000019 = 0x00000019 (op) + 0x00000000 (add))"]
    );
    assert!(sdk.rows("SELECT name FROM ps_buckets WHERE name = 'b_hi'").is_empty());
    sdk.control("stop", None);

    // Reconnect: the deleted bucket is downloaded again from scratch.
    let restart = sdk.control("start", None);
    let buckets = &find(&restart, "EstablishSyncStream").unwrap()["request"]["buckets"];
    // b_items matched, but a failed checkpoint advances nothing.
    assert_eq!(buckets, &json!([{"name": "b_items", "after": "6"}]));
    sdk.line(json!({"checkpoint": {"last_op_id": "7", "buckets": [
        {"bucket": "b_hi", "checksum": 25, "priority": 0, "count": 2},
        {"bucket": "b_items", "checksum": 3000000003u32.wrapping_add(27), "priority": 3, "count": 5}]}}));
    sdk.line(json!({"data": {"bucket": "b_hi", "data": [
        put(1, "lists", "l1", 5, json!({"title": "groceries"})),
        put(7, "lists", "l2", 20, json!({"title": "extra"}))]}}));
    let recovered = sdk.line(json!({"checkpoint_complete": {"last_op_id": "7"}}));
    assert_eq!(log_lines(&recovered), ["Validated and applied checkpoint"]);
    assert_eq!(sdk.rows("SELECT title FROM lists ORDER BY id"), ["groceries", "extra"]);

    // Token expiry: prefetch below 30 s, then expired closes the stream (since 0.5.4 with the
    // disconnected status just before the close).
    assert_eq!(
        sdk.line(json!({"token_expires_in": 20})),
        [json!({"FetchCredentials": {"did_expire": false}})]
    );
    let expired = sdk.line(json!({"token_expires_in": 0}));
    assert_eq!(
        kinds(&expired),
        ["FetchCredentials", "UpdateSyncStatus", "CloseSyncStream"]
    );
    assert_eq!(expired[0], json!({"FetchCredentials": {"did_expire": true}}));
    assert_eq!(expired[1]["UpdateSyncStatus"]["status"]["connected"], json!(false));
    assert_eq!(expired[2], json!({"CloseSyncStream": {"hide_disconnect": false}}));
    // The iteration is over.
    sdk.db.execute_batch("BEGIN").unwrap();
    let err = sdk
        .db
        .query_row("SELECT powersync_control('line_text', '{}')", [], |_| Ok(()))
        .unwrap_err();
    sdk.db.execute_batch("ROLLBACK").unwrap();
    assert!(err.to_string().contains("No iteration is active"), "{err}");

    // The sync client keeps statements prepared across calls; closing still works (SQLite's
    // plain close refuses while statements are unfinalised).
    sdk.control("start", None);
    sdk.db.close().map_err(|(_, e)| e).expect("close after syncing");
}
