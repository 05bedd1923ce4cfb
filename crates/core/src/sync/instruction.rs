//! Instructions `powersync_control` returns to the SDK (spec sync.md §6.3): one-key objects,
//! fields in exactly this order.

use serde::Serialize;
use serde_json::value::RawValue;

use crate::sync::status::{BucketProgress, SyncStatus};

// The variant names are the wire format.
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, Serialize)]
pub enum Severity {
    DEBUG,
    INFO,
    WARNING,
}

#[derive(Debug, Serialize)]
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
        #[serde(skip_serializing_if = "Option::is_none")]
        checkpoint_request: Option<CheckpointRequest>,
    },
    FetchCredentials {
        did_expire: bool,
    },
    CloseSyncStream {
        hide_disconnect: bool,
    },
    DidCompleteSync {
        #[serde(skip_serializing_if = "Option::is_none")]
        applied_checkpoint_request_id: Option<String>,
    },
    HandleDiagnostics(Diagnostics),
    /// The local-write gate held a checkpoint back: local writes must be uploaded first.
    /// Serialised with an empty object, `{"CheckpointDelayedDueToLocalData":{}}`.
    CheckpointDelayedDueToLocalData {},
}

impl Instruction {
    pub fn log(severity: Severity, line: impl Into<String>) -> Instruction {
        Instruction::LogLine {
            severity,
            line: line.into(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct StreamingSyncRequest {
    pub buckets: Vec<BucketRequest>,
    pub include_checksum: bool,
    pub raw_data: bool,
    pub binary_data: bool,
    pub client_id: String,
    pub parameters: Option<serde_json::Map<String, serde_json::Value>>,
    pub streams: StreamsRequest,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_metadata: Option<Box<RawValue>>,
}

#[derive(Debug, Serialize)]
pub struct BucketRequest {
    pub name: String,
    pub after: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StreamsRequest {
    pub include_defaults: bool,
    pub subscriptions: Vec<SubscriptionRequest>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionRequest {
    pub stream: String,
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

#[derive(Debug, Serialize)]
pub struct CheckpointRequest {
    pub client_id: String,
    pub checkpoint_request_id: String,
}

#[derive(Debug, Serialize)]
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

#[derive(Debug, Serialize)]
pub struct BucketChange {
    pub name: String,
    pub progress: BucketProgress,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
/// The reference names a `Null` kind too but never reports it: null values are skipped.
pub enum ValueType {
    String,
    Integer,
    Real,
}

/// The JSON array `powersync_control` returns.
pub fn to_json(instructions: &[Instruction]) -> String {
    serde_json::to_string(instructions).expect("instructions always serialise")
}
