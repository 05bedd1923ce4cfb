//! Shared helpers of the end-to-end tests: a test service, a connector, fast options.
#![allow(dead_code)]

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use powersync_client::{BackendConnector, ConnectorError, Credentials, PowerSyncDatabase, SqlValue, SyncOptions};
use powersync_test_service::{ServerOp, ServiceConfig, TestService};
use serde_json::{json, Map, Value};

pub const RULES: &str = r#"{"buckets": [
   {"name": "global", "tables": ["lists"], "priority": 1},
   {"name": "user_todos", "per_user": true, "tables": [{"table": "todos", "owner_column": "owner_id"}]}],
 "streams": [{"name": "list_todos", "table": "items", "parameter": "list_id", "priority": 2}]}"#;

pub const SCHEMA: &str = r#"{"tables": [
  {"name": "lists", "columns": [{"name": "name", "type": "text"}], "direct": true},
  {"name": "todos", "columns": [{"name": "description", "type": "text"}, {"name": "owner_id", "type": "text"}]},
  {"name": "items", "columns": [{"name": "list_id", "type": "text"}, {"name": "title", "type": "text"}]}]}"#;

pub fn service() -> TestService {
    let cfg = ServiceConfig::from_rules_json(RULES)
        .unwrap()
        .with_keepalive_interval(Duration::from_millis(200));
    TestService::start(cfg).unwrap()
}

pub fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

pub fn put(table: &str, id: &str, data: Value) -> ServerOp {
    ServerOp::Put {
        table: table.into(),
        id: id.into(),
        data: obj(data),
    }
}

pub fn fast_options() -> SyncOptions {
    SyncOptions {
        retry_delay: Duration::from_millis(100),
        upload_throttle: Duration::from_millis(50),
        idle_timeout: Duration::from_secs(10),
        checkpoint_repost_interval: Duration::from_millis(300),
        ..SyncOptions::default()
    }
}

/// The backend answered an upload with this HTTP status.
#[derive(Debug)]
pub struct UploadRejected(pub u16);

impl std::fmt::Display for UploadRejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "upload rejected: HTTP {}", self.0)
    }
}

impl std::error::Error for UploadRejected {}

/// Signs tokens for one user; the first `short_tokens` tokens expire soon.
pub struct TestConnector {
    pub svc: Arc<TestService>,
    pub sub: String,
    pub fetches: AtomicUsize,
    pub uploads: AtomicUsize,
    pub short_tokens: AtomicUsize,
    pub short_ttl: Duration,
    pub tokens: Mutex<Vec<String>>,
    /// `invalidate_credentials` calls.
    pub invalidations: AtomicUsize,
}

impl TestConnector {
    pub fn new(svc: Arc<TestService>, sub: &str) -> Arc<Self> {
        Arc::new(TestConnector {
            svc,
            sub: sub.into(),
            fetches: AtomicUsize::new(0),
            uploads: AtomicUsize::new(0),
            short_tokens: AtomicUsize::new(0),
            short_ttl: Duration::from_secs(20),
            tokens: Mutex::new(Vec::new()),
            invalidations: AtomicUsize::new(0),
        })
    }
}

#[async_trait]
impl BackendConnector for TestConnector {
    async fn fetch_credentials(&self) -> Result<Option<Credentials>, ConnectorError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let short = self.short_tokens.load(Ordering::SeqCst);
        let ttl = if short > 0 {
            self.short_tokens.store(short - 1, Ordering::SeqCst);
            self.short_ttl
        } else {
            Duration::from_secs(3600)
        };
        let token = self.svc.token(&self.sub, ttl);
        self.tokens.lock().unwrap().push(token.clone());
        Ok(Some(Credentials::new(self.svc.url(), token)))
    }

    fn invalidate_credentials(&self) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
    }

    fn is_rejection(&self, error: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
        error
            .downcast_ref::<UploadRejected>()
            .is_some_and(|r| (400..500).contains(&r.0))
    }

    async fn upload_data(&self, db: &PowerSyncDatabase) -> Result<(), ConnectorError> {
        let client_id = db.query("SELECT powersync_client_id() AS id", vec![]).await?[0]
            .get_str("id")
            .unwrap()
            .to_string();
        while let Some(tx) = db.next_crud_transaction().await? {
            let body = json!({"client_id": client_id, "batch": tx.entries});
            let token = self.svc.token(&self.sub, Duration::from_secs(3600));
            let resp = reqwest::Client::new()
                .post(self.svc.upload_url())
                .header("Authorization", format!("Token {token}"))
                .json(&body)
                .send()
                .await?;
            if !resp.status().is_success() {
                return Err(Box::new(UploadRejected(resp.status().as_u16())));
            }
            self.uploads.fetch_add(1, Ordering::SeqCst);
            tx.complete(None).await?;
        }
        Ok(())
    }
}

pub fn open_db(dir: &tempfile::TempDir) -> PowerSyncDatabase {
    PowerSyncDatabase::open(dir.path().join("test.db"), SCHEMA).unwrap()
}

/// A database connected to `svc` as user alice.
pub struct Connected {
    pub svc: Arc<TestService>,
    pub db: PowerSyncDatabase,
    pub conn: Arc<TestConnector>,
    _dir: tempfile::TempDir,
}

/// Opens a fresh database, connects it with `opts` and waits for the first complete sync.
pub async fn synced(svc: Arc<TestService>, opts: SyncOptions) -> Connected {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(&dir);
    let conn = TestConnector::new(svc.clone(), "alice");
    db.connect(conn.clone(), opts).await.unwrap();
    with_timeout("first sync", db.wait_for_first_sync(None)).await.unwrap();
    Connected {
        svc,
        db,
        conn,
        _dir: dir,
    }
}

/// Polls `f` until it returns true; fails the test after 15 s.
/// A database with one local write queued for upload: `todos/k1` = "kept" (owner alice).
pub async fn db_with_pending_write(dir: &tempfile::TempDir) -> PowerSyncDatabase {
    let db = open_db(dir);
    db.execute(
        "INSERT INTO todos(id, description, owner_id) VALUES ('k1', 'kept', 'alice')",
        vec![],
    )
    .await
    .unwrap();
    db
}

pub async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !f().await {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub async fn column(db: &PowerSyncDatabase, sql: &str) -> Vec<String> {
    db.query(sql, vec![])
        .await
        .unwrap()
        .iter()
        .map(|r| match &r.values()[0] {
            SqlValue::Text(t) => t.clone(),
            SqlValue::Integer(i) => i.to_string(),
            SqlValue::Null => "NULL".into(),
            other => format!("{other:?}"),
        })
        .collect()
}

pub async fn with_timeout<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(15), f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// The upload queue is empty and a checkpoint with the write checkpoint target was applied.
pub async fn write_checkpoint_applied(db: &PowerSyncDatabase) -> bool {
    let crud = column(db, "SELECT count(*) FROM ps_crud").await;
    let kv = column(
        db,
        "SELECT (SELECT value FROM ps_kv WHERE key = 'target_checkpoint_request_id') <= \
         (SELECT value FROM ps_kv WHERE key = 'last_applied_checkpoint_request_id')",
    )
    .await;
    crud == vec!["0"] && kv == vec!["1"]
}
