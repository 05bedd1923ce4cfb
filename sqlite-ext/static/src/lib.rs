//! `libpowersync.a`: the extension for apps that link SQLite and PowerSync statically (mobile
//! SDKs). `powersync_init_static()` registers it for every connection opened afterwards.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::ffi::{c_char, c_int};

use powersync_core::entry;
use powersync_core::ffi;

/// Entry point with the signature SQLite's auto-extension mechanism expects.
///
/// # Safety
/// Called by SQLite with a valid connection.
#[no_mangle]
pub unsafe extern "C" fn sqlite3_powersync_init(
    db: *mut ffi::sqlite3,
    pz_err_msg: *mut *mut c_char,
    _p_api: *const ffi::sqlite3_api_routines,
) -> c_int {
    // SAFETY: the arguments are SQLite's, passed through unchanged.
    unsafe { entry::init_linked(db, pz_err_msg) }
}

/// Registers the extension for every new connection (`sqlite3_auto_extension`); returns its
/// result code.
#[no_mangle]
pub extern "C" fn powersync_init_static() -> c_int {
    // SAFETY: registers a function with exactly the entry-point signature SQLite calls.
    unsafe { ffi::sqlite3_auto_extension(Some(sqlite3_powersync_init)) }
}
