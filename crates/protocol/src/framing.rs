//! Content types of the `/sync/stream` response (docs/protocol.md, "HTTP stream").

/// Newline-delimited JSON: one sync line per line.
pub const NDJSON_CONTENT_TYPE: &str = "application/x-ndjson";

/// A stream of BSON documents, one sync line each.
pub const BSON_CONTENT_TYPE: &str = "application/vnd.powersync.bson-stream";

/// The `Accept` header the SDKs send: BSON preferred, NDJSON accepted.
pub const PREFER_BSON_ACCEPT: &str = "application/vnd.powersync.bson-stream;q=0.9,application/x-ndjson;q=0.8";
