//! What the application supplies: credentials and uploads (docs/protocol.md, "The client's side").

use async_trait::async_trait;

use crate::credentials::Credentials;
use crate::PowerSyncDatabase;

/// Error type connectors return; any error works.
pub type ConnectorError = Box<dyn std::error::Error + Send + Sync>;

#[async_trait]
pub trait BackendConnector: Send + Sync {
    /// `Ok(None)` means "not signed in". Errors are temporary and retried after the retry delay.
    async fn fetch_credentials(&self) -> Result<Option<Credentials>, ConnectorError>;

    /// Uploads pending local changes (e.g. from [`PowerSyncDatabase::get_crud_batch`]) and
    /// completes them. Errors are retried after the retry delay; nothing is dropped.
    async fn upload_data(&self, db: &PowerSyncDatabase) -> Result<(), ConnectorError>;

    /// Called when the client invalidated the credentials (HTTP 401, expiry), so a connector
    /// that caches tokens itself can drop them.
    fn invalidate_credentials(&self) {}

    /// Whether an error of `upload_data` means the backend rejected the first queued
    /// transaction for good (a validation or permission failure, typically HTTP 4xx), as
    /// opposed to a temporary failure. Recorded per transaction (`upload_errors`), and with
    /// `SyncOptions::on_reject` = `OnReject::Park` it parks the transaction. Default: never.
    fn is_rejection(&self, _error: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
        false
    }

    /// Optional (checkpoint mode `requests`, docs/protocol.md, "The client's side"): post a checkpoint request through
    /// the application's backend instead of the service. `None` uses the service endpoint.
    async fn post_checkpoint_request(
        &self,
        _client_id: &str,
        _checkpoint_request_id: &str,
    ) -> Option<Result<String, ConnectorError>> {
        None
    }
}
