//! Subscriptions, TTLs, the subscription request and reconciliation with a checkpoint's streams
//! (docs/protocol.md, "Sync streams and subscriptions").

use serde_json::json;

use super::*;
use crate::sync::test_support::*;

const NOW: i64 = 1_700_000_000_000_000;

fn command(db: &Connection, json: &str, now: i64) {
    let command: SubscriptionCommand = serde_json::from_str(json).unwrap();
    apply_subscription_command(db, &command, now).unwrap();
}

fn rows(db: &Connection) -> serde_json::Value {
    query(
        db,
        "SELECT id, stream_name, active, is_default, local_priority, local_params, ttl, expires_at, last_synced_at FROM ps_stream_subscriptions ORDER BY id",
    )
}

fn keys(json: &str) -> Vec<StreamKey> {
    serde_json::from_str(json).unwrap()
}

#[test]
fn subscribe_stores_params_text_ttl_and_expiry() {
    let db = open_db();
    command(
        &db,
        r#"{"subscribe": {"stream": {"name": "todos", "params": {"list": "L1"}}, "ttl": 3600, "priority": 1}}"#,
        NOW,
    );
    command(&db, r#"{"subscribe": {"stream": {"name": "lists"}}}"#, NOW);
    assert_eq!(
        rows(&db),
        json!([
            [
                1,
                "todos",
                0,
                0,
                1,
                r#"{"list": "L1"}"#,
                3600,
                NOW + 3_600_000_000,
                null
            ],
            [2, "lists", 0, 0, null, "null", 86400, NOW + 86_400_000_000, null]
        ])
    );
}

#[test]
fn resubscribe_renews_ttl_and_keeps_the_lowest_priority() {
    let db = open_db();
    command(&db, r#"{"subscribe": {"stream": {"name": "a"}, "priority": 2}}"#, NOW);
    command(
        &db,
        r#"{"subscribe": {"stream": {"name": "a"}, "ttl": 10, "priority": 3}}"#,
        NOW + 1,
    );
    assert_eq!(
        query(
            &db,
            "SELECT local_priority, ttl, expires_at FROM ps_stream_subscriptions"
        ),
        json!([[2, 10, NOW + 1 + 10_000_000]])
    );
    command(&db, r#"{"subscribe": {"stream": {"name": "a"}, "priority": 0}}"#, NOW);
    command(&db, r#"{"subscribe": {"stream": {"name": "a"}}}"#, NOW);
    assert_eq!(
        query(&db, "SELECT local_priority FROM ps_stream_subscriptions"),
        json!([[0]])
    );
    // Without a priority the row stays at NULL (SQLite's min with NULL).
    command(&db, r#"{"subscribe": {"stream": {"name": "b"}}}"#, NOW);
    command(&db, r#"{"subscribe": {"stream": {"name": "b"}, "priority": 1}}"#, NOW);
    assert_eq!(
        query(
            &db,
            "SELECT local_priority FROM ps_stream_subscriptions WHERE stream_name = 'b'"
        ),
        json!([[null]])
    );
}

#[test]
fn huge_ttl_is_clamped_so_expiry_stays_an_integer() {
    let db = open_db();
    command(
        &db,
        r#"{"subscribe": {"stream": {"name": "a"}, "ttl": 18446744073709551615}}"#,
        NOW,
    );
    let (ttl, expires_at): (i64, i64) = db
        .query_row("SELECT ttl, expires_at FROM ps_stream_subscriptions", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(ttl, MAX_TTL_SECONDS);
    assert!(expires_at > NOW);
    refresh_ttls(&db, &keys(r#"[{"name": "a"}]"#), NOW).unwrap();
}

#[test]
fn unsubscribe_clears_ttl_and_cleanup_deletes_it_unless_active() {
    let db = open_db();
    command(&db, r#"{"subscribe": {"stream": {"name": "a"}}}"#, NOW);
    command(&db, r#"{"subscribe": {"stream": {"name": "b"}}}"#, NOW);
    db.execute_batch("UPDATE ps_stream_subscriptions SET active = 1 WHERE stream_name = 'b'")
        .unwrap();
    command(&db, r#"{"unsubscribe": {"name": "a"}}"#, NOW);
    command(&db, r#"{"unsubscribe": {"name": "b"}}"#, NOW);
    assert_eq!(
        query(&db, "SELECT ttl FROM ps_stream_subscriptions"),
        json!([[null], [null]])
    );
    cleanup(&db, NOW).unwrap();
    assert_eq!(
        query(&db, "SELECT stream_name FROM ps_stream_subscriptions"),
        json!([["b"]])
    );
}

#[test]
fn cleanup_deletes_expired_subscriptions() {
    let db = open_db();
    command(&db, r#"{"subscribe": {"stream": {"name": "short"}, "ttl": 1}}"#, NOW);
    command(&db, r#"{"subscribe": {"stream": {"name": "long"}, "ttl": 100}}"#, NOW);
    cleanup(&db, NOW + 1_000_000).unwrap();
    assert_eq!(count(&db, "ps_stream_subscriptions"), 2);
    cleanup(&db, NOW + 1_000_001).unwrap();
    assert_eq!(
        query(&db, "SELECT stream_name FROM ps_stream_subscriptions"),
        json!([["long"]])
    );
}

#[test]
fn refresh_ttls_extends_only_exactly_matching_explicit_rows() {
    let db = open_db();
    command(
        &db,
        r#"{"subscribe": {"stream": {"name": "t", "params": {"list": "L1"}}, "ttl": 10}}"#,
        NOW,
    );
    command(
        &db,
        r#"{"subscribe": {"stream": {"name": "t", "params": {"list": "L2"}}, "ttl": 10}}"#,
        NOW,
    );
    command(
        &db,
        r#"{"subscribe": {"stream": {"name": "t", "params": {"list":"L1"}}, "ttl": 10}}"#,
        NOW,
    );
    let later = NOW + 5_000_000;
    refresh_ttls(&db, &keys(r#"[{"name": "t", "params": {"list": "L1"}}]"#), later).unwrap();
    assert_eq!(
        query(
            &db,
            "SELECT local_params, expires_at FROM ps_stream_subscriptions ORDER BY id"
        ),
        json!([
            [r#"{"list": "L1"}"#, later + 10_000_000],
            [r#"{"list": "L2"}"#, NOW + 10_000_000],
            [r#"{"list":"L1"}"#, NOW + 10_000_000]
        ])
    );
}

#[test]
fn request_lists_explicit_subscriptions_in_table_order() {
    let db = open_db();
    command(
        &db,
        r#"{"subscribe": {"stream": {"name": "b", "params": {"x": 1}}, "priority": 2}}"#,
        NOW,
    );
    command(&db, r#"{"subscribe": {"stream": {"name": "a"}}}"#, NOW);
    db.execute_batch("INSERT INTO ps_stream_subscriptions(stream_name, active, is_default) VALUES ('implicit', 1, 1)")
        .unwrap();
    let request = request_subscriptions(&db).unwrap();
    assert_eq!(
        serde_json::to_value(&request).unwrap(),
        json!([
            {"stream": "b", "parameters": {"x": 1}, "override_priority": 2},
            {"stream": "a", "parameters": null, "override_priority": null}
        ])
    );
}

fn a7_checkpoint() -> Checkpoint {
    checkpoint_of(
        r#"{"checkpoint":{"last_op_id":"2","buckets":[{"bucket":"todos_L1","checksum":1,"priority":1,"count":3,"subscriptions":[{"sub":0}]},{"bucket":"glob","checksum":2,"priority":3,"count":2,"subscriptions":[{"default":0},{"sub":0}]}],"streams":[{"name":"global","is_default":true,"errors":[]},{"name":"todos","is_default":false,"errors":[]},{"name":"lists","is_default":false,"errors":[{"subscription":1,"message":"bad params"}]}]}}"#,
    )
}

fn a7_db() -> Connection {
    let db = open_db();
    command(
        &db,
        r#"{"subscribe": {"stream": {"name": "todos", "params": {"list": "L1"}}, "ttl": 3600, "priority": 1}}"#,
        NOW,
    );
    command(&db, r#"{"subscribe": {"stream": {"name": "lists"}}}"#, NOW);
    // An implicit default-stream row the service no longer sends.
    db.execute_batch(
        "INSERT INTO ps_stream_subscriptions(stream_name, active, is_default) VALUES ('old_default', 1, 1)",
    )
    .unwrap();
    db
}

#[test]
fn reconcile_activates_rows_creates_default_streams_and_drops_stale_implicit_rows() {
    let db = a7_db();
    let requested = request_subscriptions(&db).unwrap();
    let (tracked, warnings) = reconcile(&db, &a7_checkpoint(), &requested).unwrap();
    assert_eq!(
        query(
            &db,
            "SELECT id, stream_name, active, is_default, ttl FROM ps_stream_subscriptions ORDER BY id"
        ),
        json!([
            [1, "todos", 1, 0, 3600],
            [2, "lists", 1, 0, 86400],
            [4, "global", 1, 1, null]
        ])
    );
    let names: Vec<(&str, bool, bool)> = tracked
        .iter()
        .map(|t| {
            (
                t.status.name.as_str(),
                t.status.active,
                t.status.has_explicit_subscription,
            )
        })
        .collect();
    assert_eq!(
        names,
        [("todos", true, true), ("lists", true, true), ("global", true, false)]
    );
    assert_eq!(
        crate::sync::instruction::to_json(&warnings),
        r#"[{"LogLine":{"severity":"WARNING","line":"Subscription to stream lists (without parameters) could not be resolved: bad params"}}]"#
    );

    // Explicit rows not in the next checkpoint stay, inactive.
    let empty = checkpoint_of(&checkpoint(2, json!([])));
    reconcile(&db, &empty, &requested).unwrap();
    assert_eq!(
        query(
            &db,
            "SELECT stream_name, active, is_default FROM ps_stream_subscriptions ORDER BY id"
        ),
        json!([["todos", 0, 0], ["lists", 0, 0]])
    );
}

#[test]
fn reconcile_marks_explicit_row_of_a_default_stream_instead_of_adding_one() {
    let db = open_db();
    command(&db, r#"{"subscribe": {"stream": {"name": "global"}}}"#, NOW);
    let cp = checkpoint_of(
        r#"{"checkpoint":{"last_op_id":"1","buckets":[],"streams":[{"name":"global","is_default":true,"errors":[]}]}}"#,
    );
    reconcile(&db, &cp, &[]).unwrap();
    assert_eq!(
        query(
            &db,
            "SELECT stream_name, active, is_default, ttl FROM ps_stream_subscriptions"
        ),
        json!([["global", 1, 1, 86400]])
    );
}

#[test]
fn reconcile_reports_stream_errors_by_subscription() {
    let db = a7_db();
    let requested = request_subscriptions(&db).unwrap();
    let cp = checkpoint_of(
        r#"{"checkpoint":{"last_op_id":"1","buckets":[],"streams":[{"name":"global","is_default":true,"errors":[{"subscription":"default","message":"boom"}]},{"name":"whatever","is_default":false,"errors":[{"subscription":0,"message":"m0"},{"subscription":9,"message":"ignored"}]}]}}"#,
    );
    let (_, warnings) = reconcile(&db, &cp, &requested).unwrap();
    let lines: Vec<String> = warnings
        .iter()
        .map(|w| match w {
            Instruction::LogLine { line, .. } => line.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        lines,
        [
            "Default subscription global has errors: boom",
            r#"Subscription to stream todos (with parameters {"list": "L1"}) could not be resolved: m0"#
        ]
    );
}

#[test]
fn buckets_map_to_streams_by_subscription_reason() {
    let db = a7_db();
    let requested = request_subscriptions(&db).unwrap();
    let cp = a7_checkpoint();
    let (tracked, _) = reconcile(&db, &cp, &requested).unwrap();
    // sub 0 = todos (index 0), default 0 = global (index 2); duplicates collapse.
    assert_eq!(
        streams_of_bucket(&cp.buckets[1].subscriptions, &cp, &requested, &tracked),
        [2, 0]
    );
    assert_eq!(
        streams_of_bucket(
            &[SubscriptionReason::Sub(0), SubscriptionReason::Sub(0)],
            &cp,
            &requested,
            &tracked
        ),
        [0]
    );
    assert!(streams_of_bucket(
        &[SubscriptionReason::Sub(7), SubscriptionReason::Default(7)],
        &cp,
        &requested,
        &tracked
    )
    .is_empty());
}

#[test]
fn stream_progress_takes_largest_priority_and_sums_bucket_progress_while_downloading() {
    let db = a7_db();
    let requested = request_subscriptions(&db).unwrap();
    // The iteration tracks checkpoints sorted by bucket name, with `progress[i]` for bucket i.
    let mut cp = a7_checkpoint();
    cp.buckets.sort_by(|a, b| a.bucket.cmp(&b.bucket));
    let (mut tracked, _) = reconcile(&db, &cp, &requested).unwrap();
    let progress = vec![
        (
            "glob".to_owned(),
            BucketProgress {
                priority: 3,
                at_last: 1,
                since_last: 1,
                target_count: 2,
            },
        ),
        (
            "todos_L1".to_owned(),
            BucketProgress {
                priority: 1,
                at_last: 0,
                since_last: 2,
                target_count: 3,
            },
        ),
    ];
    update_stream_progress(&mut tracked, &cp, &requested, &progress, true);
    let summary: Vec<(Option<i32>, StreamProgress)> =
        tracked.iter().map(|t| (t.status.priority, t.status.progress)).collect();
    assert_eq!(
        summary,
        [
            (
                Some(3),
                StreamProgress {
                    total: 4,
                    downloaded: 3
                }
            ),
            (None, StreamProgress::default()),
            (
                Some(3),
                StreamProgress {
                    total: 1,
                    downloaded: 1
                }
            ),
        ]
    );
    update_stream_progress(&mut tracked, &cp, &requested, &progress, false);
    assert!(tracked.iter().all(|t| t.status.progress == StreamProgress::default()));
    assert_eq!(tracked[0].status.priority, Some(3));
}

#[test]
fn mark_synced_covers_streams_up_to_the_priority() {
    let db = a7_db();
    let requested = request_subscriptions(&db).unwrap();
    let cp = checkpoint_of(
        r#"{"checkpoint":{"last_op_id":"2","buckets":[{"bucket":"todos_L1","checksum":1,"priority":1,"count":3,"subscriptions":[{"sub":0}]},{"bucket":"glob","checksum":2,"priority":3,"count":2,"subscriptions":[{"default":0}]}],"streams":[{"name":"global","is_default":true,"errors":[]}]}}"#,
    );
    let (mut tracked, _) = reconcile(&db, &cp, &requested).unwrap();
    update_stream_progress(&mut tracked, &cp, &requested, &[], true);
    mark_synced(&db, &mut tracked, Some(Priority(1)), NOW).unwrap();
    assert_eq!(
        query(
            &db,
            "SELECT stream_name, last_synced_at FROM ps_stream_subscriptions ORDER BY id"
        ),
        json!([["todos", NOW], ["lists", null], ["global", null]])
    );
    mark_synced(&db, &mut tracked, None, NOW + 1).unwrap();
    assert!(tracked.iter().all(|t| t.status.last_synced_at == Some(NOW + 1)));
    assert_eq!(
        count(&db, "ps_stream_subscriptions WHERE last_synced_at = 1700000000000001"),
        3
    );
}

#[test]
fn stored_streams_report_explicit_subscription_and_params() {
    let db = open_db();
    command(
        &db,
        r#"{"subscribe": {"stream": {"name": "t", "params": {"a": 1}}}}"#,
        NOW,
    );
    let statuses = stored_stream_statuses(&db).unwrap();
    assert_eq!(
        serde_json::to_value(&statuses).unwrap(),
        json!([{"name": "t", "parameters": {"a": 1}, "priority": null, "active": false, "is_default": false,
                "has_explicit_subscription": true, "expires_at": NOW + 86_400_000_000i64, "last_synced_at": null,
                "progress": {"total": 0, "downloaded": 0}}])
    );
}
