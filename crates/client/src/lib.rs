//! `powersync-client`: a thin native PowerSync client around the extension in `crates/core`.
//!
//! [`PowerSyncDatabase`] opens a SQLite database with the extension registered in-process,
//! runs queries, watches them, exposes the upload queue, and drives the sync protocol
//! (docs/protocol.md, "The client's side") against a PowerSync service with [`PowerSyncDatabase::connect`].

mod connector;
mod credentials;
mod crud;
mod db;
mod error;
mod framing;
mod http;
mod instructions;
mod options;
mod parking;
mod status;
mod stream_errors;
mod subscriptions;
mod sync;
mod sync_lock;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch as tokio_watch, Notify};

pub use connector::{BackendConnector, ConnectorError};
pub use credentials::Credentials;
pub use crud::{CrudBatch, CrudEntry, CrudTransaction, UpdateType};
pub use db::row::{Row, SqlValue};
pub use db::version::INTERNAL_VERSION;
pub use error::{ConnectorFailure, Error, Result, SyncError};
pub use framing::FramingError;
pub use options::{CheckpointMode, SyncOptions};
pub use parking::{OnReject, ParkedTransaction, UploadErrorRecord};
pub use status::{PriorityStatus, Progress, StatusError, StreamStatus, SyncStatus, FULL_SYNC_PRIORITY};
pub use stream_errors::StreamResolutionError;
pub use subscriptions::{SubscribeOptions, SyncStreamSubscription};
pub use sync_lock::{is_sync_locked, lock_path, LockWait};

use db::pool::Pool;
use db::row::collect_rows;
use subscriptions::StreamKey;
use sync::{Event, RunningSync, SeedState, SyncShared};

/// What [`PowerSyncDatabase::disconnect_and_clear_with`] deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClearOptions {
    /// Also clear local-only tables (`powersync_clear` flag `0x01`). Default on.
    pub clear_local: bool,
    /// Soft clear: keep the downloaded operations so a resync is cheap (flag `0x02`). Default off.
    pub soft: bool,
}

impl Default for ClearOptions {
    fn default() -> Self {
        ClearOptions {
            clear_local: true,
            soft: false,
        }
    }
}

/// Number of read connections next to the single write connection.
const READERS: usize = 3;

/// A PowerSync database. Cheap to clone; all clones share the connections and the sync state.
#[derive(Clone)]
pub struct PowerSyncDatabase {
    pub(crate) inner: Arc<DbInner>,
}

pub(crate) struct DbInner {
    pub pool: Pool,
    /// The database file; its sync lock sits next to it.
    pub path: PathBuf,
    pub schema: Option<String>,
    pub status: tokio_watch::Sender<SyncStatus>,
    pub seed: tokio_watch::Sender<SeedState>,
    pub events: Mutex<Option<mpsc::Sender<Event>>>,
    pub streams: Mutex<Vec<StreamKey>>,
    /// Subscriptions the service could not resolve since the last `connect`.
    pub stream_errors: Mutex<Vec<StreamResolutionError>>,
    sync: tokio::sync::Mutex<Option<RunningSync>>,
}

impl DbInner {
    pub(crate) fn active_streams(&self) -> Vec<StreamKey> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl PowerSyncDatabase {
    /// Opens (or creates) the database file, migrates it and applies `schema_json` (the JSON of
    /// `powersync_replace_schema`). Blocking; call it before or outside hot async paths.
    pub fn open(path: impl AsRef<Path>, schema_json: &str) -> Result<Self> {
        Self::from_pool(
            path.as_ref(),
            Pool::open(path.as_ref(), Some(schema_json), READERS, false)?,
            Some(schema_json.to_string()),
        )
    }

    /// Opens an existing database without changing its schema (for inspection tools).
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_pool(path.as_ref(), Pool::open(path.as_ref(), None, 1, true)?, None)
    }

    /// Opens an existing database read-only for inspection (`SQLITE_OPEN_READ_ONLY`): nothing is
    /// migrated or created and the file is never written, so it works on read-only files. Fails
    /// with [`Error::NotPowerSync`] or [`Error::InternalVersion`] when the file is not a
    /// PowerSync database at this extension's internal version ([`INTERNAL_VERSION`]).
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_pool(path.as_ref(), Pool::open_read_only(path.as_ref())?, None)
    }

    fn from_pool(path: &Path, pool: Pool, schema: Option<String>) -> Result<Self> {
        let mut status = SyncStatus::default();
        status.apply_core(&pool.offline_status_now()?);
        Ok(PowerSyncDatabase {
            inner: Arc::new(DbInner {
                pool,
                path: path.to_path_buf(),
                schema,
                status: tokio_watch::channel(status).0,
                seed: tokio_watch::channel(SeedState::NotSeeded).0,
                events: Mutex::new(None),
                streams: Mutex::new(Vec::new()),
                stream_errors: Mutex::new(Vec::new()),
                sync: tokio::sync::Mutex::new(None),
            }),
        })
    }

    /// Runs a writing statement on the write connection; returns the number of changed rows.
    pub async fn execute(&self, sql: &str, params: Vec<SqlValue>) -> Result<usize> {
        let sql = sql.to_string();
        self.inner
            .pool
            .write(move |c| {
                Ok(c.prepare_cached(&sql)?
                    .execute(rusqlite::params_from_iter(params.iter()))?)
            })
            .await
    }

    /// Runs any statement on the write connection and returns its rows (e.g. `RETURNING`).
    pub async fn execute_rows(&self, sql: &str, params: Vec<SqlValue>) -> Result<Vec<Row>> {
        let sql = sql.to_string();
        self.inner
            .pool
            .write(move |c| Ok(collect_rows(&mut c.prepare(&sql)?, &params)?))
            .await
    }

    /// Runs `f` in one write transaction (`BEGIN IMMEDIATE`) on the write connection: it commits
    /// when `f` returns `Ok` and rolls back otherwise, so several reads and writes are atomic
    /// (like the SDKs' `writeTransaction`).
    pub async fn write_transaction<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
    {
        self.inner
            .pool
            .write(move |c| {
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let out = f(&tx)?;
                tx.commit()?;
                Ok(out)
            })
            .await
    }

    /// Runs a read-only query on a read connection.
    pub async fn query(&self, sql: &str, params: Vec<SqlValue>) -> Result<Vec<Row>> {
        let sql = sql.to_string();
        self.inner
            .pool
            .read(move |c| {
                let mut stmt = c.prepare_cached(&sql)?;
                if !stmt.readonly() {
                    return Err(Error::NotReadOnly);
                }
                Ok(collect_rows(&mut stmt, &params)?)
            })
            .await
    }

    /// The query's results now and after every committed change of a table it reads
    /// (re-runs throttled to at most one per 30 ms).
    pub fn watch(&self, sql: &str, params: Vec<SqlValue>) -> BoxStream<'static, Result<Vec<Row>>> {
        self.watch_throttled(sql, params, watch::DEFAULT_THROTTLE)
    }

    pub fn watch_throttled(
        &self,
        sql: &str,
        params: Vec<SqlValue>,
        throttle: Duration,
    ) -> BoxStream<'static, Result<Vec<Row>>> {
        watch::watch(self.inner.pool.clone(), sql.to_string(), params, throttle).boxed()
    }

    /// Up to `limit` queued changes (default in SDKs: 100), or `None` when the queue is empty.
    pub async fn get_crud_batch(&self, limit: usize) -> Result<Option<CrudBatch>> {
        crud::get_batch(&self.inner.pool, limit).await
    }

    /// The first queued local transaction.
    pub async fn next_crud_transaction(&self) -> Result<Option<CrudTransaction>> {
        crud::transaction_after(&self.inner.pool, None).await
    }

    /// All queued transactions, in order (read-only view; completing is per transaction).
    pub async fn crud_transactions(&self) -> Result<Vec<CrudTransaction>> {
        let mut out: Vec<CrudTransaction> = Vec::new();
        let mut cursor = None;
        while let Some(t) = crud::transaction_after(&self.inner.pool, cursor).await? {
            cursor = t.entries.last().map(|e| e.op_id);
            out.push(t);
        }
        Ok(out)
    }

    /// The last upload error of each queued transaction that failed to upload (kept in the
    /// client's table `ps_client_upload_errors`).
    pub async fn upload_errors(&self) -> Result<Vec<UploadErrorRecord>> {
        self.inner.pool.read(parking::upload_errors).await
    }

    /// The parked transactions (`ps_client_parked`), oldest first.
    pub async fn parked_transactions(&self) -> Result<Vec<ParkedTransaction>> {
        self.inner.pool.read(parking::parked).await
    }

    /// Moves the queued transaction `tx_id` out of the upload queue into the parked uploads:
    /// it is never uploaded unless retried, and the next checkpoint brings its rows back to the
    /// server's version. Returns the number of changes moved.
    pub async fn park_transaction(&self, tx_id: i64) -> Result<usize> {
        self.inner
            .pool
            .write(move |c| parking::park(c, tx_id, "parked by request"))
            .await
    }

    /// Drops the transaction `tx_id`, queued or parked; like parking, its rows come back to the
    /// server's version at the next checkpoint. Returns the number of changes dropped.
    pub async fn discard_transaction(&self, tx_id: i64) -> Result<usize> {
        self.inner.pool.write(move |c| parking::discard(c, tx_id)).await
    }

    /// Puts the parked transaction `tx_id` back into the upload queue, ahead of every change
    /// queued after it. Returns the number of changes.
    pub async fn retry_parked(&self, tx_id: i64) -> Result<usize> {
        self.inner.pool.write(move |c| parking::retry(c, tx_id)).await
    }

    /// This database's stable client id (`powersync_client_id()`), which uploads and write
    /// checkpoints are keyed by.
    pub async fn client_id(&self) -> Result<String> {
        self.inner
            .pool
            .read(|c| Ok(c.query_row("SELECT powersync_client_id()", [], |r| r.get(0))?))
            .await
    }

    /// Starts syncing with `connector`. Returns once the status went through "connecting" to
    /// "not connecting" (connected, or the first attempt failed and `download_error` says why;
    /// docs/protocol.md, "The client's side"), or when `disconnect()` aborted it. The client keeps retrying in the
    /// background until `disconnect`.
    ///
    /// Only one sync runs per database file, across processes: `connect` takes the lock
    /// `<db>.sync-lock` ([`lock_path`]) and holds it until `disconnect`. When another sync
    /// holds it, `connect` fails with [`Error::SyncLocked`], or waits with
    /// `SyncOptions::lock_wait` set to [`LockWait::Wait`]. Readers and writers of the database
    /// are never blocked by it.
    pub async fn connect(&self, connector: Arc<dyn BackendConnector>, options: SyncOptions) -> Result<()> {
        options.validate().map_err(Error::Options)?;
        self.disconnect().await;
        let lock = self.take_sync_lock(options.lock_wait).await?;
        if options.apply_around_pending_uploads {
            // Before the first checkpoint, on the connection that syncs (docs/client.md).
            self.execute_rows("SELECT powersync_config_set('apply_around_pending_uploads', 1)", vec![])
                .await?;
        }
        self.inner
            .stream_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        let mut running = self.inner.sync.lock().await;
        let client_id = self.client_id().await?;
        let (cancel_tx, cancel_rx) = tokio_watch::channel(false);
        let shared = Arc::new(SyncShared {
            db: self.clone(),
            http: http::Http::new()?,
            creds: credentials::CredentialsCache::new(connector),
            options,
            client_id,
            upload_trigger: Notify::new(),
            cancel: cancel_rx,
            refreshing: Default::default(),
        });
        let mut statuses = self.inner.status.subscribe();
        self.inner.status.send_modify(|s| {
            s.download_error = None;
            s.upload_error = None;
            s.synced_since_connect = false;
            s.connecting = true;
        });
        statuses.mark_unchanged();
        self.inner.seed.send_replace(SeedState::NotSeeded);
        let download = tokio::spawn(sync::iteration::download_loop(shared.clone()));
        let sh = shared.clone();
        let upload = tokio::spawn(async move {
            tokio::select! {
                _ = sync::upload::upload_loop(sh.clone()) => {}
                _ = sh.cancelled() => {}
            }
            sh.set_uploading(false);
        });
        let (own, others) = (
            sync::upload::forward_crud_changes(shared.clone()),
            sync::external::watch_external_writes(shared.clone()),
        );
        let forward = tokio::spawn(async move {
            futures_util::future::join(own, others).await;
        });
        *running = Some(RunningSync {
            cancel: cancel_tx,
            shared,
            download,
            upload,
            forward,
            _lock: lock,
        });
        drop(running);
        // `disconnect()` marks the status disconnected, so this also ends when aborted.
        let _ = statuses.wait_for(|s| !s.connecting || s.download_error.is_some()).await;
        Ok(())
    }

    /// Stops syncing and uploading; the running iteration still ends with `stop`.
    pub async fn disconnect(&self) {
        let running = self.inner.sync.lock().await.take();
        if let Some(r) = running {
            self.inner.seed.send_replace(SeedState::Disconnected);
            let _ = r.cancel.send(true);
            let _ = r.download.await;
            let _ = r.upload.await;
            r.forward.abort();
            drop(r.shared);
        }
        self.inner.status.send_if_modified(|s| {
            let before = s.clone();
            s.mark_disconnected();
            *s != before
        });
    }

    /// Disconnects, then deletes all synced data, local-only tables and the upload queue
    /// (`powersync_clear(1)`).
    pub async fn disconnect_and_clear(&self) -> Result<()> {
        self.disconnect_and_clear_with(ClearOptions::default()).await
    }

    /// [`Self::disconnect_and_clear`] with the flags of `powersync_clear` chosen (docs/protocol.md, "The client's side").
    pub async fn disconnect_and_clear_with(&self, options: ClearOptions) -> Result<()> {
        self.disconnect().await;
        let flags = i64::from(options.clear_local) | i64::from(options.soft) << 1;
        self.inner
            .pool
            .write(move |c| {
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                tx.query_row("SELECT powersync_clear(?)", [flags], |_| Ok(()))?;
                tx.commit()?;
                Ok(())
            })
            .await?;
        self.inner.streams.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let core = self.inner.pool.read(Pool::offline_status).await?;
        self.inner.status.send_modify(|s| {
            s.apply_core(&core);
            s.synced_since_connect = false;
        });
        Ok(())
    }

    pub fn status(&self) -> SyncStatus {
        self.inner.status.borrow().clone()
    }

    /// The current status, then every change.
    pub fn status_stream(&self) -> BoxStream<'static, SyncStatus> {
        let rx = self.inner.status.subscribe();
        futures_util::stream::unfold((rx, true), |(mut rx, first)| async move {
            if !first && rx.changed().await.is_err() {
                return None;
            }
            let s = rx.borrow_and_update().clone();
            Some((s, (rx, false)))
        })
        .boxed()
    }

    /// Waits until a complete sync (or, with `priority`, a sync of that priority) has finished
    /// at least once on this database.
    pub async fn wait_for_first_sync(&self, priority: Option<i32>) -> Result<()> {
        let p = priority.unwrap_or(FULL_SYNC_PRIORITY);
        let mut rx = self.inner.status.subscribe();
        rx.wait_for(|s| s.status_for_priority(p).has_synced)
            .await
            .map_err(|_| Error::NotConnected)?;
        Ok(())
    }

    /// Subscribes to a sync stream (parameters as JSON; their text is kept as given).
    pub async fn subscribe(
        &self,
        stream: &str,
        params: Option<&serde_json::Value>,
        options: SubscribeOptions,
    ) -> Result<SyncStreamSubscription> {
        subscriptions::subscribe(self, stream, params, options).await
    }

    /// Subscriptions the service reported it could not resolve (e.g. an unknown stream) since
    /// the last `connect`.
    pub fn stream_errors(&self) -> Vec<StreamResolutionError> {
        self.inner
            .stream_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Requests a checkpoint (checkpoint mode `requests`): allocates and posts an id, returns it.
    pub async fn request_checkpoint(&self) -> Result<String> {
        let shared = self.running_shared().await.ok_or(Error::NotConnected)?;
        if shared.options.checkpoint_mode != CheckpointMode::Requests {
            return Err(Error::Options(
                "request_checkpoint needs checkpoint_mode Requests".into(),
            ));
        }
        Ok(sync::checkpoints::allocate_and_post(&shared).await?)
    }

    /// Waits until the checkpoint request `id` was applied locally. Fails on a new upload or
    /// download error, or on disconnect.
    pub async fn wait_for_checkpoint(&self, id: &str) -> Result<()> {
        let id: i64 = id
            .parse()
            .map_err(|_| Error::Options(format!("{id:?} is not a checkpoint request id")))?;
        let mut rx = self.inner.status.subscribe();
        let (d0, u0) = {
            let s = rx.borrow();
            (s.download_error.clone(), s.upload_error.clone())
        };
        loop {
            {
                let s = rx.borrow_and_update();
                if s.last_applied_checkpoint_request_id.is_some_and(|a| a >= id) {
                    return Ok(());
                }
                // The recorded error itself, so callers can tell a 401 from an unreachable service.
                if let Some(e) = s.download_error.as_ref().filter(|e| Some(*e) != d0.as_ref()) {
                    return Err(Error::Sync(SyncError::clone(&e.0)));
                }
                if let Some(e) = s.upload_error.as_ref().filter(|e| Some(*e) != u0.as_ref()) {
                    return Err(Error::Sync(SyncError::clone(&e.0)));
                }
            }
            if self.inner.sync.lock().await.is_none() {
                return Err(Error::NotConnected);
            }
            let _ = tokio::time::timeout(Duration::from_millis(500), rx.changed()).await;
        }
    }

    async fn take_sync_lock(&self, wait: LockWait) -> Result<Option<sync_lock::SyncLock>> {
        let path = &self.inner.path;
        if !sync_lock::lockable(path) {
            return Ok(None);
        }
        Ok(Some(match wait {
            LockWait::Fail => sync_lock::SyncLock::try_acquire(path)?,
            LockWait::Wait => {
                sync_lock::SyncLock::acquire(path, || {
                    tracing::info!("another sync holds {}; waiting", lock_path(path).display())
                })
                .await?
            }
        }))
    }

    async fn running_shared(&self) -> Option<Arc<SyncShared>> {
        self.inner.sync.lock().await.as_ref().map(|r| r.shared.clone())
    }

    /// Queues an event into the running iteration, if any; without one it is dropped (the next
    /// `start` reads the same state from the database).
    pub(crate) async fn send_event(&self, ev: Event) {
        let tx = self.inner.events.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(tx) = tx {
            let _ = tx.send(ev).await;
        }
    }
}
