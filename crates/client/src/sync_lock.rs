//! One sync per database file, across processes: an exclusive OS advisory lock (`flock`) on
//! `<db>.sync-lock`, held for as long as a `connect()` runs.
//!
//! Why a separate file: SQLite's own locks on the database file are short-lived and taken by
//! every reader and writer, so they cannot say "a sync is running". A lock on a side file blocks
//! no reader or writer of the database, only a second sync. The OS drops it when the holder's
//! file handle closes, so a killed process never leaves a stale lock behind (the file itself
//! stays; its presence means nothing).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fs4::TryLockError;

use crate::error::{Error, Result};

/// How often a waiting `connect()` tries the lock again.
const WAIT_POLL: Duration = Duration::from_millis(100);

/// What `connect()` does when another sync holds the database's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LockWait {
    /// Fail at once with [`Error::SyncLocked`].
    #[default]
    Fail,
    /// Wait until the other sync ends (cancelled by `disconnect()` or by dropping the future).
    Wait,
}

/// A held sync lock; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct SyncLock {
    _file: File,
}

/// `<db>.sync-lock` next to the database file.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".sync-lock");
    PathBuf::from(name)
}

fn open_lock_file(path: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::Lock {
            path: path.display().to_string(),
            cause: e.to_string(),
        })
}

impl SyncLock {
    /// Takes the lock now, or fails with [`Error::SyncLocked`] when another sync holds it.
    pub(crate) fn try_acquire(db: &Path) -> Result<SyncLock> {
        let path = lock_path(db);
        let file = open_lock_file(&path)?;
        // Fully qualified: std's inherent `File::try_lock` (Rust 1.89) is newer than our MSRV.
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => Ok(SyncLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(Error::SyncLocked {
                path: path.display().to_string(),
            }),
            Err(TryLockError::Error(e)) => Err(Error::Lock {
                path: path.display().to_string(),
                cause: e.to_string(),
            }),
        }
    }

    /// Takes the lock, waiting for another sync to release it. Polls instead of blocking in
    /// `flock`, so that dropping the future (a `disconnect()`, Ctrl-C) cancels the wait.
    pub(crate) async fn acquire(db: &Path, on_wait: impl FnOnce()) -> Result<SyncLock> {
        let mut on_wait = Some(on_wait);
        loop {
            match Self::try_acquire(db) {
                Err(Error::SyncLocked { .. }) => {
                    if let Some(f) = on_wait.take() {
                        f();
                    }
                    tokio::time::sleep(WAIT_POLL).await;
                }
                other => return other,
            }
        }
    }
}

/// Whether another sync holds the lock of the database `db` right now (the lock is taken and
/// released at once, so the answer can be stale by the time it is used; `connect` decides).
pub fn is_sync_locked(db: &Path) -> Result<bool> {
    // No lock file: nobody has ever synced it, and checking must not leave one behind.
    if !lockable(db) || !lock_path(db).exists() {
        return Ok(false);
    }
    match SyncLock::try_acquire(db) {
        Ok(_) => Ok(false),
        Err(Error::SyncLocked { .. }) => Ok(true),
        Err(e) => Err(e),
    }
}

/// Whether `path` names an on-disk database that a lock file can sit next to.
pub(crate) fn lockable(path: &Path) -> bool {
    let s = path.as_os_str();
    !(s.is_empty() || s == ":memory:" || path.to_string_lossy().starts_with("file:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_fails_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        let first = SyncLock::try_acquire(&db).unwrap();
        let err = SyncLock::try_acquire(&db).unwrap_err();
        assert!(matches!(err, Error::SyncLocked { .. }), "{err}");
        assert!(err.to_string().contains("a.db.sync-lock"), "{err}");
        drop(first);
        SyncLock::try_acquire(&db).unwrap();
    }
}
