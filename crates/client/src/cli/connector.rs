//! The CLI's backend connector: credentials from the token source, uploads as JSON batches to
//! `--upload-url` (format in the README).

use async_trait::async_trait;
use powersync_client::{BackendConnector, ConnectorError, Credentials, CrudEntry, PowerSyncDatabase};
use serde::Serialize;

use crate::cli::token::TokenSource;

const BATCH_LIMIT: usize = 100;

/// Why an upload failed; the library keeps it as the upload error's typed source, so `--once`
/// picks the exit code from it: rejected → 5, server error or unreachable → 6 once `--retries`
/// is exhausted, no backend → 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UploadFailure {
    /// HTTP 4xx: the backend will not take this change as it is.
    #[error("the backend rejected the upload (HTTP {status}): {}", body.trim())]
    Rejected { status: u16, body: String },
    /// Any other non-2xx answer (5xx, ...): the backend may take it later.
    #[error("the upload backend failed (HTTP {status}): {}", body.trim())]
    ServerError { status: u16, body: String },
    #[error("could not reach the upload backend {url}: {cause}")]
    Unreachable { url: String, cause: String },
    #[error("{queued} local change(s) are queued but no --upload-url was given; they stay queued")]
    NoBackend { queued: String },
}

pub(crate) struct CliConnector {
    pub endpoint: String,
    pub token: TokenSource,
    pub upload_url: Option<String>,
    pub http: reqwest::Client,
    /// `sync --json`: report each accepted batch as an `upload` event.
    pub json_events: bool,
}

#[derive(Serialize)]
struct UploadBody<'a> {
    client_id: &'a str,
    batch: &'a [CrudEntry],
}

#[async_trait]
impl BackendConnector for CliConnector {
    async fn fetch_credentials(&self) -> Result<Option<Credentials>, ConnectorError> {
        let token = self.token.token().await?;
        Ok(Some(Credentials::new(self.endpoint.clone(), token)))
    }

    fn is_rejection(&self, error: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
        matches!(
            error.downcast_ref::<UploadFailure>(),
            Some(UploadFailure::Rejected { .. })
        )
    }

    async fn upload_data(&self, db: &PowerSyncDatabase) -> Result<(), ConnectorError> {
        let client_id = db.client_id().await?;
        while let Some(batch) = db.get_crud_batch(BATCH_LIMIT).await? {
            let Some(url) = &self.upload_url else {
                let queued = format!("{}{}", batch.entries.len(), if batch.has_more { "+" } else { "" });
                return Err(Box::new(UploadFailure::NoBackend { queued }));
            };
            let token = self.token.token().await?;
            let body = serde_json::to_string(&UploadBody {
                client_id: &client_id,
                batch: &batch.entries,
            })?;
            let mut auth = reqwest::header::HeaderValue::from_str(&format!("Token {token}"))?;
            // Keeps the value out of any Debug output of the HTTP stack (e.g. trace logging).
            auth.set_sensitive(true);
            let resp = self
                .http
                .post(url)
                .header("Content-Type", "application/json")
                .header("Authorization", auth)
                .body(body)
                .send()
                .await;
            let resp = match resp {
                Ok(r) => r,
                Err(e) => {
                    return Err(Box::new(UploadFailure::Unreachable {
                        url: url.clone(),
                        cause: e.without_url().to_string(),
                    }))
                }
            };
            let status = resp.status();
            if !status.is_success() {
                let body = resp.text().await.unwrap_or_default().replace(&token, "<redacted>");
                let status = status.as_u16();
                return Err(Box::new(if (400..500).contains(&status) {
                    UploadFailure::Rejected { status, body }
                } else {
                    UploadFailure::ServerError { status, body }
                }));
            }
            tracing::info!("uploaded {} change(s)", batch.entries.len());
            if self.json_events {
                let txs: std::collections::BTreeSet<i64> = batch.entries.iter().filter_map(|e| e.tx_id).collect();
                crate::cli::events::emit(serde_json::json!({
                    "type": "upload", "changes": batch.entries.len(), "transactions": txs,
                    "first_op_id": batch.entries.first().map(|e| e.op_id),
                }));
            }
            batch.complete(None).await?;
        }
        Ok(())
    }
}
