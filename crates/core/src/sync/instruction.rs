//! Instructions `powersync_control` returns to the SDK: the types are the shared contract
//! (`powersync-protocol`, docs/protocol.md "Instructions"); the core serialises them.

pub use powersync_protocol::instruction::{
    BucketChange, BucketRequest, CheckpointRequest, Diagnostics, Instruction, Severity, StreamingSyncRequest,
    StreamsRequest, SubscriptionRequest, ValueType,
};

/// The JSON array `powersync_control` returns.
pub fn to_json(instructions: &[Instruction]) -> String {
    serde_json::to_string(instructions).expect("instructions always serialise")
}
