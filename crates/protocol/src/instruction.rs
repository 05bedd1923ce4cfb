//! Instructions `powersync_control` returns to the SDK (docs/protocol.md, "Instructions"): a JSON
//! array of one-key objects, fields in exactly the order declared here.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::status::{BucketProgress, SyncStatus};

/// Serialised as `DEBUG`, `INFO`, `WARNING`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Debug,
    Info,
    Warning,
}

/// One instruction. Clients that must tolerate instructions added by a newer core check the
/// name against [`Instruction::NAMES`] before deserialising.
#[derive(Debug, Serialize, Deserialize)]
pub enum Instruction {
    LogLine {
        severity: Severity,
        line: String,
    },
    UpdateSyncStatus {
        status: SyncStatus,
    },
    EstablishSyncStream {
        request: StreamingSyncRequest,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        checkpoint_request: Option<CheckpointRequest>,
    },
    FetchCredentials {
        did_expire: bool,
    },
    CloseSyncStream {
        hide_disconnect: bool,
    },
    DidCompleteSync {
        /// The id of the write-checkpoint request the applied checkpoint answered, in decimal.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        applied_checkpoint_request_id: Option<String>,
    },
    HandleDiagnostics(Diagnostics),
    /// The local-write gate held a checkpoint back: local writes must be uploaded first.
    /// Serialised with an empty object, `{"CheckpointDelayedDueToLocalData":{}}`.
    CheckpointDelayedDueToLocalData {},
}

impl Instruction {
    /// The name (JSON key) of every instruction this crate knows.
    pub const NAMES: [&'static str; 8] = [
        "LogLine",
        "UpdateSyncStatus",
        "EstablishSyncStream",
        "FetchCredentials",
        "CloseSyncStream",
        "DidCompleteSync",
        "HandleDiagnostics",
        "CheckpointDelayedDueToLocalData",
    ];

    pub fn log(severity: Severity, line: impl Into<String>) -> Instruction {
        Instruction::LogLine {
            severity,
            line: line.into(),
        }
    }
}

/// The body of the `/sync/stream` request.
#[derive(Debug, Serialize, Deserialize)]
pub struct StreamingSyncRequest {
    pub buckets: Vec<BucketRequest>,
    pub include_checksum: bool,
    pub raw_data: bool,
    pub binary_data: bool,
    pub client_id: String,
    pub parameters: Option<serde_json::Map<String, serde_json::Value>>,
    pub streams: StreamsRequest,
    /// Passed through as the exact text the SDK supplied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_metadata: Option<Box<RawValue>>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BucketRequest {
    pub name: String,
    pub after: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamsRequest {
    pub include_defaults: bool,
    pub subscriptions: Vec<SubscriptionRequest>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubscriptionRequest {
    pub stream: String,
    /// Passed through as the exact text given to `subscribe`.
    pub parameters: Option<Box<RawValue>>,
    pub override_priority: Option<i32>,
}

impl PartialEq for SubscriptionRequest {
    fn eq(&self, other: &Self) -> bool {
        self.stream == other.stream
            && self.override_priority == other.override_priority
            && self.parameters.as_ref().map(|p| p.get()) == other.parameters.as_ref().map(|p| p.get())
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CheckpointRequest {
    pub client_id: String,
    pub checkpoint_request_id: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Diagnostics {
    BucketStateChange {
        changes: Vec<BucketChange>,
        incremental: bool,
    },
    SchemaChange {
        table: String,
        column: String,
        value_type: ValueType,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BucketChange {
    pub name: String,
    pub progress: BucketProgress,
}

/// The reference names a `Null` kind too but never reports it: null values are skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValueType {
    String,
    Integer,
    Real,
}
