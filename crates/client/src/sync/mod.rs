//! The sync client: the download loop (iterations of `powersync_control`), the upload loop and
//! checkpoint requests, sharing one [`SyncShared`] per `connect()`.

pub(crate) mod checkpoints;
pub(crate) mod external;
pub(crate) mod iteration;
pub(crate) mod target;
pub(crate) mod upload;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, watch, Notify};

use crate::credentials::CredentialsCache;
use crate::db::pool::{control, ControlPayload};
use crate::error::SyncError;
use crate::framing::Line;
use crate::http::Http;
use crate::instructions::{decode, Instruction, Severity};
use crate::options::SyncOptions;
use crate::status::StatusError;
use crate::PowerSyncDatabase;

/// Everything funnelled into the running iteration, handled in order (docs/protocol.md, "The client's side").
#[derive(Debug)]
pub(crate) enum Event {
    Line(Line),
    End,
    StreamFailed(SyncError),
    CompletedUpload,
    RefreshedToken,
    UpdateSubscriptions(String),
    Seeded(String),
    SeedFailed(SyncError),
}

/// What ended an iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Close { hide_disconnect: bool },
    Cancelled,
}

/// State of checkpoint-request seeding (docs/protocol.md, "The client's side").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeedState {
    NotSeeded,
    Seeded,
    Disconnected,
}

pub(crate) struct SyncShared {
    pub db: PowerSyncDatabase,
    pub http: Http,
    pub creds: CredentialsCache,
    pub options: SyncOptions,
    pub client_id: String,
    pub upload_trigger: Notify,
    pub cancel: watch::Receiver<bool>,
    /// A background credentials refresh is running: the extension repeats
    /// `FetchCredentials{did_expire:false}` on every `token_expires_in` line up to expiry.
    pub refreshing: AtomicBool,
}

/// A running `connect()`.
pub(crate) struct RunningSync {
    pub cancel: watch::Sender<bool>,
    pub shared: Arc<SyncShared>,
    pub download: tokio::task::JoinHandle<()>,
    pub upload: tokio::task::JoinHandle<()>,
    pub forward: tokio::task::JoinHandle<()>,
    /// Held for the sync's lifetime; released when this is dropped (after the loops ended).
    pub _lock: Option<crate::sync_lock::SyncLock>,
}

/// Aborts its tasks when dropped, so nothing of an iteration outlives it.
#[derive(Default)]
pub(crate) struct Tasks(Vec<tokio::task::JoinHandle<()>>);

impl Tasks {
    pub(crate) fn spawn(&mut self, f: impl std::future::Future<Output = ()> + Send + 'static) {
        self.0.push(tokio::spawn(f));
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

pub(crate) fn is_no_iteration(e: &SyncError) -> bool {
    matches!(e, SyncError::Extension(m) if m.contains("No iteration is active"))
}

impl SyncShared {
    pub(crate) fn is_cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// Resolves when `disconnect()` was called.
    pub(crate) async fn cancelled(&self) {
        let mut rx = self.cancel.clone();
        let _ = rx.wait_for(|c| *c).await;
    }

    /// One `powersync_control` call (own write transaction), result as raw text.
    pub(crate) async fn control_raw(
        &self,
        op: &'static str,
        payload: ControlPayload,
    ) -> Result<Option<String>, SyncError> {
        Ok(self.db.inner.pool.write(move |c| control(c, op, payload)).await?)
    }

    /// One `powersync_control` call returning instructions.
    pub(crate) async fn control(
        &self,
        op: &'static str,
        payload: ControlPayload,
    ) -> Result<Vec<Instruction>, SyncError> {
        let text = self.control_raw(op, payload).await?;
        decode(text.as_deref()).map_err(|e| SyncError::Instruction(e.to_string()))
    }

    /// Reacts to one instruction (docs/protocol.md, "The client's side") except `EstablishSyncStream`, which the caller
    /// handles. Returns the `CloseSyncStream` flag, if this was one.
    pub(crate) async fn apply(
        self: &Arc<Self>,
        ins: Instruction,
        events: Option<&mpsc::Sender<Event>>,
    ) -> Option<bool> {
        match ins {
            Instruction::LogLine { severity, line } => match severity {
                Severity::Debug => tracing::debug!(target: "powersync", "{line}"),
                Severity::Info => tracing::info!(target: "powersync", "{line}"),
                Severity::Warning => {
                    tracing::warn!(target: "powersync", "{line}");
                    if let Some(e) = crate::stream_errors::parse(&line) {
                        let mut errors = self.db.inner.stream_errors.lock().unwrap_or_else(|e| e.into_inner());
                        if !errors.contains(&e) {
                            errors.push(e);
                        }
                    }
                }
            },
            Instruction::UpdateSyncStatus(core) => {
                self.db.inner.status.send_if_modified(|s| {
                    let before = s.clone();
                    s.apply_core(&core);
                    *s != before
                });
            }
            Instruction::FetchCredentials { did_expire: true } => self.creds.invalidate().await,
            Instruction::FetchCredentials { did_expire: false } => {
                if let Some(tx) = events.cloned() {
                    if !self.refreshing.swap(true, Ordering::SeqCst) {
                        let me = self.clone();
                        tokio::spawn(async move {
                            match me.creds.refresh().await {
                                Ok(()) => {
                                    let _ = tx.send(Event::RefreshedToken).await;
                                }
                                Err(e) => tracing::warn!("background credentials refresh failed: {e}"),
                            }
                            me.refreshing.store(false, Ordering::SeqCst);
                        });
                    }
                }
            }
            Instruction::CloseSyncStream { hide_disconnect } => return Some(hide_disconnect),
            Instruction::DidCompleteSync {
                applied_checkpoint_request_id,
            } => {
                self.db.inner.status.send_modify(|s| {
                    s.download_error = None;
                    s.synced_since_connect = true;
                    s.waiting_for_uploads = false;
                    if let Some(id) = applied_checkpoint_request_id {
                        s.last_applied_checkpoint_request_id =
                            Some(s.last_applied_checkpoint_request_id.map_or(id, |o| o.max(id)));
                    }
                });
            }
            Instruction::EstablishSyncStream { .. } => {}
            // Normal mode: the upload loop is already running, nothing to do but show it.
            Instruction::CheckpointDelayedDueToLocalData => {
                self.db
                    .inner
                    .status
                    .send_if_modified(|s| !std::mem::replace(&mut s.waiting_for_uploads, true));
            }
            Instruction::HandleDiagnostics | Instruction::Unknown(_) => {}
        }
        None
    }

    pub(crate) fn set_upload_error(&self, e: Option<SyncError>) {
        self.db.inner.status.send_if_modified(|s| {
            if e.is_none() && s.upload_error.is_none() {
                return false;
            }
            s.upload_error = e.map(|e| StatusError(Arc::new(e)));
            true
        });
    }

    pub(crate) fn set_uploading(&self, uploading: bool) {
        self.db
            .inner
            .status
            .send_if_modified(|s| std::mem::replace(&mut s.uploading, uploading) != uploading);
    }

    pub(crate) async fn sleep_retry(&self) {
        self.sleep_backoff(1).await
    }

    /// Sleeps before retry number `failures` (exponential backoff from the retry delay of docs/protocol.md, "The client's side"
    /// doubled per consecutive failure up to `max_retry_delay`), or until `disconnect()`.
    pub(crate) async fn sleep_backoff(&self, failures: u32) {
        tokio::select! {
            _ = tokio::time::sleep(crate::options::jitter(self.options.backoff(failures))) => {}
            _ = self.cancelled() => {}
        }
    }
}
