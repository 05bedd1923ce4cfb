//! Names of the schema objects PowerSync creates for the app, and queries for them. Shared by
//! migrations, schema reconciliation, clearing and publishing, so that each name is spelled once.

use rusqlite::Connection;

use crate::error::PsResult;
use crate::sql;

/// Prefix of the table behind a synced app table (`ps_data__<name>`).
pub const SYNCED_DATA_PREFIX: &str = "ps_data__";
/// Prefix of the table behind a local-only app table (`ps_data_local__<name>`).
pub const LOCAL_DATA_PREFIX: &str = "ps_data_local__";

/// The internal table that stores the app table `name`.
pub fn data_table(name: &str, local_only: bool) -> String {
    let prefix = if local_only {
        LOCAL_DATA_PREFIX
    } else {
        SYNCED_DATA_PREFIX
    };
    format!("{prefix}{name}")
}

/// `(app table name, local_only)` of an internal data table name, `None` for other names.
pub fn parse_data_table(internal: &str) -> Option<(&str, bool)> {
    if let Some(name) = internal.strip_prefix(LOCAL_DATA_PREFIX) {
        Some((name, true))
    } else {
        internal.strip_prefix(SYNCED_DATA_PREFIX).map(|name| (name, false))
    }
}

/// Views PowerSync generated end with this marker comment (the reference's GLOB).
pub const VIEW_MARKER_GLOB: &str = "*-- powersync-auto-generated";

/// `(name, sql)` of every view PowerSync generated.
pub fn marked_views(db: &Connection) -> PsResult<Vec<(String, String)>> {
    sql::query_all(
        db,
        "SELECT name, sql FROM sqlite_master WHERE type = 'view' AND sql GLOB ?",
        [VIEW_MARKER_GLOB],
        |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_table_names_round_trip() {
        assert_eq!(data_table("todos", false), "ps_data__todos");
        assert_eq!(data_table("todos", true), "ps_data_local__todos");
        assert_eq!(parse_data_table("ps_data__todos"), Some(("todos", false)));
        assert_eq!(parse_data_table("ps_data_local__todos"), Some(("todos", true)));
        assert_eq!(parse_data_table("ps_oplog"), None);
    }
}
