//! The sync status object of `UpdateSyncStatus` and `powersync_offline_sync_status()`, and
//! download progress (docs/protocol.md, "Sync status"). Timestamps are microseconds since the
//! Unix epoch.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Priority number of a complete sync.
pub const FULL_SYNC_PRIORITY: i32 = 2147483647;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SyncStatus {
    pub connected: bool,
    pub connecting: bool,
    #[serde(default)]
    pub priority_status: Vec<PriorityStatus>,
    #[serde(default)]
    pub downloading: Option<Downloading>,
    #[serde(default)]
    pub streams: Vec<StreamStatus>,
    /// Serialised as a decimal string, omitted when `None`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "decimal_string::serialize",
        deserialize_with = "decimal_string::deserialize"
    )]
    pub internal_last_applied_checkpoint_request_id: Option<i64>,
    /// Ours: rows kept at their local version by the last checkpoint applied around pending
    /// uploads in this iteration (docs/protocol.md, "Applying around pending uploads"); omitted
    /// otherwise, so the object is the reference's whenever that setting is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_rows: Option<i64>,
}

mod decimal_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.serialize_str(&v.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(s) => s.parse().map(Some).map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorityStatus {
    pub priority: i32,
    pub last_synced_at: Option<i64>,
    pub has_synced: Option<bool>,
}

/// Progress of one bucket (or, in `downloading`, of one priority group).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BucketProgress {
    pub priority: i32,
    pub at_last: i64,
    pub since_last: i64,
    pub target_count: i64,
}

/// Download progress grouped per priority, serialised as `{"buckets": {"prio_3": ..., ...}}`
/// with keys in descending priority order.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// The groups in document order; the `prio_N` keys are not read (each group names its priority).
impl<'de> Deserialize<'de> for Downloading {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Groups(Vec<BucketProgress>);
        impl<'de> Deserialize<'de> for Groups {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = Groups;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str("a map of priority groups")
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Groups, A::Error> {
                        let mut groups = Vec::new();
                        while let Some((_, g)) = m.next_entry::<IgnoredAny, BucketProgress>()? {
                            groups.push(g);
                        }
                        Ok(Groups(groups))
                    }
                }
                d.deserialize_map(V)
            }
        }
        #[derive(Deserialize)]
        struct Wire {
            buckets: Groups,
        }
        Ok(Downloading {
            groups: Wire::deserialize(d)?.buckets.0,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamStatus {
    pub name: String,
    /// The parameters' JSON text exactly as subscribed (`None`: no parameters).
    pub parameters: Option<Box<RawValue>>,
    pub priority: Option<i32>,
    pub active: bool,
    pub is_default: bool,
    pub has_explicit_subscription: bool,
    pub expires_at: Option<i64>,
    pub last_synced_at: Option<i64>,
    pub progress: StreamProgress,
}

impl PartialEq for StreamStatus {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name
            && self.parameters.as_ref().map(|p| p.get()) == o.parameters.as_ref().map(|p| p.get())
            && self.priority == o.priority
            && self.active == o.active
            && self.is_default == o.is_default
            && self.has_explicit_subscription == o.has_explicit_subscription
            && self.expires_at == o.expires_at
            && self.last_synced_at == o.last_synced_at
            && self.progress == o.progress
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StreamProgress {
    pub total: i64,
    pub downloaded: i64,
}
