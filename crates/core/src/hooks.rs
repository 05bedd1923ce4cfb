//! `powersync_update_hooks('install' | 'get')`: which tables committed transactions changed
//! (spec sql-api.md §4.14), from SQLite's update, commit and rollback hooks.
//!
//! The hooks are installed through the raw C API (rusqlite's hook methods refuse on a borrowed
//! connection) with the connection state as their data; `powersync_internal_close` removes them
//! when the connection closes, before the state is freed.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use rusqlite::ffi;

use crate::error::{PsError, PsResult};
use crate::function::{Call, Output};
use crate::sql;
use crate::state::{lock, DatabaseState};

pub fn update_hooks_fn(call: &Call) -> PsResult<Output> {
    match call.args.text_if_text(0).as_deref() {
        Some("install") => {
            install(call)?;
            Ok(Output::Null)
        }
        Some("get") => {
            let mut hooks = lock(&call.state.hooks);
            let tables: Vec<String> = std::mem::take(&mut hooks.committed).into_iter().collect();
            Ok(Output::Json(
                serde_json::to_string(&tables).expect("strings always serialise"),
            ))
        }
        _ => Err(PsError::plain("Unknown operation", ffi::SQLITE_MISUSE)),
    }
}

fn install(call: &Call) -> PsResult<()> {
    // Connects the close-hook table, whose disconnect removes these hooks again.
    sql::execute_batch(&call.connection(), "SELECT 1 FROM powersync_internal_close;")?;
    if !call
        .state
        .close_table_connected
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        // Something shadows the table (a real table of that name): without its disconnect the
        // hooks would outlive our state.
        return Err(PsError::invalid_state(
            "powersync_internal_close is not the PowerSync close table",
        ));
    }
    let data = Arc::as_ptr(call.state) as *mut c_void;
    // SAFETY: `data` points to the connection state, which outlives the hooks: they are removed
    // by `uninstall` when the close-hook table disconnects, before the state is dropped.
    let previous = unsafe {
        let previous = ffi::sqlite3_update_hook(call.db, Some(on_update), data);
        ffi::sqlite3_commit_hook(call.db, Some(on_commit), data);
        ffi::sqlite3_rollback_hook(call.db, Some(on_rollback), data);
        previous
    };
    lock(&call.state.hooks).installed = true;
    if !previous.is_null() && previous != data {
        // Someone else's update hook was installed; fail loudly instead of silently taking over.
        return Err(PsError::invalid_state(
            "another update hook was installed on this connection and has been replaced",
        ));
    }
    Ok(())
}

/// Removes our hooks if they are installed (connection close).
///
/// # Safety
/// `db` must be the live connection `state` belongs to.
pub unsafe fn uninstall(db: *mut ffi::sqlite3, state: &DatabaseState) {
    let mut hooks = lock(&state.hooks);
    if hooks.installed {
        ffi::sqlite3_update_hook(db, None, std::ptr::null_mut());
        ffi::sqlite3_commit_hook(db, None, std::ptr::null_mut());
        ffi::sqlite3_rollback_hook(db, None, std::ptr::null_mut());
        hooks.installed = false;
    }
}

unsafe extern "C" fn on_update(
    data: *mut c_void,
    _op: c_int,
    _db_name: *const c_char,
    table: *const c_char,
    _rowid: ffi::sqlite3_int64,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let state = &*(data as *const DatabaseState);
        let table = CStr::from_ptr(table).to_string_lossy();
        let mut hooks = lock(&state.hooks);
        if !hooks.pending.contains(table.as_ref()) {
            hooks.pending.insert(table.into_owned());
        }
    }));
}

unsafe extern "C" fn on_commit(data: *mut c_void) -> c_int {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let state = &*(data as *const DatabaseState);
        let mut hooks = lock(&state.hooks);
        let pending = std::mem::take(&mut hooks.pending);
        hooks.committed.extend(pending);
    }));
    0
}

unsafe extern "C" fn on_rollback(data: *mut c_void) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let state = &*(data as *const DatabaseState);
        lock(&state.hooks).pending.clear();
    }));
}

#[cfg(test)]
mod tests;
