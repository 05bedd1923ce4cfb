//! The sync status of `UpdateSyncStatus` and `powersync_offline_sync_status()`: the types are the
//! shared contract (`powersync-protocol`, docs/protocol.md "Sync status"); here the core reads
//! the stored part of it.

use rusqlite::Connection;
use serde_json::value::RawValue;

pub use powersync_protocol::status::{
    BucketProgress, Downloading, PriorityStatus, StreamProgress, StreamStatus, SyncStatus,
};

use crate::error::PsResult;
use crate::sql;
use crate::sync::line::Priority;

/// Raw JSON text as stored (`'null'` and NULL become JSON null).
pub fn raw_json(text: Option<&str>) -> Option<Box<RawValue>> {
    match text {
        None | Some("null") => None,
        Some(t) => RawValue::from_string(t.to_owned()).ok(),
    }
}

/// `priority_status` from `ps_sync_state`, ascending by priority.
pub fn stored_priority_status(db: &Connection) -> PsResult<Vec<PriorityStatus>> {
    sql::query_all(
        db,
        "SELECT priority, last_synced_at FROM ps_sync_state ORDER BY priority",
        [],
        |r| {
            Ok(PriorityStatus {
                priority: r.get(0)?,
                last_synced_at: r.get(1)?,
                has_synced: Some(true),
            })
        },
    )
}

/// The status as it looks while disconnected.
pub fn offline_status(db: &Connection) -> PsResult<SyncStatus> {
    // Read like the reference does first, so a database without our tables fails the same way.
    sql::query_all(
        db,
        "SELECT id, name, count_at_last, count_since_last FROM ps_buckets",
        [],
        |_| Ok(()),
    )?;
    Ok(SyncStatus {
        connected: false,
        connecting: false,
        priority_status: stored_priority_status(db)?,
        downloading: None,
        streams: crate::sync::streams::stored_stream_statuses(db)?,
        internal_last_applied_checkpoint_request_id: None,
        held_rows: None,
    })
}

/// A new complete or partial sync at `priority` (docs/protocol.md, "Sync status"): entries at or below it are replaced.
pub fn record_sync(status: &mut Vec<PriorityStatus>, priority: Priority, now: i64) {
    if priority == Priority::FULL_SYNC {
        status.clear();
        status.push(PriorityStatus {
            priority: priority.0,
            last_synced_at: Some(now),
            has_synced: Some(true),
        });
    } else {
        status.retain(|s| s.priority > priority.0);
        status.insert(
            0,
            PriorityStatus {
                priority: priority.0,
                last_synced_at: Some(now),
                has_synced: Some(true),
            },
        );
    }
}

#[cfg(test)]
mod tests;
