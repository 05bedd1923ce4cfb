//! Options of `connect` (defaults: docs/protocol.md, "The client's side").

use std::time::Duration;

use serde_json::{Map, Value};

/// How write checkpoints are obtained after uploads (docs/protocol.md, "Write checkpoints and checkpoint requests").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CheckpointMode {
    /// `GET /write-checkpoint2.json`.
    #[default]
    Legacy,
    /// `POST /sync/checkpoint-request` with ids allocated by the extension.
    Requests,
}

impl CheckpointMode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CheckpointMode::Legacy => "legacy",
            CheckpointMode::Requests => "requests",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Client parameters sent with the stream request.
    pub params: Map<String, Value>,
    /// Application metadata; every value must be a string.
    pub app_metadata: Map<String, Value>,
    pub include_defaults: bool,
    pub checkpoint_mode: CheckpointMode,
    /// Delay before reconnecting / retrying an upload (jittered by ±10 %). Default 5 s.
    pub retry_delay: Duration,
    /// Longest delay between retries: consecutive failures double the delay from `retry_delay`
    /// up to this. `None` (the default): 8 × `retry_delay`.
    pub max_retry_delay: Option<Duration>,
    /// Minimum pause between upload passes. Default 1 s.
    pub upload_throttle: Duration,
    /// A stream that delivers no byte for this long is considered dead. Default 90 s.
    pub idle_timeout: Duration,
    /// Re-post an unapplied checkpoint request this often (at least `retry_delay`). Default 10 s.
    pub checkpoint_repost_interval: Duration,
    /// Ask for NDJSON framing only (`Accept: application/x-ndjson`) instead of preferring BSON.
    pub ndjson_only: bool,
    /// What the upload loop does with a transaction the connector reports as rejected for good
    /// (`BackendConnector::is_rejection`). Default: retry forever.
    pub on_reject: crate::OnReject,
    /// What `connect` does when another sync holds this database's lock. Default: fail.
    pub lock_wait: crate::LockWait,
    /// Turn on `apply_around_pending_uploads` for this database before syncing (docs/client.md):
    /// checkpoints then reach every row without a pending local write while uploads wait. The
    /// setting is stored in the database and stays on; `false` (the default) leaves it as it is.
    pub apply_around_pending_uploads: bool,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            params: Map::new(),
            app_metadata: Map::new(),
            include_defaults: true,
            checkpoint_mode: CheckpointMode::Legacy,
            retry_delay: Duration::from_millis(5000),
            max_retry_delay: None,
            upload_throttle: Duration::from_millis(1000),
            idle_timeout: Duration::from_secs(90),
            checkpoint_repost_interval: Duration::from_secs(10),
            ndjson_only: false,
            on_reject: crate::OnReject::Retry,
            lock_wait: crate::LockWait::Fail,
            apply_around_pending_uploads: false,
        }
    }
}

impl SyncOptions {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if let Some((k, _)) = self.app_metadata.iter().find(|(_, v)| !v.is_string()) {
            return Err(format!("app_metadata value for {k:?} is not a string"));
        }
        Ok(())
    }
}

impl SyncOptions {
    /// The delay before retry number `failures` (1 = after the first failure): `retry_delay`
    /// doubled per consecutive failure, capped at `max_retry_delay` (not jittered yet).
    pub(crate) fn backoff(&self, failures: u32) -> Duration {
        let cap = self
            .max_retry_delay
            .unwrap_or(self.retry_delay * 8)
            .max(self.retry_delay);
        let factor = 1u32 << failures.saturating_sub(1).min(16);
        self.retry_delay.saturating_mul(factor).min(cap)
    }
}

/// `d` multiplied by a random factor in [0.9, 1.1).
pub(crate) fn jitter(d: Duration) -> Duration {
    d.mul_f64(rand::random_range(0.9..1.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_metadata_must_be_strings() {
        let mut o = SyncOptions::default();
        o.app_metadata.insert("v".into(), Value::from("1.2"));
        assert!(o.validate().is_ok());
        o.app_metadata.insert("n".into(), Value::from(3));
        assert!(o.validate().unwrap_err().contains("\"n\""));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let o = SyncOptions {
            retry_delay: Duration::from_millis(100),
            ..SyncOptions::default()
        };
        let delays: Vec<u128> = (1..=6).map(|n| o.backoff(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 800, 800]);
        assert_eq!(o.backoff(0), Duration::from_millis(100));
        assert_eq!(o.backoff(u32::MAX), Duration::from_millis(800));
        let o = SyncOptions {
            max_retry_delay: Some(Duration::from_millis(250)),
            ..o
        };
        assert_eq!(o.backoff(3), Duration::from_millis(250));
    }

    #[test]
    fn jitter_stays_in_range() {
        for _ in 0..1000 {
            let d = jitter(Duration::from_millis(5000));
            assert!(
                d >= Duration::from_millis(4500) && d < Duration::from_millis(5500),
                "{d:?}"
            );
        }
    }
}
