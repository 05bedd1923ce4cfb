//! The sync iteration's transitions, driven in Rust (docs/protocol.md, "Commands and events"). Each test
//! is named after the transition it pins down.

use serde_json::{json, Value};

use crate::sync::checkpoint_requests::{self, IdArgument, TargetArgument, MAX_OP_ID};
use crate::sync::now_micros;
use crate::sync::streams::{apply_subscription_command, StreamKey, SubscriptionCommand};
use crate::sync::test_support::*;

fn subscribe(db: &rusqlite::Connection, command: &str) {
    let command: SubscriptionCommand = serde_json::from_str(command).unwrap();
    apply_subscription_command(db, &command, now_micros()).unwrap();
}

fn keys(json: &str) -> Vec<StreamKey> {
    serde_json::from_str(json).unwrap()
}

/// A.1 up to the first applied checkpoint: `b_items` (i1, i2) and `b_lists` (l1).
fn synced_a1() -> Session {
    let mut s = Session::connected();
    s.line(&checkpoint(
        3,
        json!([bucket("b_items", 3268435457, 3, 2), bucket("b_lists", 123, 3, 1)]),
    ));
    s.line(&data(
        "b_items",
        json!([
            put(1, "items", "i1", 268435457, json!({"name": "apple", "qty": 1})),
            put(2, "items", "i2", 3000000000, json!({"name": "pear", "qty": 2}))
        ]),
    ));
    s.line(&data(
        "b_lists",
        json!([put(3, "lists", "l1", 123, json!({"title": "groceries"}))]),
    ));
    s.line(&complete(3));
    s
}

/// One bucket `b` with `items/s1` applied (the starting point of A.5).
fn synced_one_row() -> Session {
    let mut s = Session::connected();
    s.line(&checkpoint(1, json!([bucket("b", 1, 3, 1)])));
    s.line(&data("b", json!([put(1, "items", "s1", 1, json!({"name": "s"}))])));
    s.line(&complete(1));
    s
}

fn validated() -> Value {
    json!({"LogLine": {"severity": "DEBUG", "line": "Validated and applied checkpoint"}})
}

// ---- start and connection events ----

#[test]
fn start_reports_connecting_then_establishes_stream() {
    let db = open_db();
    let client = client_id(&db);
    let (_s, out) = Session::start_with(
        db,
        r#"{"parameters": {"team": "t1"}, "app_metadata": {"app_version": "1.2"}}"#,
    );
    assert_eq!(
        out,
        json!([
            {"UpdateSyncStatus": {"status": {"connected": false, "connecting": true, "priority_status": [], "downloading": null, "streams": []}}},
            {"EstablishSyncStream": {"request": {
                "buckets": [], "include_checksum": true, "raw_data": true, "binary_data": true,
                "client_id": client, "parameters": {"team": "t1"},
                "streams": {"include_defaults": true, "subscriptions": []},
                "app_metadata": {"app_version": "1.2"}}}}
        ])
    );
}

#[test]
fn start_requests_stored_bucket_positions_except_pending_deletes() {
    let db = open_db();
    db.execute_batch(
        "INSERT INTO ps_buckets(name, last_op, pending_delete) VALUES ('a', 5, 0), ('b', 7, 1), ('c', 9, 0);
         INSERT INTO ps_sync_state(priority, last_synced_at) VALUES (1, 42)",
    )
    .unwrap();
    let (_s, out) = Session::start_with(db, r#"{"include_defaults": false}"#);
    let request = &out[1]["EstablishSyncStream"]["request"];
    assert_eq!(
        request["buckets"],
        json!([{"name": "a", "after": "5"}, {"name": "c", "after": "9"}])
    );
    assert_eq!(request["streams"]["include_defaults"], json!(false));
    assert_eq!(status_of(&out)["priority_status"], synced(&[1]));
}

#[test]
fn start_in_requests_mode_carries_checkpoint_request() {
    let db = open_db();
    let client = client_id(&db);
    db.execute_batch(
        "INSERT INTO ps_kv(key, value) VALUES ('last_requested_checkpoint_request_id', 12), ('target_checkpoint_request_id', 40)",
    )
    .unwrap();
    let (_s, out) = Session::start_with(db, r#"{"checkpoint_mode": "requests"}"#);
    assert_eq!(
        out[1]["EstablishSyncStream"]["checkpoint_request"],
        json!({"client_id": client, "checkpoint_request_id": "40"})
    );

    let (_s, legacy) = Session::start_with(open_db(), "{}");
    assert!(legacy[1]["EstablishSyncStream"].get("checkpoint_request").is_none());
}

#[test]
fn connection_established_reports_connected() {
    let (mut s, _) = Session::start_with(open_db(), "{}");
    let outcome = s.it.connection_established();
    assert!(!outcome.ended);
    assert_eq!(
        instructions(&outcome.instructions),
        json!([{"UpdateSyncStatus": {"status": connected_status(json!([]), Value::Null)}}])
    );
    // Unchanged status: nothing to report.
    assert_eq!(instructions(&s.it.connection_established().instructions), json!([]));
}

/// 0.5.4: a token expiry that keeps the stream marks it connected (one of the listed events).
#[test]
fn token_expiry_marks_stream_connected() {
    let (mut s, _) = Session::start_with(open_db(), "{}");
    assert_eq!(
        s.line(&token_expires_in(600)),
        json!([{"UpdateSyncStatus": {"status": connected_status(json!([]), Value::Null)}}])
    );
}

#[test]
fn disconnect_reports_offline_and_closes_stream() {
    let mut s = Session::connected();
    s.line(&checkpoint_with_write(1, 7, json!([bucket("b", 1, 3, 1)])));
    s.line(&data("b", json!([put(1, "items", "s1", 1, json!({}))])));
    s.line(&complete(1));
    assert_eq!(
        status_of(&s.line(&checkpoint(1, json!([bucket("b", 1, 3, 1)]))))
            ["internal_last_applied_checkpoint_request_id"],
        json!("7")
    );
    let outcome = s.it.disconnect();
    assert!(outcome.ended);
    assert_eq!(
        instructions(&outcome.instructions),
        json!([
            {"UpdateSyncStatus": {"status": {"connected": false, "connecting": false, "priority_status": synced(&[i32::MAX as i64]), "downloading": null, "streams": []}}},
            {"CloseSyncStream": {"hide_disconnect": false}}
        ])
    );
}

/// 0.5.4: closing for a refreshed token reports the disconnected status first.
#[test]
fn refreshed_token_reports_offline_and_closes_stream_quietly() {
    let mut s = Session::connected();
    let outcome = s.it.refreshed_token();
    assert!(outcome.ended);
    assert_eq!(
        instructions(&outcome.instructions),
        json!([
            {"UpdateSyncStatus": {"status": {"connected": false, "connecting": false, "priority_status": [], "downloading": null, "streams": []}}},
            {"CloseSyncStream": {"hide_disconnect": true}}
        ])
    );
}

/// Right after `start` (connecting) the status changes too: `connecting` goes false.
#[test]
fn refreshed_token_right_after_start_reports_not_connecting() {
    let (mut s, _) = Session::start_with(open_db(), "{}");
    assert_eq!(
        instructions(&s.it.refreshed_token().instructions),
        json!([
            {"UpdateSyncStatus": {"status": {"connected": false, "connecting": false, "priority_status": [], "downloading": null, "streams": []}}},
            {"CloseSyncStream": {"hide_disconnect": true}}
        ])
    );
}

/// Closing when the status is already offline reports no status (it did not change).
#[test]
fn close_without_status_change_reports_only_close() {
    let (mut s, _) = Session::start_with(open_db(), "{}");
    s.it.refreshed_token();
    let outcome = s.it.disconnect();
    assert_eq!(
        instructions(&outcome.instructions),
        json!([{"CloseSyncStream": {"hide_disconnect": false}}])
    );
}

#[test]
fn unknown_line_is_logged_and_ignored() {
    let mut s = Session::connected();
    assert_eq!(
        s.line(r#"{"some_future_line":{"x":1}}"#),
        json!([{"LogLine": {"severity": "DEBUG", "line": "Unknown sync line"}}])
    );
}

// ---- which events mark the stream connected (0.5.4) ----

fn connected_only() -> Value {
    json!({"UpdateSyncStatus": {"status": connected_status(json!([]), Value::Null)}})
}

#[test]
fn unknown_line_marks_stream_connected() {
    let (mut s, _) = Session::start_with(open_db(), "{}");
    assert_eq!(
        s.line(r#"{"bogus_line": 1}"#),
        json!([{"LogLine": {"severity": "DEBUG", "line": "Unknown sync line"}}, connected_only()])
    );
}

/// 0.5.3 marked the stream connected on any first line; a data line no longer does.
#[test]
fn data_line_does_not_mark_stream_connected() {
    let (mut s, _) = Session::start_with(open_db(), "{}");
    assert_eq!(
        s.line(&data("b", json!([put(1, "items", "a", 1, json!({}))]))),
        json!([])
    );
}

#[test]
fn checkpoint_marks_stream_connected() {
    let (mut s, _) = Session::start_with(open_db(), "{}");
    let out = s.line(&checkpoint(1, json!([bucket("b", 1, 3, 1)])));
    assert_eq!(status_of(&out), connected_status(json!([]), downloading(&[(3, 0, 1)])));
}

#[test]
fn checkpoint_diff_marks_stream_connected() {
    let (mut s, _) = Session::start_with(open_db(), "{}");
    s.it.refreshed_token(); // offline, but the iteration object still takes events
    s.line(&checkpoint(1, json!([])));
    s.it.refreshed_token();
    let out = s.line(&diff(1, json!([bucket("b", 1, 3, 1)]), &[]));
    assert_eq!(status_of(&out)["connected"], json!(true));
}

#[test]
fn checkpoint_complete_does_not_mark_stream_connected() {
    let (mut s, _) = Session::start_with(open_db(), "{}");
    s.line(&checkpoint(0, json!([])));
    s.it.refreshed_token(); // the status is offline now
    let out = s.line(&complete(0));
    let status = status_of(&out);
    assert_eq!(
        (&status["connected"], &status["connecting"]),
        (&json!(false), &json!(false))
    );
}

#[test]
fn applied_partial_checkpoint_does_not_mark_stream_connected() {
    let (mut s, _) = Session::start_with(open_db(), "{}");
    s.line(&checkpoint(1, json!([bucket("p1", 1, 1, 1)])));
    s.line(&data("p1", json!([put(1, "items", "x", 1, json!({}))])));
    s.it.refreshed_token();
    let out = s.line(&partial(1, 1));
    assert_eq!(status_of(&out)["connected"], json!(false));
}

#[test]
fn refused_partial_checkpoint_marks_stream_connected() {
    let (mut s, _) = Session::start_with(open_db(), "{}");
    s.line(&checkpoint(1, json!([bucket("p1", 1, 1, 1)])));
    s.line(&data("p1", json!([put(1, "items", "x", 1, json!({}))])));
    s.it.refreshed_token();
    local_write(&s.db, "local");
    let out = s.line(&partial(1, 1));
    assert_eq!(names(&out), ["CheckpointDelayedDueToLocalData", "UpdateSyncStatus"]);
    assert_eq!(status_of(&out)["connected"], json!(true));
}

#[test]
fn completed_upload_and_unchanged_subscriptions_do_not_mark_stream_connected() {
    let (mut s, _) = Session::start_with(open_db(), "{}");
    assert_eq!(s.completed_upload(), json!([]));
    let outcome = s.it.update_subscriptions(&s.db, vec![]).unwrap();
    assert!(!outcome.ended);
    assert_eq!(instructions(&outcome.instructions), json!([]));
}

// ---- an error keeps the iteration as it was (0.5.4) ----

/// A session whose raw table `broken` has a put statement with the wrong parameter count, so
/// publishing a row of it fails.
fn broken_raw_table() -> Session {
    let schema = r#"{"schema": {"tables": [], "raw_tables": [{"name": "broken", "put": {"sql": "INSERT INTO nowhere VALUES (?, ?)", "params": ["Id"]}, "delete": {"sql": "DELETE FROM nowhere WHERE id = ?", "params": ["Id"]}}]}}"#;
    let db = open_db();
    db.execute_batch("CREATE TABLE nowhere(id TEXT PRIMARY KEY, a)")
        .unwrap();
    let (mut s, _) = Session::start_with(db, schema);
    s.it.connection_established();
    s
}

#[test]
fn failed_checkpoint_complete_keeps_target_pending_and_status() {
    let mut s = broken_raw_table();
    s.line(&checkpoint(1, json!([bucket("b", 1, 3, 1)])));
    s.line(&data("b", json!([put(1, "broken", "r1", 1, json!({}))])));
    let err = s.line_error(&complete(1)).to_string();
    assert!(
        err.starts_with("invalid argument: Statement INSERT INTO nowhere"),
        "{err}"
    );
    assert_eq!(s.it.target_last_op(), Some(1));
    assert!(!s.it.has_pending_checkpoint());
    // The last emitted status is unchanged: nothing new to report.
    assert_eq!(instructions(&s.it.connection_established().instructions), json!([]));
    // The same completion fails the same way until the data changes.
    assert_eq!(s.line_error(&complete(1)).to_string(), err);
}

#[test]
fn failed_completed_upload_keeps_pending_checkpoint() {
    let mut s = broken_raw_table();
    local_write(&s.db, "local");
    s.line(&checkpoint(1, json!([bucket("b", 1, 3, 1)])));
    s.line(&data("b", json!([put(1, "broken", "r1", 1, json!({}))])));
    s.line(&complete(1));
    assert!(s.it.has_pending_checkpoint());
    s.db.execute_batch("DELETE FROM ps_crud; DELETE FROM ps_kv WHERE key = 'target_checkpoint_request_id'")
        .unwrap();
    assert!(s.it.completed_upload(&s.db, &s.state).is_err());
    assert!(s.it.has_pending_checkpoint());
}

// ---- CheckpointDelayedDueToLocalData and the priority-0 fallback (0.5.4) ----

/// One bucket `b0` at priority 0 with two PUTs downloaded, as in the observed case.
fn priority_zero_download(s: &mut Session) {
    s.line(&checkpoint(2, json!([bucket("b0", 3, 0, 2)])));
    s.line(&data(
        "b0",
        json!([
            put(1, "items", "s1", 1, json!({"name": "a"})),
            put(2, "items", "s2", 2, json!({"name": "b"}))
        ]),
    ));
}

#[test]
fn refused_priority_zero_checkpoint_publishes_through_fallback() {
    let mut s = Session::connected();
    local_write(&s.db, "local");
    priority_zero_download(&mut s);
    let out = s.line(&complete(2));
    assert_eq!(
        out,
        json!([
            {"CheckpointDelayedDueToLocalData": {}},
            {"LogLine": {"severity": "INFO", "line": "Could not apply checkpoint due to local data. Will retry at completed upload or next checkpoint."}},
            {"UpdateSyncStatus": {"status": connected_status(synced(&[0]), json!({"buckets": {"prio_0": {"priority": 0, "at_last": 0, "since_last": 2, "target_count": 2}}}))}}
        ])
    );
    assert_eq!(
        query(&s.db, "SELECT id FROM ps_data__items ORDER BY id"),
        json!([["local"], ["s1"], ["s2"]])
    );
    assert_eq!(
        query(
            &s.db,
            "SELECT last_applied_op, last_op, count_at_last, count_since_last FROM ps_buckets"
        ),
        json!([[2, 2, 0, 2]])
    );
    assert_eq!(query(&s.db, "SELECT priority FROM ps_sync_state"), json!([[0]]));
    // Still not applied: pending, no DidCompleteSync.
    assert!(s.it.has_pending_checkpoint());
}

#[test]
fn priority_zero_fallback_applies_with_only_a_target_request_id() {
    let mut s = Session::connected();
    checkpoint_requests::set_target(&s.db, TargetArgument::Set(IdArgument(Some(9)))).unwrap();
    priority_zero_download(&mut s);
    let out = s.line(&complete(2));
    assert_eq!(
        names(&out),
        ["CheckpointDelayedDueToLocalData", "LogLine", "UpdateSyncStatus"]
    );
    assert_eq!(count(&s.db, "ps_data__items"), 2);
}

#[test]
fn mixed_priorities_get_no_priority_zero_fallback() {
    let mut s = Session::connected();
    local_write(&s.db, "local");
    s.line(&checkpoint(2, json!([bucket("b0", 1, 0, 1), bucket("b3", 2, 3, 1)])));
    s.line(&data("b0", json!([put(1, "items", "s1", 1, json!({}))])));
    s.line(&data("b3", json!([put(2, "items", "s2", 2, json!({}))])));
    assert_eq!(
        names(&s.line(&complete(2))),
        ["CheckpointDelayedDueToLocalData", "LogLine"]
    );
    assert_eq!(count(&s.db, "ps_data__items"), 1);
}

#[test]
fn empty_checkpoint_gets_no_priority_zero_fallback() {
    let mut s = Session::connected();
    local_write(&s.db, "local");
    s.line(&checkpoint(0, json!([])));
    assert_eq!(
        names(&s.line(&complete(0))),
        ["CheckpointDelayedDueToLocalData", "LogLine"]
    );
    assert_eq!(count(&s.db, "ps_sync_state"), 0);
}

#[test]
fn completed_upload_retry_runs_priority_zero_fallback_without_delay_instruction() {
    let mut s = Session::connected();
    local_write(&s.db, "local");
    priority_zero_download(&mut s);
    s.line(&complete(2));
    // No target any more, but `ps_crud` still holds the local write: the retry is refused too.
    s.db.execute_batch("DELETE FROM ps_kv WHERE key = 'target_checkpoint_request_id'")
        .unwrap();
    let out = s.completed_upload();
    assert_eq!(
        out[0],
        json!({"LogLine": {"severity": "WARNING", "line": "Could not apply pending checkpoint even after completed upload"}})
    );
    assert!(names(&out).iter().all(|n| n != "CheckpointDelayedDueToLocalData"));
    assert!(s.it.has_pending_checkpoint());
}

#[test]
fn applied_partial_checkpoint_clears_pending_checkpoint() {
    let mut s = three_priorities();
    local_write(&s.db, "local");
    s.line(&complete(3));
    assert!(s.it.has_pending_checkpoint());
    s.line(&partial(3, 0));
    assert!(!s.it.has_pending_checkpoint());
}

// ---- checkpoint, data, complete ----

#[test]
fn checkpoint_reports_download_progress_per_priority() {
    let mut s = Session::connected();
    let line = checkpoint(
        3,
        json!([bucket("p0", 1, 0, 1), bucket("p1", 2, 1, 1), bucket("p3", 3, 3, 4)]),
    );
    let outcome = s.try_line(&line).unwrap();
    assert_eq!(
        instructions(&outcome.instructions),
        json!([{"UpdateSyncStatus": {"status": connected_status(json!([]), downloading(&[(3, 0, 4), (1, 0, 1), (0, 0, 1)]))}}])
    );
    // Groups are keyed in descending priority order (a parsed Value would hide the order).
    let text = crate::sync::instruction::to_json(&outcome.instructions);
    let at = |key: &str| text.find(key).unwrap_or_else(|| panic!("{key} in {text}"));
    assert!(at("prio_3") < at("prio_1") && at("prio_1") < at("prio_0"), "{text}");
}

#[test]
fn data_line_stores_ops_and_counts_progress_without_publishing() {
    let mut s = Session::connected();
    s.line(&checkpoint(2, json!([bucket("b_items", 3268435457, 3, 2)])));
    let out = s.line(&data(
        "b_items",
        json!([
            put(1, "items", "i1", 268435457, json!({"name": "apple"})),
            put(2, "items", "i2", 3000000000, json!({"name": "pear"}))
        ]),
    ));
    assert_eq!(
        out,
        json!([{"UpdateSyncStatus": {"status": connected_status(json!([]), downloading(&[(3, 2, 2)]))}}])
    );
    assert_eq!(
        query(
            &s.db,
            "SELECT name, last_applied_op, last_op, add_checksum, op_checksum, count_since_last FROM ps_buckets"
        ),
        json!([["b_items", 0, 2, 0, 3268435457u64, 2]])
    );
    assert_eq!(
        query(
            &s.db,
            "SELECT op_id, row_type, row_id, hash FROM ps_oplog ORDER BY op_id"
        ),
        json!([[1, "items", "i1", 268435457], [2, "items", "i2", -1294967296]])
    );
    assert_eq!(count(&s.db, "ps_data__items"), 0);
}

#[test]
fn checkpoint_then_data_then_complete_publishes_rows() {
    let mut s = Session::connected();
    s.line(&checkpoint(
        3,
        json!([bucket("b_items", 3268435457, 3, 2), bucket("b_lists", 123, 3, 1)]),
    ));
    s.line(&data(
        "b_items",
        json!([
            put(1, "items", "i1", 268435457, json!({"name": "apple", "qty": 1})),
            put(2, "items", "i2", 3000000000, json!({"name": "pear", "qty": 2}))
        ]),
    ));
    s.line(&data(
        "b_lists",
        json!([put(3, "lists", "l1", 123, json!({"title": "groceries"}))]),
    ));
    let out = s.line(&complete(3));
    assert_eq!(
        out,
        json!([
            validated(),
            {"DidCompleteSync": {}},
            {"UpdateSyncStatus": {"status": connected_status(synced(&[i32::MAX as i64]), Value::Null)}}
        ])
    );
    assert_eq!(
        query(&s.db, "SELECT name, qty FROM items ORDER BY id"),
        json!([["apple", 1], ["pear", 2]])
    );
    assert_eq!(query(&s.db, "SELECT title FROM lists"), json!([["groceries"]]));
    assert_eq!(
        query(
            &s.db,
            "SELECT name, last_applied_op, last_op, count_at_last, count_since_last FROM ps_buckets ORDER BY id"
        ),
        json!([["b_items", 3, 3, 2, 0], ["b_lists", 3, 3, 1, 0]])
    );
    assert_eq!(query(&s.db, "SELECT priority FROM ps_sync_state"), json!([[i32::MAX]]));
}

#[test]
fn checkpoint_complete_without_checkpoint_is_a_protocol_error() {
    let mut s = Session::connected();
    let err = s.line_error(&complete(1));
    assert_eq!(
        err.to_string(),
        "Sync protocol error: Received checkpoint complete without previous checkpoint. cause: unknown"
    );
    assert_eq!(err.code(), rusqlite::ffi::SQLITE_ABORT);
}

#[test]
fn partial_complete_without_checkpoint_is_invalid_state() {
    let mut s = Session::connected();
    let err = s.line_error(&partial(1, 0));
    assert_eq!(
        err.to_string(),
        "invalid state: Received checkpoint complete without previous checkpoint"
    );
    assert_eq!(err.code(), rusqlite::ffi::SQLITE_MISUSE);
}

#[test]
fn checkpoint_diff_without_checkpoint_is_a_protocol_error() {
    let mut s = Session::connected();
    let err = s.line_error(&diff(1, json!([]), &[]));
    assert_eq!(
        err.to_string(),
        "Sync protocol error: Received checkpoint_diff without previous checkpoint. cause: unknown"
    );
}

#[test]
fn first_checkpoint_deletes_buckets_missing_since_start_then_since_previous_checkpoint() {
    let mut s = Session::connected();
    s.line(&checkpoint(2, json!([bucket("A", 1, 3, 1), bucket("B", 2, 3, 1)])));
    s.line(&data("A", json!([put(1, "items", "a", 1, json!({}))])));
    s.line(&data("B", json!([put(2, "items", "b", 2, json!({}))])));
    s.line(&complete(2));

    let (mut s, _) = Session::start_with(s.db, "{}");
    s.line(&checkpoint(2, json!([bucket("A", 1, 3, 1)])));
    assert_eq!(query(&s.db, "SELECT name FROM ps_buckets"), json!([["A"]]));
    assert_eq!(
        query(&s.db, "SELECT row_type, row_id FROM ps_updated_rows"),
        json!([["items", "b"]])
    );
    s.line(&checkpoint(2, json!([bucket("C", 0, 3, 0)])));
    assert_eq!(count(&s.db, "ps_buckets"), 0);
    s.line(&complete(2));
    assert_eq!(count(&s.db, "ps_data__items"), 0);
}

#[test]
fn checkpoint_diff_updates_and_removes_buckets() {
    let mut s = synced_a1();
    let out = s.line(&diff(5, json!([bucket("b_items", 3268435459, 3, 4)]), &[]));
    // b_items now expects 4 ops of which 2 are known: 2 to go; b_lists is unchanged.
    assert_eq!(
        out,
        json!([{"UpdateSyncStatus": {"status": connected_status(synced(&[i32::MAX as i64]), downloading(&[(3, 0, 2)]))}}])
    );
    s.line(&data(
        "b_items",
        json!([
            put(4, "items", "i1", 7, json!({"name": "apple", "qty": 5})),
            remove(5, "items", "i2", -5)
        ]),
    ));
    assert_eq!(s.line(&complete(5))[0], validated());
    assert_eq!(query(&s.db, "SELECT id, qty FROM items"), json!([["i1", 5]]));
    assert_eq!(
        query(
            &s.db,
            "SELECT name, last_applied_op, add_checksum, op_checksum, count_at_last FROM ps_buckets ORDER BY id"
        ),
        json!([["b_items", 5, 3268435452u64, 7, 4], ["b_lists", 5, 0, 123, 1]])
    );

    s.line(&diff(5, json!([]), &["b_lists"]));
    assert_eq!(query(&s.db, "SELECT name FROM ps_buckets"), json!([["b_items"]]));
    assert_eq!(
        query(&s.db, "SELECT row_type, row_id FROM ps_updated_rows"),
        json!([["lists", "l1"]])
    );
    assert_eq!(s.line(&complete(5))[0], validated());
    assert_eq!(count(&s.db, "ps_data__lists"), 0);
}

/// 0.5.4: only the bucket that shrank restarts its counters (0.5.3 reset every bucket).
#[test]
fn shrinking_bucket_resets_only_its_own_progress_counters() {
    let mut s = Session::connected();
    s.line(&checkpoint(5, json!([bucket("A", 3, 3, 2), bucket("B", 12, 3, 3)])));
    s.line(&data(
        "A",
        json!([put(1, "items", "a1", 1, json!({})), put(2, "items", "a2", 2, json!({}))]),
    ));
    s.line(&data(
        "B",
        json!([
            put(3, "items", "b1", 3, json!({})),
            put(4, "items", "b2", 4, json!({})),
            put(5, "items", "b3", 5, json!({}))
        ]),
    ));
    s.line(&complete(5));
    // A compacted to one op: its counters restart (target 1), B keeps at_last 3 (target 0 left).
    let out = s.line(&diff(6, json!([bucket("A", 3, 3, 1)]), &[]));
    assert_eq!(status_of(&out)["downloading"], downloading(&[(3, 0, 1)]));
    assert_eq!(
        query(
            &s.db,
            "SELECT name, count_at_last, count_since_last FROM ps_buckets ORDER BY name"
        ),
        json!([["A", 0, 0], ["B", 3, 0]])
    );
}

/// The observed case of the per-bucket reset: stored `a(10,5)`, `b(3,1)`, `c(7,0)`, new counts
/// a 12, b 10, c 2 (c at priority 1): a and c shrank and restart, b keeps its counters.
#[test]
fn progress_reset_zeroes_each_overflowing_bucket_in_memory_and_table() {
    let mut s = Session::connected();
    s.db.execute_batch(
        "INSERT INTO ps_buckets(name, count_at_last, count_since_last) VALUES ('a', 10, 5), ('b', 3, 1), ('c', 7, 0)",
    )
    .unwrap();
    let out = s.line(&checkpoint(
        1,
        json!([bucket("a", 0, 3, 12), bucket("b", 0, 3, 10), bucket("c", 0, 1, 2)]),
    ));
    assert_eq!(
        status_of(&out)["downloading"],
        json!({"buckets": {
            "prio_3": {"priority": 3, "at_last": 0, "since_last": 1, "target_count": 19},
            "prio_1": {"priority": 1, "at_last": 0, "since_last": 0, "target_count": 2}
        }})
    );
    assert_eq!(
        query(
            &s.db,
            "SELECT name, count_at_last, count_since_last FROM ps_buckets ORDER BY name"
        ),
        json!([["a", 0, 0], ["b", 3, 1], ["c", 0, 0]])
    );
}

// ---- checksums ----

#[test]
fn checksum_mismatch_deletes_bucket_and_reports_error() {
    let mut s = Session::connected();
    s.line(&checkpoint(
        2,
        json!([bucket("good", 10, 3, 1), bucket("bad", 999, 3, 1)]),
    ));
    s.line(&data("good", json!([put(1, "items", "a", 10, json!({"name": "a"}))])));
    s.line(&data("bad", json!([put(2, "items", "b", 20, json!({"name": "b"}))])));
    let out = s.final_line(&complete(2));
    // 0.5.4: the disconnected status comes immediately before CloseSyncStream.
    assert_eq!(
        out,
        json!([
            {"LogLine": {"severity": "WARNING", "line": "Could not apply checkpoint, Checksums didn't match, failed for: bad (expected 0x000003e7, got 0x00000014 = 0x00000014 (op) + 0x00000000 (add))"}},
            {"UpdateSyncStatus": {"status": {"connected": false, "connecting": false, "priority_status": [], "downloading": null, "streams": []}}},
            {"CloseSyncStream": {"hide_disconnect": false}}
        ])
    );
    assert_eq!(
        query(
            &s.db,
            "SELECT name, last_applied_op, last_op, add_checksum, op_checksum FROM ps_buckets"
        ),
        json!([["good", 0, 1, 0, 10]])
    );
    assert_eq!(
        query(&s.db, "SELECT row_type, row_id FROM ps_updated_rows"),
        json!([["items", "b"]])
    );
    assert_eq!(count(&s.db, "ps_data__items"), 0);
    assert_eq!(count(&s.db, "ps_sync_state"), 0);

    // The next request no longer lists the failed bucket.
    let (_s, out) = Session::start_with(s.db, "{}");
    assert_eq!(
        out[1]["EstablishSyncStream"]["request"]["buckets"],
        json!([{"name": "good", "after": "1"}])
    );
}

#[test]
fn checksum_failures_of_several_buckets_are_listed_together() {
    let mut s = Session::connected();
    s.line(&checkpoint(0, json!([bucket("x", 1, 3, 0), bucket("y", 2, 3, 0)])));
    let out = s.final_line(&complete(0));
    assert_eq!(
        out[0]["LogLine"]["line"],
        json!("Could not apply checkpoint, Checksums didn't match, failed for: x (expected 0x00000001, got 0x00000000 = 0x00000000 (op) + 0x00000000 (add)), y (expected 0x00000002, got 0x00000000 = 0x00000000 (op) + 0x00000000 (add))")
    );
}

// ---- partial checkpoints ----

fn three_priorities() -> Session {
    let mut s = Session::connected();
    s.line(&checkpoint(
        3,
        json!([bucket("p0", 1, 0, 1), bucket("p1", 2, 1, 1), bucket("p3", 3, 3, 1)]),
    ));
    s.line(&data("p0", json!([put(1, "items", "x0", 1, json!({"name": "x0"}))])));
    s.line(&data("p1", json!([put(2, "items", "x1", 2, json!({"name": "x1"}))])));
    s.line(&data("p3", json!([put(3, "items", "x3", 3, json!({"name": "x3"}))])));
    s
}

#[test]
fn partial_checkpoint_complete_publishes_only_its_priority() {
    let mut s = three_priorities();
    let out = s.line(&partial(3, 1));
    assert_eq!(
        out,
        json!([{"UpdateSyncStatus": {"status": connected_status(synced(&[1]), downloading(&[(3, 1, 1), (1, 1, 1), (0, 1, 1)]))}}])
    );
    assert_eq!(
        query(
            &s.db,
            "SELECT name, last_applied_op, last_op FROM ps_buckets ORDER BY name"
        ),
        json!([["p0", 3, 3], ["p1", 3, 3], ["p3", 0, 3]])
    );
    assert_eq!(
        query(&s.db, "SELECT id FROM ps_data__items ORDER BY id"),
        json!([["x0"], ["x1"]])
    );
    assert_eq!(query(&s.db, "SELECT priority FROM ps_sync_state"), json!([[1]]));

    let out = s.line(&complete(3));
    assert_eq!(names(&out), ["LogLine", "DidCompleteSync", "UpdateSyncStatus"]);
    assert_eq!(status_of(&out)["priority_status"], synced(&[i32::MAX as i64]));
    assert_eq!(count(&s.db, "ps_data__items"), 3);
    assert_eq!(query(&s.db, "SELECT priority FROM ps_sync_state"), json!([[i32::MAX]]));
}

#[test]
fn partial_checksum_mismatch_deletes_only_buckets_in_its_range() {
    let mut s = three_priorities();
    s.line(&partial(3, 1));
    s.line(&complete(3));
    s.line(&diff(4, json!([bucket("p0", 77, 0, 2)]), &[]));
    s.line(&data("p0", json!([put(4, "items", "x0", 5, json!({}))])));
    let out = s.final_line(&partial(4, 0));
    // 0.5.4: the same text as for a complete checkpoint, then the disconnected status.
    assert_eq!(
        out,
        json!([
            {"LogLine": {"severity": "WARNING", "line": "Could not apply checkpoint, Checksums didn't match, failed for: p0 (expected 0x0000004d, got 0x00000006 = 0x00000005 (op) + 0x00000001 (add))"}},
            {"UpdateSyncStatus": {"status": {"connected": false, "connecting": false, "priority_status": synced(&[i32::MAX as i64]), "downloading": null, "streams": []}}},
            {"CloseSyncStream": {"hide_disconnect": false}}
        ])
    );
    assert_eq!(
        query(&s.db, "SELECT name FROM ps_buckets ORDER BY name"),
        json!([["p1"], ["p3"]])
    );
}

/// 0.5.4: a refused partial checkpoint reports `CheckpointDelayedDueToLocalData` (0.5.3: `[]`).
#[test]
fn partial_checkpoint_with_closed_write_gate_reports_delay() {
    let mut s = three_priorities();
    local_write(&s.db, "local");
    assert_eq!(s.line(&partial(3, 1)), json!([{"CheckpointDelayedDueToLocalData": {}}]));
    assert_eq!(
        query(&s.db, "SELECT id FROM ps_data__items ORDER BY id"),
        json!([["local"]])
    );
    assert_eq!(count(&s.db, "ps_sync_state"), 0);
}

#[test]
fn priority_zero_partial_checkpoint_ignores_closed_write_gate() {
    let mut s = three_priorities();
    local_write(&s.db, "local");
    let out = s.line(&partial(3, 0));
    assert_eq!(status_of(&out)["priority_status"], synced(&[0]));
    assert_eq!(
        query(&s.db, "SELECT id FROM ps_data__items ORDER BY id"),
        json!([["local"], ["x0"]])
    );
}

// ---- the local-write gate and completed_upload ----

#[test]
fn closed_write_gate_holds_checkpoint_until_completed_upload() {
    let mut s = synced_one_row();
    local_write(&s.db, "local1");
    assert_eq!(checkpoint_requests::target(&s.db).unwrap(), Some(MAX_OP_ID));
    s.db.execute_batch("DELETE FROM ps_crud").unwrap(); // uploaded

    s.line(&diff_with_write(
        3,
        8,
        json!([bucket("b", 3, 3, 2), bucket("hi", 5, 0, 1)]),
        &[],
    ));
    s.line(&data(
        "b",
        json!([put(2, "items", "local1", 2, json!({"name": "server", "qty": 2}))]),
    ));
    s.line(&data("hi", json!([put(3, "lists", "L", 5, json!({"title": "hp"}))])));
    let out = s.line(&partial(3, 0));
    assert_eq!(status_of(&out)["priority_status"], synced(&[0, i32::MAX as i64]));
    assert_eq!(query(&s.db, "SELECT id FROM ps_data__lists"), json!([["L"]]));

    assert_eq!(
        s.line(&complete(3)),
        json!([
            {"CheckpointDelayedDueToLocalData": {}},
            {"LogLine": {"severity": "INFO", "line": "Could not apply checkpoint due to local data. Will retry at completed upload or next checkpoint."}}
        ])
    );
    assert_eq!(query(&s.db, "SELECT qty FROM items WHERE id = 'local1'"), json!([[1]]));
    assert_eq!(
        query(
            &s.db,
            "SELECT key, value FROM ps_kv WHERE key != 'client_id' ORDER BY key"
        ),
        json!([
            ["last_seen_checkpoint_request_id", 8],
            ["target_checkpoint_request_id", MAX_OP_ID]
        ])
    );

    let previous = checkpoint_requests::set_target(&s.db, TargetArgument::Set(IdArgument(Some(8)))).unwrap();
    assert_eq!(previous, Some(MAX_OP_ID));
    let out = s.completed_upload();
    let mut status = connected_status(synced(&[i32::MAX as i64]), Value::Null);
    status["internal_last_applied_checkpoint_request_id"] = json!("8");
    assert_eq!(
        out,
        json!([
            {"LogLine": {"severity": "DEBUG", "line": "Applied pending checkpoint after completed upload"}},
            {"LogLine": {"severity": "DEBUG", "line": "Applied checkpoint request id 8"}},
            {"DidCompleteSync": {"applied_checkpoint_request_id": "8"}},
            {"UpdateSyncStatus": {"status": status}}
        ])
    );
    assert_eq!(query(&s.db, "SELECT qty FROM items WHERE id = 'local1'"), json!([[2]]));
    assert_eq!(
        query(
            &s.db,
            "SELECT key, value FROM ps_kv WHERE key != 'client_id' ORDER BY key"
        ),
        json!([
            ["last_applied_checkpoint_request_id", 8],
            ["last_seen_checkpoint_request_id", 8],
            ["target_checkpoint_request_id", 8]
        ])
    );
    // The pending checkpoint was consumed.
    assert_eq!(s.completed_upload(), json!([]));
}

/// 0.5.4: a pending checkpoint behind the target is kept for a later retry (0.5.3 dropped it).
#[test]
fn completed_upload_keeps_pending_checkpoint_behind_target() {
    let mut s = Session::connected();
    local_write(&s.db, "local1");
    s.db.execute_batch("DELETE FROM ps_crud").unwrap();
    checkpoint_requests::set_target(&s.db, TargetArgument::Set(IdArgument(Some(7)))).unwrap();

    s.line(&checkpoint(1, json!([bucket("b", 1, 3, 1)])));
    s.line(&data("b", json!([put(1, "items", "s1", 1, json!({}))])));
    assert_eq!(
        names(&s.line(&complete(1))),
        ["CheckpointDelayedDueToLocalData", "LogLine"]
    );
    // write_checkpoint null < target 7: nothing is applied, the checkpoint stays pending.
    assert_eq!(s.completed_upload(), json!([]));
    assert_eq!(query(&s.db, "SELECT id FROM ps_data__items"), json!([["local1"]]));
    assert!(s.it.has_pending_checkpoint());

    s.line(&diff_with_write(1, 7, json!([]), &[]));
    let out = s.line(&complete(1));
    assert_eq!(
        out.as_array().unwrap()[..3],
        json!([
            validated(),
            {"LogLine": {"severity": "DEBUG", "line": "Applied checkpoint request id 7"}},
            {"DidCompleteSync": {"applied_checkpoint_request_id": "7"}}
        ])
        .as_array()
        .unwrap()[..]
    );
    assert_eq!(
        status_of(&out)["internal_last_applied_checkpoint_request_id"],
        json!("7")
    );
    // The local write queued its row for re-evaluation; the service has no op for it.
    assert_eq!(
        query(&s.db, "SELECT id FROM ps_data__items ORDER BY id"),
        json!([["s1"]])
    );
}

#[test]
fn completed_upload_with_local_changes_left_keeps_data_back() {
    let mut s = Session::connected();
    local_write(&s.db, "local1"); // stays in ps_crud
    s.line(&checkpoint_with_write(1, 8, json!([bucket("b", 1, 3, 1)])));
    s.line(&data("b", json!([put(1, "items", "s1", 1, json!({}))])));
    s.line(&complete(1));
    checkpoint_requests::set_target(&s.db, TargetArgument::Set(IdArgument(Some(8)))).unwrap();
    assert_eq!(
        s.completed_upload(),
        json!([{"LogLine": {"severity": "WARNING", "line": "Could not apply pending checkpoint even after completed upload"}}])
    );
    assert_eq!(query(&s.db, "SELECT id FROM ps_data__items"), json!([["local1"]]));
    // 0.5.4: still pending, so every retry logs the warning again.
    assert_eq!(
        s.completed_upload(),
        json!([{"LogLine": {"severity": "WARNING", "line": "Could not apply pending checkpoint even after completed upload"}}])
    );
}

/// The observed 0.5.4 case: a checkpoint with write checkpoint 5 held back by a local write; the
/// upload empties `ps_crud` but the target stays MAX (`[]`, kept); once the target is 5 the
/// retry applies it.
#[test]
fn completed_upload_applies_kept_checkpoint_once_target_reached() {
    let mut s = Session::connected();
    local_write(&s.db, "local1");
    s.line(&checkpoint_with_write(1, 5, json!([bucket("b", 1, 3, 1)])));
    s.line(&data("b", json!([put(1, "items", "s1", 1, json!({}))])));
    s.line(&complete(1));
    s.db.execute_batch("DELETE FROM ps_crud").unwrap();
    assert_eq!(s.completed_upload(), json!([]));
    checkpoint_requests::set_target(&s.db, TargetArgument::Set(IdArgument(Some(5)))).unwrap();
    let out = s.completed_upload();
    assert_eq!(
        names(&out),
        ["LogLine", "LogLine", "DidCompleteSync", "UpdateSyncStatus"]
    );
    assert_eq!(
        out[2],
        json!({"DidCompleteSync": {"applied_checkpoint_request_id": "5"}})
    );
    assert!(!s.it.has_pending_checkpoint());
    assert_eq!(s.completed_upload(), json!([]));
}

#[test]
fn completed_upload_without_pending_checkpoint_does_nothing() {
    let mut s = synced_one_row();
    assert_eq!(s.completed_upload(), json!([]));
}

#[test]
fn new_checkpoint_drops_held_back_checkpoint() {
    let mut s = Session::connected();
    local_write(&s.db, "local1");
    s.line(&checkpoint(1, json!([bucket("b", 1, 3, 1)])));
    s.line(&data("b", json!([put(1, "items", "s1", 1, json!({}))])));
    assert_eq!(
        names(&s.line(&complete(1))),
        ["CheckpointDelayedDueToLocalData", "LogLine"]
    );
    s.line(&checkpoint(1, json!([bucket("b", 1, 3, 1)])));
    // Gate open again, but the held-back checkpoint was replaced by one not yet complete.
    s.db.execute_batch("DELETE FROM ps_crud").unwrap();
    checkpoint_requests::set_target(&s.db, TargetArgument::Set(IdArgument(Some(0)))).unwrap();
    assert_eq!(s.completed_upload(), json!([]));
    assert_eq!(query(&s.db, "SELECT id FROM ps_data__items"), json!([["local1"]]));
}

#[test]
fn applied_write_checkpoint_reports_request_id() {
    let mut s = Session::connected();
    s.line(&checkpoint_with_write(1, 7, json!([bucket("b", 1, 3, 1)])));
    s.line(&data("b", json!([put(1, "items", "s1", 1, json!({}))])));
    let out = s.line(&complete(1));
    let mut status = connected_status(synced(&[i32::MAX as i64]), Value::Null);
    status["internal_last_applied_checkpoint_request_id"] = json!("7");
    assert_eq!(
        out,
        json!([
            validated(),
            {"LogLine": {"severity": "DEBUG", "line": "Applied checkpoint request id 7"}},
            {"DidCompleteSync": {"applied_checkpoint_request_id": "7"}},
            {"UpdateSyncStatus": {"status": status}}
        ])
    );
    assert_eq!(
        query(
            &s.db,
            "SELECT key, value FROM ps_kv WHERE key != 'client_id' ORDER BY key"
        ),
        json!([
            ["last_applied_checkpoint_request_id", 7],
            ["last_seen_checkpoint_request_id", 7]
        ])
    );
    // A complete checkpoint without write checkpoint clears the id again.
    s.line(&checkpoint(1, json!([bucket("b", 1, 3, 1)])));
    let out = s.line(&complete(1));
    assert!(status_of(&out)
        .get("internal_last_applied_checkpoint_request_id")
        .is_none());
}

// ---- healing a stuck write gate at start (ours, docs/decisions.md) ----

/// The state a crash between emptying `ps_crud` and storing the write checkpoint leaves: `items/s1`
/// synced, a local write to it uploaded (queue empty), the target still "after upload", and
/// checkpoint request 5 posted before the write.
fn stuck_gate() -> rusqlite::Connection {
    let s = synced_one_row();
    s.db.execute_batch("INSERT INTO ps_kv(key, value) VALUES ('last_requested_checkpoint_request_id', 5)")
        .unwrap();
    s.db.execute("UPDATE items SET name = 'mine' WHERE id = 's1'", [])
        .unwrap();
    s.db.execute_batch("DELETE FROM ps_crud").unwrap(); // uploaded; the process dies here
    assert_eq!(checkpoint_requests::target(&s.db).unwrap(), Some(MAX_OP_ID));
    s.db
}

fn heal_record(db: &rusqlite::Connection) -> Value {
    let text: String = db
        .query_row("SELECT value FROM ps_kv WHERE key = 'healed_write_gate'", [], |r| {
            r.get(0)
        })
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

const STUCK: &str = "The local-write gate was closed with nothing to upload and no write checkpoint requested (an upload was interrupted before its write checkpoint was stored)";

#[test]
fn start_in_requests_mode_heals_stuck_gate_with_a_fresh_checkpoint_request() {
    let (mut s, out) = Session::start_with(stuck_gate(), r#"{"checkpoint_mode": "requests"}"#);
    // One more than the last id posted: the service may have acknowledged 5 before the upload.
    assert_eq!(
        out[0],
        json!({"LogLine": {"severity": "INFO", "line": format!("{STUCK}; waiting for checkpoint request 6 instead")}})
    );
    assert_eq!(
        out[2]["EstablishSyncStream"]["checkpoint_request"]["checkpoint_request_id"],
        json!("6")
    );
    assert_eq!(checkpoint_requests::target(&s.db).unwrap(), Some(6));
    let record = heal_record(&s.db);
    assert_eq!(record["mode"], json!("requests"));
    assert_eq!(record["action"], json!("requested"));
    assert_eq!(record["checkpoint_request_id"], json!(6));
    assert!(record["at"].as_i64().unwrap() > 0);

    // A checkpoint from before the service saw request 6 is still held back...
    s.it.connection_established();
    s.line(&checkpoint_with_write(2, 5, json!([bucket("b", 3, 3, 2)])));
    s.line(&data("b", json!([put(2, "items", "s1", 2, json!({"name": "stale"}))])));
    let out = s.line(&complete(2));
    assert_eq!(names(&out)[0], "CheckpointDelayedDueToLocalData");
    assert_eq!(query(&s.db, "SELECT name FROM items"), json!([["mine"]]));
    // ... and the one that acknowledges it opens the gate.
    s.line(&diff_with_write(3, 6, json!([bucket("b", 6, 3, 3)]), &[]));
    s.line(&data("b", json!([put(3, "items", "s1", 3, json!({"name": "mine"}))])));
    let out = s.line(&complete(3));
    assert!(names(&out).contains(&"DidCompleteSync".to_owned()), "{out}");
    assert_eq!(query(&s.db, "SELECT name FROM items"), json!([["mine"]]));
    assert_eq!(
        checkpoint_requests::read(&s.db, "last_applied_checkpoint_request_id").unwrap(),
        Some(6)
    );
}

#[test]
fn start_in_requests_mode_heals_stuck_gate_without_any_earlier_request() {
    let db = stuck_gate();
    db.execute_batch("DELETE FROM ps_kv WHERE key = 'last_requested_checkpoint_request_id'")
        .unwrap();
    let (s, out) = Session::start_with(db, r#"{"checkpoint_mode": "requests"}"#);
    // 1 may have been posted by an earlier stream that was never seeded: 2 is fresh.
    assert_eq!(
        out[2]["EstablishSyncStream"]["checkpoint_request"]["checkpoint_request_id"],
        json!("2")
    );
    assert_eq!(checkpoint_requests::target(&s.db).unwrap(), Some(2));
}

#[test]
fn restart_after_heal_resends_the_healed_request_without_healing_again() {
    let (s, _) = Session::start_with(stuck_gate(), r#"{"checkpoint_mode": "requests"}"#);
    let record = heal_record(&s.db);
    let (s, out) = Session::start_with(s.db, r#"{"checkpoint_mode": "requests"}"#);
    assert_eq!(names(&out), ["UpdateSyncStatus", "EstablishSyncStream"]);
    assert_eq!(
        out[1]["EstablishSyncStream"]["checkpoint_request"]["checkpoint_request_id"],
        json!("6")
    );
    assert_eq!(heal_record(&s.db), record);
}

#[test]
fn start_in_legacy_mode_leaves_stuck_gate_closed_for_the_client() {
    let (mut s, out) = Session::start_with(stuck_gate(), "{}");
    assert_eq!(
        out[0],
        json!({"LogLine": {"severity": "WARNING", "line": format!("{STUCK}; checkpoints wait until the client fetches a write checkpoint")}})
    );
    assert_eq!(names(&out)[1..], ["UpdateSyncStatus", "EstablishSyncStream"]);
    // Reopening would apply checkpoints that may not contain the uploaded write yet.
    assert_eq!(checkpoint_requests::target(&s.db).unwrap(), Some(MAX_OP_ID));
    let record = heal_record(&s.db);
    assert_eq!(
        (&record["mode"], &record["action"]),
        (&json!("legacy"), &json!("left to the client"))
    );

    s.it.connection_established();
    s.line(&checkpoint_with_write(2, 9, json!([bucket("b", 3, 3, 2)])));
    s.line(&data("b", json!([put(2, "items", "s1", 2, json!({"name": "stale"}))])));
    assert_eq!(names(&s.line(&complete(2)))[0], "CheckpointDelayedDueToLocalData");
    assert_eq!(query(&s.db, "SELECT name FROM items"), json!([["mine"]]));
    // The client's write checkpoint (legacy: GET /write-checkpoint2.json) opens it as before.
    checkpoint_requests::set_target(&s.db, TargetArgument::Set(IdArgument(Some(9)))).unwrap();
    assert!(names(&s.completed_upload()).contains(&"DidCompleteSync".to_owned()));
}

#[test]
fn start_with_queued_uploads_is_not_a_stuck_gate() {
    for mode in [r#"{"checkpoint_mode": "requests"}"#, "{}"] {
        let db = stuck_gate();
        local_write(&db, "queued");
        let (s, out) = Session::start_with(db, mode);
        assert_eq!(names(&out), ["UpdateSyncStatus", "EstablishSyncStream"], "{mode}");
        assert_eq!(checkpoint_requests::target(&s.db).unwrap(), Some(MAX_OP_ID));
        assert_eq!(count(&s.db, "ps_crud"), 1);
        assert_eq!(checkpoint_requests::last_heal(&s.db).unwrap(), None);
    }
}

#[test]
fn start_with_outstanding_write_checkpoint_is_not_a_stuck_gate() {
    let db = stuck_gate();
    checkpoint_requests::set_target(&db, TargetArgument::Set(IdArgument(Some(7)))).unwrap();
    let (s, out) = Session::start_with(db, r#"{"checkpoint_mode": "requests"}"#);
    assert_eq!(names(&out), ["UpdateSyncStatus", "EstablishSyncStream"]);
    assert_eq!(
        out[1]["EstablishSyncStream"]["checkpoint_request"]["checkpoint_request_id"],
        json!("7")
    );
    assert_eq!(checkpoint_requests::last_heal(&s.db).unwrap(), None);
}

// ---- token expiry ----

#[test]
fn token_expires_in_zero_ends_iteration_with_fetch_credentials() {
    for seconds in [0, -5] {
        let mut s = Session::connected();
        assert_eq!(
            s.final_line(&token_expires_in(seconds)),
            json!([
                {"FetchCredentials": {"did_expire": true}},
                {"UpdateSyncStatus": {"status": {"connected": false, "connecting": false, "priority_status": [], "downloading": null, "streams": []}}},
                {"CloseSyncStream": {"hide_disconnect": false}}
            ]),
            "token_expires_in {seconds}"
        );
    }
}

#[test]
fn token_expires_in_thirty_prefetches_credentials() {
    let mut s = Session::connected();
    assert_eq!(
        s.line(&token_expires_in(30)),
        json!([{"FetchCredentials": {"did_expire": false}}])
    );
    assert_eq!(s.line(&token_expires_in(31)), json!([]));
}

#[test]
fn token_expires_in_refreshes_ttl_of_active_streams() {
    let db = open_db();
    subscribe(&db, r#"{"subscribe": {"stream": {"name": "todos"}, "ttl": 3600}}"#);
    let (mut s, _) = Session::start_with(db, r#"{"active_streams": [{"name": "todos"}]}"#);
    let soon = now_micros() + 1_000_000;
    s.db.execute("UPDATE ps_stream_subscriptions SET expires_at = ?", [soon])
        .unwrap();
    s.line(&token_expires_in(30));
    let expires_at: i64 =
        s.db.query_row("SELECT expires_at FROM ps_stream_subscriptions", [], |r| r.get(0))
            .unwrap();
    assert!(expires_at >= soon + 3_000_000_000, "{expires_at}");
}

#[test]
fn token_expires_in_above_thirty_closes_stream_when_subscriptions_changed() {
    let db = open_db();
    subscribe(&db, r#"{"subscribe": {"stream": {"name": "todos"}}}"#);
    let (mut s, _) = Session::start_with(db, "{}");
    assert_eq!(s.line(&token_expires_in(600)).as_array().unwrap().len(), 1); // status only
    subscribe(&s.db, r#"{"unsubscribe": {"name": "todos"}}"#);
    // 0.5.4: the disconnected status precedes the close.
    assert_eq!(
        names(&s.final_line(&token_expires_in(600))),
        ["UpdateSyncStatus", "CloseSyncStream"]
    );
    assert_eq!(count(&s.db, "ps_stream_subscriptions"), 0);
}

// ---- streams ----

#[test]
fn update_subscriptions_closes_stream_only_when_request_changes() {
    let db = open_db();
    subscribe(
        &db,
        r#"{"subscribe": {"stream": {"name": "todos", "params": {"list": "L1"}}}}"#,
    );
    let (mut s, _) = Session::start_with(db, "{}");
    let outcome =
        s.it.update_subscriptions(&s.db, keys(r#"[{"name": "todos", "params": {"list": "L1"}}]"#))
            .unwrap();
    assert!(!outcome.ended);
    assert!(outcome.instructions.is_empty());

    subscribe(
        &s.db,
        r#"{"subscribe": {"stream": {"name": "todos", "params": {"list": "L2"}}}}"#,
    );
    let outcome = s.it.update_subscriptions(&s.db, vec![]).unwrap();
    assert!(outcome.ended);
    // 0.5.4: the disconnected status (no longer connecting) precedes the close.
    let out = instructions(&outcome.instructions);
    assert_eq!(names(&out), ["UpdateSyncStatus", "CloseSyncStream"]);
    assert_eq!(out[1], json!({"CloseSyncStream": {"hide_disconnect": true}}));
    let status = status_of(&out);
    assert_eq!(
        (&status["connected"], &status["connecting"]),
        (&json!(false), &json!(false))
    );
}

#[test]
fn checkpoint_reconciles_streams_and_sync_marks_them_synced() {
    let db = open_db();
    subscribe(
        &db,
        r#"{"subscribe": {"stream": {"name": "todos", "params": {"list": "L1"}}, "ttl": 3600, "priority": 1}}"#,
    );
    subscribe(&db, r#"{"subscribe": {"stream": {"name": "lists"}}}"#);
    let (mut s, out) = Session::start_with(
        db,
        r#"{"active_streams": [{"name": "todos", "params": {"list": "L1"}}]}"#,
    );
    assert_eq!(
        out[1]["EstablishSyncStream"]["request"]["streams"]["subscriptions"],
        json!([
            {"stream": "todos", "parameters": {"list": "L1"}, "override_priority": 1},
            {"stream": "lists", "parameters": null, "override_priority": null}
        ])
    );
    assert_eq!(status_of(&out)["streams"].as_array().unwrap().len(), 2);

    let out = s.line(r#"{"checkpoint":{"last_op_id":"2","buckets":[{"bucket":"todos_L1","checksum":1,"priority":1,"count":1,"subscriptions":[{"sub":0}]},{"bucket":"glob","checksum":2,"priority":3,"count":1,"subscriptions":[{"default":0}]}],"streams":[{"name":"global","is_default":true,"errors":[]},{"name":"todos","is_default":false,"errors":[]},{"name":"lists","is_default":false,"errors":[{"subscription":1,"message":"bad params"}]}]}}"#);
    assert_eq!(
        out[0],
        json!({"LogLine": {"severity": "WARNING", "line": "Subscription to stream lists (without parameters) could not be resolved: bad params"}})
    );
    let streams = status_of(&out)["streams"].clone();
    let summary: Vec<Value> = streams
        .as_array()
        .unwrap()
        .iter()
        .map(|st| {
            json!([
                st["name"],
                st["priority"],
                st["active"],
                st["is_default"],
                st["has_explicit_subscription"],
                st["progress"]
            ])
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            json!(["todos", 1, true, false, true, {"total": 1, "downloaded": 0}]),
            json!(["lists", null, true, false, true, {"total": 0, "downloaded": 0}]),
            json!(["global", 3, true, true, false, {"total": 1, "downloaded": 0}]),
        ]
    );
    assert_eq!(
        query(
            &s.db,
            "SELECT id, stream_name, active, is_default, ttl FROM ps_stream_subscriptions ORDER BY id"
        ),
        json!([
            [1, "todos", 1, 0, 3600],
            [2, "lists", 1, 0, 86400],
            [3, "global", 1, 1, null]
        ])
    );

    s.line(&data("todos_L1", json!([put(1, "items", "t1", 1, json!({}))])));
    let out = s.line(&partial(2, 1));
    let synced_names = |streams: &Value| -> Vec<String> {
        streams
            .as_array()
            .unwrap()
            .iter()
            .filter(|st| !st["last_synced_at"].is_null())
            .map(|st| st["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(synced_names(&status_of(&out)["streams"]), ["todos"]);
    assert_eq!(
        query(
            &s.db,
            "SELECT stream_name FROM ps_stream_subscriptions WHERE last_synced_at IS NOT NULL"
        ),
        json!([["todos"]])
    );

    s.line(&data("glob", json!([put(2, "items", "g", 2, json!({}))])));
    let out = s.line(&complete(2));
    assert_eq!(synced_names(&status_of(&out)["streams"]), ["todos", "lists", "global"]);
    assert_eq!(
        count(&s.db, "ps_stream_subscriptions WHERE last_synced_at IS NOT NULL"),
        3
    );
}

// ---- raw tables and diagnostics ----

#[test]
fn start_schema_raw_tables_receive_synced_rows() {
    let db = open_with(r#"{"tables":[]}"#);
    db.execute_batch(
        "CREATE TABLE todos(id TEXT PRIMARY KEY, title TEXT, done INTEGER, extra TEXT);
         CREATE TABLE notes(id TEXT PRIMARY KEY, body TEXT);",
    )
    .unwrap();
    let start = r#"{"schema":{"tables":[],"raw_tables":[{"name":"todo","put":{"sql":"INSERT OR REPLACE INTO todos(id,title,done,extra) VALUES (?,?,?,?)","params":["Id",{"Column":"title"},{"Column":"done"},"Rest"]},"delete":{"sql":"DELETE FROM todos WHERE id = ?","params":["Id"]}},{"name":"note","table_name":"notes"}]}}"#;
    let (mut s, _) = Session::start_with(db, start);
    s.line(&checkpoint(3, json!([bucket("b", 6, 3, 3)])));
    s.line(&data(
        "b",
        json!([
            put(
                1,
                "todo",
                "t1",
                1,
                json!({"title": "write spec", "done": true, "prio": 2, "tags": ["a"]})
            ),
            put(2, "todo", "t2", 2, json!({"title": "x", "done": false})),
            put(3, "note", "n1", 3, json!({"body": "hello", "ignored": 1}))
        ]),
    ));
    assert_eq!(s.line(&complete(3))[0], validated());
    assert_eq!(
        query(&s.db, "SELECT * FROM todos ORDER BY id"),
        json!([
            ["t1", "write spec", 1, r#"{"prio":2,"tags":["a"]}"#],
            ["t2", "x", 0, null]
        ])
    );
    assert_eq!(query(&s.db, "SELECT * FROM notes"), json!([["n1", "hello"]]));
    assert_eq!(count(&s.db, "ps_untyped"), 0);

    s.line(&diff(4, json!([bucket("b", 10, 3, 4)]), &[]));
    s.line(&data("b", json!([remove(4, "todo", "t2", 4)])));
    s.line(&complete(4));
    assert_eq!(query(&s.db, "SELECT id FROM todos"), json!([["t1"]]));
}

#[test]
fn raw_table_known_only_to_replace_schema_is_not_used_while_syncing() {
    let db = open_with(r#"{"tables":[],"raw_tables":[{"name":"note","table_name":"notes"}]}"#);
    db.execute_batch("CREATE TABLE notes(id TEXT PRIMARY KEY, body TEXT)")
        .unwrap();
    let (mut s, _) = Session::start_with(db, "{}");
    s.line(&checkpoint(1, json!([bucket("b", 1, 3, 1)])));
    s.line(&data("b", json!([put(1, "note", "n1", 1, json!({"body": "hello"}))])));
    s.line(&complete(1));
    assert_eq!(count(&s.db, "notes"), 0);
    assert_eq!(query(&s.db, "SELECT type, id FROM ps_untyped"), json!([["note", "n1"]]));
}

#[test]
fn diagnostics_report_bucket_state_and_column_types() {
    let (mut s, _) = Session::start_with(open_db(), r#"{"diagnostics": {}}"#);
    let out = s.line(&checkpoint(2, json!([bucket("b", 0, 3, 2), bucket("c", 0, 1, 0)])));
    assert_eq!(names(&out), ["UpdateSyncStatus", "HandleDiagnostics"]);
    assert_eq!(
        out[1],
        json!({"HandleDiagnostics": {"BucketStateChange": {"changes": [
            {"name": "b", "progress": {"priority": 3, "at_last": 0, "since_last": 0, "target_count": 2}},
            {"name": "c", "progress": {"priority": 1, "at_last": 0, "since_last": 0, "target_count": 0}}
        ], "incremental": false}}})
    );

    // Raw text keeps the property order, which decides where the scan stops.
    let first = r#"{"data":{"bucket":"b","data":[{"op_id":"1","op":"PUT","object_type":"items","object_id":"x","checksum":0,"data":"{\"id\":\"x\",\"n\":null,\"s\":\"t\",\"i\":1,\"r\":1.5,\"o\":{\"a\":1},\"late\":1}"}]}}"#;
    let change = |column: &str, value_type: &str| json!({"HandleDiagnostics": {"SchemaChange": {"table": "items", "column": column, "value_type": value_type}}});
    let out = s.line(first);
    assert_eq!(
        out.as_array().unwrap()[1..],
        [
            json!({"HandleDiagnostics": {"BucketStateChange": {"changes": [
                {"name": "b", "progress": {"priority": 3, "at_last": 0, "since_last": 1, "target_count": 2}}
            ], "incremental": true}}}),
            change("s", "String"),
            change("i", "Integer"),
            change("r", "Real"),
        ]
    );
    let second = r#"{"data":{"bucket":"b","data":[{"op_id":"2","op":"PUT","object_type":"items","object_id":"y","checksum":0,"data":"{\"s\":1,\"i\":\"str\",\"r\":2}"}]}}"#;
    let out = s.line(second);
    assert_eq!(
        out.as_array().unwrap()[2..],
        [change("i", "String"), change("r", "Integer")]
    );
    // A bucket outside the checkpoint gets no bucket-state change.
    let other = r#"{"data":{"bucket":"elsewhere","data":[{"op_id":"3","op":"MOVE","checksum":0}]}}"#;
    assert_eq!(s.line(other), json!([]));
}

#[test]
fn without_diagnostics_no_diagnostics_are_emitted() {
    let mut s = Session::connected();
    let out = s.line(&checkpoint(2, json!([bucket("b", 0, 3, 2)])));
    assert_eq!(names(&out), ["UpdateSyncStatus"]);
    let out = s.line(&data("b", json!([put(1, "items", "x", 0, json!({"s": "t"}))])));
    assert_eq!(names(&out), ["UpdateSyncStatus"]);
}

// ---- syncing into direct tables and the target order (0.5.4) ----

/// A database with a JSON table `j` and a real table `d(a, b)` shaped like a direct table.
fn direct_db() -> rusqlite::Connection {
    let db = open_with(r#"{"tables":[{"name":"j","columns":[{"name":"a","type":"text"}]}]}"#);
    db.execute_batch(r#"CREATE TABLE "d"(id TEXT PRIMARY KEY NOT NULL /* ps-managed */,"a" ANY,"b" ANY) STRICT"#)
        .unwrap();
    db
}

const DIRECT_START: &str = r#"{"schema":{"tables":[{"name":"d","columns":[{"name":"a","type":"text"},{"name":"b","type":"integer"}],"direct":true}]}}"#;

#[test]
fn start_schema_direct_tables_receive_synced_rows() {
    let (mut s, _) = Session::start_with(direct_db(), DIRECT_START);
    s.line(&checkpoint(3, json!([bucket("b", 6, 3, 3)])));
    s.line(&data(
        "b",
        json!([
            put(1, "d", "r1", 1, json!({"a": "x", "b": 3, "extra": true})),
            put(2, "d", "r2", 2, json!({"a": "y", "b": 2.5})),
            put(3, "d", "r3", 3, json!({}))
        ]),
    ));
    assert_eq!(s.line(&complete(3))[0], validated());
    assert_eq!(
        query(&s.db, "SELECT id, a, typeof(b), b FROM d ORDER BY id"),
        json!([
            ["r1", "x", "integer", 3],
            ["r2", "y", "real", 2.5],
            ["r3", null, "null", null]
        ])
    );
    assert_eq!(count(&s.db, "ps_untyped"), 0);

    s.line(&diff(5, json!([bucket("b", 15, 3, 5)]), &[]));
    s.line(&data(
        "b",
        json!([put(4, "d", "r1", 4, json!({"b": 7})), remove(5, "d", "r2", 5)]),
    ));
    s.line(&complete(5));
    assert_eq!(
        query(&s.db, "SELECT id, a, b FROM d ORDER BY id"),
        json!([["r1", null, 7], ["r3", null, null]])
    );
}

#[test]
fn direct_table_missing_from_start_schema_syncs_into_untyped() {
    let (mut s, _) = Session::start_with(direct_db(), "{}");
    s.line(&checkpoint(1, json!([bucket("b", 1, 3, 1)])));
    s.line(&data("b", json!([put(1, "d", "r1", 1, json!({"a": "x"}))])));
    s.line(&complete(1));
    assert_eq!(count(&s.db, "d"), 0);
    assert_eq!(query(&s.db, "SELECT type, id FROM ps_untyped"), json!([["d", "r1"]]));
}

#[test]
fn local_only_direct_table_syncs_into_untyped() {
    let start = r#"{"schema":{"tables":[{"name":"d","columns":[{"name":"a","type":"text"}],"direct":true,"local_only":true}]}}"#;
    let (mut s, _) = Session::start_with(direct_db(), start);
    s.line(&checkpoint(1, json!([bucket("b", 1, 3, 1)])));
    s.line(&data("b", json!([put(1, "d", "r1", 1, json!({"a": "x"}))])));
    s.line(&complete(1));
    assert_eq!(count(&s.db, "d"), 0);
    assert_eq!(count(&s.db, "ps_untyped"), 1);
}

/// The observed error: a `start` schema declaring `j` direct while the database still has the
/// JSON table (and its view) `j` — the upsert targets the view. The iteration is kept.
#[test]
fn direct_table_beats_existing_json_table() {
    let start = r#"{"schema":{"tables":[{"name":"j","columns":[{"name":"a","type":"text"}],"direct":true}]}}"#;
    let (mut s, _) = Session::start_with(direct_db(), start);
    s.line(&checkpoint(1, json!([bucket("b", 1, 3, 1)])));
    s.line(&data("b", json!([put(1, "j", "r1", 1, json!({"a": "x"}))])));
    let err = s.line_error(&complete(1));
    assert_eq!(
        err.to_string(),
        r#"statement INSERT INTO "j" (id, "a") VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET "a" = ?2: internal SQLite call returned ERROR: cannot UPSERT a view"#
    );
    assert_eq!(s.it.target_last_op(), Some(1));
}

/// 0.5.4 reverses 0.5.3's order: a raw table from `start` wins over an existing JSON table.
#[test]
fn raw_table_beats_existing_json_table() {
    let db = direct_db();
    db.execute_batch("CREATE TABLE raw_j(id TEXT PRIMARY KEY, a TEXT)")
        .unwrap();
    let start = r#"{"schema":{"tables":[],"raw_tables":[{"name":"j","table_name":"raw_j"}]}}"#;
    let (mut s, _) = Session::start_with(db, start);
    s.line(&checkpoint(1, json!([bucket("b", 1, 3, 1)])));
    s.line(&data("b", json!([put(1, "j", "r1", 1, json!({"a": "x"}))])));
    s.line(&complete(1));
    assert_eq!(query(&s.db, "SELECT * FROM raw_j"), json!([["r1", "x"]]));
    assert_eq!(count(&s.db, "ps_data__j"), 0);
}

#[test]
fn direct_table_data_errors_keep_the_iteration() {
    let (mut s, _) = Session::start_with(direct_db(), DIRECT_START);
    s.line(&checkpoint(1, json!([bucket("b", 1, 3, 1)])));
    s.line(&data(
        "b",
        json!([{"op_id": "1", "op": "PUT", "object_type": "d", "object_id": "r1", "checksum": 1, "data": "[1]"}]),
    ));
    let err = s.line_error(&complete(1));
    assert_eq!(
        err.to_string(),
        "invalid argument: expected oplog data to be an object. cause: unknown"
    );
    assert_eq!(s.it.target_last_op(), Some(1));
}

#[test]
fn json_table_write_errors_carry_row_context() {
    let db = direct_db();
    db.execute_batch("CREATE TRIGGER boom BEFORE INSERT ON ps_data__j BEGIN SELECT RAISE(ABORT, 'boom'); END")
        .unwrap();
    let (mut s, _) = Session::start_with(db, "{}");
    s.line(&checkpoint(1, json!([bucket("b", 1, 3, 1)])));
    s.line(&data(
        "b",
        json!([{"op_id": "1", "op": "PUT", "object_type": "j", "object_id": "r1", "checksum": 1, "data": "{\"a\": 1}"}]),
    ));
    assert_eq!(
        s.line_error(&complete(1)).to_string(),
        r#"statement REPLACE INTO "ps_data__j"(id, data) VALUES (?, ?): internal SQLite call returned CONSTRAINT_TRIGGER: boom (context: replacing into j, id = r1, data = {"a": 1})"#
    );
}

/// Ours (docs/protocol.md, "Applying around pending uploads"): with the setting on, a complete
/// checkpoint behind pending uploads is applied to every other row (`DidCompleteSync` without a
/// request id, `held_rows` in the status) and stays pending, so that `completed_upload` applies
/// the held rows once the service covered them.
#[test]
fn around_pending_uploads_a_checkpoint_is_applied_and_held_rows_follow_after_upload() {
    let mut s = Session::connected();
    s.db.query_row(
        "SELECT powersync_config_set('apply_around_pending_uploads', 1)",
        [],
        |_| Ok(()),
    )
    .unwrap();
    local_write(&s.db, "local1");
    s.line(&checkpoint_with_write(2, 5, json!([bucket("b", 3, 3, 2)])));
    s.line(&data(
        "b",
        json!([
            put(1, "items", "s1", 1, json!({"name": "server"})),
            put(2, "items", "local1", 2, json!({"name": "server", "qty": 2}))
        ]),
    ));
    let out = s.line(&complete(2));
    let mut status = connected_status(synced(&[i32::MAX as i64]), Value::Null);
    status["held_rows"] = json!(1);
    assert_eq!(
        out,
        json!([
            {"LogLine": {"severity": "DEBUG", "line": "Validated and applied checkpoint around pending uploads; 1 row(s) with local writes keep their local version"}},
            {"DidCompleteSync": {}},
            {"UpdateSyncStatus": {"status": status}}
        ])
    );
    assert_eq!(
        query(&s.db, "SELECT id, qty FROM items ORDER BY id"),
        json!([["local1", 1], ["s1", null]])
    );
    assert!(s.it.has_pending_checkpoint());

    // Uploaded and covered by write checkpoint 5: the retry publishes the held row.
    s.db.execute_batch("DELETE FROM ps_crud").unwrap();
    checkpoint_requests::set_target(&s.db, TargetArgument::Set(IdArgument(Some(5)))).unwrap();
    let out = s.completed_upload();
    assert_eq!(
        out[2],
        json!({"DidCompleteSync": {"applied_checkpoint_request_id": "5"}})
    );
    assert_eq!(status_of(&out).get("held_rows"), None);
    assert_eq!(
        query(&s.db, "SELECT id, qty FROM items ORDER BY id"),
        json!([["local1", 2], ["s1", null]])
    );
    assert!(!s.it.has_pending_checkpoint());
}
