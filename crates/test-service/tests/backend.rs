//! The backend side: /upload applies CRUD, write checkpoints and checkpoint requests show up in
//! checkpoints, and the admin API.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

async fn post(url: String, token: Option<&str>, body: Value) -> reqwest::Response {
    let mut req = reqwest::Client::new().post(url).json(&body);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Token {t}"));
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn upload_applies_put_patch_delete() {
    let svc = start();
    let token = svc.token("alice", HOUR);
    let body = json!({"client_id": "c1", "batch": [
        {"op_id": 1, "tx_id": 1, "op": "PUT", "type": "todos", "id": "t1", "data": {"owner_id": "alice", "done": 0, "text": "a"}},
        {"op_id": 2, "tx_id": 1, "op": "PUT", "type": "todos", "id": "t2", "data": {"owner_id": "alice", "text": "b"}},
        {"op_id": 3, "tx_id": 2, "op": "PATCH", "type": "todos", "id": "t1", "data": {"done": 1, "text": null}, "old": {"done": 0}},
        {"op_id": 4, "tx_id": 3, "op": "DELETE", "type": "todos", "id": "t2", "metadata": "from test"}
    ]});
    let resp = post(svc.upload_url(), Some(&token), body.clone()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({}));
    assert_eq!(
        svc.rows("todos"),
        vec![("t1".to_owned(), json!({"owner_id": "alice", "done": 1, "text": null}))]
    );
    let stats = svc.stats();
    assert_eq!((stats.uploads, stats.uploaded_ops), (1, 4));
    assert_eq!(stats.last_upload, Some(body));

    // The uploaded rows sync back to their owner.
    let mut lines = Lines::new(open_stream(&svc, &token, &request("c1"), "application/x-ndjson").await);
    let lines = lines.until_complete().await;
    let ops = ops_of(&lines, r#"user_todos["alice"]"#);
    let last_t1 = ops.iter().rev().find(|o| o["object_id"] == "t1").unwrap();
    assert_eq!(last_t1["op"], "PUT");
    assert_eq!(last_t1["data"], r#"{"done":1,"owner_id":"alice","text":null}"#);
    let last_t2 = ops.iter().rev().find(|o| o["object_id"] == "t2").unwrap();
    assert_eq!(last_t2["op"], "REMOVE");
}

#[tokio::test]
async fn malformed_uploads_get_400_and_change_nothing() {
    let svc = start();
    let token = svc.token("alice", HOUR);
    let bad_bodies = [
        json!({"batch": [{"op": "PUT", "type": "todos", "id": "ok", "data": {}}, {"op": "PUT", "type": "todos", "id": "x"}]}),
        json!({"batch": [{"op": "PUT", "type": "todos", "id": "ok", "data": {}}, {"op": "UPSERT", "type": "todos", "id": "x"}]}),
        json!({"batch": [{"op": "DELETE", "type": "", "id": "x"}]}),
        json!({"batch": [{"op": "DELETE", "type": "todos", "id": 5}]}),
        json!({"no_batch": []}),
    ];
    for body in bad_bodies {
        let resp = post(svc.upload_url(), Some(&token), body.clone()).await;
        assert_eq!(resp.status(), 400, "{body}");
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["code"], "bad_request");
        assert!(!err["error"]["description"].as_str().unwrap().is_empty());
    }
    let resp = reqwest::Client::new()
        .post(svc.upload_url())
        .header("Authorization", format!("Token {token}"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(svc.rows("todos").is_empty());
    assert_eq!(svc.stats().uploads, 0);
}

#[tokio::test]
async fn legacy_write_checkpoint_is_reported_in_the_next_checkpoint() {
    let svc = start();
    let token = svc.token("alice", HOUR);
    let client = reqwest::Client::new();
    let get_wc = |client_id: &str| {
        client
            .get(format!("{}/write-checkpoint2.json?client_id={client_id}", svc.url()))
            .header("Authorization", format!("Token {token}"))
            .send()
    };
    let first: Value = get_wc("c1").await.unwrap().json().await.unwrap();
    assert_eq!(first, json!({"data": {"write_checkpoint": "1"}}));
    let second: Value = get_wc("c1").await.unwrap().json().await.unwrap();
    assert_eq!(second["data"]["write_checkpoint"], "2");
    let missing = client
        .get(format!("{}/write-checkpoint2.json", svc.url()))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);

    let mut lines = Lines::new(open_stream(&svc, &token, &request("c1"), "application/x-ndjson").await);
    let cp = lines.until_complete().await;
    assert_eq!(cp[0]["checkpoint"]["write_checkpoint"], "2");
    // Another client of the same user has no write checkpoint yet.
    let mut other = Lines::new(open_stream(&svc, &token, &request("c2"), "application/x-ndjson").await);
    assert!(other.until_complete().await[0]["checkpoint"]
        .get("write_checkpoint")
        .is_none());

    // A new write checkpoint while connected arrives as a diff.
    let third: Value = get_wc("c1").await.unwrap().json().await.unwrap();
    assert_eq!(third["data"]["write_checkpoint"], "3");
    let diff = lines.until_complete().await;
    assert_eq!(diff[0]["checkpoint_diff"]["write_checkpoint"], "3");
    assert_eq!(diff[0]["checkpoint_diff"]["updated_buckets"], json!([]));
    assert_eq!(svc.stats().write_checkpoints, 3);
}

#[tokio::test]
async fn checkpoint_requests_accept_the_larger_id() {
    let svc = start();
    let token = svc.token("alice", HOUR);
    let url = format!("{}/sync/checkpoint-request", svc.url());
    let accepted = |v: Value| v["data"]["checkpoint_request_id"].as_str().unwrap().to_owned();
    let r = post(
        url.clone(),
        Some(&token),
        json!({"client_id": "c1", "checkpoint_request_id": "5"}),
    )
    .await;
    assert_eq!(accepted(r.json().await.unwrap()), "5");
    let r = post(
        url.clone(),
        Some(&token),
        json!({"client_id": "c1", "checkpoint_request_id": "3"}),
    )
    .await;
    assert_eq!(accepted(r.json().await.unwrap()), "5");
    let r = post(
        url.clone(),
        Some(&token),
        json!({"client_id": "c1", "checkpoint_request_id": "9"}),
    )
    .await;
    assert_eq!(accepted(r.json().await.unwrap()), "9");
    let r = post(
        url.clone(),
        Some(&token),
        json!({"client_id": "c1", "checkpoint_request_id": 9}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = post(
        url.clone(),
        Some(&token),
        json!({"client_id": "c1", "checkpoint_request_id": "x"}),
    )
    .await;
    assert_eq!(r.status(), 400);

    let mut lines = Lines::new(open_stream(&svc, &token, &request("c1"), "application/x-ndjson").await);
    assert_eq!(lines.until_complete().await[0]["checkpoint"]["write_checkpoint"], "9");
    // A legacy write checkpoint continues from the same value.
    let wc: Value = reqwest::Client::new()
        .get(format!("{}/write-checkpoint2.json?client_id=c1", svc.url()))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(wc["data"]["write_checkpoint"], "10");
    assert_eq!(
        lines.until_complete().await[0]["checkpoint_diff"]["write_checkpoint"],
        "10"
    );
    assert_eq!(svc.stats().checkpoint_requests, 3);
}

#[tokio::test]
async fn admin_api_changes_reads_and_signs() {
    let svc = start();
    let admin = |path: &str| format!("{}/admin/{path}", svc.url());
    let r = post(
        admin("apply"),
        None,
        json!({"ops": [
        {"op": "PUT", "type": "lists", "id": "l1", "data": {"name": "a"}},
        {"op": "PATCH", "type": "lists", "id": "l1", "data": {"color": "red"}}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"bucket_ops": 2, "last_op_id": "2"})
    );
    let rows: Value = reqwest::get(admin("rows?table=lists"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        rows,
        json!({"rows": [{"id": "l1", "data": {"name": "a", "color": "red"}}]})
    );
    let r = post(
        admin("apply"),
        None,
        json!({"ops": [{"op": "PUT", "type": "lists", "id": "l2"}]}),
    )
    .await;
    assert_eq!(r.status(), 400);

    let token: Value = post(admin("token"), None, json!({"sub": "carol", "expires_in": 60}))
        .await
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap();
    let resp = open_stream(&svc, token, &request("c"), "application/x-ndjson").await;
    assert_eq!(resp.status(), 200);

    let stats: Value = reqwest::get(admin("stats")).await.unwrap().json().await.unwrap();
    assert_eq!(stats["stream_requests"], 1);
    assert_eq!(stats["last_stream_framing"], "ndjson");

    let missing = reqwest::get(format!("{}/nope", svc.url())).await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.json::<Value>().await.unwrap()["error"]["code"], "not_found");
}
