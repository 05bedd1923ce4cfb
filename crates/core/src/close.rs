//! `powersync_internal_close`: an always-empty eponymous table whose only job is its disconnect,
//! which SQLite runs when the connection closes, before it checks for unfinalised statements.
//! That is where connection resources (hooks) are released (docs/sql-functions.md, "Virtual tables").

use std::borrow::Cow;
use std::ffi::{c_int, CStr};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, TryLockError};

use rusqlite::ffi;
use rusqlite::types::ValueRef;
use rusqlite::vtab::{
    sqlite3_vtab, sqlite3_vtab_cursor, Context, CreateVTab, Filters, IndexInfo, Inserts, UpdateVTab, Updates, VTab,
    VTabConnection, VTabCursor, VTabKind,
};

use crate::crud::misuse;
use crate::state::DatabaseState;

#[repr(C)]
pub struct CloseTable {
    base: sqlite3_vtab,
    db: *mut ffi::sqlite3,
    state: Arc<DatabaseState>,
}

impl Drop for CloseTable {
    fn drop(&mut self) {
        // Runs inside SQLite's xDisconnect: a panic must not unwind into C.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: SQLite disconnects us while the connection is still open.
            unsafe { crate::hooks::uninstall(self.db, &self.state) };
            // The sync iteration ends with the connection, and its cached statements must be
            // finalised before SQLite checks for unfinalised statements. Never block here: if a
            // call into the sync client is somehow still running, it owns the client.
            match self.state.sync.try_lock() {
                Ok(mut client) => *client = crate::sync::SyncClient::default(),
                Err(TryLockError::Poisoned(poisoned)) => *poisoned.into_inner() = crate::sync::SyncClient::default(),
                Err(TryLockError::WouldBlock) => {}
            }
        }));
    }
}

// SAFETY: `CloseTable` is `#[repr(C)]` with `sqlite3_vtab` first, as rusqlite requires, and its
// callbacks never unwind into SQLite (nothing in them can panic but the guarded drop).
unsafe impl<'vtab> VTab<'vtab> for CloseTable {
    type Aux = Arc<DatabaseState>;
    type Cursor = EmptyCursor<'vtab>;

    fn connect(
        db: &mut VTabConnection,
        aux: Option<&Arc<DatabaseState>>,
        _module_name: &[u8],
        _database_name: &[u8],
        _table_name: &[u8],
        _args: &[&[u8]],
    ) -> rusqlite::Result<(Cow<'static, CStr>, Self)> {
        let state = aux.cloned().ok_or_else(misuse)?;
        state
            .close_table_connected
            .store(true, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: only stored to remove hooks at disconnect, while the connection is open.
        let db = unsafe { db.handle() };
        Ok((
            Cow::Borrowed(c"CREATE TABLE powersync_internal_close(_ TEXT);"),
            CloseTable {
                base: sqlite3_vtab::default(),
                db,
                state,
            },
        ))
    }

    fn best_index(&self, _info: &mut IndexInfo) -> rusqlite::Result<bool> {
        Ok(true)
    }

    fn open(&'vtab mut self) -> rusqlite::Result<EmptyCursor<'vtab>> {
        Ok(EmptyCursor {
            base: sqlite3_vtab_cursor::default(),
            _table: PhantomData,
        })
    }
}

impl CreateVTab<'_> for CloseTable {
    const KIND: VTabKind = VTabKind::EponymousOnly;
}

impl UpdateVTab<'_> for CloseTable {
    fn delete(&mut self, _arg: ValueRef<'_>) -> rusqlite::Result<()> {
        Err(misuse())
    }

    fn insert(&mut self, _args: &Inserts<'_>) -> rusqlite::Result<i64> {
        Err(misuse())
    }

    fn update(&mut self, _args: &Updates<'_>) -> rusqlite::Result<()> {
        Err(misuse())
    }
}

#[repr(C)]
pub struct EmptyCursor<'vtab> {
    base: sqlite3_vtab_cursor,
    _table: PhantomData<&'vtab CloseTable>,
}

// SAFETY: `EmptyCursor` is `#[repr(C)]` with `sqlite3_vtab_cursor` first, as rusqlite requires.
unsafe impl VTabCursor for EmptyCursor<'_> {
    fn filter(&mut self, _idx_num: c_int, _idx_str: Option<&str>, _args: &Filters<'_>) -> rusqlite::Result<()> {
        Ok(())
    }

    fn next(&mut self) -> rusqlite::Result<()> {
        Ok(())
    }

    fn eof(&self) -> bool {
        true
    }

    fn column(&self, _ctx: &mut Context, _i: c_int) -> rusqlite::Result<()> {
        Ok(())
    }

    fn rowid(&self) -> rusqlite::Result<i64> {
        Ok(0)
    }
}

#[cfg(test)]
mod tests;
