//! The sync stream over real HTTP: checkpoint shape, data, checksums, priorities, reconnects,
//! live diffs, framing.

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn first_sync_sends_checkpoint_data_and_complete() {
    let svc = start();
    svc.apply(vec![
        put("lists", "l1", json!({"name": "groceries"})),
        put(
            "todos",
            "t1",
            json!({"owner_id": "alice", "list_id": "l1", "description": "milk"}),
        ),
        put(
            "todos",
            "t2",
            json!({"owner_id": "bob", "list_id": "l1", "description": "eggs"}),
        ),
    ])
    .unwrap();
    let resp = open_stream(&svc, &svc.token("alice", HOUR), &request("c1"), "application/x-ndjson").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    let mut lines = Lines::new(resp);
    let first = lines.line().await;
    let left = first["token_expires_in"].as_i64().unwrap();
    assert!((3590..=3600).contains(&left), "{first}");

    let lines = lines.until_complete().await;
    let cp = &lines[0]["checkpoint"];
    assert_eq!(key(&lines[0]), "checkpoint");
    // 4 ops so far: l1 → global, t1 → user_todos["alice"] + list_todos["l1"] (stream, not
    // subscribed), t2 → user_todos["bob"] + list_todos["l1"]: op ids 1..=5.
    assert_eq!(cp["last_op_id"], "5");
    assert!(cp.get("write_checkpoint").is_none());
    let buckets = cp["buckets"].as_array().unwrap();
    let names: Vec<_> = buckets.iter().map(|b| b["bucket"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["global[]", "news[]", r#"user_todos["alice"]"#]);
    assert_eq!(buckets[0]["priority"], 1);
    assert_eq!(buckets[0]["count"], 1);
    assert_eq!(buckets[1]["count"], 0);
    assert_eq!(buckets[1]["subscriptions"], json!([{"default": 0}]));
    assert_eq!(
        cp["streams"],
        json!([{"name": "news", "is_default": true, "errors": []}])
    );

    let todos = ops_of(&lines, r#"user_todos["alice"]"#);
    assert_eq!(todos.len(), 1);
    let op = todos[0];
    assert_eq!(op["op"], "PUT");
    assert_eq!(op["object_type"], "todos");
    assert_eq!(op["object_id"], "t1");
    assert!(op["op_id"].is_string());
    let data: serde_json::Value = serde_json::from_str(op["data"].as_str().unwrap()).unwrap();
    assert_eq!(
        data,
        json!({"owner_id": "alice", "list_id": "l1", "description": "milk"})
    );
    for (bucket, checksum) in checksums(&cp["buckets"]) {
        assert_eq!(sum(&ops_of(&lines, &bucket)), checksum, "bucket {bucket}");
    }

    // Priority 1 first, then a partial complete for it, then the rest and checkpoint_complete.
    let keys: Vec<_> = lines.iter().map(key).collect();
    assert_eq!(
        keys,
        vec![
            "checkpoint",
            "data",
            "partial_checkpoint_complete",
            "data",
            "checkpoint_complete"
        ]
    );
    assert_eq!(lines[1]["data"]["bucket"], "global[]");
    assert_eq!(
        lines[2]["partial_checkpoint_complete"],
        json!({"last_op_id": "5", "priority": 1})
    );
    assert_eq!(lines[4]["checkpoint_complete"], json!({"last_op_id": "5"}));
    assert_eq!(svc.stats().stream_requests, 1);
    assert_eq!(svc.stats().last_stream_request.unwrap()["client_id"], "c1");
}
