//! The service's HTTP endpoints (http.md §2). Every error message is redacted of the token.

use futures_util::StreamExt;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use serde::Deserialize;

use crate::credentials::Credentials;
use crate::error::{redact, SyncError};
use crate::framing::Framing;

pub(crate) const NDJSON_ACCEPT: &str = "application/x-ndjson";
pub(crate) const STREAM_ACCEPT: &str = "application/vnd.powersync.bson-stream;q=0.9,application/x-ndjson;q=0.8";

pub(crate) fn user_agent() -> String {
    format!("powersync-rust/{}", env!("CARGO_PKG_VERSION"))
}

#[derive(Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
}

/// An open download stream: its framing and its body as chunks.
pub(crate) struct SyncStream {
    pub framing: Framing,
    pub body: futures_util::stream::BoxStream<'static, Result<bytes::Bytes, SyncError>>,
}

#[derive(Deserialize)]
struct WriteCheckpointResponse {
    data: WriteCheckpointData,
}

#[derive(Deserialize)]
struct WriteCheckpointData {
    write_checkpoint: String,
}

#[derive(Deserialize)]
struct CheckpointRequestResponse {
    data: CheckpointRequestData,
}

#[derive(Deserialize)]
struct CheckpointRequestData {
    checkpoint_request_id: String,
}

impl Http {
    pub(crate) fn new() -> Result<Http, SyncError> {
        let client = reqwest::Client::builder()
            .user_agent(user_agent())
            .build()
            .map_err(|e| SyncError::Database(format!("HTTP client: {e}")))?;
        Ok(Http { client })
    }

    fn request(
        &self,
        method: reqwest::Method,
        creds: &Credentials,
        path: &str,
    ) -> Result<reqwest::RequestBuilder, SyncError> {
        let auth = HeaderValue::from_str(&format!("Token {}", creds.token)).map_err(|_| SyncError::Unauthorized {
            path: path.into(),
            body: "the token contains characters not allowed in an HTTP header".into(),
        })?;
        Ok(self
            .client
            .request(method, format!("{}{}", creds.endpoint, path))
            .header(CONTENT_TYPE, "application/json")
            .header(AUTHORIZATION, auth)
            .header("X-User-Agent", user_agent()))
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        creds: &Credentials,
        path: &str,
    ) -> Result<reqwest::Response, SyncError> {
        let resp = req.send().await.map_err(|e| SyncError::Unreachable {
            url: format!("{}{}", creds.endpoint, path),
            cause: redact(&error_chain(&e), &creds.token),
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = redact(&resp.text().await.unwrap_or_default(), &creds.token);
        if status == reqwest::StatusCode::UNAUTHORIZED {
            Err(SyncError::Unauthorized {
                path: path.into(),
                body,
            })
        } else {
            Err(SyncError::Status {
                path: path.into(),
                status: status.as_u16(),
                body,
            })
        }
    }

    /// `POST /sync/stream` with the extension's request text as the body, unchanged.
    pub(crate) async fn open_stream(
        &self,
        creds: &Credentials,
        request_json: String,
        ndjson_only: bool,
    ) -> Result<SyncStream, SyncError> {
        let path = "/sync/stream";
        let req = self
            .request(reqwest::Method::POST, creds, path)?
            .header(ACCEPT, if ndjson_only { NDJSON_ACCEPT } else { STREAM_ACCEPT })
            .header(CACHE_CONTROL, "no-store")
            .body(request_json);
        let resp = self.send(req, creds, path).await?;
        let framing = Framing::from_content_type(resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()));
        let token = creds.token.clone();
        let body = resp
            .bytes_stream()
            .map(move |r| r.map_err(|e| SyncError::Read(redact(&error_chain(&e), &token))))
            .boxed();
        Ok(SyncStream { framing, body })
    }

    /// `GET /write-checkpoint2.json?client_id=...` → the new write checkpoint (decimal).
    pub(crate) async fn write_checkpoint(&self, creds: &Credentials, client_id: &str) -> Result<String, SyncError> {
        let path = "/write-checkpoint2.json";
        let req = self
            .request(reqwest::Method::GET, creds, path)?
            .query(&[("client_id", client_id)]);
        let resp = self.send(req, creds, path).await?;
        let parsed: WriteCheckpointResponse = read_json(resp, path, &creds.token).await?;
        check_decimal(parsed.data.write_checkpoint, path)
    }

    /// `POST /sync/checkpoint-request` → the accepted id (decimal).
    pub(crate) async fn checkpoint_request(&self, creds: &Credentials, body_json: String) -> Result<String, SyncError> {
        let path = "/sync/checkpoint-request";
        let req = self.request(reqwest::Method::POST, creds, path)?.body(body_json);
        let resp = self.send(req, creds, path).await?;
        let parsed: CheckpointRequestResponse = read_json(resp, path, &creds.token).await?;
        check_decimal(parsed.data.checkpoint_request_id, path)
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(
    resp: reqwest::Response,
    path: &str,
    token: &str,
) -> Result<T, SyncError> {
    let text = resp
        .text()
        .await
        .map_err(|e| SyncError::Read(redact(&error_chain(&e), token)))?;
    serde_json::from_str(&text).map_err(|e| SyncError::Response {
        path: path.into(),
        cause: redact(&format!("{e}: {text}"), token),
    })
}

fn check_decimal(s: String, path: &str) -> Result<String, SyncError> {
    match s.parse::<i64>() {
        Ok(_) => Ok(s),
        Err(_) => Err(SyncError::Response {
            path: path.into(),
            cause: format!("{s:?} is not a decimal id"),
        }),
    }
}

/// The root cause of a `reqwest` error ("Connection refused (os error 111)"), which says more
/// than the outer "error sending request" layers; falls back to the error's own text.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut root = e;
    while let Some(s) = root.source() {
        root = s;
    }
    let msg = root.to_string();
    if msg.is_empty() {
        e.to_string()
    } else {
        msg
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot HTTP server that answers 401 and echoes the request (headers included) in the
    /// body, like a careless proxy might.
    async fn echo_401_server() -> (String, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 8192];
            let mut req = Vec::new();
            loop {
                let n = sock.read(&mut buf).await.unwrap();
                req.extend_from_slice(&buf[..n]);
                if n == 0 || req.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let req = String::from_utf8_lossy(&req).into_owned();
            let resp = format!(
                "HTTP/1.1 401 Unauthorized\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                req.len(),
                req
            );
            sock.write_all(resp.as_bytes()).await.unwrap();
            req
        });
        (url, handle)
    }

    #[tokio::test]
    async fn token_never_appears_in_errors() {
        let (url, server) = echo_401_server().await;
        let creds = Credentials::new(url, "very.secret.token");
        let err = Http::new().unwrap().write_checkpoint(&creds, "c1").await.unwrap_err();
        let request = server.await.unwrap();
        // The server did receive the token, in the documented header form and user agents.
        assert!(request.contains("authorization: Token very.secret.token"), "{request}");
        assert!(
            request.contains(&format!("x-user-agent: {}", user_agent())),
            "{request}"
        );
        assert!(request.contains(&format!("user-agent: {}", user_agent())), "{request}");
        let shown = format!("{err} / {err:?}");
        assert!(matches!(err, SyncError::Unauthorized { .. }));
        assert!(!shown.contains("very.secret.token"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[tokio::test]
    async fn unreachable_service_is_reported_with_url() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let creds = Credentials::new(url.clone(), "t0k3n");
        let err = Http::new()
            .unwrap()
            .open_stream(&creds, "{}".into(), false)
            .await
            .err()
            .unwrap();
        match &err {
            SyncError::Unreachable { url: u, .. } => assert_eq!(u, &format!("{url}/sync/stream")),
            other => panic!("{other:?}"),
        }
        assert!(!err.to_string().contains("t0k3n"));
    }
}
