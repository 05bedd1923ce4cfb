//! The nemesis schedule: a list of faults with start times and durations, a pure function of
//! (seed, clients, duration). The same seed gives the same schedule.

use std::time::Duration;

use crate::proxy::{Direction, Side};
use crate::workload::{KEYS, TABLES};
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The client's proxy refuses new connections and resets the open ones.
    Partition { client: usize },
    /// The client's proxy holds every byte in one or both directions.
    Blackhole { client: usize, dir: Direction },
    /// Added latency on every chunk.
    Latency { client: usize, ms: u64, selective: bool },
    /// Open connections of the client reset (RST) or half-closed (FIN on one side only).
    Cut { client: usize, reset: bool, side: Side },
    /// SIGKILL, restarted on the same database file at the end.
    Kill { client: usize },
    /// SIGSTOP, SIGCONT at the end.
    Pause { client: usize },
    /// `disconnect()`, `connect()` at the end.
    Disconnect { client: usize },
    /// Tokens of a few seconds and a slow credentials fetch: tokens expire mid-stream.
    ShortTokens { client: usize },
    /// The service's `/upload` answers 503 a few times.
    Upload5xx { times: u32 },
    /// `/upload` stalls (longer than the worker's upload timeout: a timeout).
    UploadStall,
    /// The backend refuses every upload that writes this row with this 4xx while the fault runs
    /// (the workers discard those transactions).
    UploadReject {
        table: &'static str,
        key: usize,
        status: u16,
    },
    /// `/write-checkpoint2.json` stalls.
    CheckpointStall,
    /// `/sync/stream` answers 503 a few times.
    Stream5xx { times: u32 },
    /// The service drops every connected stream.
    DropStreams,
    /// The service is stopped (SIGKILL or SIGTERM) and started again on the same `--db`.
    ServiceRestart { kill: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub at_ms: u64,
    pub dur_ms: u64,
    pub fault: Fault,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Partition { client } => write!(f, "partition c{client}"),
            Fault::Blackhole { client, dir } => write!(f, "blackhole c{client} {dir:?}"),
            Fault::Latency { client, ms, selective } => {
                write!(
                    f,
                    "latency c{client} {ms}ms{}",
                    if *selective { " (every other connection)" } else { "" }
                )
            }
            Fault::Cut { client, reset, side } => {
                write!(f, "{} c{client} {side:?}", if *reset { "reset" } else { "half-close" })
            }
            Fault::Kill { client } => write!(f, "kill -9 c{client}"),
            Fault::Pause { client } => write!(f, "pause (SIGSTOP) c{client}"),
            Fault::Disconnect { client } => write!(f, "disconnect c{client}"),
            Fault::ShortTokens { client } => write!(f, "short tokens c{client}"),
            Fault::Upload5xx { times } => write!(f, "upload 503 x{times}"),
            Fault::UploadStall => write!(f, "upload stall"),
            Fault::UploadReject { table, key, status } => {
                write!(f, "upload rejects {table}/{} ({status})", crate::workload::key(*key))
            }
            Fault::CheckpointStall => write!(f, "write-checkpoint stall"),
            Fault::Stream5xx { times } => write!(f, "sync/stream 503 x{times}"),
            Fault::DropStreams => write!(f, "drop connected streams"),
            Fault::ServiceRestart { kill } => {
                write!(f, "service restart ({})", if *kill { "SIGKILL" } else { "SIGTERM" })
            }
        }
    }
}

impl Fault {
    /// A short name per kind, for the summary counts.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Partition { .. } => "partition",
            Fault::Blackhole { .. } => "blackhole",
            Fault::Latency { .. } => "latency",
            Fault::Cut { reset: true, .. } => "reset",
            Fault::Cut { reset: false, .. } => "half-close",
            Fault::Kill { .. } => "kill",
            Fault::Pause { .. } => "pause",
            Fault::Disconnect { .. } => "disconnect",
            Fault::ShortTokens { .. } => "short-tokens",
            Fault::Upload5xx { .. } => "upload-5xx",
            Fault::UploadStall => "upload-stall",
            Fault::UploadReject { .. } => "upload-reject",
            Fault::CheckpointStall => "checkpoint-stall",
            Fault::Stream5xx { .. } => "stream-5xx",
            Fault::DropStreams => "drop-streams",
            Fault::ServiceRestart { .. } => "service-restart",
        }
    }
}

/// The schedule for one run: faults start from 0.5 s on, one every 0.3–1.5 s (they overlap),
/// each lasting 0.3–3 s, none starting later than `duration`.
pub fn schedule(seed: u64, clients: usize, duration: Duration) -> Vec<Step> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let end = duration.as_millis() as u64;
    let clients = clients.max(1);
    let mut out = Vec::new();
    let mut at = 500;
    while at < end {
        let client = rng.random_range(0..clients);
        let fault = match rng.random_range(0..100) {
            0..=9 => Fault::Partition { client },
            10..=17 => Fault::Blackhole {
                client,
                dir: [Direction::ToServer, Direction::ToClient, Direction::Both][rng.random_range(0..3)],
            },
            18..=23 => Fault::Latency {
                client,
                ms: rng.random_range(20..300),
                selective: rng.random_bool(0.5),
            },
            24..=33 => Fault::Cut {
                client,
                reset: rng.random_bool(0.6),
                side: [Side::Client, Side::Server, Side::Both][rng.random_range(0..3)],
            },
            34..=43 => Fault::Kill { client },
            44..=51 => Fault::Pause { client },
            52..=59 => Fault::Disconnect { client },
            60..=65 => Fault::ShortTokens { client },
            66..=71 => Fault::Upload5xx {
                times: rng.random_range(1..6),
            },
            72..=76 => Fault::UploadStall,
            77..=80 => Fault::CheckpointStall,
            81..=84 => Fault::Stream5xx {
                times: rng.random_range(1..4),
            },
            85..=88 => Fault::DropStreams,
            89..=93 => Fault::ServiceRestart {
                kill: rng.random_bool(0.5),
            },
            _ => Fault::UploadReject {
                table: TABLES[rng.random_range(0..TABLES.len())],
                key: rng.random_range(0..KEYS),
                status: [400, 403, 409, 422][rng.random_range(0..4)],
            },
        };
        let dur_ms = rng.random_range(300..3000);
        out.push(Step {
            at_ms: at,
            dur_ms,
            fault,
        });
        at += rng.random_range(300..1500);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_schedule() {
        let a = schedule(7, 4, Duration::from_secs(30));
        assert_eq!(a, schedule(7, 4, Duration::from_secs(30)));
        assert_ne!(a, schedule(8, 4, Duration::from_secs(30)));
        assert!(a.iter().all(|s| s.at_ms < 30_000));
        assert!(a.windows(2).all(|w| w[0].at_ms < w[1].at_ms));
    }

    #[test]
    fn every_fault_kind_shows_up_in_a_long_schedule() {
        let s = schedule(1, 3, Duration::from_secs(600));
        let kinds: std::collections::BTreeSet<_> = s.iter().map(|s| s.fault.kind()).collect();
        assert_eq!(kinds.len(), 16, "{kinds:?}");
    }

    #[test]
    fn the_short_run_seeds_schedule_every_fault_kind() {
        // FAULTS_SHORT_SEEDS of `make faults-short` (3 clients, 12 s).
        let kinds: std::collections::BTreeSet<_> = [30, 34, 41]
            .into_iter()
            .flat_map(|seed| schedule(seed, 3, Duration::from_secs(12)))
            .map(|s| s.fault.kind())
            .collect();
        assert_eq!(kinds.len(), 16, "{kinds:?}");
    }
}
