//! `powersync_update_hooks('install' | 'get')`: which tables committed transactions changed
//! (docs/sql-functions.md, "Scalar functions"), from SQLite's update, commit and rollback hooks.
//!
//! The hooks are installed through the raw C API (rusqlite's hook methods refuse on a borrowed
//! connection) with the connection state as their data. The hooks own a reference to that
//! state, so it stays valid for as long as they are installed, whatever order SQLite frees
//! things in; `powersync_internal_close` removes them (and gives the reference back) when the
//! connection closes.

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
    // Every check comes before any hook is touched, so that a failure leaves the connection as
    // it was. Connecting the close-hook table (whose disconnect removes the hooks again) is not
    // a visible change.
    sql::execute_batch(&call.connection(), "SELECT 1 FROM powersync_internal_close;")?;
    if !call
        .state
        .close_table_connected
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        // Something shadows the table (a real table of that name): without its disconnect the
        // hooks would never be removed.
        return Err(PsError::invalid_state(
            "powersync_internal_close is not the PowerSync close table",
        ));
    }
    let mut hooks = lock(&call.state.hooks);
    let data = Arc::as_ptr(call.state) as *mut c_void;
    // SAFETY: `call.db` is the live connection. `data` points to the connection state, and the
    // hooks own one strong reference to it (taken below, released by `uninstall`), so the
    // state outlives them whatever order SQLite frees things in at close.
    let previous = unsafe {
        let previous = ffi::sqlite3_update_hook(call.db, Some(on_update), data);
        ffi::sqlite3_commit_hook(call.db, Some(on_commit), data);
        ffi::sqlite3_rollback_hook(call.db, Some(on_rollback), data);
        previous
    };
    if !hooks.installed {
        // The reference the hooks hold; `uninstall` gives it back.
        let _ = Arc::into_raw(Arc::clone(call.state));
        hooks.installed = true;
    }
    drop(hooks);
    if !previous.is_null() && previous != data {
        // SQLite hands back only the old hook's data, not the hook, so it cannot be checked
        // before it is replaced nor put back: fail loudly instead of silently taking over.
        return Err(PsError::invalid_state(
            "another update hook was installed on this connection and has been replaced",
        ));
    }
    Ok(())
}

/// Removes our hooks if they are installed (connection close) and releases their reference to
/// the state.
///
/// # Safety
/// `db` must be the live connection `state` belongs to.
pub unsafe fn uninstall(db: *mut ffi::sqlite3, state: &DatabaseState) {
    let mut hooks = lock(&state.hooks);
    if !hooks.installed {
        return;
    }
    // SAFETY: `db` is live (guaranteed by the caller); removing hooks needs nothing else.
    unsafe {
        ffi::sqlite3_update_hook(db, None, std::ptr::null_mut());
        ffi::sqlite3_commit_hook(db, None, std::ptr::null_mut());
        ffi::sqlite3_rollback_hook(db, None, std::ptr::null_mut());
    }
    hooks.installed = false;
    drop(hooks);
    // SAFETY: `install` leaked exactly one reference for the installed hooks, which are gone
    // now; the caller still holds its own reference, so this never frees `state`.
    drop(unsafe { Arc::from_raw(state as *const DatabaseState) });
}

/// The state a hook was registered with.
///
/// # Safety
/// `data` must be the pointer `install` registered; the hooks' reference keeps it alive.
unsafe fn hook_state<'a>(data: *mut c_void) -> &'a DatabaseState {
    // SAFETY: guaranteed by the caller.
    unsafe { &*(data as *const DatabaseState) }
}

unsafe extern "C" fn on_update(
    data: *mut c_void,
    _op: c_int,
    _db_name: *const c_char,
    table: *const c_char,
    _rowid: ffi::sqlite3_int64,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: SQLite passes the data `install` registered and a NUL-terminated table name.
        let (state, table) = unsafe { (hook_state(data), CStr::from_ptr(table).to_string_lossy()) };
        let mut hooks = lock(&state.hooks);
        if !hooks.pending.contains(table.as_ref()) {
            hooks.pending.insert(table.into_owned());
        }
    }));
}

unsafe extern "C" fn on_commit(data: *mut c_void) -> c_int {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: SQLite passes the data `install` registered.
        let state = unsafe { hook_state(data) };
        let mut hooks = lock(&state.hooks);
        let pending = std::mem::take(&mut hooks.pending);
        hooks.committed.extend(pending);
    }));
    0
}

unsafe extern "C" fn on_rollback(data: *mut c_void) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: SQLite passes the data `install` registered.
        let state = unsafe { hook_state(data) };
        lock(&state.hooks).pending.clear();
    }));
}

#[cfg(test)]
mod tests;
