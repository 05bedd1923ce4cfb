//! All logic of libpowersync, the drop-in PowerSync SQLite core extension.
//!
//! [`register`] installs every SQL function on a connection; the artifact crates in
//! `sqlite-ext/` only wrap it in the C entry points. Everything here is plain Rust over
//! rusqlite and is unit-tested against a bundled SQLite without loading a shared library.

pub mod entry;
pub mod error;
pub mod function;
pub mod json;
pub mod kv;
pub mod migrations;
pub mod schema;
pub mod sql;
pub mod state;
pub mod uuid;
pub mod version;

use std::rc::Rc;

/// The SQLite C API as this build reaches it (linked, or through the loadable API table).
pub use rusqlite::ffi;

use error::PsResult;
use function::{FunctionDef, Output, DETERMINISTIC, RESULT_SUBTYPE, SUBTYPE};
use state::DatabaseState;

/// Registers the extension on `db`. Touches no table (that is `powersync_init()`).
///
/// # Safety
/// `db` must be a valid, open connection handle, used only from the calling thread.
pub unsafe fn register(db: *mut ffi::sqlite3) -> PsResult<()> {
    version::check_sqlite_version()?;
    let state = Rc::new(DatabaseState::default());
    let f = |name, n_arg, flags, needs_transaction, func| FunctionDef {
        name,
        n_arg,
        flags,
        needs_transaction,
        func,
    };
    // Registration order follows the reference (spec sql-api.md §1).
    let defs = [
        f("powersync_rs_version", 0, 0, false, version::rs_version as function::ScalarFn),
        f("gen_random_uuid", 0, 0, false, uuid::uuid),
        f("uuid", 0, 0, false, uuid::uuid),
        f("powersync_diff", 2, DETERMINISTIC | RESULT_SUBTYPE, false, json::diff_fn),
        f(
            "powersync_remove_duplicate_key_encoding",
            1,
            DETERMINISTIC,
            false,
            json::remove_duplicate_key_encoding_fn,
        ),
        f("powersync_json_merge", -1, DETERMINISTIC | RESULT_SUBTYPE, false, json::merge_fn),
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
        f("powersync_client_id", 0, DETERMINISTIC, false, kv::client_id_fn),
        f("powersync_in_sync_operation", 0, 0, false, in_sync_operation_fn),
    ];
    for def in defs {
        function::register(db, &state, def)?;
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
        unsafe { super::register(db.handle()) }.unwrap();
        db
    }

    /// `(type, name, sql)` of every schema object, ordered by name.
    pub fn schema(db: &Connection) -> Vec<(String, String, Option<String>)> {
        let mut stmt = db.prepare("SELECT type, name, sql FROM sqlite_master ORDER BY name").unwrap();
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }
}
