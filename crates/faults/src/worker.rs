//! Worker mode (`powersync-faults worker`): one client process. It syncs its own database file
//! with the powersync-client library through the proxy, uploads to the service's `/upload`
//! through the proxy, runs random transactions and logs each one (and each upload) to its
//! history file. The runner drives it with JSON commands on stdin; answers go to stdout.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use powersync_client::{
    BackendConnector, ConnectorError, Credentials, CrudEntry, PowerSyncDatabase, SyncOptions, UpdateType,
};
use powersync_test_service::ServiceConfig;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncBufReadExt;

use crate::history::{Event, Recorder};
use crate::workload::{self, Values};

/// Normal token lifetime; the "short tokens" fault lowers it.
pub const LONG_TOKEN_MS: u64 = 3_600_000;
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(3);

/// A 4xx the backend answers for a change it will never accept (validation, permission): the
/// application discards that transaction instead of retrying it forever behind everything queued
/// after it, and the server's version syncs back. 401 (credentials), 408 (timeout) and 429 (rate
/// limit) are temporary, like 5xx and network errors: retried.
fn is_rejection(status: u16) -> bool {
    (400..=499).contains(&status) && !matches!(status, 401 | 408 | 429)
}

/// What an upload entry carries that the history knows it by: the written value, or the token
/// of a delete.
fn entry_value(e: &CrudEntry) -> Option<String> {
    match e.op {
        UpdateType::Delete => e.metadata.clone(),
        _ => e.data.as_ref()?.get("v")?.as_str().map(String::from),
    }
}

/// The flags `run` starts a worker process with (`powersync-faults worker ...`).
#[derive(Debug, Clone, clap::Args)]
pub struct WorkerArgs {
    #[arg(long)]
    pub client: usize,
    #[arg(long)]
    pub inc: u32,
    #[arg(long)]
    pub db: PathBuf,
    #[arg(long)]
    pub endpoint: String,
    #[arg(long)]
    pub history: PathBuf,
    #[arg(long)]
    pub seed: u64,
    /// Sync with the database's `apply_around_pending_uploads` setting on.
    #[arg(long)]
    pub apply_around_pending: bool,
}

/// Commands on stdin, one JSON object a line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    Connect {
        seq: u64,
    },
    Disconnect {
        seq: u64,
    },
    /// Token lifetime for the next fetches; `slow_fetch_ms` delays each fetch (up to that).
    TokenTtl {
        seq: u64,
        ms: u64,
        slow_fetch_ms: u64,
    },
    /// Finish the running operation and start no more.
    StopWorkload {
        seq: u64,
    },
    State {
        seq: u64,
    },
    /// One logged transaction that writes `v` (unique in the run) to `table/id`: the
    /// apply-around probe, after the workload stopped.
    ProbeWrite {
        seq: u64,
        table: String,
        id: String,
        v: String,
    },
}

/// What a worker reports for `state`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerState {
    /// `table -> id -> v`
    pub rows: std::collections::BTreeMap<String, std::collections::BTreeMap<String, Option<String>>>,
    pub pending_uploads: i64,
    pub connected: bool,
    pub downloading: bool,
    pub uploading: bool,
    pub has_synced: bool,
    pub upload_error: Option<String>,
    pub download_error: Option<String>,
    /// Rows the last checkpoint left at their local version (the status's `held_rows`, with
    /// apply around pending uploads).
    #[serde(default)]
    pub held_rows: i64,
    /// Rows recorded with a local write the service has not covered yet (`held_rows` of
    /// `powersync_diagnostics()`; 0 while the setting is off).
    #[serde(default)]
    pub pending_rows: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply {
    pub seq: u64,
    pub ok: bool,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub state: Option<WorkerState>,
}

struct Connector {
    endpoint: String,
    upload_url: String,
    config: ServiceConfig,
    ttl_ms: AtomicU64,
    slow_fetch_ms: AtomicU64,
    http: reqwest::Client,
    history: Arc<Recorder>,
}

#[derive(Serialize)]
struct UploadBody<'a> {
    client_id: &'a str,
    batch: &'a [CrudEntry],
}

impl Connector {
    fn token(&self) -> String {
        let ms = self.ttl_ms.load(Ordering::Relaxed);
        self.config.token(workload::USER, Duration::from_millis(ms))
    }
}

#[async_trait]
impl BackendConnector for Connector {
    async fn fetch_credentials(&self) -> Result<Option<Credentials>, ConnectorError> {
        let slow = self.slow_fetch_ms.load(Ordering::Relaxed);
        if slow > 0 {
            // A slow auth backend: short tokens can expire before the refresh arrives.
            let ms = rand::rng().random_range(0..=slow);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        Ok(Some(Credentials::new(self.endpoint.clone(), self.token())))
    }

    /// One local transaction per request, so that a rejection discards exactly the refused
    /// transaction.
    async fn upload_data(&self, db: &PowerSyncDatabase) -> Result<(), ConnectorError> {
        let client_id = db.client_id().await?;
        while let Some(tx) = db.next_crud_transaction().await? {
            let values: Vec<String> = tx.entries.iter().filter_map(entry_value).collect();
            self.history.record(Event::Upload {
                phase: "invoke".into(),
                values: values.clone(),
                error: None,
            });
            let body = serde_json::to_string(&UploadBody {
                client_id: &client_id,
                batch: &tx.entries,
            })?;
            let sent = self
                .http
                .post(&self.upload_url)
                .header("Content-Type", "application/json")
                .header("Authorization", format!("Token {}", self.token()))
                .body(body)
                .send()
                .await;
            let (failure, rejected) = match sent {
                Err(e) => (Some(format!("backend unreachable: {}", e.without_url())), false),
                Ok(r) if !r.status().is_success() => {
                    let status = r.status().as_u16();
                    let text = r.text().await.unwrap_or_default();
                    (Some(format!("HTTP {status}: {}", text.trim())), is_rejection(status))
                }
                Ok(_) => (None, false),
            };
            if rejected {
                // Logged before it is discarded: a kill in between re-uploads it, never loses
                // the record.
                self.history.record(Event::Upload {
                    phase: "rejected".into(),
                    values,
                    error: failure,
                });
                tx.complete(None).await?;
                continue;
            }
            if let Some(error) = failure {
                self.history.record(Event::Upload {
                    phase: "fail".into(),
                    values,
                    error: Some(error.clone()),
                });
                return Err(error.into());
            }
            self.history.record(Event::Upload {
                phase: "ok".into(),
                values,
                error: None,
            });
            tx.complete(None).await?;
        }
        Ok(())
    }
}

fn sync_options(apply_around_pending: bool) -> SyncOptions {
    SyncOptions {
        apply_around_pending_uploads: apply_around_pending,
        retry_delay: Duration::from_millis(300),
        upload_throttle: Duration::from_millis(100),
        // The service sends a keepalive every second: a silent stream is a dead one.
        idle_timeout: Duration::from_secs(4),
        ..SyncOptions::default()
    }
}

async fn state(db: &PowerSyncDatabase) -> Result<WorkerState, powersync_client::Error> {
    let mut s = WorkerState::default();
    for t in workload::TABLES {
        let rows = db.query(&format!("SELECT id, v FROM {t} ORDER BY id"), vec![]).await?;
        let m = s.rows.entry(t.to_string()).or_default();
        for r in rows {
            if let Some(id) = r.get_str("id") {
                m.insert(id.to_string(), r.get_str("v").map(String::from));
            }
        }
    }
    s.pending_uploads = db
        .query("SELECT count(*) AS n FROM ps_crud", vec![])
        .await?
        .first()
        .and_then(|r| r.get_i64("n"))
        .unwrap_or(-1);
    let st = db.status();
    s.connected = st.connected;
    s.downloading = st.downloading;
    s.uploading = st.uploading;
    s.has_synced = st.has_synced();
    s.upload_error = st.upload_error.map(|e| e.to_string());
    s.download_error = st.download_error.map(|e| e.to_string());
    s.held_rows = st.held_rows;
    s.pending_rows = db
        .query(
            "SELECT json_extract(powersync_diagnostics(), '$.held_rows') AS n",
            vec![],
        )
        .await?
        .first()
        .and_then(|r| r.get_i64("n"))
        .unwrap_or(-1);
    Ok(s)
}

/// The rows' values in one statement (one read snapshot) on a read connection.
async fn read_query(
    db: &PowerSyncDatabase,
    rows: &[(String, String)],
) -> Result<Vec<crate::history::Read1>, powersync_client::Error> {
    let mut parts = Vec::new();
    let mut params = Vec::new();
    for (t, id) in rows {
        parts.push(format!("SELECT '{t}' AS t, id, v FROM {t} WHERE id = ?"));
        params.push(powersync_client::SqlValue::Text(id.clone()));
    }
    let found = db.query(&parts.join(" UNION ALL "), params).await?;
    Ok(rows
        .iter()
        .map(|(t, id)| crate::history::Read1 {
            table: t.clone(),
            id: id.clone(),
            v: found
                .iter()
                .find(|r| r.get_str("t") == Some(t) && r.get_str("id") == Some(id))
                .and_then(|r| r.get_str("v").map(String::from)),
        })
        .collect())
}

fn reply(r: &Reply) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", serde_json::to_string(r).unwrap_or_default());
    let _ = out.flush();
}

fn writer_name(args: &WorkerArgs) -> String {
    format!("c{}", args.client)
}

/// Runs a write plan as one transaction, logged `invoke` then `ok` or `fail` like every
/// workload transaction, so the checkers cover it.
async fn run_logged(
    db: &PowerSyncDatabase,
    history: &Recorder,
    plan: workload::Plan,
    writer: &str,
) -> Result<(), String> {
    history.record(Event::Invoke {
        op: "txn".into(),
        writes: plan.writes.clone(),
    });
    let w = writer.to_owned();
    match db
        .write_transaction(move |tx| workload::run_in_transaction(tx, &plan, &w))
        .await
    {
        Ok((reads, writes)) => {
            history.record(Event::Ok {
                op: "txn".into(),
                reads,
                writes,
            });
            Ok(())
        }
        Err(e) => {
            history.record(Event::Fail {
                op: "txn".into(),
                error: e.to_string(),
            });
            Err(e.to_string())
        }
    }
}

/// The probe's write: reads and writes each row once.
async fn logged_transaction(
    db: &PowerSyncDatabase,
    history: &Recorder,
    args: &WorkerArgs,
    writes: Vec<crate::history::Write1>,
) -> Result<(), String> {
    let plan = workload::Plan {
        reads: writes.iter().map(|w| (w.table.clone(), w.id.clone())).collect(),
        writes,
    };
    run_logged(db, history, plan, &writer_name(args)).await
}

async fn workload_loop(db: PowerSyncDatabase, args: WorkerArgs, history: Arc<Recorder>, stop: Arc<AtomicBool>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
        args.seed ^ ((args.client as u64) << 40) ^ ((args.inc as u64) << 20) ^ 0x5eed,
    );
    let mut values = Values::new(args.client, args.inc);
    let writer = writer_name(&args);
    while !stop.load(Ordering::SeqCst) {
        let plan = workload::plan(&mut rng, &mut values);
        if plan.writes.is_empty() {
            let rows = plan.reads.clone();
            history.record(Event::Invoke {
                op: "read".into(),
                writes: vec![],
            });
            let r = read_query(&db, &rows).await;
            match r {
                Ok(reads) => history.record(Event::Ok {
                    op: "read".into(),
                    reads,
                    writes: vec![],
                }),
                Err(e) => history.record(Event::Fail {
                    op: "read".into(),
                    error: e.to_string(),
                }),
            }
        } else {
            let _ = run_logged(&db, &history, plan, &writer).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(20..150))).await;
    }
}

pub async fn run(args: WorkerArgs) -> Result<(), String> {
    let history = Arc::new(
        Recorder::open(&args.history, Some(args.client), args.inc)
            .map_err(|e| format!("{}: {e}", args.history.display()))?,
    );
    let path = args.db.clone();
    let db = tokio::task::spawn_blocking(move || PowerSyncDatabase::open(&path, workload::SCHEMA))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("{}: {e}", args.db.display()))?;
    history.record(Event::Start {
        db: args.db.display().to_string(),
    });
    let config = ServiceConfig::from_rules_json(workload::RULES).map_err(|e| e.to_string())?;
    let http = reqwest::Client::builder()
        .timeout(UPLOAD_TIMEOUT)
        .connect_timeout(Duration::from_secs(1))
        .build()
        .map_err(|e| e.to_string())?;
    let connector = Arc::new(Connector {
        upload_url: format!("{}/upload", args.endpoint),
        endpoint: args.endpoint.clone(),
        config,
        ttl_ms: AtomicU64::new(LONG_TOKEN_MS),
        slow_fetch_ms: AtomicU64::new(0),
        http,
        history: history.clone(),
    });
    db.connect(connector.clone(), sync_options(args.apply_around_pending))
        .await
        .map_err(|e| e.to_string())?;

    let stop = Arc::new(AtomicBool::new(false));
    let work = tokio::spawn(workload_loop(db.clone(), args.clone(), history.clone(), stop.clone()));
    let mut work = Some(work);

    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let cmd: Command = match serde_json::from_str(&line) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("powersync-faults worker: bad command {line:?}: {e}");
                continue;
            }
        };
        let (seq, result) = match cmd {
            Command::Connect { seq } => (
                seq,
                db.connect(connector.clone(), sync_options(args.apply_around_pending))
                    .await
                    .map(|_| None)
                    .map_err(|e| e.to_string()),
            ),
            Command::Disconnect { seq } => {
                db.disconnect().await;
                (seq, Ok(None))
            }
            Command::TokenTtl { seq, ms, slow_fetch_ms } => {
                connector.ttl_ms.store(ms, Ordering::Relaxed);
                connector.slow_fetch_ms.store(slow_fetch_ms, Ordering::Relaxed);
                (seq, Ok(None))
            }
            Command::StopWorkload { seq } => {
                stop.store(true, Ordering::SeqCst);
                if let Some(w) = work.take() {
                    let _ = w.await;
                }
                (seq, Ok(None))
            }
            Command::State { seq } => (seq, state(&db).await.map(Some).map_err(|e| e.to_string())),
            Command::ProbeWrite { seq, table, id, v } => {
                let write = crate::history::Write1 {
                    table,
                    id,
                    v,
                    delete: false,
                };
                (
                    seq,
                    logged_transaction(&db, &history, &args, vec![write])
                        .await
                        .map(|_| None),
                )
            }
        };
        let r = match result {
            Ok(state) => Reply {
                seq,
                ok: true,
                error: None,
                state,
            },
            Err(e) => Reply {
                seq,
                ok: false,
                error: Some(e),
                state: None,
            },
        };
        reply(&r);
    }
    // stdin closed: the runner is done with this worker.
    stop.store(true, Ordering::SeqCst);
    if let Some(w) = work.take() {
        let _ = w.await;
    }
    db.disconnect().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_permanent_client_errors_are_rejections() {
        for s in [400, 403, 404, 409, 422] {
            assert!(is_rejection(s), "{s}");
        }
        for s in [200, 401, 408, 429, 500, 503] {
            assert!(!is_rejection(s), "{s}");
        }
    }
}
