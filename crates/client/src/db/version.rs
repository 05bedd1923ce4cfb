//! Is a file a PowerSync database this extension can read as it is? Inspection opens files
//! read-only and never migrates, so it must say so instead of failing on a missing table later.

use std::path::Path;

use rusqlite::Connection;

use crate::error::{Error, Result};

/// The internal version (`ps_migration`) of the extension this client registers
/// (`powersync_init()` migrates to it).
pub const INTERNAL_VERSION: i64 = 14;

/// Fails with [`Error::NotPowerSync`] or [`Error::InternalVersion`] unless `conn`'s database
/// is at [`INTERNAL_VERSION`]. Reads only.
pub(crate) fn check(conn: &Connection, path: &Path) -> Result<()> {
    let has_migrations: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ps_migration')",
            [],
            |r| r.get(0),
        )
        .map_err(|e| Error::Open {
            path: path.display().to_string(),
            cause: e.to_string(),
        })?;
    if !has_migrations {
        return Err(Error::NotPowerSync {
            path: path.display().to_string(),
        });
    }
    let found: Option<i64> = conn.query_row("SELECT max(id) FROM ps_migration", [], |r| r.get(0))?;
    match found {
        Some(v) if v == INTERNAL_VERSION => Ok(()),
        found => Err(Error::InternalVersion {
            path: path.display().to_string(),
            found: found.unwrap_or(0),
            expected: INTERNAL_VERSION,
        }),
    }
}
