//! The status object (docs/protocol.md, "Sync status") and download progress grouping (docs/protocol.md, "Bucket storage").

use serde_json::json;

use super::*;
use crate::sync::test_support::*;

fn progress(priority: i32, at_last: i64, since_last: i64, target_count: i64) -> BucketProgress {
    BucketProgress {
        priority,
        at_last,
        since_last,
        target_count,
    }
}

#[test]
fn downloading_groups_buckets_per_priority_in_descending_order() {
    let d = Downloading::from_buckets(&[
        progress(0, 0, 1, 1),
        progress(3, 2, 1, 5),
        progress(3, 0, 4, 4),
        progress(1, 0, 0, 2),
    ]);
    assert_eq!(
        serde_json::to_string(&d).unwrap(),
        r#"{"buckets":{"prio_3":{"priority":3,"at_last":0,"since_last":5,"target_count":7},"prio_1":{"priority":1,"at_last":0,"since_last":0,"target_count":2},"prio_0":{"priority":0,"at_last":0,"since_last":1,"target_count":1}}}"#
    );
    assert_eq!(
        serde_json::to_string(&Downloading::from_buckets(&[])).unwrap(),
        r#"{"buckets":{}}"#
    );
}

fn entries(status: &[PriorityStatus]) -> Vec<(i32, Option<i64>)> {
    status.iter().map(|s| (s.priority, s.last_synced_at)).collect()
}

#[test]
fn complete_sync_replaces_every_priority_entry() {
    let mut status = Vec::new();
    record_sync(&mut status, Priority(0), 1);
    record_sync(&mut status, Priority(2), 2);
    record_sync(&mut status, Priority::FULL_SYNC, 3);
    assert_eq!(entries(&status), [(i32::MAX, Some(3))]);
    assert!(status.iter().all(|s| s.has_synced == Some(true)));
}

#[test]
fn partial_sync_drops_entries_up_to_its_priority_and_goes_first() {
    let mut status = Vec::new();
    record_sync(&mut status, Priority::FULL_SYNC, 1);
    record_sync(&mut status, Priority(2), 2);
    record_sync(&mut status, Priority(0), 3);
    assert_eq!(entries(&status), [(0, Some(3)), (2, Some(2)), (i32::MAX, Some(1))]);
    record_sync(&mut status, Priority(2), 4);
    assert_eq!(entries(&status), [(2, Some(4)), (i32::MAX, Some(1))]);
}

#[test]
fn offline_status_reads_sync_state_and_streams() {
    let db = open_db();
    db.execute_batch(
        "INSERT INTO ps_sync_state VALUES (2147483647, 20), (1, 10);
         INSERT INTO ps_stream_subscriptions(stream_name, active, is_default) VALUES ('global', 1, 1);",
    )
    .unwrap();
    let status = offline_status(&db).unwrap();
    assert_eq!(
        serde_json::to_value(&status).unwrap(),
        json!({"connected": false, "connecting": false,
               "priority_status": [{"priority": 1, "last_synced_at": 10, "has_synced": true}, {"priority": 2147483647, "last_synced_at": 20, "has_synced": true}],
               "downloading": null,
               "streams": [{"name": "global", "parameters": null, "priority": null, "active": true, "is_default": true,
                            "has_explicit_subscription": false, "expires_at": null, "last_synced_at": null,
                            "progress": {"total": 0, "downloaded": 0}}]})
    );
}

#[test]
fn offline_status_without_internal_tables_fails_on_ps_buckets() {
    let db = crate::testing::open();
    let err = offline_status(&db).unwrap_err();
    assert!(err.to_string().contains("no such table: ps_buckets"), "{err}");
}

#[test]
fn applied_request_id_is_a_decimal_string_and_absent_when_unset() {
    let db = open_db();
    let mut status = offline_status(&db).unwrap();
    assert!(serde_json::to_value(&status)
        .unwrap()
        .get("internal_last_applied_checkpoint_request_id")
        .is_none());
    status.internal_last_applied_checkpoint_request_id = Some(7);
    assert_eq!(
        serde_json::to_value(&status).unwrap()["internal_last_applied_checkpoint_request_id"],
        json!("7")
    );
}

#[test]
fn raw_json_treats_null_text_as_absent() {
    assert!(raw_json(None).is_none());
    assert!(raw_json(Some("null")).is_none());
    assert_eq!(raw_json(Some(r#"{"a": 1}"#)).unwrap().get(), r#"{"a": 1}"#);
}
