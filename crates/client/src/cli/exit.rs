//! CLI failures and their exit codes (documented in `--help` and the README).

/// Exit codes: 0 success, 1 other failure, 2 bad flags (clap), 3 service or backend
/// unreachable, 4 credentials rejected (HTTP 401), 5 backend rejected an upload (`--once`).
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
        }
    }
}

impl From<powersync_client::Error> for CliError {
    fn from(e: powersync_client::Error) -> Self {
        CliError::Other(e.to_string())
    }
}

/// Classifies a download error of the sync loop.
pub(crate) fn from_sync_error(e: &powersync_client::SyncError) -> CliError {
    use powersync_client::SyncError as S;
    let msg = e.to_string();
    match e {
        S::Unreachable { .. } => CliError::Unreachable(msg),
        S::Unauthorized { .. } => CliError::Unauthorized(msg),
        _ => CliError::Other(msg),
    }
}

pub(crate) const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  other failure (bad database, schema or SQL, token command failed, ...)
  2  bad command-line flags
  3  the PowerSync service (or, with --once, the upload backend) is unreachable
  4  the service rejected the credentials (HTTP 401)
  5  the backend rejected an upload (with --once)";
