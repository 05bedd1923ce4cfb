//! The server's side of the story, read directly from the service (never through the proxy):
//! its current rows (admin API) and the whole op history of the global bucket, read as a fresh
//! client would (a `/sync/stream` from scratch; the service never compacts), which orders every
//! version a row ever had on the server.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::Value;

use crate::workload;

/// `table -> id -> v`
pub type Rows = BTreeMap<String, BTreeMap<String, Option<String>>>;

/// One PUT of a row version on the server, in op id order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerVersion {
    pub op_id: i64,
    pub table: String,
    pub id: String,
    pub v: Option<String>,
}

#[derive(Deserialize)]
struct AdminRows {
    rows: Vec<AdminRow>,
}

#[derive(Deserialize)]
struct AdminRow {
    id: String,
    data: Value,
}

fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())
}

/// Current rows of every workload table (`GET /admin/rows`).
pub async fn server_rows(base: &str) -> Result<Rows, String> {
    let http = client()?;
    let mut out = Rows::new();
    for t in workload::TABLES {
        let url = format!("{base}/admin/rows?table={t}");
        let r: AdminRows = http
            .get(&url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("{url}: {e}"))?
            .json()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let m = out.entry(t.to_string()).or_default();
        for row in r.rows {
            m.insert(row.id, row.data.get("v").and_then(Value::as_str).map(String::from));
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
struct DataLine {
    data: Vec<WireOp>,
}

#[derive(Deserialize)]
struct WireOp {
    op_id: String,
    op: String,
    object_type: String,
    object_id: String,
    #[serde(default)]
    data: Option<String>,
}

/// Every op of the global bucket, in op id order (a REMOVE has `v: None`).
pub async fn server_history(base: &str, token: &str) -> Result<Vec<ServerVersion>, String> {
    let url = format!("{base}/sync/stream");
    let body = r#"{"buckets":[],"include_checksum":true,"raw_data":true,"client_id":"faults-observer","streams":{"include_defaults":true,"subscriptions":[]}}"#;
    let resp = client()?
        .post(&url)
        .header("Content-Type", "application/json")
        .header("Accept", "application/x-ndjson")
        .header("Authorization", format!("Token {token}"))
        .body(body)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("{url}: {e}"))?;
    let mut stream = resp.bytes_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        buf.extend_from_slice(&chunk.map_err(|e| format!("{url}: {e}"))?);
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let v: Value = match serde_json::from_slice(&line) {
                Ok(v) => v,
                Err(_) => continue,
            };
            if v.get("checkpoint_complete").is_some() {
                return Ok(out);
            }
            if let Some(d) = v.get("data") {
                let d: DataLine = serde_json::from_value(d.clone()).map_err(|e| format!("data line: {e}"))?;
                for op in d.data {
                    let op_id = op.op_id.parse().map_err(|_| format!("op id {:?}", op.op_id))?;
                    let v = match op.op.as_str() {
                        "PUT" => op
                            .data
                            .as_deref()
                            .and_then(|d| serde_json::from_str::<Value>(d).ok())
                            .and_then(|d| d.get("v").and_then(Value::as_str).map(String::from)),
                        _ => None,
                    };
                    out.push(ServerVersion {
                        op_id,
                        table: op.object_type,
                        id: op.object_id,
                        v,
                    });
                }
            }
        }
    }
    Err(format!("{url}: the stream ended before checkpoint_complete"))
}
