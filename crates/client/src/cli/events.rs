//! `sync --json`: one JSON object per line on stdout, for scripts and supervisors, instead of
//! the progress display. Event types: `status` (connection state changed, and a last one with
//! `"state": "done"`), `progress` (at most once a second while downloading, and at the end of a
//! download), `upload` (a batch accepted by the backend, from the connector) and `error` (each
//! new download or upload error, with its side).

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use powersync_client::{SyncError, SyncStatus};
use serde_json::{json, Value};

use crate::cli::progress::{phase, RecentRate};

/// Writes one event as a line; stdout is locked per line so lines never interleave.
pub(crate) fn emit(event: Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{event}");
    let _ = out.flush();
}

#[derive(Default)]
pub(crate) struct JsonEvents {
    last_state: Option<Value>,
    last_progress: Option<Instant>,
    last_download_error: Option<Arc<SyncError>>,
    last_upload_error: Option<Arc<SyncError>>,
    rate: RecentRate,
}

fn state(s: &SyncStatus) -> Value {
    json!({
        "type": "status",
        "connected": s.connected,
        "connecting": s.connecting,
        "downloading": s.downloading,
        "uploading": s.uploading,
        "waiting_for_uploads": s.waiting_for_uploads,
        "synced_since_connect": s.synced_since_connect,
        "has_synced": s.has_synced(),
        "last_synced_at_ms": s.last_synced_at_ms(),
    })
}

fn new_error(now: Option<&Arc<SyncError>>, last: &mut Option<Arc<SyncError>>) -> Option<String> {
    let now = now?;
    if last.as_ref().is_some_and(|l| Arc::ptr_eq(l, now)) {
        return None;
    }
    *last = Some(now.clone());
    Some(now.to_string())
}

impl JsonEvents {
    pub(crate) fn update(&mut self, s: &SyncStatus) {
        let st = state(s);
        if self.last_state.as_ref() != Some(&st) {
            emit(st.clone());
            self.last_state = Some(st);
        }
        if let Some(m) = new_error(s.download_error.as_ref().map(|e| &e.0), &mut self.last_download_error) {
            emit(json!({"type": "error", "side": "download", "message": m}));
        }
        if let Some(m) = new_error(s.upload_error.as_ref().map(|e| &e.0), &mut self.last_upload_error) {
            emit(json!({"type": "error", "side": "upload", "message": m}));
        }
        if let Some(p) = s.download_progress() {
            self.rate.record(Instant::now(), p.downloaded);
            let due = self.last_progress.is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
            if due || p.downloaded >= p.total {
                emit(json!({
                    "type": "progress",
                    "phase": phase(p.downloaded, p.total),
                    "downloaded": p.downloaded,
                    "total": p.total,
                    "priority": s.downloading_priority(),
                    "rows_per_second": self.rate.per_second().map(|r| r.round()),
                }));
                self.last_progress = Some(Instant::now());
            }
        }
    }
}
