//! Keeping one `powersync_control` call atomic without a savepoint on the hot path
//! (docs/decisions.md, "One `powersync_control` call is atomic").
//!
//! A savepoint makes SQLite copy every pre-existing page the call changes into a statement
//! sub-journal, which spills to a temporary file after 64 KiB: with random ids, a 1,000-op data
//! line or a diff's publish touches thousands of index pages. The two hot calls (data lines and
//! publishing a checkpoint) therefore run without one when nothing but SQLite itself can fail
//! once their first write is made: everything that can fail is checked before it. The checks
//! here decide when that is not so (app triggers or foreign keys on the tables written, app
//! statements of raw and direct tables, rows that would fail the publish); such calls keep the
//! savepoint. Every other writing call writes a few pages and keeps it unconditionally.

use rusqlite::{ffi, Connection};

use crate::error::{PsError, PsResult};
use crate::sql;
use crate::sync::line::{DataLine, OpType};
use crate::sync::row_targets::RowTargets;

/// App triggers on the tables a data line writes (main or temp schema): their bodies can fail
/// after the line's first write.
const DATA_LINE_TRIGGERS: &str = "SELECT 1 FROM sqlite_schema WHERE type = 'trigger' AND tbl_name COLLATE NOCASE IN ('ps_oplog', 'ps_buckets', 'ps_updated_rows') \
     UNION ALL SELECT 1 FROM sqlite_temp_schema WHERE type = 'trigger' AND tbl_name COLLATE NOCASE IN ('ps_oplog', 'ps_buckets', 'ps_updated_rows') LIMIT 1";

/// App triggers on any internal table (a publish writes `ps_data__*`, `ps_untyped`,
/// `ps_buckets`, `ps_updated_rows`, `ps_sync_state`, `ps_kv`, `ps_stream_subscriptions`). Our
/// own trigger on `ps_crud` (`crate::config`) is not one: a publish never writes `ps_crud`.
const PUBLISH_TRIGGERS: &str =
    "SELECT 1 FROM sqlite_schema WHERE type = 'trigger' AND tbl_name LIKE 'ps\\_%' ESCAPE '\\' AND name != 'ps_pending_rows_from_crud' \
     UNION ALL SELECT 1 FROM sqlite_temp_schema WHERE type = 'trigger' AND tbl_name LIKE 'ps\\_%' ESCAPE '\\' LIMIT 1";

/// A foreign key of an app table that references an internal table: with `foreign_keys` on, a
/// publish's `REPLACE` or `DELETE` of a parent row can fail (or cascade into app tables).
const FOREIGN_KEYS_INTO_INTERNAL: &str = "SELECT 1 FROM sqlite_schema s, pragma_foreign_key_list(s.name) f \
     WHERE s.type = 'table' AND f.\"table\" LIKE 'ps\\_%' ESCAPE '\\' LIMIT 1";

/// Rows a publish refuses ("downloaded operation without object_type or object_id"): it would
/// fail part-way through its writes. Ops without an identity are stored with both NULL, so
/// `ps_oplog` needs one seek on its `(row_type, row_id)` index; `ps_updated_rows` is scanned
/// (a NULL `row_id` is its key's second column), which a complete publish does anyway.
const ROWS_WITHOUT_IDENTITY: &str = "SELECT 1 FROM ps_oplog WHERE row_type IS NULL \
     UNION ALL SELECT 1 FROM ps_updated_rows WHERE row_type IS NULL OR row_id IS NULL LIMIT 1";

/// Whether `sql` yields a row; prepared once per connection handle (the data-line check runs
/// for every line).
fn exists(db: &Connection, sql: &str) -> PsResult<bool> {
    db.prepare_cached(sql)
        .and_then(|mut s| s.exists([]))
        .map_err(|e| PsError::sqlite(Some(sql), e))
}

/// Whether a data line must run inside the call's savepoint. Without one, its writes are single-row
/// statements on `ps_buckets`, `ps_oplog` and `ps_updated_rows` that fail only for SQLite's own
/// reasons (see docs/decisions.md for why each leaves nothing behind).
pub fn data_line_needs_savepoint(db: &Connection, line: &DataLine) -> PsResult<bool> {
    // A CLEAR runs multi-row statements (rare: the service sends one after a compaction).
    if line.data.iter().any(|op| op.op == OpType::CLEAR) {
        return Ok(true);
    }
    // An op too big to store fails with SQLITE_TOOBIG on its insert, after the ops before it.
    // Each stored value is part of the line, which SQLite accepted, so this only matters when
    // the limit was lowered since; the margin covers the key built from type, id and subkey.
    // SAFETY: a limit query on the connection's own handle changes nothing.
    let limit = unsafe { ffi::sqlite3_limit(db.handle(), ffi::SQLITE_LIMIT_LENGTH, -1) }.max(0) as usize;
    let too_big = line.data.iter().any(|op| {
        let part = |s: &Option<std::borrow::Cow<'_, str>>| s.as_deref().map_or(0, str::len);
        let key = part(&op.object_type) + part(&op.object_id) + part(&op.subkey) + 8;
        part(&op.data) + 2 * key + 64 > limit
    });
    if too_big {
        return Ok(true);
    }
    exists(db, DATA_LINE_TRIGGERS)
}

/// Whether publishing a checkpoint (complete, partial, or retried after an upload) must run
/// inside the call's savepoint: when it runs app statements (raw tables, direct tables with
/// their constraints and triggers), when app triggers or foreign keys watch the internal tables
/// it writes, or when a row it would publish makes it fail part-way.
pub fn publish_needs_savepoint(db: &Connection, targets: &RowTargets) -> PsResult<bool> {
    if targets.writes_app_tables() {
        return Ok(true);
    }
    if exists(db, PUBLISH_TRIGGERS)? || exists(db, ROWS_WITHOUT_IDENTITY)? {
        return Ok(true);
    }
    let foreign_keys: bool = sql::query_optional(db, "PRAGMA foreign_keys", [], |r| r.get(0))?.unwrap_or(false);
    Ok(foreign_keys && exists(db, FOREIGN_KEYS_INTO_INTERNAL)?)
}
