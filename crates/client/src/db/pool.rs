//! The connections: one writer (all writes and every `powersync_control` call) and a few
//! readers, all with the extension registered. SQLite is blocking, so every access runs on
//! tokio's blocking pool; the async runtime never waits on SQLite.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{broadcast, Semaphore};

use crate::error::{Error, Result};

/// Table names changed by one or more committed write transactions.
pub(crate) type TableChanges = Arc<BTreeSet<String>>;

#[derive(Clone)]
pub(crate) struct Pool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    reader_permits: Semaphore,
    changes: broadcast::Sender<TableChanges>,
}

const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic inside a closure leaves SQLite consistent (transactions roll back on drop).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn open_connection(path: &Path, flags: OpenFlags) -> Result<Connection> {
    let conn = Connection::open_with_flags(path, flags).map_err(|e| Error::Open {
        path: path.display().to_string(),
        cause: e.to_string(),
    })?;
    // SAFETY: the handle is valid and used only through this connection.
    unsafe { powersync_core::register(conn.handle()) }.map_err(|e| Error::Register(e.to_string()))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

impl Pool {
    /// Opens `path` (created when missing unless `must_exist`), migrates it and, with a
    /// schema, applies it; then opens `readers` read connections.
    pub(crate) fn open(path: &Path, schema_json: Option<&str>, readers: usize, must_exist: bool) -> Result<Pool> {
        let mut flags =
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        if !must_exist {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let mut writer = open_connection(path, flags)?;
        let mode: String = writer.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Open {
                path: path.display().to_string(),
                cause: format!("journal mode {mode}, WAL needed"),
            });
        }
        writer.execute_batch("PRAGMA synchronous=NORMAL")?;
        let tx = writer.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.query_row("SELECT powersync_init()", [], |_| Ok(()))?;
        if let Some(schema) = schema_json {
            tx.query_row("SELECT powersync_replace_schema(?)", [schema], |_| Ok(()))?;
        }
        tx.commit()?;
        writer.query_row("SELECT powersync_update_hooks('install')", [], |_| Ok(()))?;

        let mut conns = Vec::with_capacity(readers);
        for _ in 0..readers.max(1) {
            let r = open_connection(
                path,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            r.execute_batch("PRAGMA query_only=1")?;
            conns.push(r);
        }
        Ok(Pool::from_connections(path, writer, conns))
    }

    /// Opens an existing database read-only (`SQLITE_OPEN_READ_ONLY`) for inspection: no
    /// migration, no schema, no journal-mode change, no update hooks, so the file is never
    /// written (and a read-only file works). Fails when the file is not a PowerSync database or
    /// has another internal version than this extension's (see [`super::version`]).
    pub(crate) fn open_read_only(path: &Path) -> Result<Pool> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let first = open_connection(path, flags)?;
        super::version::check(&first, path)?;
        let reader = open_connection(path, flags)?;
        Ok(Pool::from_connections(path, first, vec![reader]))
    }

    fn from_connections(path: &Path, writer: Connection, conns: Vec<Connection>) -> Pool {
        let n = conns.len();
        let (changes, _) = broadcast::channel(256);
        Pool {
            inner: Arc::new(PoolInner {
                path: path.to_path_buf(),
                writer: Mutex::new(writer),
                readers: Mutex::new(conns),
                reader_permits: Semaphore::new(n),
                changes,
            }),
        }
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.inner.path
    }

    /// A separate read-only connection (without the extension) for watching commits of other
    /// connections and processes with `PRAGMA data_version`.
    pub(crate) fn open_watcher(&self) -> Result<Connection> {
        let path = &self.inner.path;
        let conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(|e| Error::Open {
                    path: path.display().to_string(),
                    cause: e.to_string(),
                })?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(conn)
    }

    /// Runs `f` on the write connection, then publishes the tables its commits changed.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        run_blocking(move || {
            let mut conn = lock(&inner.writer);
            let result = f(&mut conn);
            if conn.is_autocommit() {
                publish_changes(&conn, &inner.changes);
            } else {
                // A closure that left a transaction open must not leak it into the next caller.
                let _ = conn.execute_batch("ROLLBACK");
            }
            result
        })
        .await
    }

    /// Runs `f` on one of the read connections.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let _permit = self
            .inner
            .reader_permits
            .acquire()
            .await
            .map_err(|e| Error::Task(e.to_string()))?;
        let inner = self.inner.clone();
        run_blocking(move || {
            let conn = lock(&inner.readers)
                .pop()
                .ok_or_else(|| Error::Task("no read connection".into()))?;
            let result = f(&conn);
            lock(&inner.readers).push(conn);
            result
        })
        .await
    }

    pub(crate) fn subscribe_changes(&self) -> broadcast::Receiver<TableChanges> {
        self.inner.changes.subscribe()
    }
}

fn publish_changes(conn: &Connection, changes: &broadcast::Sender<TableChanges>) {
    let json: rusqlite::Result<String> = conn.query_row("SELECT powersync_update_hooks('get')", [], |r| r.get(0));
    match json.map(|j| serde_json::from_str::<BTreeSet<String>>(&j)) {
        Ok(Ok(tables)) if !tables.is_empty() => {
            let _ = changes.send(Arc::new(tables));
        }
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!("powersync_update_hooks returned invalid JSON: {e}"),
        Err(e) => tracing::warn!("powersync_update_hooks failed: {e}"),
    }
}

async fn run_blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Task(e.to_string()))?
}

/// One `powersync_control` call in its own write transaction; the result read as text.
pub(crate) fn control(conn: &mut Connection, op: &str, payload: ControlPayload) -> Result<Option<String>> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let value: rusqlite::types::Value = match payload {
        ControlPayload::Null => tx.query_row("SELECT powersync_control(?, NULL)", [op], |r| r.get(0))?,
        ControlPayload::Text(t) => {
            tx.query_row("SELECT powersync_control(?, ?)", rusqlite::params![op, t], |r| r.get(0))?
        }
        ControlPayload::Blob(b) => {
            tx.query_row("SELECT powersync_control(?, ?)", rusqlite::params![op, b], |r| r.get(0))?
        }
    };
    tx.commit()?;
    Ok(as_text(value))
}

/// A `powersync_control` result read as text: it is TEXT JSON, INTEGER or NULL depending on the
/// command (docs/protocol.md, "Commands and events").
pub(crate) fn as_text(value: rusqlite::types::Value) -> Option<String> {
    match value {
        rusqlite::types::Value::Null => None,
        rusqlite::types::Value::Integer(i) => Some(i.to_string()),
        rusqlite::types::Value::Text(t) => Some(t),
        rusqlite::types::Value::Real(f) => Some(f.to_string()),
        rusqlite::types::Value::Blob(b) => Some(String::from_utf8_lossy(&b).into_owned()),
    }
}

pub(crate) enum ControlPayload {
    Null,
    Text(String),
    Blob(Vec<u8>),
}

impl Pool {
    /// `powersync_offline_sync_status()` on `conn`.
    pub(crate) fn offline_status(conn: &Connection) -> Result<crate::status::CoreStatus> {
        let json: String = conn.query_row("SELECT powersync_offline_sync_status()", [], |r| r.get(0))?;
        serde_json::from_str(&json).map_err(|e| Error::Task(format!("invalid offline status: {e}")))
    }

    /// The offline status, read synchronously (used while opening).
    pub(crate) fn offline_status_now(&self) -> Result<crate::status::CoreStatus> {
        let readers = lock(&self.inner.readers);
        let conn = readers
            .first()
            .ok_or_else(|| Error::Task("no read connection".into()))?;
        Self::offline_status(conn)
    }
}
