//! `powersync_core` for the official Rust SDK, backed by libpowersync.a.
//!
//! The SDK (`powersync` on crates.io) links the core extension as the crate `powersync_core` and
//! uses one item of it: `powersync_core::powersync_init_static()`, which registers the extension
//! with `sqlite3_auto_extension` for every connection opened afterwards. This crate provides that
//! item over our static library, whose only global symbols are `powersync_init_static` and
//! `sqlite3_powersync_init` (its copy of Rust's std is local to it, so it links next to the
//! SDK's). SQLite itself comes from the program (the SDK's rusqlite / libsqlite3-sys).

use std::ffi::c_int;

mod sys {
    use std::ffi::c_int;

    extern "C" {
        /// libpowersync.a's entry point (include/powersync.h).
        pub fn powersync_init_static() -> c_int;
    }
}

/// Registers the PowerSync extension for every SQLite connection opened afterwards; returns
/// SQLite's result code (0 is `SQLITE_OK`). Safe to call more than once.
pub fn powersync_init_static() -> c_int {
    // SAFETY: takes no arguments; it only calls sqlite3_auto_extension with the extension's entry
    // point, which SQLite allows at any time.
    unsafe { sys::powersync_init_static() }
}
