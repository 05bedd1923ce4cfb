//! Helpers shared by the integration tests: a service with test rules, and a reader for the
//! lines of a `/sync/stream` response (NDJSON or BSON) with a timeout on every read.
#![allow(dead_code)]

use powersync_test_service::{ServerOp, ServiceConfig, TestService};
use serde_json::{json, Map, Value};
use std::time::Duration;

pub const RULES: &str = r#"{
  "buckets": [
    {"name": "global", "tables": ["lists"], "priority": 1},
    {"name": "user_todos", "per_user": true, "tables": [{"table": "todos", "owner_column": "owner_id"}]}
  ],
  "streams": [
    {"name": "list_todos", "table": "todos", "parameter": "list_id", "priority": 2},
    {"name": "news", "table": "news", "auto_subscribe": true}
  ]
}"#;

pub const SDK_ACCEPT: &str = powersync_protocol::framing::PREFER_BSON_ACCEPT;

/// How long any single read may take before the test fails (never reached when things work).
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

pub fn config() -> ServiceConfig {
    ServiceConfig::from_rules_json(RULES).unwrap()
}

pub fn start() -> TestService {
    TestService::start(config()).unwrap()
}

pub fn obj(v: Value) -> Map<String, Value> {
    v.as_object().expect("an object").clone()
}

pub fn put(table: &str, id: &str, data: Value) -> ServerOp {
    ServerOp::Put {
        table: table.into(),
        id: id.into(),
        data: obj(data),
    }
}

pub fn request(client_id: &str) -> Value {
    json!({"buckets": [], "include_checksum": true, "raw_data": true, "binary_data": true, "client_id": client_id,
           "parameters": {}, "streams": {"include_defaults": true, "subscriptions": []}})
}

pub async fn open_stream(svc: &TestService, token: &str, body: &Value, accept: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/sync/stream", svc.url()))
        .header("Authorization", format!("Token {token}"))
        .header("Accept", accept)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Reads framed lines off a stream response.
pub struct Lines {
    resp: reqwest::Response,
    buf: Vec<u8>,
    bson: bool,
    ended: bool,
}

#[derive(Debug)]
pub enum Next {
    Line(Value),
    /// The body ended cleanly.
    End,
    /// The connection failed (e.g. aborted by the server).
    Error(String),
}

impl Lines {
    pub fn new(resp: reqwest::Response) -> Lines {
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        Lines {
            resp,
            buf: Vec::new(),
            bson: ct == "application/vnd.powersync.bson-stream",
            ended: false,
        }
    }

    pub fn is_bson(&self) -> bool {
        self.bson
    }

    fn take_frame(&mut self) -> Option<Vec<u8>> {
        if self.bson {
            if self.buf.len() < 4 {
                return None;
            }
            let len = i32::from_le_bytes(self.buf[..4].try_into().unwrap()) as usize;
            assert!(len >= 5, "bad BSON frame length {len}");
            if self.buf.len() < len {
                return None;
            }
            Some(self.buf.drain(..len).collect())
        } else {
            let pos = self.buf.iter().position(|b| *b == b'\n')?;
            let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
            line.pop();
            Some(line)
        }
    }

    /// The next raw frame: a JSON line's bytes or a whole BSON document.
    pub async fn next_frame(&mut self) -> Result<Option<Vec<u8>>, String> {
        loop {
            if let Some(frame) = self.take_frame() {
                return Ok(Some(frame));
            }
            if self.ended {
                assert!(self.buf.is_empty(), "stream ended inside a frame");
                return Ok(None);
            }
            match tokio::time::timeout(READ_TIMEOUT, self.resp.chunk()).await {
                Err(_) => panic!("no line within {READ_TIMEOUT:?}"),
                Ok(Ok(Some(chunk))) => self.buf.extend_from_slice(&chunk),
                Ok(Ok(None)) => self.ended = true,
                Ok(Err(e)) => return Err(format!("{e:?}")),
            }
        }
    }

    pub async fn next(&mut self) -> Next {
        match self.next_frame().await {
            Ok(Some(frame)) => Next::Line(if self.bson {
                bson::deserialize_from_slice::<serde_json::Value>(&frame).unwrap()
            } else {
                serde_json::from_slice(&frame).unwrap()
            }),
            Ok(None) => Next::End,
            Err(e) => Next::Error(e),
        }
    }

    pub async fn line(&mut self) -> Value {
        match self.next().await {
            Next::Line(v) => v,
            other => panic!("expected a line, got {other:?}"),
        }
    }

    /// The next line that is not a `token_expires_in` keepalive.
    pub async fn sync_line(&mut self) -> Value {
        loop {
            let line = self.line().await;
            if line.get("token_expires_in").is_none() {
                return line;
            }
        }
    }

    /// Lines (without keepalives) up to and including the next `checkpoint_complete`.
    pub async fn until_complete(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let line = self.sync_line().await;
            let done = line.get("checkpoint_complete").is_some();
            out.push(line);
            if done {
                return out;
            }
        }
    }
}

pub fn key(line: &Value) -> &str {
    line.as_object()
        .and_then(|o| o.keys().next())
        .map(String::as_str)
        .unwrap_or("")
}

/// Bucket name → checksum as sent in a checkpoint's `buckets` or a diff's `updated_buckets`.
pub fn checksums(buckets: &Value) -> Vec<(String, u64)> {
    buckets
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["bucket"].as_str().unwrap().to_owned(),
                b["checksum"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Ops of all `data` lines for one bucket.
pub fn ops_of<'a>(lines: &'a [Value], bucket: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter_map(|l| l.get("data"))
        .filter(|d| d["bucket"] == bucket)
        .flat_map(|d| d["data"].as_array().unwrap().iter())
        .collect()
}

/// Wrapping u32 sum of op checksums.
pub fn sum(ops: &[&Value]) -> u64 {
    ops.iter()
        .fold(0u32, |acc, o| acc.wrapping_add(o["checksum"].as_u64().unwrap() as u32)) as u64
}

/// Posts `body` to `/upload` with `token`.
pub async fn upload(svc: &TestService, token: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(svc.upload_url())
        .header("Authorization", format!("Token {token}"))
        .json(body)
        .send()
        .await
        .unwrap()
}
