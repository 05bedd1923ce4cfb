//! The sync status object of `UpdateSyncStatus` and `powersync_offline_sync_status()`
//! (spec sync.md §6.4), and download progress (§3.3).

use std::collections::BTreeMap;

use rusqlite::Connection;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::error::PsResult;
use crate::sql;
use crate::sync::line::Priority;

#[derive(Debug, Clone, Serialize)]
pub struct SyncStatus {
    pub connected: bool,
    pub connecting: bool,
    pub priority_status: Vec<PriorityStatus>,
    pub downloading: Option<Downloading>,
    pub streams: Vec<StreamStatus>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "as_decimal_string")]
    pub internal_last_applied_checkpoint_request_id: Option<i64>,
}

fn as_decimal_string<S: Serializer>(value: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.serialize_str(&v.to_string()),
        None => s.serialize_none(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PriorityStatus {
    pub priority: i32,
    pub last_synced_at: Option<i64>,
    pub has_synced: Option<bool>,
}

/// Progress of one bucket (or, in `downloading`, of one priority group).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct BucketProgress {
    pub priority: i32,
    pub at_last: i64,
    pub since_last: i64,
    pub target_count: i64,
}

/// Download progress grouped per priority, serialised as `{"buckets": {"prio_3": ..., ...}}`
/// with keys in descending priority order.
#[derive(Debug, Clone)]
pub struct Downloading {
    pub groups: Vec<BucketProgress>,
}

impl Downloading {
    pub fn from_buckets<'a>(buckets: impl IntoIterator<Item = &'a BucketProgress>) -> Downloading {
        let mut groups: BTreeMap<i32, BucketProgress> = BTreeMap::new();
        for b in buckets {
            let g = groups.entry(b.priority).or_insert(BucketProgress {
                priority: b.priority,
                ..Default::default()
            });
            g.since_last = g.since_last.saturating_add(b.since_last);
            g.target_count = g.target_count.saturating_add(b.target_count.saturating_sub(b.at_last));
        }
        Downloading {
            groups: groups.into_values().rev().collect(),
        }
    }

    /// Counts `ops` more downloaded ops in the group of `priority` (a data line), without
    /// regrouping every bucket.
    pub fn add_downloaded(&mut self, priority: i32, ops: i64) {
        if let Some(g) = self.groups.iter_mut().find(|g| g.priority == priority) {
            g.since_last = g.since_last.saturating_add(ops);
        }
    }
}

impl Serialize for Downloading {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Groups<'a>(&'a [BucketProgress]);
        impl Serialize for Groups<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(Some(self.0.len()))?;
                for g in self.0 {
                    map.serialize_entry(&format!("prio_{}", g.priority), g)?;
                }
                map.end()
            }
        }
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry("buckets", &Groups(&self.groups))?;
        map.end()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StreamStatus {
    pub name: String,
    pub parameters: Option<Box<RawValue>>,
    pub priority: Option<i32>,
    pub active: bool,
    pub is_default: bool,
    pub has_explicit_subscription: bool,
    pub expires_at: Option<i64>,
    pub last_synced_at: Option<i64>,
    pub progress: StreamProgress,
}

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct StreamProgress {
    pub total: i64,
    pub downloaded: i64,
}

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
    })
}

/// A new complete or partial sync at `priority` (§6.4): entries at or below it are replaced.
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
