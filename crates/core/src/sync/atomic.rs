//! Keeping one `powersync_control` call atomic without a savepoint on the hot path
//! (docs/decisions.md, "One `powersync_control` call is atomic").
//!
//! A savepoint makes SQLite copy every pre-existing page the call changes into a statement
//! sub-journal, which spills to a temporary file after 64 KiB: with random ids, a 1,000-op data
//! line or a diff's publish touches thousands of index pages. The two hot calls (data lines and
//! publishing a checkpoint) therefore run without one when nothing but SQLite itself can fail
//! once their first write is made: everything that can fail is checked before it. The checks
//! here decide when that is not so (app triggers or foreign keys on the tables written, app
//! statements of raw tables, direct tables the app changed, rows that would fail the publish);
//! such calls keep the savepoint. Every other writing call writes a few pages and keeps it unconditionally.

use std::collections::HashMap;

use rusqlite::types::ValueRef;
use rusqlite::{ffi, Connection};

use crate::error::{PsError, PsResult};
use crate::schema::direct;
use crate::schema::model::StatementParam;
use crate::sql;
use crate::sync::direct_tables::{DirectTable, DirectTables};
use crate::sync::json_columns::ColumnSlots;
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
/// inside the call's savepoint: when it runs app statements (raw tables), when a direct table
/// is not exactly what `powersync_replace_schema` made of the `start` schema (see
/// [`direct_writes_cannot_fail`]), when app triggers or foreign keys watch the tables it
/// writes, or when a row it would publish makes it fail part-way.
pub fn publish_needs_savepoint(db: &Connection, targets: &RowTargets) -> PsResult<bool> {
    if targets.has_raw_tables() {
        return Ok(true);
    }
    if exists(db, PUBLISH_TRIGGERS)? || exists(db, ROWS_WITHOUT_IDENTITY)? {
        return Ok(true);
    }
    let direct = targets.direct();
    if !direct.is_empty() && !direct_writes_cannot_fail(db, direct)? {
        return Ok(true);
    }
    let foreign_keys: bool = sql::query_optional(db, "PRAGMA foreign_keys", [], |r| r.get(0))?.unwrap_or(false);
    if !foreign_keys {
        return Ok(false);
    }
    if exists(db, FOREIGN_KEYS_INTO_INTERNAL)? {
        return Ok(true);
    }
    // A foreign key into a direct table: deleting or re-keying a parent row can fail or cascade.
    for t in direct.iter() {
        let sql = "SELECT 1 FROM sqlite_schema s, pragma_foreign_key_list(s.name) f \
                   WHERE s.type = 'table' AND f.\"table\" = ?1 COLLATE NOCASE LIMIT 1";
        if sql::query_optional(db, sql, [&t.table.name], |_| Ok(()))?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether the writes of a publish into the iteration's direct tables can fail only for
/// SQLite's own reasons (docs/decisions.md, "One `powersync_control` call is atomic"). Each
/// table's put is an upsert on `id` binding every column, its delete a delete by `id`; they
/// can fail part-way only through what the app added to the table, or through a row whose data
/// does not parse. So, for every direct table:
///
/// - no temp-schema object of that name or on it (it would shadow the table or fire on it);
/// - the stored `CREATE TABLE` is exactly the one `powersync_replace_schema` makes for the
///   schema table (so: the same columns, all `ANY` in a STRICT table, no CHECK, NOT NULL,
///   UNIQUE, foreign key, generated column or collation but ours; the statements prepare);
/// - its triggers are exactly our generated ones (guarded by `powersync_in_sync_operation()`,
///   they do nothing during a publish);
/// - its indexes, other than the primary key's, are neither unique nor partial, index plain
///   columns only (no expression can fail) with built-in collations;
/// - every op the publish could write into it parses as a JSON object within range.
///
/// Anything else keeps the savepoint, which is always correct (only slower).
fn direct_writes_cannot_fail(db: &Connection, direct: &DirectTables) -> PsResult<bool> {
    // SAFETY: limit queries on the connection's own handle change nothing.
    let limit = |id| unsafe { ffi::sqlite3_limit(db.handle(), id, -1) }.max(0) as usize;
    let (variables, columns, sql_length) = (
        limit(ffi::SQLITE_LIMIT_VARIABLE_NUMBER),
        limit(ffi::SQLITE_LIMIT_COLUMN),
        limit(ffi::SQLITE_LIMIT_SQL_LENGTH),
    );
    let first_sync = !exists(db, "SELECT 1 FROM ps_buckets WHERE last_applied_op > 0 LIMIT 1")?;
    for t in direct.iter() {
        let table = &t.table;
        let put = &t.statements.put;
        // The put prepares only within the connection's limits (lowered ones included).
        if put.params.len() > variables || put.params.len() > columns || put.sql.len() >= sql_length {
            return Ok(false);
        }
        let name = table.name.as_str();
        let temp =
            "SELECT 1 FROM sqlite_temp_schema WHERE name = ?1 COLLATE NOCASE OR tbl_name = ?1 COLLATE NOCASE LIMIT 1";
        if exists_with(db, temp, name)? {
            return Ok(false);
        }
        // The table and its triggers: the table's SQL must be ours, and every trigger one of ours.
        let objects: Vec<(String, Option<String>)> = sql::query_all(
            db,
            "SELECT type, sql FROM main.sqlite_schema WHERE tbl_name = ?1 COLLATE NOCASE AND type IN ('table', 'trigger')",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let Ok(triggers) = direct::triggers(table) else {
            return Ok(false);
        };
        let wanted_table = direct::create_table_sql(table);
        let ours = [&triggers.insert, &triggers.update, &triggers.delete];
        let is_ours = |(kind, sql): &(String, Option<String>)| {
            let Some(sql) = sql.as_deref() else { return false };
            match kind.as_str() {
                "table" => wanted_table.trim_end_matches(';') == sql,
                _ => ours.iter().any(|o| !o.is_empty() && o.trim_end_matches(';') == sql),
            }
        };
        let tables = objects.iter().filter(|(kind, _)| kind == "table").count();
        if tables != 1 || !objects.iter().all(is_ours) {
            return Ok(false);
        }
        if exists_with(db, FALLIBLE_INDEXES, name)? {
            return Ok(false);
        }
    }
    all_data_parses(db, direct, first_sync)
}

/// Indexes of a table (`?1`) whose maintenance can fail: unique ones other than the primary
/// key's, partial ones, and those with an expression or a collation an app may define.
const FALLIBLE_INDEXES: &str = "SELECT 1 FROM pragma_index_list(?1) il \
     WHERE (il.\"unique\" AND il.origin != 'pk') OR il.partial \
     OR EXISTS (SELECT 1 FROM pragma_index_xinfo(il.name) x WHERE x.key AND (x.cid = -2 OR x.coll NOT IN ('BINARY', 'NOCASE', 'RTRIM'))) \
     LIMIT 1";

/// Whether every op the publish could write into a direct table with columns parses as its put
/// parses it. A publish writes, per row it updates, the data of one of that row's ops (the
/// newest, of all buckets or of a partial publish's), so every op of those rows is checked. On a
/// first sync every op is a candidate: one pass over `ps_oplog` in rowid order, for all tables
/// at once, reads them without the random page reads of an index walk. Otherwise, per table,
/// the unapplied ops are found by bucket and `op_id` (`+o.row_type` keeps the planner, whatever
/// its statistics, off the `(row_type, row_id)` index, which would read every op of the type).
fn all_data_parses(db: &Connection, direct: &DirectTables, first_sync: bool) -> PsResult<bool> {
    let slots: HashMap<&str, ColumnSlots> = direct
        .iter()
        .filter(|t| !t.table.columns.is_empty())
        .map(|t| (t.table.name.as_str(), column_slots(t)))
        .collect();
    if slots.is_empty() {
        return Ok(true);
    }
    if first_sync {
        let sql = "SELECT row_type, data FROM ps_oplog NOT INDEXED WHERE data IS NOT NULL";
        let wrap = |e| PsError::sqlite(Some(sql), e);
        let mut stmt = db.prepare_cached(sql).map_err(wrap)?;
        let mut rows = stmt.query([]).map_err(wrap)?;
        while let Some(row) = rows.next().map_err(wrap)? {
            let ValueRef::Text(row_type) = row.get_ref(0).map_err(wrap)? else {
                continue;
            };
            let table = std::str::from_utf8(row_type).ok().and_then(|t| slots.get(t));
            if table.is_some_and(|slots| !parses(slots, row.get_ref(1).ok())) {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    let sql = "WITH updated AS (\
           SELECT o.row_id FROM ps_buckets b CROSS JOIN ps_oplog o ON o.bucket = b.id AND o.op_id > b.last_applied_op WHERE +o.row_type = ?1 \
           UNION SELECT row_id FROM ps_updated_rows WHERE row_type = ?1) \
         SELECT o.data FROM updated u CROSS JOIN ps_oplog o ON o.row_type = ?1 AND o.row_id = u.row_id WHERE o.data IS NOT NULL";
    let wrap = |e| PsError::sqlite(Some(sql), e);
    let mut stmt = db.prepare_cached(sql).map_err(wrap)?;
    for (name, slots) in &slots {
        let mut rows = stmt.query([name]).map_err(wrap)?;
        while let Some(row) = rows.next().map_err(wrap)? {
            if !parses(slots, row.get_ref(0).ok()) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// The `Column` sources of a direct table's put, by parameter position.
fn column_slots(t: &DirectTable) -> ColumnSlots {
    ColumnSlots::new(t.statements.put.params.iter().map(|p| match p {
        StatementParam::Column(c) => Some(c.as_str()),
        _ => None,
    }))
}

/// Whether an op's data parses as the put parses it. Data that is not text fails the
/// publish's own read of it, which the savepoint must undo.
fn parses(slots: &ColumnSlots, data: Option<ValueRef<'_>>) -> bool {
    match data {
        Some(ValueRef::Text(text)) => std::str::from_utf8(text).is_ok_and(|data| slots.read(data).is_ok()),
        _ => false,
    }
}

/// Whether `sql` with its one parameter yields a row.
fn exists_with(db: &Connection, sql: &str, param: &str) -> PsResult<bool> {
    db.prepare_cached(sql)
        .and_then(|mut s| s.exists([param]))
        .map_err(|e| PsError::sqlite(Some(sql), e))
}

#[cfg(test)]
mod tests;
