//! CLI failures and their exit codes (documented in `--help` and the README).

/// Exit codes: the table in `EXIT_CODES_HELP` (also in the README and docs/client.md).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    UploadRejected(String),
    #[error("{0}")]
    UploadFailing(String),
    #[error("{0}")]
    Locked(String),
    /// Interrupted by SIGINT (130) or SIGTERM (143) before the sync completed.
    #[error("{message}")]
    Interrupted { message: String, code: i32 },
    #[error("{0}")]
    Other(String),
}

impl CliError {
    pub(crate) fn code(&self) -> i32 {
        match self {
            CliError::Other(_) => 1,
            CliError::Usage(_) => 2,
            CliError::Unreachable(_) => 3,
            CliError::Unauthorized(_) => 4,
            CliError::UploadRejected(_) => 5,
            CliError::UploadFailing(_) => 6,
            CliError::Locked(_) => 7,
            CliError::Interrupted { code, .. } => *code,
        }
    }
}

impl From<powersync_client::Error> for CliError {
    fn from(e: powersync_client::Error) -> Self {
        match e {
            powersync_client::Error::SyncLocked { .. } => {
                CliError::Locked(format!("{e}; pass --wait-lock to wait for it"))
            }
            e => CliError::Other(e.to_string()),
        }
    }
}

/// What a download error means for `--once`.
pub(crate) enum DownloadFailure {
    /// Unreachable, dropped, idle or answering 5xx: retried, up to `--retries`, then code 3.
    Transient(String),
    /// Decided at once (401 → 4, anything else → 1).
    Fatal(CliError),
}

/// Classifies a download error of the sync loop.
pub(crate) fn classify_download(e: &powersync_client::SyncError) -> DownloadFailure {
    use powersync_client::SyncError as S;
    let msg = e.to_string();
    match e {
        S::Unreachable { .. } | S::Read(_) | S::Idle(_) => DownloadFailure::Transient(msg),
        S::Status { status, .. } if *status >= 500 => DownloadFailure::Transient(msg),
        S::Unauthorized { .. } => DownloadFailure::Fatal(CliError::Unauthorized(msg)),
        _ => DownloadFailure::Fatal(CliError::Other(msg)),
    }
}

pub(crate) const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success (sync: the sync completed; also after SIGINT/SIGTERM once it had completed)
  1    other failure (bad database, schema or SQL, not a PowerSync database or another internal
       version, token command failed, no such transaction, ...)
  2    bad command-line flags, or a --stream the service cannot resolve (not kept)
  3    the PowerSync service is unreachable, drops the stream or answers 5xx (--once: after --retries)
  4    the service rejected the credentials (HTTP 401)
  5    the backend rejected an upload (HTTP 4xx; with --once)
  6    uploads keep failing temporarily (backend 5xx or unreachable; --once: after --retries)
  7    another sync holds this database's lock (<db>.sync-lock); --wait-lock waits instead
  130  interrupted by SIGINT (Ctrl-C) before the sync completed
  143  terminated by SIGTERM before the sync completed";
