//! The CLI's backend connector: credentials from the token source, uploads as JSON batches to
//! `--upload-url` (format in the README).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use powersync_client::{BackendConnector, ConnectorError, Credentials, CrudEntry, PowerSyncDatabase};
use serde::Serialize;

use crate::cli::token::TokenSource;

const BATCH_LIMIT: usize = 100;

/// Why the last upload attempt failed (for `--once` exit codes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UploadFailure {
    Rejected { status: u16, body: String },
    Unreachable(String),
    NoBackend,
}

pub(crate) struct CliConnector {
    pub endpoint: String,
    pub token: TokenSource,
    pub upload_url: Option<String>,
    pub http: reqwest::Client,
    pub last_failure: Arc<Mutex<Option<UploadFailure>>>,
}

#[derive(Serialize)]
struct UploadBody<'a> {
    client_id: &'a str,
    batch: &'a [CrudEntry],
}

impl CliConnector {
    fn fail(&self, f: UploadFailure, msg: String) -> ConnectorError {
        *self.last_failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
        msg.into()
    }
}

#[async_trait]
impl BackendConnector for CliConnector {
    async fn fetch_credentials(&self) -> Result<Option<Credentials>, ConnectorError> {
        let token = self.token.token().await?;
        Ok(Some(Credentials::new(self.endpoint.clone(), token)))
    }

    async fn upload_data(&self, db: &PowerSyncDatabase) -> Result<(), ConnectorError> {
        let client_id = db
            .query("SELECT powersync_client_id() AS id", vec![])
            .await?
            .first()
            .and_then(|r| r.get_str("id").map(String::from))
            .unwrap_or_default();
        while let Some(batch) = db.get_crud_batch(BATCH_LIMIT).await? {
            let Some(url) = &self.upload_url else {
                let msg = format!(
                    "{}{} local change(s) are queued but no --upload-url was given; they stay queued",
                    batch.entries.len(),
                    if batch.has_more { "+" } else { "" }
                );
                return Err(self.fail(UploadFailure::NoBackend, msg));
            };
            let token = self.token.token().await?;
            let body = serde_json::to_string(&UploadBody {
                client_id: &client_id,
                batch: &batch.entries,
            })?;
            let resp = self
                .http
                .post(url)
                .header("Content-Type", "application/json")
                .header("Authorization", format!("Token {token}"))
                .body(body)
                .send()
                .await;
            let resp = match resp {
                Ok(r) => r,
                Err(e) => {
                    let msg = format!("could not reach the upload backend {url}: {}", e.without_url());
                    return Err(self.fail(UploadFailure::Unreachable(msg.clone()), msg));
                }
            };
            let status = resp.status();
            if !status.is_success() {
                let body = resp.text().await.unwrap_or_default().replace(&token, "<redacted>");
                let msg = format!(
                    "the backend rejected the upload (HTTP {}): {}",
                    status.as_u16(),
                    body.trim()
                );
                return Err(self.fail(
                    UploadFailure::Rejected {
                        status: status.as_u16(),
                        body,
                    },
                    msg,
                ));
            }
            *self.last_failure.lock().unwrap_or_else(|e| e.into_inner()) = None;
            tracing::info!("uploaded {} change(s)", batch.entries.len());
            batch.complete(None).await?;
        }
        Ok(())
    }
}
