//! Publishing (docs/protocol.md, "Publishing"): which rows are written where, the gate, and the bookkeeping
//! after a complete or partial sync.

use serde_json::json;

use super::*;
use crate::sync::test_support::*;
use crate::testing::Rng;

const NOW: i64 = 1_700_000_000_000_000;

fn run(db: &Connection, checkpoint: &Checkpoint, priority: Option<Priority>) -> PsResult<SyncLocalResult> {
    let state = DatabaseState::default();
    let mut targets = RowTargets::new(None);
    sync_local(db, &state, checkpoint, priority, &mut targets, NOW)
}

fn items(db: &Connection) -> serde_json::Value {
    query(db, "SELECT id, data FROM ps_data__items ORDER BY id")
}

#[test]
fn buckets_in_range_takes_priorities_up_to_the_partial_one() {
    let cp = checkpoint_of(&checkpoint(
        1,
        json!([bucket("a", 0, 0, 0), bucket("b", 0, 1, 0), bucket("c", 0, 3, 0)]),
    ));
    let names =
        |p: Option<Priority>| -> Vec<String> { buckets_in_range(&cp, p).iter().map(|b| b.bucket.clone()).collect() };
    assert_eq!(names(None), ["a", "b", "c"]);
    assert_eq!(names(Some(Priority(1))), ["a", "b"]);
    assert_eq!(names(Some(Priority(0))), ["a"]);
}

#[test]
fn complete_sync_publishes_newest_op_across_buckets_and_falls_back_after_remove() {
    let db = open_db();
    let a_line = r#"{"data":{"bucket":"A","data":[{"op_id":"4","op":"PUT","object_type":"items","object_id":"r2","subkey":"sk1","checksum":8,"data":"{\"name\":\"from A\"}"}]}}"#;
    store(&db, a_line);
    store(
        &db,
        &data("B", json!([put(6, "items", "r2", 32, json!({"name": "from B"}))])),
    );
    let cp = checkpoint_of(&checkpoint(6, json!([bucket("A", 8, 3, 1), bucket("B", 32, 3, 1)])));
    assert_eq!(run(&db, &cp, None).unwrap(), SyncLocalResult::Applied);
    assert_eq!(items(&db), json!([["r2", r#"{"name":"from B"}"#]]));

    store(&db, &data("B", json!([remove(7, "items", "r2", 64)])));
    let cp = checkpoint_of(&checkpoint(7, json!([bucket("A", 8, 3, 1), bucket("B", 96, 3, 2)])));
    run(&db, &cp, None).unwrap();
    assert_eq!(items(&db), json!([["r2", r#"{"name":"from A"}"#]]));
    assert_eq!(count(&db, "ps_updated_rows"), 0);
}

#[test]
fn complete_sync_deletes_rows_without_remaining_ops() {
    let db = open_db();
    store(&db, &data("A", json!([put(1, "items", "gone", 1, json!({}))])));
    let cp = checkpoint_of(&checkpoint(1, json!([bucket("A", 1, 3, 1)])));
    run(&db, &cp, None).unwrap();
    assert_eq!(count(&db, "ps_data__items"), 1);
    crate::sync::storage::delete_bucket(&db, "A").unwrap();
    run(&db, &checkpoint_of(&checkpoint(1, json!([]))), None).unwrap();
    assert_eq!(count(&db, "ps_data__items"), 0);
}

#[test]
fn complete_sync_advances_buckets_and_records_sync_state_and_counts() {
    let db = open_db();
    db.execute_batch("INSERT INTO ps_sync_state VALUES (1, 5), (3, 5)")
        .unwrap();
    store(&db, &data("A", json!([put(1, "items", "a", 1, json!({}))])));
    let cp = checkpoint_of(&checkpoint_with_write(9, 4, json!([bucket("A", 1, 3, 7)])));
    run(&db, &cp, None).unwrap();
    assert_eq!(
        query(
            &db,
            "SELECT name, last_applied_op, last_op, count_at_last, count_since_last FROM ps_buckets"
        ),
        json!([["A", 9, 9, 7, 0]])
    );
    assert_eq!(query(&db, "SELECT * FROM ps_sync_state"), json!([[i32::MAX, NOW]]));
    assert_eq!(
        query(
            &db,
            "SELECT key, value FROM ps_kv WHERE key != 'client_id' ORDER BY key"
        ),
        json!([
            ["last_applied_checkpoint_request_id", 4],
            ["last_seen_checkpoint_request_id", 4]
        ])
    );
}

#[test]
fn closed_gate_records_seen_write_checkpoint_and_publishes_nothing() {
    let db = open_db();
    local_write(&db, "mine");
    store(&db, &data("A", json!([put(1, "items", "a", 1, json!({}))])));
    let cp = checkpoint_of(&checkpoint_with_write(5, 3, json!([bucket("A", 1, 3, 1)])));
    assert_eq!(run(&db, &cp, None).unwrap(), SyncLocalResult::PendingLocalChanges);
    assert_eq!(
        query(&db, "SELECT last_applied_op, last_op FROM ps_buckets"),
        json!([[0, 5]])
    );
    assert_eq!(query(&db, "SELECT id FROM ps_data__items"), json!([["mine"]]));
    assert_eq!(count(&db, "ps_sync_state"), 0);
    assert_eq!(
        query(
            &db,
            "SELECT key, value FROM ps_kv WHERE key != 'client_id' ORDER BY key"
        ),
        json!([
            ["last_seen_checkpoint_request_id", 3],
            [
                "target_checkpoint_request_id",
                crate::sync::checkpoint_requests::MAX_OP_ID
            ]
        ])
    );
}

#[test]
fn gate_opens_once_crud_is_empty_and_seen_reaches_target() {
    let db = open_db();
    db.execute_batch("INSERT INTO ps_kv VALUES ('target_checkpoint_request_id', 5)")
        .unwrap();
    store(&db, &data("A", json!([put(1, "items", "a", 1, json!({}))])));
    let behind = checkpoint_of(&checkpoint_with_write(1, 4, json!([bucket("A", 1, 3, 1)])));
    assert_eq!(run(&db, &behind, None).unwrap(), SyncLocalResult::PendingLocalChanges);
    let reached = checkpoint_of(&checkpoint_with_write(1, 5, json!([bucket("A", 1, 3, 1)])));
    assert_eq!(run(&db, &reached, None).unwrap(), SyncLocalResult::Applied);
    assert_eq!(count(&db, "ps_data__items"), 1);
}

#[test]
fn partial_sync_leaves_other_priorities_and_updated_rows_alone() {
    let db = open_db();
    db.execute_batch("INSERT INTO ps_sync_state VALUES (0, 5), (2, 5), (2147483647, 5)")
        .unwrap();
    db.execute_batch("INSERT INTO ps_updated_rows VALUES ('items', 'queued')")
        .unwrap();
    store(&db, &data("hi", json!([put(1, "items", "h", 1, json!({}))])));
    store(&db, &data("lo", json!([put(2, "items", "l", 2, json!({}))])));
    let cp = checkpoint_of(&checkpoint_with_write(
        2,
        9,
        json!([bucket("hi", 1, 1, 1), bucket("lo", 2, 3, 1)]),
    ));
    assert_eq!(run(&db, &cp, Some(Priority(1))).unwrap(), SyncLocalResult::Applied);
    assert_eq!(query(&db, "SELECT id FROM ps_data__items"), json!([["h"]]));
    assert_eq!(
        query(
            &db,
            "SELECT name, last_applied_op, last_op, count_at_last FROM ps_buckets ORDER BY name"
        ),
        json!([["hi", 2, 2, 0], ["lo", 0, 2, 0]])
    );
    assert_eq!(count(&db, "ps_updated_rows"), 1);
    assert_eq!(
        query(&db, "SELECT priority FROM ps_sync_state ORDER BY priority"),
        json!([[1], [2], [i32::MAX]])
    );
    // A partial sync does not record write checkpoints.
    assert_eq!(count(&db, "ps_kv WHERE key != 'client_id'"), 0);
}

#[test]
fn partial_sync_at_priority_zero_ignores_the_gate_but_others_do_not() {
    let db = open_db();
    local_write(&db, "mine");
    store(&db, &data("p0", json!([put(1, "items", "z", 1, json!({}))])));
    let cp = checkpoint_of(&checkpoint(1, json!([bucket("p0", 1, 0, 1)])));
    assert_eq!(
        run(&db, &cp, Some(Priority(1))).unwrap(),
        SyncLocalResult::PendingLocalChanges
    );
    assert_eq!(run(&db, &cp, Some(Priority(0))).unwrap(), SyncLocalResult::Applied);
    assert_eq!(
        query(&db, "SELECT id FROM ps_data__items ORDER BY id"),
        json!([["mine"], ["z"]])
    );
}

#[test]
fn rows_of_unknown_and_local_only_types_go_to_ps_untyped() {
    let db = open_with(
        r#"{"tables":[{"name":"items","columns":[{"name":"name","type":"TEXT"}]},{"name":"notes","local_only":true,"columns":[{"name":"body","type":"TEXT"}]}]}"#,
    );
    store(
        &db,
        &data(
            "A",
            json!([
                put(1, "unknown_tbl", "u1", 1, json!({"x": 1})),
                put(2, "notes", "n1", 2, json!({"body": "b"}))
            ]),
        ),
    );
    let cp = checkpoint_of(&checkpoint(2, json!([bucket("A", 3, 3, 2)])));
    run(&db, &cp, None).unwrap();
    assert_eq!(
        query(&db, "SELECT type, id, data FROM ps_untyped ORDER BY type"),
        json!([["notes", "n1", r#"{"body":"b"}"#], ["unknown_tbl", "u1", r#"{"x":1}"#]])
    );
    assert_eq!(count(&db, "ps_data_local__notes"), 0);

    store(&db, &data("A", json!([remove(3, "unknown_tbl", "u1", 4)])));
    let cp = checkpoint_of(&checkpoint(3, json!([bucket("A", 7, 3, 3)])));
    run(&db, &cp, None).unwrap();
    assert_eq!(query(&db, "SELECT type FROM ps_untyped"), json!([["notes"]]));
}

#[test]
fn put_without_object_type_fails_publishing() {
    let db = open_db();
    store(
        &db,
        r#"{"data":{"bucket":"A","data":[{"op_id":"1","op":"PUT","checksum":1,"data":"{}"}]}}"#,
    );
    let cp = checkpoint_of(&checkpoint(1, json!([bucket("A", 1, 3, 1)])));
    let err = run(&db, &cp, None).unwrap_err();
    assert_eq!(err.code(), rusqlite::ffi::SQLITE_INTERNAL);
    assert_eq!(query(&db, "SELECT last_applied_op FROM ps_buckets"), json!([[0]]));
}

#[test]
fn rows_are_written_while_in_sync_operation_is_reported() {
    let db = open_db();
    db.execute_batch(
        "CREATE TABLE seen(flag INTEGER);
         CREATE TRIGGER t AFTER INSERT ON ps_data__items BEGIN INSERT INTO seen VALUES (powersync_in_sync_operation()); END;",
    )
    .unwrap();
    db.execute_batch("BEGIN").unwrap();
    let control = |op: &str, payload: &str| -> String {
        db.query_row("SELECT powersync_control(?, ?)", [op, payload], |r| r.get(0))
            .unwrap()
    };
    control("start", "{}");
    control("line_text", &checkpoint(1, json!([bucket("A", 1, 3, 1)])));
    control("line_text", &data("A", json!([put(1, "items", "a", 1, json!({}))])));
    control("line_text", &complete(1));
    db.execute_batch("COMMIT").unwrap();
    assert_eq!(query(&db, "SELECT flag FROM seen"), json!([[1]]));
    let after: i64 = db
        .query_row("SELECT powersync_in_sync_operation()", [], |r| r.get(0))
        .unwrap();
    assert_eq!(after, 0);
}

#[test]
fn first_sync_publishes_in_row_order_and_deletes_queued_rows_without_ops() {
    let db = open_db();
    // A local row queued for re-evaluation (as a removed bucket leaves it) with no ops left.
    db.execute_batch(
        "INSERT INTO ps_data__items(id, data) VALUES ('local', '{}'); \
         INSERT INTO ps_updated_rows(row_type, row_id) VALUES ('items', 'local');",
    )
    .unwrap();
    // Ops arrive out of row order, and r1 has a newer op in the second bucket.
    store(
        &db,
        &data(
            "A",
            json!([
                put(1, "items", "r3", 1, json!({"v": 1})),
                put(2, "items", "r1", 2, json!({"v": 2}))
            ]),
        ),
    );
    store(
        &db,
        &data(
            "B",
            json!([
                put(3, "items", "r2", 4, json!({"v": 3})),
                put(5, "items", "r1", 8, json!({"v": 5}))
            ]),
        ),
    );
    let cp = checkpoint_of(&checkpoint(5, json!([bucket("A", 3, 3, 2), bucket("B", 12, 3, 2)])));
    assert_eq!(run(&db, &cp, None).unwrap(), SyncLocalResult::Applied);
    // Written in (type, id) order, as the reference's sorted UNION writes them.
    assert_eq!(
        query(&db, "SELECT id, data FROM ps_data__items ORDER BY rowid"),
        json!([["r1", r#"{"v":5}"#], ["r2", r#"{"v":3}"#], ["r3", r#"{"v":1}"#]])
    );
    assert_eq!(count(&db, "ps_updated_rows"), 0);
}

/// The reference's first-sync query: every row with an op or a queue entry, once, sorted by
/// `(row_type, row_id)`, with its newest op's data.
const UNION_PLAN: &str = "WITH updated AS (\
      SELECT o.row_type, o.row_id FROM ps_buckets b JOIN ps_oplog o ON o.bucket = b.id AND o.op_id > b.last_applied_op \
      UNION SELECT row_type, row_id FROM ps_updated_rows) \
    SELECT u.row_type, u.row_id, (SELECT o.data FROM ps_oplog o WHERE o.row_type = u.row_type AND o.row_id = u.row_id ORDER BY o.op_id DESC LIMIT 1) \
    FROM updated u";

#[test]
fn first_sync_plan_yields_the_union_plans_rows_in_its_order() {
    // Random oplogs (xorshift, fixed seeds): rows spread over buckets, superseded and removed,
    // some in two buckets, plus queued rows with and without ops.
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut next = |n: u64| rng.below(n);
        let db = open_db();
        let mut op_id = 0;
        for bucket in ["a", "b", "c"] {
            let mut ops = Vec::new();
            for _ in 0..next(30) {
                op_id += 1;
                let (table, id) = (["items", "lists"][next(2) as usize], format!("r{}", next(25)));
                ops.push(if next(5) == 0 {
                    remove(op_id, table, &id, 1)
                } else {
                    put(op_id, table, &id, 1, json!({"v": op_id}))
                });
            }
            store(&db, &data(bucket, json!(ops)));
        }
        for _ in 0..next(6) {
            let sql = "INSERT OR IGNORE INTO ps_updated_rows(row_type, row_id) VALUES ('items', ?)";
            db.execute(sql, [format!("r{}", next(40))]).unwrap();
        }
        let rows = |sql: &str| query(&db, sql).as_array().unwrap().clone();
        let expected = rows(UNION_PLAN);
        let ours = crate::sync::sync_local::first_sync_plans();
        let (with_ops, queued) = (rows(ours[0]), rows(ours[1]));
        // Rows with ops come in the UNION's order; queued rows without ops (all deletes) follow.
        let has_ops = |r: &serde_json::Value| with_ops.iter().any(|w| w[0] == r[0] && w[1] == r[1]);
        let in_order: Vec<_> = expected.iter().filter(|r| has_ops(r)).cloned().collect();
        let rest: Vec<_> = expected.iter().filter(|r| !has_ops(r)).cloned().collect();
        assert_eq!(with_ops, in_order, "seed {seed}");
        assert_eq!(queued, rest, "seed {seed}");
        assert!(
            rest.iter().all(|r| r[2].is_null()),
            "seed {seed}: queued rows without ops delete"
        );
    }
}

fn apply_around(db: &Connection) {
    db.query_row(
        "SELECT powersync_config_set('apply_around_pending_uploads', 1)",
        [],
        |_| Ok(()),
    )
    .unwrap();
}

#[test]
fn around_pending_uploads_every_row_but_the_held_ones_is_published() {
    let db = open_db();
    store(
        &db,
        &data("A", json!([put(1, "items", "gone", 1, json!({"name": "old"}))])),
    );
    run(&db, &checkpoint_of(&checkpoint(1, json!([bucket("A", 1, 3, 1)]))), None).unwrap();
    apply_around(&db);
    local_write(&db, "mine");
    store(
        &db,
        &data(
            "A",
            json!([
                put(2, "items", "mine", 2, json!({"name": "server"})),
                put(3, "items", "fresh", 4, json!({"name": "new"})),
                remove(4, "items", "gone", 8)
            ]),
        ),
    );
    let cp = checkpoint_of(&checkpoint_with_write(4, 3, json!([bucket("A", 15, 3, 3)])));
    assert_eq!(
        run(&db, &cp, None).unwrap(),
        SyncLocalResult::AppliedAround { held_rows: 1 }
    );
    // The fresh row and the removal are applied; the row with a pending write keeps it.
    assert_eq!(
        items(&db),
        json!([["fresh", r#"{"name":"new"}"#], ["mine", r#"{"name":"mine","qty":1}"#]])
    );
    assert_eq!(
        query(&db, "SELECT name, last_applied_op, last_op FROM ps_buckets"),
        json!([["A", 4, 4]])
    );
    assert_eq!(query(&db, "SELECT * FROM ps_sync_state"), json!([[i32::MAX, NOW]]));
    // The held row is re-derived later; the write checkpoint is seen, not applied.
    assert_eq!(query(&db, "SELECT * FROM ps_updated_rows"), json!([["items", "mine"]]));
    assert_eq!(
        query(
            &db,
            "SELECT key, value FROM ps_kv WHERE key LIKE '%checkpoint%' ORDER BY key"
        ),
        json!([
            ["last_seen_checkpoint_request_id", 3],
            [
                "target_checkpoint_request_id",
                crate::sync::checkpoint_requests::MAX_OP_ID
            ]
        ])
    );

    // The upload is acknowledged and covered by write checkpoint 3: the gate opens, the held
    // row gets the server's version and nothing is held any more.
    db.execute_batch("DELETE FROM ps_crud; UPDATE ps_kv SET value = 3 WHERE key = 'target_checkpoint_request_id'")
        .unwrap();
    assert_eq!(run(&db, &cp, None).unwrap(), SyncLocalResult::Applied);
    assert_eq!(
        items(&db),
        json!([["fresh", r#"{"name":"new"}"#], ["mine", r#"{"name":"server"}"#]])
    );
    assert_eq!(count(&db, "ps_updated_rows"), 0);
    assert_eq!(count(&db, "ps_pending_rows"), 0);
    assert_eq!(
        query(
            &db,
            "SELECT value FROM ps_kv WHERE key = 'last_applied_checkpoint_request_id'"
        ),
        json!([[3]])
    );
}

#[test]
fn around_pending_uploads_a_partial_checkpoint_keeps_held_rows_for_later() {
    let db = open_db();
    apply_around(&db);
    local_write(&db, "mine");
    db.execute_batch("DELETE FROM ps_updated_rows").unwrap();
    store(
        &db,
        &data(
            "P1",
            json!([
                put(1, "items", "mine", 1, json!({"name": "server"})),
                put(2, "items", "p1", 2, json!({}))
            ]),
        ),
    );
    let cp = checkpoint_of(&checkpoint(2, json!([bucket("P1", 3, 1, 2), bucket("P3", 0, 3, 0)])));
    assert_eq!(
        run(&db, &cp, Some(Priority(1))).unwrap(),
        SyncLocalResult::AppliedAround { held_rows: 1 }
    );
    assert_eq!(
        items(&db),
        json!([["mine", r#"{"name":"mine","qty":1}"#], ["p1", "{}"]])
    );
    assert_eq!(query(&db, "SELECT * FROM ps_sync_state"), json!([[1, NOW]]));
    // Its op is applied now, so only ps_updated_rows brings the row back later.
    assert_eq!(query(&db, "SELECT * FROM ps_updated_rows"), json!([["items", "mine"]]));
}
