//! A small HTTP/1.1 client for the SDK's `HttpClient` trait, enough for a PowerSync service on the
//! loopback interface: plain TCP, one connection per request (`Connection: close`), responses
//! delimited by Content-Length, chunked encoding or the end of the connection. Each request runs
//! on its own thread, which passes the body on in chunks as they arrive (the sync stream is
//! long-lived).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use async_trait::async_trait;
use bytes::Bytes;
use powersync::error::PowerSyncError;
use powersync::http::{HttpClient, Request, Response, ResponseBody};

pub struct LoopbackHttp;

struct Head {
    status: u16,
    content_type: Option<String>,
    length: Option<u64>,
    chunked: bool,
}

/// The SDK's only public way to wrap an arbitrary error (named after uploads, used for any).
fn error(message: String) -> PowerSyncError {
    PowerSyncError::upload_error(std::io::Error::other(message))
}

#[async_trait]
impl HttpClient for LoopbackHttp {
    async fn send(&self, req: Request) -> Result<Response, PowerSyncError> {
        let (head_tx, head_rx) = async_channel::bounded::<Result<Head, String>>(1);
        let (body_tx, body_rx) = async_channel::bounded::<Result<Bytes, PowerSyncError>>(64);
        let request = encode(&req)?;
        let address = format!(
            "{}:{}",
            req.url.host_str().unwrap_or("127.0.0.1"),
            req.url.port_or_known_default().unwrap_or(80)
        );
        std::thread::spawn(move || {
            let mut reader = match connect(&address, &request) {
                Ok(reader) => reader,
                Err(err) => {
                    let _ = head_tx.send_blocking(Err(err));
                    return;
                }
            };
            let head = match read_head(&mut reader) {
                Ok(head) => head,
                Err(err) => {
                    let _ = head_tx.send_blocking(Err(err));
                    return;
                }
            };
            let (length, chunked) = (head.length, head.chunked);
            if head_tx.send_blocking(Ok(head)).is_err() {
                return;
            }
            let send = |chunk: Vec<u8>| body_tx.send_blocking(Ok(Bytes::from(chunk))).is_ok();
            if let Err(err) = read_body(&mut reader, length, chunked, send) {
                let _ = body_tx.send_blocking(Err(error(err)));
            }
        });
        let head = head_rx
            .recv()
            .await
            .map_err(|_| error("the HTTP thread stopped".into()))?
            .map_err(error)?;
        Ok(Response {
            status: head.status,
            content_type: head.content_type,
            body: ResponseBody {
                reader: Box::pin(body_rx),
                length: head.length,
            },
        })
    }
}

fn encode(req: &Request) -> Result<Vec<u8>, PowerSyncError> {
    if req.url.scheme() != "http" {
        return Err(error(format!("{}: only http:// is supported here", req.url)));
    }
    let mut target = req.url.path().to_owned();
    if let Some(query) = req.url.query() {
        target.push('?');
        target.push_str(query);
    }
    let host = req.url.host_str().unwrap_or("127.0.0.1");
    let mut head = format!("{} {target} HTTP/1.1\r\nHost: {host}", req.method);
    if let Some(port) = req.url.port() {
        head.push_str(&format!(":{port}"));
    }
    head.push_str("\r\nConnection: close\r\n");
    for (name, value) in &req.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = req.body.as_deref().unwrap_or_default();
    if req.body.is_some() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    Ok(bytes)
}

fn connect(address: &str, request: &[u8]) -> Result<BufReader<TcpStream>, String> {
    let mut stream = TcpStream::connect(address).map_err(|e| format!("connect {address}: {e}"))?;
    stream
        .write_all(request)
        .map_err(|e| format!("send to {address}: {e}"))?;
    Ok(BufReader::new(stream))
}

fn read_line(reader: &mut BufReader<TcpStream>) -> Result<String, String> {
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| format!("read: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn read_head(reader: &mut BufReader<TcpStream>) -> Result<Head, String> {
    let status_line = read_line(reader)?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP status line: {status_line:?}"))?;
    let mut head = Head {
        status,
        content_type: None,
        length: None,
        chunked: false,
    };
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            return Ok(head);
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("bad header line {line:?}"));
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-type" => head.content_type = Some(value.to_owned()),
            "content-length" => head.length = value.parse().ok(),
            "transfer-encoding" => head.chunked = value.eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }
}

/// Passes the body to `send` in pieces; stops early when `send` returns false (the SDK dropped
/// the response).
fn read_body(
    reader: &mut BufReader<TcpStream>,
    length: Option<u64>,
    chunked: bool,
    send: impl Fn(Vec<u8>) -> bool,
) -> Result<(), String> {
    if chunked {
        loop {
            let size_line = read_line(reader)?;
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| format!("bad chunk size {size_line:?}"))?;
            if size == 0 {
                return Ok(()); // Trailers, if any, are not needed.
            }
            let mut chunk = vec![0; size];
            reader.read_exact(&mut chunk).map_err(|e| format!("read: {e}"))?;
            read_line(reader)?;
            if !send(chunk) {
                return Ok(());
            }
        }
    }
    let mut remaining = length.unwrap_or(u64::MAX);
    while remaining > 0 {
        let mut buf = vec![0; remaining.min(64 * 1024) as usize];
        let n = reader.read(&mut buf).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return match length {
                Some(_) => Err("connection closed before the end of the body".into()),
                None => Ok(()),
            };
        }
        buf.truncate(n);
        remaining -= n as u64;
        if !send(buf) {
            return Ok(());
        }
    }
    Ok(())
}
