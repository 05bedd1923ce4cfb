//! Fault injection: one-shot or counted faults that tests arm and the service consumes.

use serde::Deserialize;
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A fault to inject (see the crate README for how each one behaves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The next `/sync/stream` response is cut (connection aborted, no clean end) after this
    /// many lines. `0` cuts it before the first line.
    DropStreamAfterLines(usize),
    /// Every currently connected sync stream is cut at once.
    DropConnectedStreams,
    /// The next checkpoint or checkpoint_diff that carries this bucket reports a wrong checksum
    /// for it (once), so the client's validation fails and it downloads the bucket again.
    CorruptChecksum { bucket: String },
    /// The next `times` requests whose path starts with `path_prefix` get this HTTP status
    /// (e.g. 401 or 503) with a JSON error body, without being handled.
    RespondStatus {
        path_prefix: String,
        status: u16,
        times: usize,
    },
    /// For `duration` from now, requests whose path starts with `path_prefix` wait until the
    /// stall is over before being handled, and connected sync streams (if the prefix matches
    /// `/sync/stream`) send no lines.
    Stall { path_prefix: String, duration: Duration },
}

/// JSON form of a fault for `POST /admin/faults`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum WireFault {
    DropStreamAfterLines {
        lines: usize,
    },
    DropConnectedStreams,
    CorruptChecksum {
        bucket: String,
    },
    RespondStatus {
        path_prefix: String,
        status: u16,
        times: usize,
    },
    Stall {
        path_prefix: String,
        duration_ms: u64,
    },
}

impl From<WireFault> for Fault {
    fn from(w: WireFault) -> Fault {
        match w {
            WireFault::DropStreamAfterLines { lines } => Fault::DropStreamAfterLines(lines),
            WireFault::DropConnectedStreams => Fault::DropConnectedStreams,
            WireFault::CorruptChecksum { bucket } => Fault::CorruptChecksum { bucket },
            WireFault::RespondStatus {
                path_prefix,
                status,
                times,
            } => Fault::RespondStatus {
                path_prefix,
                status,
                times,
            },
            WireFault::Stall {
                path_prefix,
                duration_ms,
            } => Fault::Stall {
                path_prefix,
                duration: Duration::from_millis(duration_ms),
            },
        }
    }
}

#[derive(Default)]
struct State {
    drop_next_stream_after: Option<usize>,
    corrupt: HashSet<String>,
    statuses: Vec<(String, u16, usize)>,
    stalls: Vec<(String, Instant)>,
}

/// Armed faults. `DropConnectedStreams` is not kept here: it acts at once (see `service`).
#[derive(Default)]
pub(crate) struct Faults {
    state: Mutex<State>,
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves plain data behind; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn arm(&self, fault: Fault) {
        let mut s = self.lock();
        match fault {
            Fault::DropStreamAfterLines(n) => s.drop_next_stream_after = Some(n),
            Fault::DropConnectedStreams => {}
            Fault::CorruptChecksum { bucket } => {
                s.corrupt.insert(bucket);
            }
            Fault::RespondStatus {
                path_prefix,
                status,
                times,
            } => {
                if times > 0 {
                    s.statuses.push((path_prefix, status, times));
                }
            }
            Fault::Stall { path_prefix, duration } => s.stalls.push((path_prefix, Instant::now() + duration)),
        }
    }

    pub(crate) fn clear(&self) {
        *self.lock() = State::default();
    }

    pub(crate) fn take_drop_after(&self) -> Option<usize> {
        self.lock().drop_next_stream_after.take()
    }

    pub(crate) fn take_corrupt(&self, bucket: &str) -> bool {
        self.lock().corrupt.remove(bucket)
    }

    /// Consumes one use of the first matching status fault.
    pub(crate) fn take_status(&self, path: &str) -> Option<u16> {
        let mut s = self.lock();
        let i = s
            .statuses
            .iter()
            .position(|(prefix, _, _)| path.starts_with(prefix.as_str()))?;
        let status = s.statuses[i].1;
        s.statuses[i].2 -= 1;
        if s.statuses[i].2 == 0 {
            s.statuses.remove(i);
        }
        Some(status)
    }

    /// When the longest running stall for this path ends (None when not stalled).
    pub(crate) fn stalled_until(&self, path: &str) -> Option<Instant> {
        let mut s = self.lock();
        let now = Instant::now();
        s.stalls.retain(|(_, until)| *until > now);
        s.stalls
            .iter()
            .filter(|(prefix, _)| path.starts_with(prefix.as_str()))
            .map(|(_, until)| *until)
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_consumed() {
        let f = Faults::default();
        f.arm(Fault::DropStreamAfterLines(3));
        f.arm(Fault::CorruptChecksum { bucket: "b[]".into() });
        f.arm(Fault::RespondStatus {
            path_prefix: "/sync".into(),
            status: 503,
            times: 2,
        });
        assert_eq!(f.take_drop_after(), Some(3));
        assert_eq!(f.take_drop_after(), None);
        assert!(!f.take_corrupt("other[]"));
        assert!(f.take_corrupt("b[]"));
        assert!(!f.take_corrupt("b[]"));
        assert_eq!(f.take_status("/upload"), None);
        assert_eq!(f.take_status("/sync/stream"), Some(503));
        assert_eq!(f.take_status("/sync/checkpoint-request"), Some(503));
        assert_eq!(f.take_status("/sync/stream"), None);
    }

    #[test]
    fn stalls_expire_and_clear() {
        let f = Faults::default();
        f.arm(Fault::Stall {
            path_prefix: "/upload".into(),
            duration: Duration::from_secs(60),
        });
        assert!(f.stalled_until("/upload").is_some());
        assert!(f.stalled_until("/sync/stream").is_none());
        f.clear();
        assert!(f.stalled_until("/upload").is_none());
        f.arm(Fault::Stall {
            path_prefix: "/".into(),
            duration: Duration::ZERO,
        });
        assert!(f.stalled_until("/upload").is_none());
    }

    #[test]
    fn wire_faults_decode() {
        let w: WireFault = serde_json::from_str(r#"{"type": "stall", "path_prefix": "/x", "duration_ms": 5}"#).unwrap();
        assert_eq!(
            Fault::from(w),
            Fault::Stall {
                path_prefix: "/x".into(),
                duration: Duration::from_millis(5)
            }
        );
        let w: WireFault = serde_json::from_str(r#"{"type": "drop_stream_after_lines", "lines": 2}"#).unwrap();
        assert_eq!(Fault::from(w), Fault::DropStreamAfterLines(2));
        assert!(serde_json::from_str::<WireFault>(r#"{"type": "explode"}"#).is_err());
    }
}
