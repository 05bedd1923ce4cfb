//! The upload loop (docs/protocol.md, "The client's side"): throttled passes that let the connector upload `ps_crud`,
//! then set the write-checkpoint target and tell the iteration.

use std::sync::Arc;

use super::{checkpoints, target::update_target, Event, SyncShared};
use crate::crud::first_id;
use crate::error::{ConnectorFailure, SyncError};
use crate::options::CheckpointMode;

/// Turns commits that touch `ps_crud` into upload triggers.
pub(crate) async fn forward_crud_changes(sh: Arc<SyncShared>) {
    let mut changes = sh.db.inner.pool.subscribe_changes();
    loop {
        match changes.recv().await {
            Ok(tables) if tables.contains("ps_crud") => sh.upload_trigger.notify_one(),
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => sh.upload_trigger.notify_one(),
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

pub(crate) async fn upload_loop(sh: Arc<SyncShared>) {
    loop {
        sh.upload_trigger.notified().await;
        upload_pass(&sh).await;
        // Triggers arriving meanwhile leave one permit in the Notify: merged into one pass.
        tokio::time::sleep(sh.options.upload_throttle).await;
    }
}

async fn obtain_checkpoint(sh: &Arc<SyncShared>) -> Result<String, SyncError> {
    match sh.options.checkpoint_mode {
        CheckpointMode::Legacy => {
            sh.creds
                .call(|creds| async move { sh.http.write_checkpoint(&creds, &sh.client_id).await })
                .await
        }
        CheckpointMode::Requests => checkpoints::allocate_and_post(sh).await,
    }
}

async fn upload_pass(sh: &Arc<SyncShared>) {
    let mut first_before_call: Option<i64> = None;
    loop {
        if sh.is_cancelled() {
            break;
        }
        let first = match sh.db.inner.pool.read(first_id).await {
            Ok(f) => f,
            Err(e) => {
                sh.set_upload_error(Some(e.into()));
                sh.sleep_retry().await;
                continue;
            }
        };
        let Some(id) = first else {
            sh.set_uploading(false);
            match update_target(&sh.db.inner.pool, || obtain_checkpoint(sh)).await {
                Ok(true) => sh.db.send_event(Event::CompletedUpload).await,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!("could not obtain a write checkpoint: {e}");
                    sh.set_upload_error(Some(e));
                    sh.sleep_retry().await;
                    continue;
                }
            }
            break;
        };
        if first_before_call == Some(id) {
            let e = SyncError::UploadNotCompleted { op_id: id };
            tracing::warn!("{e}; retrying after the retry delay");
            sh.set_upload_error(Some(e));
            first_before_call = None;
            sh.sleep_retry().await;
            continue;
        }
        first_before_call = Some(id);
        sh.set_uploading(true);
        match sh.creds.connector().upload_data(&sh.db).await {
            Ok(()) => sh.set_upload_error(None),
            Err(e) => {
                tracing::warn!("upload failed: {e}");
                sh.set_upload_error(Some(SyncError::Upload(ConnectorFailure::new(e))));
                first_before_call = None;
                sh.sleep_retry().await;
            }
        }
    }
    sh.set_uploading(false);
}
