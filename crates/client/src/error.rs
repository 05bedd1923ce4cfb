//! Typed errors of the library. Messages never contain a token (see `redact`).

use std::sync::Arc;
use std::time::Duration;

use crate::connector::ConnectorError;
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
    /// Another `connect()` (in this or another process) syncs this database file.
    #[error("another sync is running on this database (it holds the lock {path})")]
    SyncLocked { path: String },
    #[error("no transaction {tx_id} in the upload queue or among the parked ones")]
    NoSuchTransaction { tx_id: i64 },
    #[error("{path} is not a PowerSync database (it has no ps_migration table)")]
    NotPowerSync { path: String },
    /// The file's internal tables are of another version; inspection never migrates them.
    #[error("{path} has PowerSync internal version {found}, this client reads version {expected}{}",
        if found < expected { " (older: `sync` or opening it with the library migrates it)" } else { " (newer: written by a newer PowerSync version)" })]
    InternalVersion { path: String, found: i64, expected: i64 },
    #[error("could not use the sync lock {path}: {cause}")]
    Lock { path: String, cause: String },
}

/// An error returned by the application's connector, kept as the typed value (use
/// [`ConnectorFailure::downcast_ref`] to get the connector's own error type back).
#[derive(Debug, Clone)]
pub struct ConnectorFailure(Arc<dyn std::error::Error + Send + Sync>);

impl ConnectorFailure {
    pub(crate) fn new(e: ConnectorError) -> Self {
        ConnectorFailure(Arc::from(e))
    }

    /// The connector's error as its concrete type, if it is a `T`.
    pub fn downcast_ref<T: std::error::Error + 'static>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }
}

impl std::fmt::Display for ConnectorFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ConnectorFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.0.as_ref())
    }
}

/// Errors of the sync and upload loops. Stored in [`crate::SyncStatus`] as the download or
/// upload error. `Clone`, so that a waiter can be given the recorded error itself.
#[derive(Debug, Clone, thiserror::Error)]
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
    /// The connector's `upload_data` returned an error.
    #[error("upload failed: {0}")]
    Upload(ConnectorFailure),
    /// `upload_data` returned `Ok` but the first queued change is still queued (docs/protocol.md, "The client's side").
    #[error("upload failed: the connector's upload returned without completing the queued change {op_id}")]
    UploadNotCompleted { op_id: i64 },
    /// The connector's own `post_checkpoint_request` failed.
    #[error("posting a checkpoint request failed: {0}")]
    CheckpointRequest(ConnectorFailure),
    #[error("could not build the HTTP client: {0}")]
    HttpClient(String),
    /// The upload loop parked a transaction the backend kept rejecting (`OnReject::Park`).
    #[error("parked transaction {tx_id} after {rejections} rejection(s): {error}")]
    Parked { tx_id: i64, rejections: i64, error: String },
    #[error("disconnected")]
    Disconnected,
    #[error("database: {0}")]
    Database(String),
}

/// Longest response body shown in an error message.
const MAX_BODY_CHARS: usize = 500;

/// The response body as one line (CLI messages are one line), shortened when long.
fn body_suffix(body: &str) -> String {
    let line = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        return String::new();
    }
    match line.char_indices().nth(MAX_BODY_CHARS) {
        Some((cut, _)) => format!(": {}…", &line[..cut]),
        None => format!(": {line}"),
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
        let e = SyncError::Status {
            path: "/upload".into(),
            status: 500,
            body: "{\n  \"error\": \"x\"\n}\n".into(),
        };
        assert_eq!(e.to_string(), "HTTP 500 from /upload: { \"error\": \"x\" }");
        let e = SyncError::Status {
            path: "/".into(),
            status: 500,
            body: "é".repeat(2000),
        };
        assert_eq!(
            e.to_string().chars().count(),
            "HTTP 500 from /: ".len() + MAX_BODY_CHARS + 1
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("backend said no")]
    struct AppError;

    #[test]
    fn connector_errors_keep_their_type() {
        let e = SyncError::Upload(ConnectorFailure::new(Box::new(AppError)));
        assert_eq!(e.to_string(), "upload failed: backend said no");
        let SyncError::Upload(f) = e.clone() else {
            unreachable!()
        };
        assert!(f.downcast_ref::<AppError>().is_some());
        assert!(std::error::Error::source(&f).is_some());
    }
}
