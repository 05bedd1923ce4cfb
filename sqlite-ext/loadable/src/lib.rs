//! `libpowersync.so`: the loadable extension. SQLite finds `sqlite3_powersync_init` from the file
//! name, so `.load ./libpowersync` works without naming the entry point.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::ffi::c_char;

use powersync_core::entry;
use powersync_core::ffi;

/// The extension's entry point (`SQLITE_EXTENSION_INIT2`, then registration).
///
/// # Safety
/// Called by SQLite with a valid connection, error-message slot and API table.
#[no_mangle]
pub unsafe extern "C" fn sqlite3_powersync_init(
    db: *mut ffi::sqlite3,
    pz_err_msg: *mut *mut c_char,
    p_api: *mut ffi::sqlite3_api_routines,
) -> std::ffi::c_int {
    // SAFETY: the arguments are SQLite's, passed through unchanged.
    unsafe { entry::init_loadable(db, pz_err_msg, p_api) }
}
