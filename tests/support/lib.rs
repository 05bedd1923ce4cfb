//! Shared helpers for the integration tests in tests/: loading the built extension and running
//! conformance vectors.

pub mod reliability;
pub mod vectors;

use std::path::PathBuf;

use rusqlite::Connection;

/// The cdylib under test: `$POWERSYNC_EXTENSION`, else `target/release/libpowersync.so`.
pub fn extension_path() -> PathBuf {
    let path = std::env::var_os("POWERSYNC_EXTENSION")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("POWERSYNC_DEFAULT_EXTENSION")));
    assert!(
        path.exists(),
        "{} does not exist: build the extension first with `make` (or run all tests with `make test`)",
        path.display()
    );
    path
}

/// Opens an in-memory database (bundled SQLite) with the built extension loaded.
pub fn open_with_extension() -> Connection {
    open_path_with_extension(":memory:")
}

/// Opens `path` with the built extension loaded.
pub fn open_path_with_extension(path: &str) -> Connection {
    let db = Connection::open(path).expect("open database");
    load_extension(&db);
    db
}

pub fn load_extension(db: &Connection) {
    let path = extension_path();
    unsafe {
        let _guard = rusqlite::LoadExtensionGuard::new(db).expect("enable extension loading");
        db.load_extension(&path, None::<&str>).expect("load libpowersync");
    }
}

/// Runs every statement of `sql`, each to completion (unlike `execute_batch`, which steps a
/// statement only once).
pub fn exec_all(db: &Connection, sql: &str) -> rusqlite::Result<()> {
    use rusqlite::fallible_iterator::FallibleIterator;
    let mut batch = rusqlite::Batch::new(db, sql);
    while let Some(mut stmt) = batch.next()? {
        let mut rows = stmt.raw_query();
        while rows.next()?.is_some() {}
    }
    Ok(())
}
