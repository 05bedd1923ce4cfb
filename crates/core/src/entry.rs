//! The C entry points' shared body: register on a connection, report failures through
//! `*pzErrMsg` as `Could not initialize PowerSync: <error>`, and never let a panic escape.

use std::ffi::{c_char, c_int};
use std::panic::{catch_unwind, AssertUnwindSafe};

use rusqlite::ffi;

use crate::error::PsError;
use crate::function::panic_message;

/// # Safety
/// `db` must be an open connection, used from this thread.
unsafe fn register_reporting(db: *mut ffi::sqlite3) -> Result<(), (c_int, String)> {
    // SAFETY: guaranteed by the caller.
    let outcome = catch_unwind(AssertUnwindSafe(|| unsafe { crate::register(db) }));
    let err = match outcome {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(err)) => err,
        Err(panic) => PsError::internal(format!("panic: {}", panic_message(&panic))),
    };
    Err((err.code(), format!("Could not initialize PowerSync: {err}")))
}

/// Body of `sqlite3_powersync_init` in the loadable build.
///
/// # Safety
/// Arguments as SQLite passes them to an extension entry point.
#[cfg(feature = "loadable_extension")]
pub unsafe fn init_loadable(
    db: *mut ffi::sqlite3,
    pz_err_msg: *mut *mut c_char,
    p_api: *mut ffi::sqlite3_api_routines,
) -> c_int {
    fn init(conn: rusqlite::Connection) -> rusqlite::Result<bool> {
        // SAFETY: SQLite passes the live connection it is loading the extension into.
        unsafe { register_reporting(conn.handle()) }
            .map_err(|(code, message)| rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some(message)))?;
        Ok(false)
    }
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the arguments are SQLite's, passed through unchanged (guaranteed by the caller).
        unsafe { rusqlite::Connection::extension_init2(db, pz_err_msg, p_api, init) }
    }))
    .unwrap_or(ffi::SQLITE_INTERNAL)
}

/// Body of `sqlite3_powersync_init` when SQLite is linked in (static build, tests).
///
/// # Safety
/// Arguments as SQLite passes them to an extension entry point.
pub unsafe fn init_linked(db: *mut ffi::sqlite3, pz_err_msg: *mut *mut c_char) -> c_int {
    // SAFETY: SQLite passes the live connection it is initialising.
    match unsafe { register_reporting(db) } {
        Ok(()) => ffi::SQLITE_OK,
        Err((code, message)) => {
            if !pz_err_msg.is_null() {
                // SAFETY: a non-null `pz_err_msg` is SQLite's slot for an error message, which
                // SQLite frees with sqlite3_free.
                unsafe { *pz_err_msg = sqlite_owned_string(&message) };
            }
            code
        }
    }
}

/// Copies `text` into memory from SQLite's allocator, which SQLite frees after reporting it.
fn sqlite_owned_string(text: &str) -> *mut c_char {
    let bytes = text.as_bytes();
    // SAFETY: a plain allocation; a null result (out of memory) is handled below.
    let ptr = unsafe { ffi::sqlite3_malloc64(bytes.len() as u64 + 1) }.cast::<u8>();
    if !ptr.is_null() {
        // SAFETY: `ptr` has room for the bytes plus the NUL; the regions cannot overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr, bytes.len());
            *ptr.add(bytes.len()) = 0;
        }
    }
    ptr.cast()
}
