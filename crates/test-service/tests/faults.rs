//! Each injected fault, seen from a plain HTTP client.

mod common;

use common::*;
use powersync_test_service::Fault;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn drop_stream_after_lines_cuts_the_next_stream_once() {
    let svc = start();
    svc.apply(
        (0..3)
            .map(|i| put("lists", &format!("l{i}"), json!({"i": i})))
            .collect(),
    )
    .unwrap();
    let token = svc.token("alice", HOUR);
    svc.inject(Fault::DropStreamAfterLines(2));
    let mut lines = Lines::new(open_stream(&svc, &token, &request("c"), "application/x-ndjson").await);
    assert!(lines.line().await.get("token_expires_in").is_some());
    assert!(lines.line().await.get("checkpoint").is_some());
    match lines.next().await {
        Next::Error(_) => {}
        other => panic!("expected the connection to fail after 2 lines, got {other:?}"),
    }
    assert_eq!(svc.stats().faults_triggered, 1);

    // The fault is used up: the next stream is complete.
    let mut lines = Lines::new(open_stream(&svc, &token, &request("c"), "application/x-ndjson").await);
    assert_eq!(ops_of(&lines.until_complete().await, "global[]").len(), 3);
}

#[tokio::test]
async fn drop_connected_streams_cuts_live_streams() {
    let svc = start();
    let token = svc.token("alice", HOUR);
    let mut a = Lines::new(open_stream(&svc, &token, &request("a"), "application/x-ndjson").await);
    let mut b = Lines::new(open_stream(&svc, &token, &request("b"), SDK_ACCEPT).await);
    a.until_complete().await;
    b.until_complete().await;
    svc.inject(Fault::DropConnectedStreams);
    assert!(matches!(a.next().await, Next::Error(_)));
    assert!(matches!(b.next().await, Next::Error(_)));
    // New streams are not affected.
    let mut c = Lines::new(open_stream(&svc, &token, &request("c"), "application/x-ndjson").await);
    c.until_complete().await;
}

#[tokio::test]
async fn corrupt_checksum_breaks_one_checkpoint_then_clears() {
    let svc = start();
    svc.apply(vec![put("lists", "l1", json!({})), put("lists", "l2", json!({}))])
        .unwrap();
    let token = svc.token("alice", HOUR);
    svc.inject(Fault::CorruptChecksum {
        bucket: "global[]".into(),
    });
    let mut lines = Lines::new(open_stream(&svc, &token, &request("c"), "application/x-ndjson").await);
    let bad = lines.until_complete().await;
    let (_, sent) = checksums(&bad[0]["checkpoint"]["buckets"])
        .into_iter()
        .find(|(b, _)| b == "global[]")
        .unwrap();
    let actual = sum(&ops_of(&bad, "global[]"));
    assert_ne!(sent, actual, "the checksum was corrupted");
    assert!(sent <= u32::MAX as u64);

    // Like a client whose validation failed: reconnect without the bucket and get it all, correct.
    let mut lines = Lines::new(open_stream(&svc, &token, &request("c"), "application/x-ndjson").await);
    let good = lines.until_complete().await;
    let (_, sent) = checksums(&good[0]["checkpoint"]["buckets"])
        .into_iter()
        .find(|(b, _)| b == "global[]")
        .unwrap();
    assert_eq!(sent, sum(&ops_of(&good, "global[]")));
    assert_eq!(sent, actual);
}

#[tokio::test]
async fn corrupt_checksum_applies_to_a_live_diff_too() {
    let svc = start();
    let token = svc.token("alice", HOUR);
    let mut lines = Lines::new(open_stream(&svc, &token, &request("c"), "application/x-ndjson").await);
    let first = lines.until_complete().await;
    svc.inject(Fault::CorruptChecksum {
        bucket: "global[]".into(),
    });
    svc.apply(vec![put("lists", "l1", json!({}))]).unwrap();
    let diff = lines.until_complete().await;
    let (_, sent) = checksums(&diff[0]["checkpoint_diff"]["updated_buckets"])[0].clone();
    let all: Vec<&Value> = ops_of(&first, "global[]")
        .into_iter()
        .chain(ops_of(&diff, "global[]"))
        .collect();
    assert_ne!(sent, sum(&all));
}

#[tokio::test]
async fn respond_status_answers_the_next_requests_then_stops() {
    let svc = start();
    let token = svc.token("alice", HOUR);
    svc.inject(Fault::RespondStatus {
        path_prefix: "/sync/stream".into(),
        status: 503,
        times: 2,
    });
    svc.inject(Fault::RespondStatus {
        path_prefix: "/upload".into(),
        status: 401,
        times: 1,
    });
    for _ in 0..2 {
        let resp = open_stream(&svc, &token, &request("c"), "application/x-ndjson").await;
        assert_eq!(resp.status(), 503);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "injected_fault");
    }
    let resp = open_stream(&svc, &token, &request("c"), "application/x-ndjson").await;
    assert_eq!(resp.status(), 200);

    let batch = json!({"batch": [{"op": "PUT", "type": "lists", "id": "l1", "data": {}}]});
    assert_eq!(upload(&svc, &token, &batch).await.status(), 401);
    assert!(svc.rows("lists").is_empty(), "a faulted request is not handled");
    assert_eq!(upload(&svc, &token, &batch).await.status(), 200);
    assert_eq!(svc.rows("lists").len(), 1);
    assert_eq!(svc.stats().faults_triggered, 3);
}

#[tokio::test]
async fn clearing_faults_disarms_them() {
    let svc = start();
    let token = svc.token("alice", HOUR);
    svc.inject(Fault::RespondStatus {
        path_prefix: "/".into(),
        status: 503,
        times: 5,
    });
    let r = reqwest::Client::new()
        .delete(format!("{}/admin/faults", svc.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the admin API is never faulted");
    assert_eq!(
        open_stream(&svc, &token, &request("c"), "application/x-ndjson")
            .await
            .status(),
        200
    );

    // Faults over HTTP use the same shapes.
    let r = reqwest::Client::new()
        .post(format!("{}/admin/faults", svc.url()))
        .json(&json!({"type": "respond_status", "path_prefix": "/sync/stream", "status": 503, "times": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        open_stream(&svc, &token, &request("c"), "application/x-ndjson")
            .await
            .status(),
        503
    );
    let r = reqwest::Client::new()
        .post(format!("{}/admin/faults", svc.url()))
        .json(&json!({"type": "explode"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn stall_delays_requests_and_pauses_live_streams() {
    let svc = start();
    let token = svc.token("alice", HOUR);
    let stall = Duration::from_millis(300);

    svc.inject(Fault::Stall {
        path_prefix: "/write-checkpoint2.json".into(),
        duration: stall,
    });
    let started = Instant::now();
    let resp = reqwest::Client::new()
        .get(format!("{}/write-checkpoint2.json?client_id=c", svc.url()))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        started.elapsed() >= stall - Duration::from_millis(20),
        "{:?}",
        started.elapsed()
    );

    let mut lines = Lines::new(open_stream(&svc, &token, &request("c"), "application/x-ndjson").await);
    lines.until_complete().await;
    svc.inject(Fault::Stall {
        path_prefix: "/sync/stream".into(),
        duration: stall,
    });
    let started = Instant::now();
    svc.apply(vec![put("lists", "l1", json!({}))]).unwrap();
    let diff = lines.until_complete().await;
    assert!(diff[0].get("checkpoint_diff").is_some());
    assert!(
        started.elapsed() >= stall - Duration::from_millis(20),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn reject_uploads_refuses_batches_that_write_the_row_and_applies_the_others() {
    let svc = start();
    let token = svc.token("alice", HOUR);
    svc.inject(Fault::RejectUploads {
        table: "lists".into(),
        id: "locked".into(),
        status: 409,
        duration: HOUR,
    });
    // One entry writes the refused row: the whole batch is refused, nothing applied.
    let mixed = json!({"batch": [
        {"op": "PUT", "type": "lists", "id": "free", "data": {"n": 1}},
        {"op": "DELETE", "type": "lists", "id": "locked"}]});
    let resp = upload(&svc, &token, &mixed).await;
    assert_eq!(resp.status(), 409);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upload_rejected");
    assert!(
        body["error"]["description"].as_str().unwrap().contains("lists/locked"),
        "{body}"
    );
    assert!(svc.rows("lists").is_empty());
    // Every matching batch while it runs, not just the first.
    let put_locked = json!({"batch": [{"op": "PUT", "type": "lists", "id": "locked", "data": {}}]});
    assert_eq!(upload(&svc, &token, &put_locked).await.status(), 409);
    // Other rows (the same id in another table too) go through.
    let other = json!({"batch": [
        {"op": "PUT", "type": "lists", "id": "free", "data": {"n": 2}},
        {"op": "PUT", "type": "todos", "id": "locked", "data": {"owner_id": "alice"}}]});
    assert_eq!(upload(&svc, &token, &other).await.status(), 200);
    assert_eq!(svc.rows("lists"), vec![("free".to_string(), json!({"n": 2}))]);
    let stats = svc.stats();
    assert_eq!(
        (stats.uploads, stats.uploads_rejected, stats.faults_triggered),
        (1, 2, 2)
    );

    // Over HTTP with the same shape; a status that is no rejection is refused.
    svc.clear_faults();
    assert_eq!(upload(&svc, &token, &put_locked).await.status(), 200);
    let admin = |body: Value| {
        reqwest::Client::new()
            .post(format!("{}/admin/faults", svc.url()))
            .json(&body)
            .send()
    };
    let r = admin(json!({"type": "reject_uploads", "table": "lists", "id": "locked", "duration_ms": 3_600_000}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        upload(&svc, &token, &put_locked).await.status(),
        422,
        "the default status"
    );
    let r = admin(json!({"type": "reject_uploads", "table": "lists", "id": "x", "status": 503, "duration_ms": 1}))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
