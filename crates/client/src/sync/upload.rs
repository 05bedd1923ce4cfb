//! The upload loop (docs/protocol.md, "The client's side"): throttled passes that let the connector upload `ps_crud`,
//! then set the write-checkpoint target and tell the iteration.

use std::sync::Arc;

use super::{checkpoints, target::update_target, Event, SyncShared};
use crate::crud::first_id;
use crate::error::{ConnectorFailure, SyncError};
use crate::options::CheckpointMode;
use crate::parking::{self, OnReject};

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

/// Records a failed upload against the first queued transaction; with `OnReject::Park`, parks
/// it once it was rejected often enough and returns the `Parked` error to show.
async fn record_failure(sh: &Arc<SyncShared>, error: String, rejection: bool) -> Option<SyncError> {
    let on_reject = sh.options.on_reject;
    let result = sh
        .db
        .inner
        .pool
        .write(move |c| {
            let Some(tx_id) = parking::first_tx(c)? else {
                return Ok(None);
            };
            let rejections = parking::record_failure(c, tx_id, &error, rejection)?;
            match on_reject {
                OnReject::Park { after } if rejection && rejections >= i64::from(after.max(1)) => {
                    parking::park(c, tx_id, &error)?;
                    Ok(Some(SyncError::Parked {
                        tx_id,
                        rejections,
                        error,
                    }))
                }
                _ => Ok(None),
            }
        })
        .await;
    result.unwrap_or_else(|e| {
        tracing::warn!("could not record the upload error: {e}");
        None
    })
}

async fn upload_pass(sh: &Arc<SyncShared>) {
    let mut first_before_call: Option<i64> = None;
    // Consecutive failed connector calls of this pass (the retry delay backs off).
    let mut failures: u32 = 0;
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
            Ok(()) => {
                failures = 0;
                sh.set_upload_error(None);
                if let Err(e) = sh.db.inner.pool.write(|c| parking::forget_settled(c)).await {
                    tracing::warn!("could not clear settled upload errors: {e}");
                }
            }
            Err(e) => {
                tracing::warn!("upload failed: {e}");
                let rejection = sh.creds.connector().is_rejection(&*e);
                let parked = record_failure(sh, e.to_string(), rejection).await;
                first_before_call = None;
                match parked {
                    // The queue moved on: upload the rest at once.
                    Some(p) => {
                        tracing::warn!("{p}");
                        sh.set_upload_error(Some(p));
                        failures = 0;
                    }
                    None => {
                        sh.set_upload_error(Some(SyncError::Upload(ConnectorFailure::new(e))));
                        failures += 1;
                        sh.sleep_backoff(failures).await;
                    }
                }
            }
        }
    }
    sh.set_uploading(false);
}
