//! The sync lines the service sends (docs/protocol.md, "Sync lines"), as serde types. Op ids, `last_op_id` and
//! `write_checkpoint` are decimal strings; checksums are numbers in 0..=2^32-1; op `data` is JSON
//! object text. The same values serialise to NDJSON and to BSON.

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Line {
    Checkpoint(Checkpoint),
    CheckpointDiff(CheckpointDiff),
    Data(DataLine),
    CheckpointComplete { last_op_id: String },
    PartialCheckpointComplete { last_op_id: String, priority: i32 },
    TokenExpiresIn(i32),
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Checkpoint {
    pub last_op_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_checkpoint: Option<String>,
    pub buckets: Vec<BucketChecksum>,
    pub streams: Vec<StreamDescription>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct CheckpointDiff {
    pub last_op_id: String,
    /// A diff replaces the client's tracked value, so it is always sent when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_checkpoint: Option<String>,
    pub updated_buckets: Vec<BucketChecksum>,
    pub removed_buckets: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct BucketChecksum {
    pub bucket: String,
    /// i64 so that BSON carries values above i32::MAX as int64 (the extension accepts both).
    pub checksum: i64,
    pub priority: i32,
    pub count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscriptions: Option<Vec<SubscriptionReason>>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SubscriptionReason {
    Default(i32),
    Sub(i32),
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct StreamDescription {
    pub name: String,
    pub is_default: bool,
    pub errors: Vec<StreamError>,
}

/// `subscription` is an index into the request's subscriptions (the protocol also allows a
/// string for a default subscription's errors; this service never reports those).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct StreamError {
    pub subscription: i32,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct DataLine {
    pub bucket: String,
    pub after: String,
    pub next_after: String,
    pub has_more: bool,
    pub data: Vec<OplogEntry>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct OplogEntry {
    pub op_id: String,
    pub op: String,
    pub object_type: String,
    pub object_id: String,
    pub checksum: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_have_exactly_one_key_and_wire_types() {
        let cp = Line::Checkpoint(Checkpoint {
            last_op_id: "3".into(),
            write_checkpoint: None,
            buckets: vec![BucketChecksum {
                bucket: "global[]".into(),
                checksum: 4294967295,
                priority: 1,
                count: 2,
                subscriptions: Some(vec![SubscriptionReason::Default(0), SubscriptionReason::Sub(1)]),
            }],
            streams: vec![StreamDescription {
                name: "s".into(),
                is_default: true,
                errors: vec![StreamError {
                    subscription: 2,
                    message: "m".into(),
                }],
            }],
        });
        assert_eq!(
            serde_json::to_value(&cp).unwrap(),
            json!({"checkpoint": {"last_op_id": "3", "buckets": [{"bucket": "global[]", "checksum": 4294967295u64,
                "priority": 1, "count": 2, "subscriptions": [{"default": 0}, {"sub": 1}]}],
                "streams": [{"name": "s", "is_default": true, "errors": [{"subscription": 2, "message": "m"}]}]}})
        );
        assert_eq!(
            serde_json::to_string(&Line::TokenExpiresIn(5)).unwrap(),
            r#"{"token_expires_in":5}"#
        );
        assert_eq!(
            serde_json::to_string(&Line::PartialCheckpointComplete {
                last_op_id: "9".into(),
                priority: 1
            })
            .unwrap(),
            r#"{"partial_checkpoint_complete":{"last_op_id":"9","priority":1}}"#
        );
    }
}
