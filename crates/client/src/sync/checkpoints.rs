//! Checkpoint requests (`checkpoint_mode: "requests"`, docs/protocol.md, "The client's side"): seeding, allocation and
//! re-posting.

use std::sync::Arc;

use serde::Deserialize;

use super::{SeedState, SyncShared};
use crate::db::pool::ControlPayload;
use crate::error::{ConnectorFailure, SyncError};

#[derive(Deserialize)]
struct CheckpointRequest {
    client_id: String,
    checkpoint_request_id: String,
}

/// Posts one checkpoint request (the JSON body text) and returns the accepted id: through the
/// application's own capability when it has one, else `POST /sync/checkpoint-request`.
pub(crate) async fn post(sh: &Arc<SyncShared>, body_json: String) -> Result<String, SyncError> {
    let req: CheckpointRequest = serde_json::from_str(&body_json)
        .map_err(|e| SyncError::Instruction(format!("checkpoint_request {body_json}: {e}")))?;
    if let Some(r) = sh
        .creds
        .connector()
        .post_checkpoint_request(&req.client_id, &req.checkpoint_request_id)
        .await
    {
        return r.map_err(|e| SyncError::CheckpointRequest(ConnectorFailure::new(e)));
    }
    sh.creds
        .call(|creds| async move { sh.http.checkpoint_request(&creds, body_json).await })
        .await
}

/// Allocates the next id (after this iteration's seeding) and posts it; returns the accepted id.
pub(crate) async fn allocate_and_post(sh: &Arc<SyncShared>) -> Result<String, SyncError> {
    let mut seed = sh.db.inner.seed.subscribe();
    let state = *seed
        .wait_for(|s| *s != SeedState::NotSeeded)
        .await
        .map_err(|_| SyncError::Disconnected)?;
    if state == SeedState::Disconnected {
        return Err(SyncError::Disconnected);
    }
    let id = sh
        .control_raw("next_checkpoint_request_id", ControlPayload::Null)
        .await?
        .ok_or_else(|| SyncError::Instruction("next_checkpoint_request_id returned NULL".into()))?;
    let body = serde_json::json!({"client_id": sh.client_id, "checkpoint_request_id": id}).to_string();
    post(sh, body).await
}

/// While the current request id is not applied, posts it again every
/// max(re-post interval, retry delay). Runs inside an iteration (aborted with it).
pub(crate) async fn repost_loop(sh: Arc<SyncShared>) {
    let every = sh.options.checkpoint_repost_interval.max(sh.options.retry_delay);
    loop {
        tokio::time::sleep(every).await;
        let current = match sh
            .control_raw("current_checkpoint_request_id", ControlPayload::Null)
            .await
        {
            Ok(Some(c)) => c.parse::<i64>().ok(),
            Ok(None) => None,
            Err(e) => {
                tracing::debug!("reading current checkpoint request id: {e}");
                None
            }
        };
        let Some(current) = current else { continue };
        let applied = sh
            .db
            .inner
            .status
            .borrow()
            .last_applied_checkpoint_request_id
            .unwrap_or(0);
        if applied < current {
            let body = serde_json::json!({"client_id": sh.client_id, "checkpoint_request_id": current.to_string()})
                .to_string();
            if let Err(e) = post(&sh, body).await {
                tracing::warn!("re-posting checkpoint request {current} failed: {e}");
            }
        }
    }
}
