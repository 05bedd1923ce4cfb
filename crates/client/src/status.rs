//! The public sync status, built from the extension's status object (`powersync-protocol`;
//! docs/protocol.md, "Sync status") plus the client's own upload/download state.

use std::sync::Arc;

use serde::Deserialize;

use crate::error::SyncError;

/// Priority number of a complete sync.
pub use powersync_protocol::status::FULL_SYNC_PRIORITY;

/// The extension's status object as it is on the wire (the shared contract,
/// `powersync_protocol::SyncStatus`), decoded at the edge; [`SyncStatus`] is built from it.
pub(crate) use powersync_protocol::status::SyncStatus as CoreStatus;

// ---- public types ----

/// Sync state of one priority. Times are milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriorityStatus {
    pub priority: i32,
    pub has_synced: bool,
    pub last_synced_at_ms: Option<i64>,
}

/// Downloaded / total operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
pub struct Progress {
    pub total: i64,
    pub downloaded: i64,
}

/// One sync stream as the extension reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamStatus {
    pub name: String,
    /// The parameters' JSON text exactly as given to `subscribe`, or `None`.
    pub parameters: Option<String>,
    pub priority: Option<i32>,
    pub active: bool,
    pub is_default: bool,
    pub has_explicit_subscription: bool,
    pub expires_at_ms: Option<i64>,
    pub last_synced_at_ms: Option<i64>,
    pub progress: Progress,
}

/// A shared error value in the status; equality is identity.
#[derive(Debug, Clone)]
pub struct StatusError(pub Arc<SyncError>);

impl PartialEq for StatusError {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Display for StatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The public sync status.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SyncStatus {
    pub connected: bool,
    pub connecting: bool,
    pub downloading: bool,
    pub uploading: bool,
    pub download_error: Option<StatusError>,
    pub upload_error: Option<StatusError>,
    /// True once a complete checkpoint was applied since the last `connect()` (a
    /// `DidCompleteSync`), i.e. the local data caught up with the service in this connection.
    pub synced_since_connect: bool,
    /// True while the service's latest checkpoint is held back because local writes are not
    /// uploaded and acknowledged yet (a `CheckpointDelayedDueToLocalData`); cleared when a
    /// checkpoint is applied or the connection ends.
    pub waiting_for_uploads: bool,
    /// With `apply_around_pending_uploads` on: rows the last checkpoint left at their local
    /// version because their writes are not confirmed by the service yet (0 otherwise).
    pub held_rows: i64,
    /// Sorted by ascending priority number.
    pub priority_status: Vec<PriorityStatus>,
    pub streams: Vec<StreamStatus>,
    /// Per-priority progress, only while downloading: `(priority, progress)` ascending.
    pub(crate) progress: Vec<(i32, Progress)>,
    pub(crate) last_applied_checkpoint_request_id: Option<i64>,
}

fn micros_to_ms(v: Option<i64>) -> Option<i64> {
    v.map(|us| us / 1000)
}

impl SyncStatus {
    /// Replaces the extension-provided part, keeping the client's own fields.
    pub(crate) fn apply_core(&mut self, core: &CoreStatus) {
        self.connected = core.connected;
        self.connecting = core.connecting;
        self.downloading = core.downloading.is_some();
        let mut prios: Vec<PriorityStatus> = core
            .priority_status
            .iter()
            .map(|p| PriorityStatus {
                priority: p.priority,
                has_synced: p.has_synced.unwrap_or(false),
                last_synced_at_ms: micros_to_ms(p.last_synced_at),
            })
            .collect();
        prios.sort_by_key(|p| p.priority);
        self.priority_status = prios;
        let mut progress: Vec<(i32, Progress)> = core
            .downloading
            .iter()
            .flat_map(|d| d.groups.iter())
            .map(|b| {
                (
                    b.priority,
                    Progress {
                        downloaded: b.since_last,
                        total: b.target_count - b.at_last,
                    },
                )
            })
            .collect();
        progress.sort_by_key(|p| p.0);
        self.progress = progress;
        self.streams = core
            .streams
            .iter()
            .map(|s| StreamStatus {
                name: s.name.clone(),
                parameters: s
                    .parameters
                    .as_ref()
                    .map(|p| p.get().to_string())
                    .filter(|p| p != "null"),
                priority: s.priority,
                active: s.active,
                is_default: s.is_default,
                has_explicit_subscription: s.has_explicit_subscription,
                expires_at_ms: micros_to_ms(s.expires_at),
                last_synced_at_ms: micros_to_ms(s.last_synced_at),
                progress: Progress {
                    total: s.progress.total,
                    downloaded: s.progress.downloaded,
                },
            })
            .collect();
        self.last_applied_checkpoint_request_id = core.internal_last_applied_checkpoint_request_id;
        self.held_rows = core.held_rows.unwrap_or(0);
    }

    /// The status after a disconnect: the last extension state, but offline.
    pub(crate) fn mark_disconnected(&mut self) {
        self.connected = false;
        self.connecting = false;
        self.downloading = false;
        self.waiting_for_uploads = false;
        self.held_rows = 0;
        self.progress.clear();
    }

    /// Status for priority `p`: the first entry with `priority >= p`, else "not synced".
    pub fn status_for_priority(&self, p: i32) -> PriorityStatus {
        self.priority_status
            .iter()
            .find(|s| s.priority >= p)
            .copied()
            .unwrap_or(PriorityStatus {
                priority: p,
                has_synced: false,
                last_synced_at_ms: None,
            })
    }

    /// Whether a complete sync ever finished on this database.
    pub fn has_synced(&self) -> bool {
        self.status_for_priority(FULL_SYNC_PRIORITY).has_synced
    }

    pub fn last_synced_at_ms(&self) -> Option<i64> {
        self.status_for_priority(FULL_SYNC_PRIORITY).last_synced_at_ms
    }

    /// Overall download progress (`None` when not downloading).
    pub fn download_progress(&self) -> Option<Progress> {
        self.progress_up_to(FULL_SYNC_PRIORITY)
    }

    /// Progress of all priorities with number `<= p` (`None` when not downloading).
    pub fn progress_up_to(&self, p: i32) -> Option<Progress> {
        if !self.downloading {
            return None;
        }
        Some(
            self.progress
                .iter()
                .filter(|(prio, _)| *prio <= p)
                .fold(Progress::default(), |acc, (_, x)| Progress {
                    total: acc.total + x.total,
                    downloaded: acc.downloaded + x.downloaded,
                }),
        )
    }

    /// The priority being downloaded with the smallest number that is not yet complete.
    pub fn downloading_priority(&self) -> Option<i32> {
        self.progress
            .iter()
            .find(|(_, p)| p.downloaded < p.total)
            .map(|(prio, _)| *prio)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn core(json: &str) -> CoreStatus {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn maps_priorities_and_progress() {
        let c = core(
            r#"{"connected":true,"connecting":false,"priority_status":[{"priority":2147483647,"last_synced_at":1795315205887000,"has_synced":true},{"priority":0,"last_synced_at":1795315205000000,"has_synced":true}],"downloading":{"buckets":{"prio_3":{"priority":3,"at_last":0,"since_last":1,"target_count":4},"prio_0":{"priority":0,"at_last":0,"since_last":2,"target_count":2}}},"streams":[],"internal_last_applied_checkpoint_request_id":"8"}"#,
        );
        let mut s = SyncStatus::default();
        s.apply_core(&c);
        assert!(s.connected && !s.connecting && s.downloading);
        assert_eq!(
            s.priority_status.iter().map(|p| p.priority).collect::<Vec<_>>(),
            vec![0, FULL_SYNC_PRIORITY]
        );
        assert_eq!(s.last_synced_at_ms(), Some(1795315205887));
        assert!(s.has_synced());
        // Status for priority 1: first entry with priority >= 1 is the full-sync entry.
        assert_eq!(s.status_for_priority(1).priority, FULL_SYNC_PRIORITY);
        assert_eq!(s.status_for_priority(0).last_synced_at_ms, Some(1795315205000));
        assert_eq!(
            s.progress_up_to(0),
            Some(Progress {
                total: 2,
                downloaded: 2
            })
        );
        assert_eq!(
            s.download_progress(),
            Some(Progress {
                total: 6,
                downloaded: 3
            })
        );
        assert_eq!(s.downloading_priority(), Some(3));
        assert_eq!(s.last_applied_checkpoint_request_id, Some(8));
    }

    #[test]
    fn missing_priority_is_not_synced() {
        let mut s = SyncStatus::default();
        s.apply_core(&core(r#"{"connected":false,"connecting":false,"priority_status":[{"priority":1,"last_synced_at":5000,"has_synced":true}],"downloading":null,"streams":[]}"#));
        assert!(!s.has_synced());
        assert_eq!(
            s.status_for_priority(FULL_SYNC_PRIORITY),
            PriorityStatus {
                priority: FULL_SYNC_PRIORITY,
                has_synced: false,
                last_synced_at_ms: None
            }
        );
        assert_eq!(s.status_for_priority(0).last_synced_at_ms, Some(5));
        assert_eq!(s.download_progress(), None);
    }

    #[test]
    fn streams_keep_parameter_text_and_disconnect_keeps_data() {
        let mut s = SyncStatus::default();
        s.apply_core(&core(r#"{"connected":true,"connecting":false,"priority_status":[],"downloading":{"buckets":{}},"streams":[{"name":"todos","parameters":{"list": "L1"},"priority":1,"active":true,"is_default":false,"has_explicit_subscription":true,"expires_at":1795318824582000,"last_synced_at":null,"progress":{"total":1,"downloaded":0}},{"name":"g","parameters":null,"priority":null,"active":true,"is_default":true,"has_explicit_subscription":false,"expires_at":null,"last_synced_at":null,"progress":{"total":0,"downloaded":0}}]}"#));
        assert_eq!(s.streams[0].parameters.as_deref(), Some(r#"{"list": "L1"}"#));
        assert_eq!(s.streams[0].expires_at_ms, Some(1795318824582));
        assert_eq!(s.streams[1].parameters, None);
        s.waiting_for_uploads = true;
        s.mark_disconnected();
        assert!(!s.connected && !s.downloading && !s.waiting_for_uploads);
        assert_eq!(s.streams.len(), 2);
    }

    #[test]
    fn error_equality_is_identity() {
        let e = StatusError(Arc::new(SyncError::Disconnected));
        assert_eq!(e, e.clone());
        assert_ne!(e, StatusError(Arc::new(SyncError::Disconnected)));
    }
}
