//! The service's HTTP endpoints (docs/protocol.md, "The client's side"). Every error message is redacted of the token.

use futures_util::StreamExt;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use serde::Deserialize;

use crate::credentials::Credentials;
use crate::error::{redact, SyncError};
#[cfg(test)]
use crate::framing::BSON_CONTENT_TYPE;
use crate::framing::{Framing, NDJSON_ACCEPT, STREAM_ACCEPT};

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
            .map_err(|e| SyncError::HttpClient(error_chain(&e)))?;
        Ok(Http { client })
    }

    fn request(
        &self,
        method: reqwest::Method,
        creds: &Credentials,
        path: &str,
    ) -> Result<reqwest::RequestBuilder, SyncError> {
        let mut auth =
            HeaderValue::from_str(&format!("Token {}", creds.token)).map_err(|_| SyncError::Unauthorized {
                path: path.into(),
                body: "the token contains characters not allowed in an HTTP header".into(),
            })?;
        // Keeps the value out of any Debug output of the HTTP stack (e.g. trace logging).
        auth.set_sensitive(true);
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

    /// A one-shot HTTP/1.1 server: returns the raw request it received (head and body) and
    /// answers with `status` and `content_type`; `body: None` echoes the request back, like a
    /// careless proxy might.
    async fn one_shot(
        status: &'static str,
        content_type: &'static str,
        body: Option<Vec<u8>>,
    ) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 8192];
            let mut req = Vec::new();
            let complete = |req: &[u8]| {
                let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") else {
                    return false;
                };
                let head = String::from_utf8_lossy(&req[..end]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                req.len() >= end + 4 + len
            };
            while !complete(&req) {
                let n = sock.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            let body = body.unwrap_or_else(|| req.clone());
            let head = format!(
                "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            sock.write_all(head.as_bytes()).await.unwrap();
            sock.write_all(&body).await.unwrap();
            req
        });
        (url, handle)
    }

    async fn read_all(mut s: SyncStream) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(chunk) = s.body.next().await {
            out.extend_from_slice(&chunk.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn token_never_appears_in_errors() {
        let (url, server) = one_shot("401 Unauthorized", "text/plain", None).await;
        let creds = Credentials::new(url, "very.secret.token");
        let err = Http::new().unwrap().write_checkpoint(&creds, "c1").await.unwrap_err();
        let request = String::from_utf8(server.await.unwrap()).unwrap();
        // The server did receive the token, in the documented header form and user agents.
        assert!(request.contains("authorization: Token very.secret.token"), "{request}");
        assert!(
            request.starts_with("GET /write-checkpoint2.json?client_id=c1 "),
            "{request}"
        );
        assert!(request.contains("content-type: application/json"), "{request}");
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

    /// The extension's request text, with spacing and key order no serializer would produce.
    const REQUEST: &str = r#"{"buckets":[{"name":"b","after":"7"}], "client_id":"c1","parameters":{"z":1,"a":[ ]}}"#;

    #[tokio::test]
    async fn stream_request_is_forwarded_byte_for_byte_and_prefers_bson() {
        let doc = {
            let mut d = 5i32.to_le_bytes().to_vec();
            d.push(0);
            d
        };
        let (url, server) = one_shot("200 OK", BSON_CONTENT_TYPE, Some(doc.clone())).await;
        let creds = Credentials::new(url, "tok");
        let stream = Http::new()
            .unwrap()
            .open_stream(&creds, REQUEST.into(), false)
            .await
            .unwrap();
        assert_eq!(stream.framing, Framing::Bson);
        assert_eq!(read_all(stream).await, doc);
        let request = server.await.unwrap();
        let text = String::from_utf8_lossy(&request);
        assert!(text.starts_with("POST /sync/stream "), "{text}");
        assert!(text.contains(&format!("accept: {STREAM_ACCEPT}\r\n")), "{text}");
        assert!(text.contains("cache-control: no-store"), "{text}");
        assert!(text.contains("authorization: Token tok"), "{text}");
        assert!(request.ends_with(format!("\r\n\r\n{REQUEST}").as_bytes()), "{text}");
    }

    #[tokio::test]
    async fn ndjson_only_and_other_content_types_frame_as_ndjson() {
        let (url, server) = one_shot("200 OK", "application/x-ndjson; charset=utf-8", Some(b"{}\n".to_vec())).await;
        let creds = Credentials::new(url, "tok");
        let stream = Http::new()
            .unwrap()
            .open_stream(&creds, REQUEST.into(), true)
            .await
            .unwrap();
        assert_eq!(stream.framing, Framing::Ndjson);
        let text = String::from_utf8(server.await.unwrap()).unwrap();
        assert!(text.contains(&format!("accept: {NDJSON_ACCEPT}\r\n")), "{text}");
    }

    #[tokio::test]
    async fn stream_errors_carry_status_and_body() {
        let (url, _server) = one_shot("503 Service Unavailable", "text/plain", Some(b"try later".to_vec())).await;
        let err = Http::new()
            .unwrap()
            .open_stream(&Credentials::new(url, "tok"), REQUEST.into(), false)
            .await
            .err()
            .unwrap();
        assert_eq!(err.to_string(), "HTTP 503 from /sync/stream: try later");
    }

    #[tokio::test]
    async fn checkpoint_request_posts_the_body_and_reads_the_accepted_id() {
        let body = br#"{"data":{"checkpoint_request_id":"12"}}"#.to_vec();
        let (url, server) = one_shot("200 OK", "application/json", Some(body)).await;
        let posted = r#"{"client_id":"c1","checkpoint_request_id":"9"}"#;
        let id = Http::new()
            .unwrap()
            .checkpoint_request(&Credentials::new(url, "tok"), posted.into())
            .await
            .unwrap();
        assert_eq!(id, "12");
        let request = String::from_utf8(server.await.unwrap()).unwrap();
        assert!(request.starts_with("POST /sync/checkpoint-request "), "{request}");
        assert!(request.ends_with(posted), "{request}");
    }

    #[tokio::test]
    async fn malformed_ids_are_response_errors() {
        let body = br#"{"data":{"write_checkpoint":"abc"}}"#.to_vec();
        let (url, _server) = one_shot("200 OK", "application/json", Some(body)).await;
        let err = Http::new()
            .unwrap()
            .write_checkpoint(&Credentials::new(url, "tok"), "c1")
            .await
            .unwrap_err();
        assert!(matches!(err, SyncError::Response { .. }), "{err:?}");
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
