//! All logic of libpowersync, the drop-in PowerSync SQLite core extension.
//!
//! The public surface is small on purpose:
//! - [`register_connection`] / [`register`] install every SQL function and virtual table on one
//!   connection (the native client calls this on its bundled SQLite);
//! - [`entry`] holds the bodies of the C entry points that the artifact crates in `sqlite-ext/`
//!   export (`sqlite3_powersync_init`, `powersync_init_static`);
//! - [`Error`] is what registration can fail with; [`ffi`] is the SQLite C API of this build.
//!
//! Everything else is reached through SQL (docs/sql-functions.md). The modules are plain Rust over
//! rusqlite and are unit-tested against a bundled SQLite without loading a shared library.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod clear;
mod close;
mod config;
mod crud;
mod diagnostics;
pub mod entry;
mod error;
mod function;
mod hooks;
mod json;
mod kv;
mod migrations;
mod objects;
mod schema;
mod sql;
mod state;
mod sync;
mod uuid;
mod version;

use std::sync::Arc;

/// The SQLite C API as this build reaches it (linked, or through the loadable API table).
pub use rusqlite::ffi;

use error::PsResult;

/// Why registering the extension failed (its `Display` is the reference's message).
pub use error::PsError as Error;
use function::{FunctionDef, Output, DETERMINISTIC, DIRECTONLY, RESULT_SUBTYPE, SUBTYPE};
use rusqlite::vtab::Module;
use state::DatabaseState;

/// Registers the extension on `db`. Touches no table (that is `powersync_init()`).
///
/// # Safety
/// `db` must be a valid, open connection handle, used only from the calling thread.
pub unsafe fn register(db: *mut ffi::sqlite3) -> PsResult<()> {
    version::check_sqlite_version()?;
    let state = Arc::new(DatabaseState::default());
    let f = |name, n_arg, flags, needs_transaction, func| FunctionDef {
        name,
        n_arg,
        flags,
        needs_transaction,
        func,
    };
    // Registration order follows the reference (docs/sql-functions.md, "Loading").
    let defs = [
        f(
            "powersync_rs_version",
            0,
            0,
            false,
            version::rs_version as function::ScalarFn,
        ),
        f("gen_random_uuid", 0, 0, false, uuid::uuid),
        f("uuid", 0, 0, false, uuid::uuid),
        f(
            "powersync_diff",
            2,
            DETERMINISTIC | RESULT_SUBTYPE,
            false,
            json::diff_fn,
        ),
        f(
            "powersync_remove_duplicate_key_encoding",
            1,
            DETERMINISTIC,
            false,
            json::remove_duplicate_key_encoding_fn,
        ),
        f(
            "powersync_json_merge",
            -1,
            DETERMINISTIC | RESULT_SUBTYPE,
            false,
            json::merge_fn,
        ),
        f(
            "powersync_strip_subtype",
            1,
            DETERMINISTIC | SUBTYPE | RESULT_SUBTYPE,
            false,
            json::strip_subtype_fn,
        ),
        f("powersync_drop_view", 1, 0, false, schema::drop_view_fn),
        f("powersync_init", 0, 0, true, migrations::init_fn),
        f("powersync_test_migration", 1, 0, true, migrations::test_migration_fn),
        f("powersync_clear", 1, 0, true, clear::clear_fn),
        f("powersync_trigger_resync", 1, 0, true, clear::trigger_resync_fn),
        f("powersync_client_id", 0, DETERMINISTIC, false, kv::client_id_fn),
        f("powersync_in_sync_operation", 0, 0, false, in_sync_operation_fn),
        f(
            "powersync_control",
            2,
            DIRECTONLY | RESULT_SUBTYPE,
            true,
            sync::control_fn,
        ),
        f(
            "powersync_offline_sync_status",
            0,
            DIRECTONLY | RESULT_SUBTYPE,
            false,
            sync::offline_sync_status_fn,
        ),
        f(
            "powersync_update_hooks",
            1,
            DETERMINISTIC | RESULT_SUBTYPE,
            false,
            hooks::update_hooks_fn,
        ),
        f("powersync_replace_schema", 1, 0, true, schema::replace_schema_fn),
        // Ours, beyond the reference (docs/diagnostics.md): read-only.
        f(
            "powersync_diagnostics",
            0,
            RESULT_SUBTYPE,
            false,
            diagnostics::diagnostics_fn,
        ),
        // Ours: per-database settings (docs/sql-functions.md, "Settings"). Setting one writes, so it
        // is not allowed in views, triggers or the schema.
        f("powersync_config_set", 2, DIRECTONLY, false, config::config_set_fn),
        f("powersync_config_get", 1, 0, false, config::config_get_fn),
        f(
            "powersync_create_raw_table_crud_trigger",
            3,
            0,
            false,
            schema::raw::create_crud_trigger_fn,
        ),
    ];
    for def in defs {
        // SAFETY: the caller guarantees `db` is an open connection used from this thread.
        unsafe { function::register(db, &state, def)? };
    }
    // SAFETY: as above.
    unsafe { register_modules(db, &state) }
}

/// Registers the extension on an open rusqlite connection (see [`register`]).
pub fn register_connection(conn: &rusqlite::Connection) -> Result<(), Error> {
    // SAFETY: the handle belongs to an open connection that outlives this call, and rusqlite
    // connections are used from one thread at a time.
    unsafe { register(conn.handle()) }
}

unsafe fn register_modules(db: *mut ffi::sqlite3, state: &Arc<DatabaseState>) -> PsResult<()> {
    // Constants, so `&` promotes them to the 'static lifetime SQLite needs.
    const CLOSE_MODULE: Module<'static, close::CloseTable> = Module::update_module();
    const CRUD_MODULE: Module<'static, crud::SimpleCrud> = crud::SIMPLE_MODULE;
    const CRUD_MANUAL_MODULE: Module<'static, crud::ManualCrud> = crud::MANUAL_MODULE;
    // SAFETY: the caller guarantees `db` is open; the handle does not outlive this call.
    let conn = unsafe { function::connection_for(db) };
    conn.create_module(c"powersync_internal_close", &CLOSE_MODULE, Some(Arc::clone(state)))?;
    conn.create_module(c"powersync_crud", &CRUD_MODULE, Some(Arc::clone(state)))?;
    conn.create_module(c"powersync_crud_", &CRUD_MANUAL_MODULE, Some(Arc::clone(state)))?;
    // Ours, beyond the reference (docs/diagnostics.md).
    const DIAGNOSTIC_MODULE: Module<'static, diagnostics::DiagnosticVTab> = Module::eponymous_only_module();
    for (name, table) in [
        (c"powersync_diagnostics_buckets", diagnostics::DiagnosticTable::Buckets),
        (c"powersync_diagnostics_uploads", diagnostics::DiagnosticTable::Uploads),
    ] {
        conn.create_module(name, &DIAGNOSTIC_MODULE, Some((Arc::clone(state), table)))?;
    }
    Ok(())
}

fn in_sync_operation_fn(call: &function::Call) -> PsResult<Output> {
    Ok(Output::Int(call.state.in_sync_operation() as i64))
}

#[cfg(test)]
pub(crate) mod testing {
    use rusqlite::Connection;

    /// An in-memory connection (bundled SQLite) with the extension registered.
    pub fn open() -> Connection {
        let db = Connection::open_in_memory().unwrap();
        super::register_connection(&db).unwrap();
        db
    }

    /// `(type, name, sql)` of every schema object, ordered by name.
    pub fn schema(db: &Connection) -> Vec<(String, String, Option<String>)> {
        let mut stmt = db
            .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY name")
            .unwrap();
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    /// A tiny deterministic generator (xorshift), so differential cases are reproducible.
    /// The seed must not be 0.
    pub struct Rng(pub u64);

    impl Rng {
        pub fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        pub fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }
}
