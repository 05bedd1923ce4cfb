//! Typed errors of the library. Messages never contain a token (see `redact`).

use std::time::Duration;

use crate::framing::FramingError;

/// Errors from database access and from the public API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("could not register the PowerSync extension: {0}")]
    Register(String),
    #[error("could not open {path}: {cause}")]
    Open { path: String, cause: String },
    #[error("this statement writes to the database; use execute or execute_rows")]
    NotReadOnly,
    #[error("invalid ps_crud row {id}: {cause}")]
    CrudData { id: i64, cause: String },
    #[error("invalid sync options: {0}")]
    Options(String),
    #[error("not connected")]
    NotConnected,
    #[error("a database task failed: {0}")]
    Task(String),
    #[error(transparent)]
    Sync(#[from] SyncError),
}

/// Errors of the sync and upload loops. Stored in [`crate::SyncStatus`] as the download or
/// upload error.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("could not reach the PowerSync service at {url}: {cause}")]
    Unreachable { url: String, cause: String },
    #[error("the service rejected the credentials (HTTP 401 from {path}){}", body_suffix(body))]
    Unauthorized { path: String, body: String },
    #[error("HTTP {status} from {path}{}", body_suffix(body))]
    Status { path: String, status: u16, body: String },
    #[error("invalid response from {path}: {cause}")]
    Response { path: String, cause: String },
    #[error("reading the sync stream failed: {0}")]
    Read(String),
    #[error("sync stream framing: {0}")]
    Framing(#[from] FramingError),
    #[error("no data received for {0:?}; the connection is considered dead")]
    Idle(Duration),
    #[error("the PowerSync extension failed: {0}")]
    Extension(String),
    #[error("unexpected instruction from the extension: {0}")]
    Instruction(String),
    #[error("fetching credentials failed: {0}")]
    Credentials(String),
    #[error("not signed in: the connector returned no credentials")]
    NoCredentials,
    #[error("invalid endpoint {endpoint:?}: {reason}")]
    Endpoint { endpoint: String, reason: &'static str },
    #[error("upload failed: {0}")]
    Upload(String),
    #[error("disconnected")]
    Disconnected,
    #[error("database: {0}")]
    Database(String),
}

fn body_suffix(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

impl From<Error> for SyncError {
    fn from(e: Error) -> Self {
        match e {
            Error::Sync(s) => s,
            Error::Sqlite(rusqlite::Error::SqliteFailure(_, Some(msg))) => SyncError::Extension(msg),
            other => SyncError::Database(other.to_string()),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Replaces every occurrence of `token` in `text`; used on every message built from an HTTP
/// exchange, because a service may echo request headers back in an error body.
pub(crate) fn redact(text: &str, token: &str) -> String {
    if token.is_empty() {
        return text.to_string();
    }
    text.replace(token, "<redacted>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_removes_every_occurrence() {
        let msg = redact("Token abc.def and again abc.def", "abc.def");
        assert_eq!(msg, "Token <redacted> and again <redacted>");
        assert_eq!(redact("x", ""), "x");
    }

    #[test]
    fn status_error_shows_body() {
        let e = SyncError::Status {
            path: "/upload".into(),
            status: 503,
            body: " busy \n".into(),
        };
        assert_eq!(e.to_string(), "HTTP 503 from /upload: busy");
        let e = SyncError::Status {
            path: "/upload".into(),
            status: 503,
            body: "".into(),
        };
        assert_eq!(e.to_string(), "HTTP 503 from /upload");
    }
}
