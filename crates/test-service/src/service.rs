//! The running service: shared state behind the HTTP routes, and the public [`TestService`]
//! handle that owns a background thread with its own tokio runtime.

use crate::auth::JwtKey;
use crate::config::ServiceConfig;
use crate::error::ServiceError;
use crate::faults::{Fault, Faults};
use crate::ops::ServerOp;
use crate::rules::Rules;
use crate::store::{Store, StoreError};
use serde::Serialize;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::{oneshot, watch};

/// Counters tests can assert on (also served as JSON by `GET /admin/stats`).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// Accepted `POST /sync/stream` requests (after authentication and body checks).
    pub stream_requests: u64,
    /// Sync streams connected right now.
    pub active_streams: u64,
    /// Sync lines sent over all streams.
    pub lines_sent: u64,
    /// `checkpoint` and `checkpoint_diff` lines sent.
    pub checkpoints_sent: u64,
    /// Successful `POST /upload` requests, and the ops they carried.
    pub uploads: u64,
    pub uploaded_ops: u64,
    /// `POST /upload` requests refused by a `RejectUploads` fault (nothing applied).
    pub uploads_rejected: u64,
    /// Legacy write checkpoints created (`GET /write-checkpoint2.json`).
    pub write_checkpoints: u64,
    /// `POST /sync/checkpoint-request` requests answered.
    pub checkpoint_requests: u64,
    /// Requests rejected with 401 by the JWT checks.
    pub auth_failures: u64,
    /// Injected faults that took effect.
    pub faults_triggered: u64,
    /// Body of the last accepted `/sync/stream` request.
    pub last_stream_request: Option<Value>,
    /// `"ndjson"` or `"bson"`: framing of the last accepted stream.
    pub last_stream_framing: Option<String>,
    /// Body of the last successful `/upload` request.
    pub last_upload: Option<Value>,
}

pub(crate) struct Shared {
    pub rules: Rules,
    pub jwt: JwtKey,
    pub keepalive: Duration,
    pub data_batch_size: usize,
    pub faults: Faults,
    store: Mutex<Store>,
    changes: watch::Sender<u64>,
    drops: watch::Sender<u64>,
    stats: Mutex<Stats>,
}

impl Shared {
    pub(crate) fn new(config: ServiceConfig) -> Result<Shared, ServiceError> {
        let mut store = Store::open(config.db_path.as_deref())?;
        if !config.seed.is_empty() {
            if store.is_empty()? {
                store.apply(&config.rules, &config.seed)?;
                tracing::info!(rows = config.seed.len(), "seeded the database");
            } else {
                tracing::warn!("the database already has data; the seed was not applied");
            }
        }
        Ok(Shared {
            rules: config.rules,
            jwt: config.jwt,
            keepalive: config.keepalive,
            data_batch_size: config.data_batch_size,
            faults: Faults::default(),
            store: Mutex::new(store),
            changes: watch::Sender::new(0),
            drops: watch::Sender::new(0),
            stats: Mutex::new(Stats::default()),
        })
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        // Store calls are single SQLite statements or transactions: a panic cannot leave them half done.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn stats(&self) -> MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies ops and wakes every connected stream so it sends a checkpoint_diff.
    pub(crate) fn apply(&self, ops: &[ServerOp]) -> Result<usize, StoreError> {
        let written = self.store().apply(&self.rules, ops)?;
        self.notify();
        Ok(written)
    }

    /// Something a checkpoint reports has changed (data or a write checkpoint).
    pub(crate) fn notify(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    pub(crate) fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub(crate) fn subscribe_drops(&self) -> watch::Receiver<u64> {
        self.drops.subscribe()
    }

    pub(crate) fn inject(&self, fault: Fault) {
        if fault == Fault::DropConnectedStreams {
            self.drops.send_modify(|v| *v = v.wrapping_add(1));
        }
        self.faults.arm(fault);
    }
}

/// A running service on 127.0.0.1 (or the configured address). Dropping it shuts it down.
pub struct TestService {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestService {
    /// Opens the database, applies the seed, binds the address and starts serving on a background
    /// thread. Returns once the socket is bound, so `url()` is usable at once.
    pub fn start(config: ServiceConfig) -> Result<TestService, ServiceError> {
        let listen = config.listen;
        let shared = Arc::new(Shared::new(config)?);
        let listener =
            std::net::TcpListener::bind(listen).map_err(|source| ServiceError::Bind { addr: listen, source })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| ServiceError::Bind { addr: listen, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServiceError::Bind { addr: listen, source })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("powersync-test-service")
            .enable_all()
            .build()
            .map_err(ServiceError::Runtime)?;
        let (shutdown, stop) = oneshot::channel::<()>();
        let app = crate::http::router(shared.clone());
        let thread = std::thread::Builder::new()
            .name("powersync-test-service".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!("cannot serve on {addr}: {e}");
                            return;
                        }
                    };
                    let serve = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>());
                    tokio::select! {
                        result = serve => if let Err(e) = result { tracing::error!("server stopped: {e}") },
                        _ = stop => {}
                    }
                });
                // Connected sync streams never end by themselves: drop their tasks.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(ServiceError::Runtime)?;
        Ok(TestService {
            shared,
            addr,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The backend upload endpoint, `url() + "/upload"`.
    pub fn upload_url(&self) -> String {
        format!("{}/upload", self.url())
    }

    /// A valid HS256 token for user `sub`.
    pub fn token(&self, sub: &str, expires_in: Duration) -> String {
        self.shared.jwt.issue(sub, expires_in)
    }

    /// Changes data as the admin API does; connected streams get a checkpoint_diff.
    pub fn apply(&self, ops: Vec<ServerOp>) -> Result<(), ServiceError> {
        self.shared.apply(&ops)?;
        Ok(())
    }

    /// Current rows of `table`, ordered by id: `(id, data object)`.
    pub fn try_rows(&self, table: &str) -> Result<Vec<(String, Value)>, ServiceError> {
        let rows = self.shared.store().rows(table)?;
        Ok(rows.into_iter().map(|(id, data)| (id, Value::Object(data))).collect())
    }

    /// Like [`TestService::try_rows`], for tests: panics if the database cannot be read.
    pub fn rows(&self, table: &str) -> Vec<(String, Value)> {
        self.try_rows(table)
            .unwrap_or_else(|e| panic!("powersync-test-service: reading rows of {table:?}: {e}"))
    }

    pub fn inject(&self, fault: Fault) {
        self.shared.inject(fault);
    }

    /// Disarms every fault that has not been used yet.
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    pub fn stats(&self) -> Stats {
        self.shared.stats().clone()
    }

    /// Stops serving and waits for the background thread (also done on drop).
    pub fn shutdown(mut self) {
        self.stop();
    }

    /// Blocks until the service stops by itself (it only does when serving fails).
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for TestService {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for TestService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestService")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}
