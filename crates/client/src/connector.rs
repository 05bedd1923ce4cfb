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
