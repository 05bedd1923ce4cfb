//! Checkpoint-request ids and the local-write gate in `ps_kv` (docs/protocol.md, "Publishing").

use serde_json::json;

use super::*;
use crate::sync::test_support::*;

fn kv(db: &Connection) -> serde_json::Value {
    query(db, "SELECT key, value FROM ps_kv WHERE key != 'client_id' ORDER BY key")
}

#[test]
fn local_write_closes_gate_with_max_target_and_forgets_seen_and_applied() {
    let db = open_db();
    record_seen(&db, 3).unwrap();
    record_applied(&db, 3).unwrap();
    close_write_gate(&db).unwrap();
    assert_eq!(kv(&db), json!([["target_checkpoint_request_id", MAX_OP_ID]]));
    assert!(write_gate_closed(&db).unwrap());
}

#[test]
fn gate_opens_when_seen_reaches_target_and_crud_is_empty() {
    let db = open_db();
    assert!(!write_gate_closed(&db).unwrap(), "no target, no crud: open");
    set_target(&db, TargetArgument::Set(IdArgument(Some(5)))).unwrap();
    assert!(write_gate_closed(&db).unwrap(), "target 5, nothing seen");
    record_seen(&db, 4).unwrap();
    assert!(write_gate_closed(&db).unwrap(), "seen 4 < target 5");
    record_seen(&db, 5).unwrap();
    assert!(!write_gate_closed(&db).unwrap(), "seen 5 = target 5");
    db.execute_batch("INSERT INTO ps_crud(data, tx_id) VALUES ('{}', 1)")
        .unwrap();
    assert!(write_gate_closed(&db).unwrap(), "pending upload");
}

#[test]
fn initial_request_id_is_highest_of_requested_concrete_target_and_one() {
    let db = open_db();
    assert_eq!(initial_request_id(&db).unwrap(), 1);
    seed(&db, IdArgument(Some(12))).unwrap();
    assert_eq!(initial_request_id(&db).unwrap(), 12);
    set_target(&db, TargetArgument::Set(IdArgument(Some(40)))).unwrap();
    assert_eq!(initial_request_id(&db).unwrap(), 40);
    close_write_gate(&db).unwrap();
    assert_eq!(
        initial_request_id(&db).unwrap(),
        12,
        "MAX_OP_ID is not a concrete target"
    );
}

#[test]
fn seed_accepts_positive_ids_only() {
    let db = open_db();
    let message = |id| seed(&db, IdArgument(id)).unwrap_err().to_string();
    assert_eq!(
        message(Some(0)),
        "invalid argument: checkpoint request id must be a positive integer. cause: unknown"
    );
    assert_eq!(
        message(Some(-3)),
        "invalid argument: checkpoint request id must be a non-negative integer. cause: unknown"
    );
    assert_eq!(
        message(None),
        "invalid argument: checkpoint request id must be an integer or integer string. cause: unknown"
    );
    assert_eq!(current(&db).unwrap(), None);
    assert_eq!(seed(&db, IdArgument(Some(12))).unwrap(), 12);
    assert_eq!(current(&db).unwrap(), Some(12));
}

#[test]
fn next_needs_a_seed_and_counts_up() {
    let db = open_db();
    let err = next(&db).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid state: Checkpoint request state has not been seeded"
    );
    seed(&db, IdArgument(Some(12))).unwrap();
    assert_eq!(next(&db).unwrap(), 13);
    assert_eq!(next(&db).unwrap(), 14);
    assert_eq!(current(&db).unwrap(), Some(14));
}

#[test]
fn set_target_reads_sets_and_clears_returning_the_previous_value() {
    let db = open_db();
    assert_eq!(set_target(&db, TargetArgument::Read).unwrap(), None);
    assert_eq!(
        set_target(&db, TargetArgument::Set(IdArgument(Some(14)))).unwrap(),
        None
    );
    assert_eq!(set_target(&db, TargetArgument::Read).unwrap(), Some(14));
    assert_eq!(
        set_target(&db, TargetArgument::Set(IdArgument(Some(0)))).unwrap(),
        Some(14)
    );
    assert_eq!(target(&db).unwrap(), None);
    assert_eq!(
        set_target(&db, TargetArgument::Set(IdArgument(None)))
            .unwrap_err()
            .to_string(),
        "invalid argument: target checkpoint request id must be an integer, integer string, or null. cause: unknown"
    );
    assert_eq!(
        set_target(&db, TargetArgument::Set(IdArgument(Some(-1))))
            .unwrap_err()
            .to_string(),
        "invalid argument: target checkpoint request id must be a non-negative integer. cause: unknown"
    );
}

#[test]
fn stuck_gate_is_max_target_with_empty_queue_only() {
    let db = open_db();
    assert!(!gate_stuck(&db).unwrap(), "no target");
    db.execute_batch("INSERT INTO ps_crud(data, tx_id) VALUES ('{}', 1)")
        .unwrap();
    close_write_gate(&db).unwrap();
    assert!(
        !gate_stuck(&db).unwrap(),
        "uploads queued: the upload pass requests a checkpoint"
    );
    db.execute_batch("DELETE FROM ps_crud").unwrap();
    assert!(gate_stuck(&db).unwrap(), "uploaded, nothing requested");
    set_target(&db, TargetArgument::Set(IdArgument(Some(3)))).unwrap();
    assert!(!gate_stuck(&db).unwrap(), "a write checkpoint is outstanding");
}

#[test]
fn heal_requests_one_more_than_any_id_posted_and_never_touches_other_state() {
    let db = open_db();
    assert_eq!(
        heal_stuck_gate(&db, true, 10).unwrap(),
        None,
        "nothing stuck: nothing done"
    );
    assert_eq!(kv(&db), json!([]));

    db.execute_batch("INSERT INTO ps_kv(key, value) VALUES ('last_requested_checkpoint_request_id', 41)")
        .unwrap();
    close_write_gate(&db).unwrap();
    assert_eq!(heal_stuck_gate(&db, true, 10).unwrap(), Some(GateHeal::Requested(42)));
    assert_eq!(initial_request_id(&db).unwrap(), 42, "the stream carries the healed id");
    assert_eq!(
        kv(&db),
        json!([
            [
                "healed_write_gate",
                r#"{"action":"requested","at":10,"checkpoint_request_id":42,"mode":"requests"}"#
            ],
            ["last_requested_checkpoint_request_id", 41],
            ["target_checkpoint_request_id", 42]
        ])
    );
}

#[test]
fn heal_in_legacy_mode_keeps_the_gate_closed_and_records_it() {
    let db = open_db();
    close_write_gate(&db).unwrap();
    assert_eq!(heal_stuck_gate(&db, false, 10).unwrap(), Some(GateHeal::LeftToClient));
    assert!(write_gate_closed(&db).unwrap());
    assert_eq!(
        kv(&db),
        json!([
            [
                "healed_write_gate",
                r#"{"action":"left to the client","at":10,"mode":"legacy"}"#
            ],
            ["target_checkpoint_request_id", MAX_OP_ID]
        ])
    );
}

#[test]
fn heal_without_a_fresh_id_below_the_sentinel_leaves_the_gate_to_the_client() {
    let db = open_db();
    write(&db, LAST_REQUESTED, MAX_OP_ID - 1).unwrap();
    close_write_gate(&db).unwrap();
    assert_eq!(heal_stuck_gate(&db, true, 10).unwrap(), Some(GateHeal::LeftToClient));
    assert_eq!(target(&db).unwrap(), Some(MAX_OP_ID));
}

#[test]
fn last_heal_reads_any_stored_value_as_text() {
    let db = open_db();
    assert_eq!(last_heal(&db).unwrap(), None);
    db.execute_batch("INSERT INTO ps_kv(key, value) VALUES ('healed_write_gate', 12)")
        .unwrap();
    assert_eq!(last_heal(&db).unwrap().as_deref(), Some("12"));
}
