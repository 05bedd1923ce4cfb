//! JWT checks on every authenticated endpoint: 401 with a JSON error naming the problem.

mod common;

use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use powersync_test_service::{TestService, DEFAULT_AUDIENCE, DEFAULT_KID, DEFAULT_SECRET};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn sign(kid: Option<&str>, claims: Value, secret: &str) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

async fn call(svc: &TestService, path: &str, authorization: Option<String>) -> reqwest::Response {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", svc.url());
    let req = match path {
        "/write-checkpoint2.json?client_id=c" => client.get(url),
        "/upload" => client.post(url).json(&json!({"batch": []})),
        "/sync/checkpoint-request" => client
            .post(url)
            .json(&json!({"client_id": "c", "checkpoint_request_id": "1"})),
        _ => client.post(url).json(&request("c")),
    };
    let req = match authorization {
        Some(a) => req.header("Authorization", a),
        None => req,
    };
    req.send().await.unwrap()
}

#[tokio::test]
async fn bad_tokens_get_401_with_a_clear_reason() {
    let svc = start();
    let t = now();
    let good = json!({"sub": "alice", "aud": DEFAULT_AUDIENCE, "iat": t, "exp": t + 600});
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("no header", None, "missing_token"),
        (
            "bearer",
            Some(format!(
                "Bearer {}",
                sign(Some(DEFAULT_KID), good.clone(), DEFAULT_SECRET)
            )),
            "missing_token",
        ),
        ("garbage", Some("Token not.a.jwt".into()), "malformed_token"),
        (
            "no kid",
            Some(format!("Token {}", sign(None, good.clone(), DEFAULT_SECRET))),
            "unknown_key",
        ),
        (
            "bad kid",
            Some(format!(
                "Token {}",
                sign(Some("other-key"), good.clone(), DEFAULT_SECRET)
            )),
            "unknown_key",
        ),
        (
            "bad secret",
            Some(format!("Token {}", sign(Some(DEFAULT_KID), good.clone(), "nope"))),
            "bad_signature",
        ),
        (
            "bad aud",
            Some(format!(
                "Token {}",
                sign(
                    Some(DEFAULT_KID),
                    json!({"sub": "a", "aud": "other", "exp": t + 600}),
                    DEFAULT_SECRET
                )
            )),
            "wrong_audience",
        ),
        (
            "expired",
            Some(format!(
                "Token {}",
                sign(
                    Some(DEFAULT_KID),
                    json!({"sub": "a", "aud": DEFAULT_AUDIENCE, "exp": t - 10}),
                    DEFAULT_SECRET
                )
            )),
            "token_expired",
        ),
        (
            "no sub",
            Some(format!(
                "Token {}",
                sign(
                    Some(DEFAULT_KID),
                    json!({"aud": DEFAULT_AUDIENCE, "exp": t + 600}),
                    DEFAULT_SECRET
                )
            )),
            "missing_claim",
        ),
    ];
    let paths = [
        "/sync/stream",
        "/upload",
        "/write-checkpoint2.json?client_id=c",
        "/sync/checkpoint-request",
    ];
    let mut failures = 0;
    for (name, header, code) in &cases {
        for path in paths {
            let resp = call(&svc, path, header.clone()).await;
            assert_eq!(resp.status(), 401, "{name} on {path}");
            assert!(resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"));
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["error"]["status"], 401, "{name}");
            assert_eq!(body["error"]["code"], *code, "{name}: {body}");
            assert!(!body["error"]["description"].as_str().unwrap().is_empty());
            failures += 1;
        }
    }
    assert_eq!(svc.stats().auth_failures, failures);
    assert_eq!(svc.stats().stream_requests, 0);

    // The same claims with the right kid, audience and secret pass everywhere.
    for path in paths {
        let resp = call(
            &svc,
            path,
            Some(format!(
                "Token {}",
                sign(Some(DEFAULT_KID), good.clone(), DEFAULT_SECRET)
            )),
        )
        .await;
        assert_eq!(resp.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn configured_key_is_the_only_one_accepted() {
    let svc = TestService::start(
        config()
            .with_jwt_secret("s3")
            .with_jwt_kid("k3")
            .with_jwt_audience("a3"),
    )
    .unwrap();
    let ok = call(
        &svc,
        "/sync/stream",
        Some(format!("Token {}", svc.token("u", Duration::from_secs(60)))),
    )
    .await;
    assert_eq!(ok.status(), 200);
    let default_key = common::config().token("u", Duration::from_secs(60));
    let resp = call(&svc, "/sync/stream", Some(format!("Token {default_key}"))).await;
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["description"].as_str().unwrap().contains("test-key"),
        "{body}"
    );
}
