//! Per-connection state shared by every function, virtual table and hook of one connection.
//!
//! SQLite serialises all calls on a connection, so the locks below are never contended by other
//! threads; they exist because the state is reachable from several registered objects (and
//! rusqlite requires module data to be `Send + Sync`). They can be re-entered on the same thread
//! (SQL we run may fire app triggers that call us again), so no lock is held while running SQL
//! that could come back here, or it is taken with `try_lock`. The state lives until the last
//! registered function or module is destroyed, when the connection closes.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::schema::model::Schema;
use crate::sync::SyncClient;

#[derive(Default)]
pub struct DatabaseState {
    /// Set while the extension itself writes synced data (`powersync_in_sync_operation()`).
    in_sync_operation: AtomicBool,
    /// The last schema given to `powersync_replace_schema` (used by `powersync_clear` only).
    schema: Mutex<Option<Schema>>,
    /// The local transaction id shared by the two CRUD vtabs (docs/internal-storage.md, "`ps_crud` rows").
    pub(crate) crud_transaction: Mutex<Option<CrudTransaction>>,
    /// Table-change bookkeeping of `powersync_update_hooks`.
    pub(crate) hooks: Mutex<HookState>,
    /// The running sync iteration of `powersync_control`, if any.
    pub(crate) sync: Mutex<SyncClient>,
    /// Set once `powersync_internal_close` is connected, so its disconnect will clean up.
    pub(crate) close_table_connected: AtomicBool,
}

/// The `ps_tx` id of the current transaction and which vtab instance allocated it.
#[derive(Debug, Clone, Copy)]
pub struct CrudTransaction {
    pub tx_id: i64,
    pub owner: usize,
    /// A `ROLLBACK TO` (or a failed statement) happened since `tx_id` was allocated, so the
    /// allocation's `ps_tx` increment may be gone.
    pub rolled_back: bool,
}

#[derive(Default)]
pub struct HookState {
    pub installed: bool,
    pub pending: BTreeSet<String>,
    pub committed: BTreeSet<String>,
}

/// Locks `m`, ignoring poisoning: the data stays consistent because no panic can happen while
/// one of these locks is held in a way that leaves half-written state.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl DatabaseState {
    pub fn set_schema(&self, schema: Schema) {
        *lock(&self.schema) = Some(schema);
    }

    pub fn schema(&self) -> Option<Schema> {
        lock(&self.schema).clone()
    }

    pub fn in_sync_operation(&self) -> bool {
        self.in_sync_operation.load(Ordering::Relaxed)
    }

    /// Runs `f` with the in-sync-operation flag set, restoring the previous value afterwards
    /// (also when `f` fails).
    pub fn while_syncing<T>(&self, f: impl FnOnce() -> T) -> T {
        /// Restores the flag even if `f` panics: a flag stuck at true would silently stop
        /// recording local writes.
        struct Restore<'a>(&'a AtomicBool, bool);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                self.0.store(self.1, Ordering::Relaxed);
            }
        }
        let _restore = Restore(
            &self.in_sync_operation,
            self.in_sync_operation.swap(true, Ordering::Relaxed),
        );
        f()
    }
}
