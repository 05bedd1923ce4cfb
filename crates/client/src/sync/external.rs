//! Uploads of writes committed by other connections and processes (docs/client.md, "Writes
//! from any process"). The pool only sees commits made through it (`powersync_update_hooks`),
//! so a separate read-only connection polls `PRAGMA data_version`, which changes whenever any
//! other connection commits to the file, and triggers an upload pass when `ps_crud` changed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

use super::SyncShared;
use crate::error::{Error, Result};

/// How often the file is checked for other connections' commits; well under the one second
/// within which an external write should start uploading.
const POLL: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    data_version: i64,
    /// `(count, max(id))` of `ps_crud`: a new write raises the max; a parked or discarded
    /// transaction lowers the count (the loop must then fetch a write checkpoint).
    crud: (i64, Option<i64>),
}

fn read(conn: &Connection, before: Option<Seen>) -> Result<Seen> {
    let data_version: i64 = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
    if let Some(b) = before.filter(|b| b.data_version == data_version) {
        return Ok(b);
    }
    let crud = conn.query_row("SELECT count(*), max(id) FROM ps_crud", [], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    Ok(Seen { data_version, crud })
}

pub(crate) async fn watch_external_writes(sh: Arc<SyncShared>) {
    let pool = sh.db.inner.pool.clone();
    if !crate::sync_lock::lockable(pool.path()) {
        return;
    }
    let conn = match pool.open_watcher() {
        Ok(c) => Arc::new(Mutex::new(c)),
        Err(e) => {
            tracing::warn!("writes of other processes are not watched: {e}");
            return;
        }
    };
    let mut seen: Option<Seen> = None;
    loop {
        let c = conn.clone();
        let before = seen;
        let now = tokio::task::spawn_blocking(move || read(&c.lock().unwrap_or_else(|e| e.into_inner()), before))
            .await
            .map_err(|e| Error::Task(e.to_string()))
            .and_then(|r| r);
        match now {
            Ok(now) => {
                if seen.is_some_and(|s| s.crud != now.crud) {
                    sh.upload_trigger.notify_one();
                }
                seen = Some(now);
            }
            Err(e) => tracing::debug!("checking for other connections' writes: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = sh.cancelled() => return,
        }
    }
}
