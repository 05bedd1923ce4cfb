//! The sync stream over real HTTP: checkpoint shape, data, checksums, priorities, reconnects,
//! live diffs, framing.

mod common;

use common::*;
use powersync_test_service::{ServerOp, TestService};
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

#[tokio::test]
async fn bson_framing_is_chosen_from_accept_and_keeps_wire_types() {
    let svc = start();
    svc.apply(vec![
        put("lists", "l1", json!({"name": "a"})),
        put("lists", "l2", json!({"name": "b"})),
    ])
    .unwrap();
    let token = svc.token("alice", HOUR);
    let resp = open_stream(&svc, &token, &request("c1"), SDK_ACCEPT).await;
    assert_eq!(resp.headers()["content-type"], "application/vnd.powersync.bson-stream");
    let mut lines = Lines::new(resp);
    assert!(lines.is_bson());
    let mut docs = Vec::new();
    loop {
        let frame = lines.next_frame().await.unwrap().unwrap();
        let doc: bson::Document = bson::deserialize_from_slice(&frame).unwrap();
        assert_eq!(doc.len(), 1, "one key per line: {doc}");
        let done = doc.contains_key("checkpoint_complete");
        docs.push(doc);
        if done {
            break;
        }
    }
    assert!(matches!(docs[0].get("token_expires_in"), Some(bson::Bson::Int32(_))));
    let cp = docs[1].get_document("checkpoint").unwrap();
    assert_eq!(cp.get_str("last_op_id").unwrap(), "2");
    let bucket = cp.get_array("buckets").unwrap()[0].as_document().unwrap();
    assert!(matches!(bucket.get("checksum"), Some(bson::Bson::Int64(c)) if (0..=u32::MAX as i64).contains(c)));
    let data = docs.iter().find_map(|d| d.get_document("data").ok()).unwrap();
    let op = data.get_array("data").unwrap()[0].as_document().unwrap();
    assert_eq!(op.get_str("op_id").unwrap(), "1");
    assert_eq!(op.get_str("data").unwrap(), r#"{"name":"a"}"#);
    assert_eq!(svc.stats().last_stream_framing.as_deref(), Some("bson"));

    // The same service answers NDJSON when BSON is not preferred.
    let resp = open_stream(
        &svc,
        &token,
        &request("c1"),
        "application/x-ndjson;q=1, application/vnd.powersync.bson-stream;q=0.5",
    )
    .await;
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
}

#[tokio::test]
async fn reconnect_with_after_gets_only_newer_ops_and_drops_unknown_buckets() {
    let svc = start();
    svc.apply(vec![
        put("lists", "l1", json!({"n": 1})),
        put("lists", "l2", json!({"n": 2})),
    ])
    .unwrap();
    let token = svc.token("alice", HOUR);
    let mut first = Lines::new(open_stream(&svc, &token, &request("c1"), "application/x-ndjson").await);
    let lines = first.until_complete().await;
    let before = ops_of(&lines, "global[]").into_iter().cloned().collect::<Vec<_>>();
    assert_eq!(before.len(), 2);
    drop(first);

    svc.apply(vec![
        put("lists", "l1", json!({"n": 10})),
        ServerOp::Delete {
            table: "lists".into(),
            id: "l2".into(),
        },
    ])
    .unwrap();
    let mut body = request("c1");
    body["buckets"] = json!([{"name": "global[]", "after": "2"}, {"name": "user_todos[\"bob\"]", "after": "1"}]);
    let mut again = Lines::new(open_stream(&svc, &token, &body, "application/x-ndjson").await);
    let lines = again.until_complete().await;
    let cp = &lines[0]["checkpoint"];
    let names: Vec<_> = cp["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["bucket"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&r#"user_todos["bob"]"#), "{names:?}");
    let new_ops = ops_of(&lines, "global[]");
    let kinds: Vec<_> = new_ops
        .iter()
        .map(|o| (o["op_id"].as_str().unwrap(), o["op"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, vec![("3", "PUT"), ("4", "REMOVE")]);
    assert!(new_ops[1].get("data").is_none());
    assert_eq!(new_ops[1]["object_id"], "l2");
    let global = cp["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["bucket"] == "global[]")
        .unwrap();
    assert_eq!(global["count"], 4);
    // Old ops plus new ops add up to the checkpoint's checksum (REMOVE ops carry one too).
    let all: Vec<&serde_json::Value> = before.iter().chain(new_ops.iter().copied()).collect();
    assert_eq!(sum(&all), global["checksum"].as_u64().unwrap());
    // Buckets without news get no data line.
    assert!(ops_of(&lines, r#"user_todos["alice"]"#).is_empty());
}

#[tokio::test]
async fn live_changes_arrive_as_checkpoint_diff() {
    let svc = start();
    svc.apply(vec![put("todos", "t1", json!({"owner_id": "alice", "x": 1}))])
        .unwrap();
    let token = svc.token("alice", HOUR);
    let mut lines = Lines::new(open_stream(&svc, &token, &request("c1"), "application/x-ndjson").await);
    let first = lines.until_complete().await;
    let cp = &first[0]["checkpoint"];
    let alice = r#"user_todos["alice"]"#;

    // Another user's change is not news for alice; hers is.
    svc.apply(vec![put("todos", "t2", json!({"owner_id": "bob"}))]).unwrap();
    svc.apply(vec![put("todos", "t1", json!({"owner_id": "alice", "x": 2}))])
        .unwrap();
    let diff_lines = lines.until_complete().await;
    let diff = &diff_lines[0]["checkpoint_diff"];
    assert_eq!(diff["last_op_id"], "3");
    assert_eq!(diff["removed_buckets"], json!([]));
    let updated = checksums(&diff["updated_buckets"]);
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0].0, alice);
    let new_ops = ops_of(&diff_lines, alice);
    assert_eq!(new_ops.len(), 1);
    assert_eq!(new_ops[0]["op_id"], "3");
    let old_ops = ops_of(&first, alice);
    let all: Vec<_> = old_ops.into_iter().chain(new_ops).collect();
    assert_eq!(sum(&all), updated[0].1);
    assert_eq!(diff["updated_buckets"][0]["count"], 2);
    assert_ne!(cp["buckets"], diff["updated_buckets"]);

    // The admin HTTP API does the same while the stream is connected.
    let resp = reqwest::Client::new()
        .post(format!("{}/admin/apply", svc.url()))
        .json(&json!({"ops": [{"op": "DELETE", "type": "todos", "id": "t1"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let diff_lines = lines.until_complete().await;
    let ops = ops_of(&diff_lines, alice);
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0]["op"], "REMOVE");
    assert_eq!(svc.stats().active_streams, 1);
}

#[tokio::test]
async fn stream_subscriptions_resolve_to_buckets_or_errors() {
    let svc = start();
    svc.apply(vec![
        put("todos", "t1", json!({"owner_id": "bob", "list_id": "L1"})),
        put("todos", "t2", json!({"owner_id": "bob", "list_id": "L2"})),
        put("news", "n1", json!({"title": "hello"})),
    ])
    .unwrap();
    let mut body = request("c1");
    body["streams"] = json!({"include_defaults": false, "subscriptions": [
        {"stream": "list_todos", "parameters": {"list_id": "L1"}, "override_priority": 0},
        {"stream": "list_todos", "parameters": null, "override_priority": null},
        {"stream": "missing", "parameters": null, "override_priority": null}]});
    let mut lines = Lines::new(open_stream(&svc, &svc.token("alice", HOUR), &body, "application/x-ndjson").await);
    let lines = lines.until_complete().await;
    let cp = &lines[0]["checkpoint"];
    let list = cp["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["bucket"] == r#"list_todos["L1"]"#)
        .unwrap();
    assert_eq!(list["priority"], 0);
    assert_eq!(list["subscriptions"], json!([{"sub": 0}]));
    assert!(
        !cp["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["bucket"] == "news[]"),
        "defaults were excluded"
    );
    let streams = cp["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 2);
    assert_eq!(streams[0]["name"], "list_todos");
    assert_eq!(streams[0]["errors"][0]["subscription"], 1);
    assert_eq!(streams[1]["name"], "missing");
    assert_eq!(streams[1]["errors"][0]["subscription"], 2);
    let ops = ops_of(&lines, r#"list_todos["L1"]"#);
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0]["object_id"], "t1");
    // Priority 0 is completed first.
    assert_eq!(lines[2]["partial_checkpoint_complete"]["priority"], 0);
}

#[tokio::test]
async fn large_buckets_are_split_into_batches() {
    let svc = TestService::start(config().with_data_batch_size(2)).unwrap();
    svc.apply(
        (0..5)
            .map(|i| put("lists", &format!("l{i}"), json!({"i": i})))
            .collect(),
    )
    .unwrap();
    let mut lines = Lines::new(open_stream(&svc, &svc.token("a", HOUR), &request("c"), "application/x-ndjson").await);
    let lines = lines.until_complete().await;
    let batches: Vec<_> = lines
        .iter()
        .filter_map(|l| l.get("data"))
        .filter(|d| d["bucket"] == "global[]")
        .collect();
    assert_eq!(batches.len(), 3);
    assert_eq!(batches[0]["data"].as_array().unwrap().len(), 2);
    assert_eq!(batches[0]["has_more"], true);
    assert_eq!(batches[1]["after"], batches[0]["next_after"]);
    assert_eq!(batches[2]["has_more"], false);
    assert_eq!(ops_of(&lines, "global[]").len(), 5);
}

#[tokio::test]
async fn keepalives_repeat_and_the_stream_ends_when_the_token_expires() {
    let svc = TestService::start(config().with_keepalive_interval(Duration::from_millis(50))).unwrap();
    // `exp` is in whole seconds from a truncated `iat`, so a 1 s token could have only a few
    // milliseconds left by the time the stream opens; 2 s leave at least one whole second.
    let token = svc.token("alice", Duration::from_secs(2));
    let mut lines = Lines::new(open_stream(&svc, &token, &request("c"), "application/x-ndjson").await);
    lines.until_complete().await;
    let started = std::time::Instant::now();
    let mut keepalives = Vec::new();
    loop {
        match lines.next().await {
            Next::Line(l) => keepalives.push(l["token_expires_in"].as_i64().expect("only keepalives")),
            Next::End => break,
            Next::Error(e) => panic!("stream failed: {e}"),
        }
    }
    assert!(keepalives.len() >= 2, "{keepalives:?}");
    assert_eq!(keepalives.last(), Some(&0));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn malformed_stream_requests_get_400() {
    let svc = start();
    let token = svc.token("alice", HOUR);
    for body in [
        json!({"buckets": [{"name": "global[]", "after": 5}]}),
        json!({"buckets": [{"name": "x", "after": "-1"}]}),
        json!([]),
    ] {
        let resp = open_stream(&svc, &token, &body, "application/x-ndjson").await;
        assert_eq!(resp.status(), 400, "{body}");
        let err: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["status"], 400);
        let description = err["error"]["description"].as_str().unwrap();
        assert!(
            description.starts_with("invalid request body") || description.contains(".after"),
            "{err}"
        );
    }
    assert_eq!(svc.stats().stream_requests, 0);
}
