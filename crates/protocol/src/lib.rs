//! The contract between the PowerSync core extension and the programs around it, defined once:
//!
//! * [`instruction`]: the instructions `powersync_control` returns (the core serialises them,
//!   clients deserialise them);
//! * [`status`]: the sync status object of `UpdateSyncStatus` and
//!   `powersync_offline_sync_status()`;
//! * [`framing`]: the content types of the `/sync/stream` response (client and test service).
//!
//! Serialisation is byte-for-byte what the reference extension writes (field order, names,
//! omitted fields); the conformance vectors compare it. Deserialisation is lenient where a newer
//! core may add or omit things. Dependencies: serde and serde_json only, which the core links
//! anyway (docs/decisions.md, "One definition of the contract").

pub mod framing;
pub mod instruction;
pub mod status;

pub use instruction::Instruction;
pub use status::SyncStatus;

#[cfg(test)]
mod tests;
