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
    /// For `duration` from now, `/upload` requests whose batch writes the row `table`/`id` are
    /// refused the way an application backend refuses a change it will never accept (a
    /// validation or permission failure): this 4xx `status` and a JSON error, nothing of the
    /// batch applied (a `status` outside 400..=499 is answered as 422). Other batches are applied
    /// as usual.
    RejectUploads {
        table: String,
        id: String,
        status: u16,
        duration: Duration,
    },
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
    RejectUploads {
        table: String,
        id: String,
        #[serde(default = "default_reject_status")]
        status: u16,
        duration_ms: u64,
    },
}

fn default_reject_status() -> u16 {
    422
}

impl WireFault {
    /// Values serde accepts but the fault cannot mean.
    pub(crate) fn validate(&self) -> Result<(), String> {
        match self {
            WireFault::RejectUploads { status, .. } if !(400..=499).contains(status) => Err(format!(
                "reject_uploads: status must be a 4xx (a rejection), got {status}"
            )),
            _ => Ok(()),
        }
    }
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
            WireFault::RejectUploads {
                table,
                id,
                status,
                duration_ms,
            } => Fault::RejectUploads {
                table,
                id,
                status,
                duration: Duration::from_millis(duration_ms),
            },
        }
    }
}

/// An armed upload rejection: the row it refuses, the status, and until when.
struct Rejection {
    table: String,
    id: String,
    status: u16,
    until: Instant,
}

/// What [`Faults::rejection_for`] found: the status to answer and the refused row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejected {
    pub status: u16,
    pub table: String,
    pub id: String,
}

#[derive(Default)]
struct State {
    drop_next_stream_after: Option<usize>,
    corrupt: HashSet<String>,
    statuses: Vec<(String, u16, usize)>,
    stalls: Vec<(String, Instant)>,
    rejections: Vec<Rejection>,
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
            Fault::RejectUploads {
                table,
                id,
                status,
                duration,
            } => s.rejections.push(Rejection {
                table,
                id,
                status,
                until: Instant::now() + duration,
            }),
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

    /// The running rejection that refuses one of these rows (`(table, id)` of each op of an
    /// upload batch), if any.
    pub(crate) fn rejection_for<'a>(&self, rows: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<Rejected> {
        let mut s = self.lock();
        let now = Instant::now();
        s.rejections.retain(|r| r.until > now);
        if s.rejections.is_empty() {
            return None;
        }
        rows.into_iter().find_map(|(table, id)| {
            s.rejections
                .iter()
                .find(|r| r.table == table && r.id == id)
                .map(|r| Rejected {
                    status: r.status,
                    table: r.table.clone(),
                    id: r.id.clone(),
                })
        })
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
    fn rejections_match_their_row_and_expire() {
        let f = Faults::default();
        f.arm(Fault::RejectUploads {
            table: "items".into(),
            id: "k1".into(),
            status: 409,
            duration: Duration::from_secs(60),
        });
        assert_eq!(f.rejection_for([("items", "k2"), ("accounts", "k1")]), None);
        assert_eq!(
            f.rejection_for([("items", "k2"), ("items", "k1")]),
            Some(Rejected {
                status: 409,
                table: "items".into(),
                id: "k1".into()
            })
        );
        // Not used up: every matching batch is refused while it runs.
        assert!(f.rejection_for([("items", "k1")]).is_some());
        f.clear();
        assert_eq!(f.rejection_for([("items", "k1")]), None);
        f.arm(Fault::RejectUploads {
            table: "items".into(),
            id: "k1".into(),
            status: 422,
            duration: Duration::ZERO,
        });
        assert_eq!(f.rejection_for([("items", "k1")]), None);
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
        let w: WireFault =
            serde_json::from_str(r#"{"type": "reject_uploads", "table": "t", "id": "r", "duration_ms": 7}"#).unwrap();
        assert_eq!(w.validate(), Ok(()));
        assert_eq!(
            Fault::from(w),
            Fault::RejectUploads {
                table: "t".into(),
                id: "r".into(),
                status: 422,
                duration: Duration::from_millis(7)
            }
        );
        let w: WireFault = serde_json::from_str(
            r#"{"type": "reject_uploads", "table": "t", "id": "r", "status": 503, "duration_ms": 7}"#,
        )
        .unwrap();
        assert!(w.validate().unwrap_err().contains("4xx"));
    }
}
