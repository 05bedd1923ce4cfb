//! `start_payload`: the input is the payload of `powersync_control('start', ...)`. A start that
//! succeeds must ask for a sync stream; the harness then syncs a PUT and a REMOVE for every raw
//! table the payload names (plus a JSON table and an untyped type), so the payload's raw-table
//! statements run against real rows.

use rusqlite::types::Value;
use rusqlite::Connection;

use super::{common, line_text};

pub fn run(data: &[u8]) {
    let payload = String::from_utf8_lossy(data).into_owned();
    let db = common::open_with_schema();
    db.execute_batch("CREATE TABLE todos(id TEXT PRIMARY KEY, title TEXT, done INTEGER, extra TEXT)")
        .unwrap();
    match common::control_tx(&db, "start", Value::Text(payload.clone())) {
        Ok(result) => {
            let instructions = common::text(&result);
            assert!(
                instructions.contains("\"EstablishSyncStream\""),
                "a successful start must open a stream: {instructions}"
            );
            sync_rows(&db, &types(&payload));
        }
        Err(_) => {
            // A failed start leaves no iteration.
            let event = common::control_tx(&db, "connection", Value::Text("established".into()));
            assert!(event.is_err(), "connection event accepted after a failed start");
        }
    }
    let _ = common::control_tx(&db, "stop", Value::Null);
    common::check_integrity(&db);
}

/// Row types to sync: the payload's raw table names (when it parses), then fixed ones.
fn types(payload: &str) -> Vec<String> {
    let mut out: Vec<String> = serde_json::from_str::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| v.pointer("/schema/raw_tables").and_then(|r| r.as_array()).cloned())
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("name").and_then(|n| n.as_str()).map(str::to_owned))
        .take(4)
        .collect();
    out.extend(["todos", "items", "other"].map(str::to_owned));
    out
}

fn line(value: serde_json::Value) -> (Value, Option<&'static str>) {
    let key = match value.as_object().and_then(|m| m.keys().next()).map(String::as_str) {
        Some("checkpoint_complete") => Some("checkpoint_complete"),
        _ => None,
    };
    (Value::Text(value.to_string()), key)
}

fn sync_rows(db: &Connection, types: &[String]) {
    let n = types.len() as i64;
    let data = serde_json::json!({"title": "t", "done": true, "v": "x", "n": 2, "tags": ["a"]}).to_string();
    let puts: Vec<_> = types
        .iter()
        .enumerate()
        .map(|(i, t)| {
            serde_json::json!({"op_id": (i as i64 + 1).to_string(), "op": "PUT", "object_type": t,
                "object_id": "r1", "checksum": 1, "data": data})
        })
        .collect();
    let removes: Vec<_> = types
        .iter()
        .enumerate()
        .map(|(i, t)| {
            serde_json::json!({"op_id": (n + i as i64 + 1).to_string(), "op": "REMOVE", "object_type": t,
                "object_id": "r1", "checksum": 1})
        })
        .collect();
    let lines = [
        serde_json::json!({"checkpoint": {"last_op_id": n.to_string(), "buckets": [
            {"bucket": "b", "checksum": n, "priority": 3, "count": n}]}}),
        serde_json::json!({"data": {"bucket": "b", "data": puts}}),
        serde_json::json!({"checkpoint_complete": {"last_op_id": n.to_string()}}),
        serde_json::json!({"token_expires_in": 60}),
        serde_json::json!({"checkpoint_diff": {"last_op_id": (2 * n).to_string(), "updated_buckets": [
            {"bucket": "b", "checksum": 2 * n, "priority": 3, "count": 2 * n}], "removed_buckets": []}}),
        serde_json::json!({"data": {"bucket": "b", "data": removes}}),
        serde_json::json!({"checkpoint_complete": {"last_op_id": (2 * n).to_string()}}),
    ];
    let _ = common::control_tx(db, "connection", Value::Text("established".into()));
    for l in lines {
        let (value, key) = line(l);
        let before = line_text::app_data(db);
        match common::control_tx(db, "line_text", value) {
            Ok(result) => {
                if before != line_text::app_data(db) {
                    assert!(
                        key.is_some() && common::text(&result).contains("DidCompleteSync"),
                        "app data changed without a published checkpoint"
                    );
                }
            }
            // Raw-table statement errors end the iteration; nothing more to sync.
            Err(_) => return,
        }
    }
}
