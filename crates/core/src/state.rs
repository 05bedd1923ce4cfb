//! Per-connection state shared by every function and virtual table of one connection.
//!
//! SQLite calls us on the connection's thread only, so plain `Rc`/`Cell` suffice. The state is
//! dropped when the last registered function/module is destroyed (connection close).

use std::cell::Cell;

#[derive(Default)]
pub struct DatabaseState {
    /// Set while the extension itself writes synced data (`powersync_in_sync_operation()`).
    in_sync_operation: Cell<bool>,
}

impl DatabaseState {
    pub fn in_sync_operation(&self) -> bool {
        self.in_sync_operation.get()
    }

    /// Runs `f` with the in-sync-operation flag set, restoring the previous value afterwards
    /// (also when `f` fails).
    pub fn while_syncing<T>(&self, f: impl FnOnce() -> T) -> T {
        let previous = self.in_sync_operation.replace(true);
        let result = f();
        self.in_sync_operation.set(previous);
        result
    }
}
