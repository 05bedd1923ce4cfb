//! The internal tables and their migrations 1 to 14 (docs/internal-storage.md, "Tables (version 14)").
//!
//! DDL text is byte-identical to the reference's because SQLite stores it as written and other
//! core versions (and our tests) compare `sqlite_master`. Up steps are ours; down steps are the
//! stored JSON in [`down`], executed the same way other versions execute it.

mod down;

use rusqlite::Connection;

use crate::error::{ErrorKind, PsError, PsResult};
use crate::function::{Call, Output};
use crate::objects;
use crate::sql::{self, quote_identifier, quote_string};

/// The internal schema version this build creates.
pub const LATEST_VERSION: i64 = 14;

/// Migrates the database to `target` (up or down), inside the caller's transaction.
pub fn migrate(db: &Connection, target: i64) -> PsResult<()> {
    sql::execute_batch(
        db,
        "CREATE TABLE IF NOT EXISTS ps_migration(id INTEGER PRIMARY KEY, down_migrations TEXT)",
    )?;
    let start = current_version(db)?;
    let mut current = start;

    // Down steps rename and rebuild `ps_oplog`: a bulk download left unfinished (its indexes
    // dropped) is completed first, so they move the table as the reference knows it.
    if current > target {
        crate::sync::bulk::finish(db)?;
    }
    while current > target {
        run_down_step(db, target, current)?;
        let after = current_version(db)?;
        if after >= current {
            return Err(PsError::new(ErrorKind::DownMigrationStuck(current)));
        }
        current = after;
    }

    // Versions above ours are unknown to us: migrating "up" to them is a no-op, as in the
    // reference.
    for version in (current + 1)..=target.min(LATEST_VERSION) {
        run_up_step(db, version, start)?;
    }
    Ok(())
}

fn current_version(db: &Connection) -> PsResult<i64> {
    let sql = "SELECT ifnull(max(id), 0) FROM ps_migration";
    db.query_row(sql, [], |row| row.get(0))
        .map_err(|e| PsError::sqlite(Some(sql), e))
}

/// Runs the stored down migration of the highest version above `target`.
fn run_down_step(db: &Connection, target: i64, current: i64) -> PsResult<()> {
    let context = || format!("Down migration failed from {current}");
    let sql = "SELECT id, down_migrations FROM ps_migration WHERE id > ? ORDER BY id DESC LIMIT 1";
    let stored: Option<Option<String>> =
        sql::query_optional(db, sql, [target], |row| row.get(1)).map_err(|e| e.with_context(context()))?;
    let Some(Some(json)) = stored else {
        // No stored steps (version 1): nothing runs and the caller reports the stuck version.
        return Ok(());
    };
    let steps: Vec<serde_json::Value> = serde_json::from_str(&json)
        .map_err(|e| PsError::new(ErrorKind::InvalidLocalData(e.to_string())).with_context(context()))?;
    for step in steps {
        let Some(statement) = step.get("sql").and_then(|s| s.as_str()) else {
            continue;
        };
        run_to_completion(db, statement).map_err(|e| e.with_context(context()))?;
    }
    Ok(())
}

/// Runs every statement in `sql`, each stepped until done (stored steps may be SELECTs with
/// side effects on every row, such as `SELECT powersync_drop_view(name) FROM ...`).
fn run_to_completion(db: &Connection, sql: &str) -> PsResult<()> {
    use rusqlite::fallible_iterator::FallibleIterator;
    let wrap = |e| PsError::sqlite(Some(sql), e);
    let mut batch = rusqlite::Batch::new(db, sql);
    while let Some(mut stmt) = batch.next().map_err(wrap)? {
        let mut rows = stmt.raw_query();
        while rows.next().map_err(wrap)?.is_some() {}
    }
    Ok(())
}

fn record(db: &Connection, version: i64, down: Option<&str>) -> PsResult<()> {
    sql::execute(
        db,
        "INSERT INTO ps_migration(id, down_migrations) VALUES(?, ?)",
        rusqlite::params![version, down],
    )?;
    Ok(())
}

fn run_up_step(db: &Connection, version: i64, start: i64) -> PsResult<()> {
    match version {
        1 => {
            sql::execute_batch(db, V1_UP)?;
            record(db, 1, None)
        }
        2 => {
            sql::execute_batch(db, V2_UP)?;
            record(db, 2, Some(down::V2))
        }
        3 => {
            sql::execute_batch(db, V3_UP)?;
            record(db, 3, Some(down::V3))
        }
        4 => {
            sql::execute_batch(db, V4_UP)?;
            record(db, 4, Some(down::V4))
        }
        5 => {
            recreate_marked_views_without_triggers(db)?;
            sql::execute_batch(db, V5_UP)?;
            record(db, 5, Some(down::V5))
        }
        6 => {
            // Only a database that existed before this run can hold rows without oplog entries.
            if start != 0 {
                mark_rows_without_oplog(db)?;
            }
            record(db, 6, Some(down::V6))
        }
        7 => {
            sql::execute_batch(db, V7_UP)?;
            record(db, 7, Some(down::V7))
        }
        8 => {
            sql::execute_batch(db, V8_UP)?;
            record(db, 8, Some(down::V8))
        }
        9 => {
            sql::execute_batch(db, V9_UP)?;
            record(db, 9, Some(down::V9))
        }
        // Version 10 changes nothing but tells SDKs that views must be regenerated.
        10 => record(db, 10, Some(down::V10)),
        11 => {
            sql::execute_batch(db, V11_UP)?;
            record(db, 11, Some(down::V11))
        }
        12 => {
            sql::execute_batch(db, V12_UP)?;
            record(db, 12, Some(down::V12))
        }
        13 => {
            sql::execute_batch(db, V13_UP)?;
            record(db, 13, Some(down::V13))
        }
        14 => {
            sql::execute_batch(db, V14_UP)?;
            record(db, 14, Some(down::V14))
        }
        other => Err(PsError::internal(format!("no up migration for version {other}"))),
    }
}

/// Version 5 changed what triggers write: drop the old triggers of views (by recreating the
/// views bare) and of direct tables (the SDK regenerates them when it applies its schema).
fn recreate_marked_views_without_triggers(db: &Connection) -> PsResult<()> {
    let tables = crate::schema::existing::tables(db)?;
    for mut set in crate::schema::existing::trigger_sets(db, &tables)? {
        set.delete.clear();
        set.insert.clear();
        set.update.clear();
        set.create(db)?;
    }
    Ok(())
}

/// Version 6 data fix: rows in data tables that no oplog entry backs are queued for
/// re-evaluation, so the next sync removes rows the server no longer has.
fn mark_rows_without_oplog(db: &Connection) -> PsResult<()> {
    let glob = format!("{}*", objects::SYNCED_DATA_PREFIX);
    for table in sql::names_matching(db, "table", &glob)? {
        let row_type = &table[objects::SYNCED_DATA_PREFIX.len()..];
        let statement = format!(
            "INSERT OR IGNORE INTO ps_updated_rows(row_type, row_id) SELECT {ty}, id FROM {table} \
             WHERE NOT EXISTS (SELECT 1 FROM ps_oplog WHERE row_type = {ty} AND row_id = {table}.id)",
            ty = quote_string(row_type),
            table = quote_identifier(&table),
        );
        sql::execute_batch(db, &statement)?;
    }
    Ok(())
}

// Up steps. The CREATE texts for versions 1–4 are unindented, as the reference writes them.

const V1_UP: &str = "\
CREATE TABLE ps_oplog(
bucket TEXT NOT NULL,
op_id INTEGER NOT NULL,
op INTEGER NOT NULL,
row_type TEXT,
row_id TEXT,
key TEXT,
data TEXT,
hash INTEGER NOT NULL,
superseded INTEGER NOT NULL);
CREATE INDEX ps_oplog_by_row ON ps_oplog (row_type, row_id) WHERE superseded = 0;
CREATE INDEX ps_oplog_by_opid ON ps_oplog (bucket, op_id);
CREATE INDEX ps_oplog_by_key ON ps_oplog (bucket, key) WHERE superseded = 0;
CREATE TABLE ps_buckets(
name TEXT PRIMARY KEY,
last_applied_op INTEGER NOT NULL DEFAULT 0,
last_op INTEGER NOT NULL DEFAULT 0,
target_op INTEGER NOT NULL DEFAULT 0,
add_checksum INTEGER NOT NULL DEFAULT 0,
pending_delete INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS ps_untyped(type TEXT NOT NULL, id TEXT NOT NULL, data TEXT, PRIMARY KEY (type, id));
CREATE TABLE IF NOT EXISTS ps_crud (id INTEGER PRIMARY KEY AUTOINCREMENT, data TEXT);
";

const V2_UP: &str = "\
CREATE TABLE ps_tx(id INTEGER PRIMARY KEY NOT NULL, current_tx INTEGER, next_tx INTEGER);
INSERT INTO ps_tx(id, current_tx, next_tx) VALUES(1, NULL, 1);
ALTER TABLE ps_crud ADD COLUMN tx_id INTEGER;
";

const V3_UP: &str = "\
CREATE TABLE ps_kv(key TEXT PRIMARY KEY NOT NULL, value BLOB);
INSERT INTO ps_kv(key, value) VALUES('client_id', uuid());
";

const V4_UP: &str = "\
ALTER TABLE ps_buckets ADD COLUMN op_checksum INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ps_buckets ADD COLUMN remove_operations INTEGER NOT NULL DEFAULT 0;
UPDATE ps_buckets SET op_checksum = (
  SELECT IFNULL(SUM(ps_oplog.hash), 0) & 0xffffffff FROM ps_oplog WHERE ps_oplog.bucket = ps_buckets.name
);
";

/// The two `ps_oplog` indexes that bulk ingest drops while a large download runs and builds
/// again, sorted, before publishing (`sync::bulk`): the same text as the version-5 schema, so
/// `sqlite_master` reads the same afterwards.
macro_rules! oplog_row_index {
    () => {
        "CREATE INDEX ps_oplog_row ON ps_oplog (row_type, row_id)"
    };
}
macro_rules! oplog_key_index {
    () => {
        "CREATE INDEX ps_oplog_key ON ps_oplog (bucket, key)"
    };
}
pub(crate) const OPLOG_ROW_INDEX: &str = oplog_row_index!();
pub(crate) const OPLOG_KEY_INDEX: &str = oplog_key_index!();

const V5_UP: &str = concat!(
    "\
ALTER TABLE ps_buckets RENAME TO ps_buckets_old;
ALTER TABLE ps_oplog RENAME TO ps_oplog_old;
CREATE TABLE ps_buckets(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  last_applied_op INTEGER NOT NULL DEFAULT 0,
  last_op INTEGER NOT NULL DEFAULT 0,
  target_op INTEGER NOT NULL DEFAULT 0,
  add_checksum INTEGER NOT NULL DEFAULT 0,
  op_checksum INTEGER NOT NULL DEFAULT 0,
  pending_delete INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE UNIQUE INDEX ps_buckets_name ON ps_buckets (name);
CREATE TABLE ps_oplog(
  bucket INTEGER NOT NULL,
  op_id INTEGER NOT NULL,
  row_type TEXT,
  row_id TEXT,
  key TEXT,
  data TEXT,
  hash INTEGER NOT NULL) STRICT;
",
    oplog_row_index!(),
    ";
CREATE INDEX ps_oplog_opid ON ps_oplog (bucket, op_id);
",
    oplog_key_index!(),
    ";
CREATE TABLE ps_updated_rows(
  row_type TEXT,
  row_id TEXT,
  PRIMARY KEY(row_type, row_id)) STRICT, WITHOUT ROWID;
INSERT INTO ps_buckets(name, last_applied_op, last_op, target_op, add_checksum, op_checksum, pending_delete)
  SELECT name, last_applied_op, last_op, target_op, add_checksum, op_checksum, pending_delete FROM ps_buckets_old;
INSERT INTO ps_oplog(bucket, op_id, row_type, row_id, key, data, hash)
  SELECT ps_buckets.id, old.op_id, old.row_type, old.row_id, old.key, old.data, old.hash
  FROM ps_oplog_old old JOIN ps_buckets ON ps_buckets.name = old.bucket
  WHERE old.superseded = 0 AND old.op = 3
  ORDER BY old.bucket, old.op_id;
INSERT OR IGNORE INTO ps_updated_rows(row_type, row_id)
  SELECT row_type, row_id FROM ps_oplog_old
  WHERE op != 3 AND row_type IS NOT NULL AND row_id IS NOT NULL;
UPDATE ps_buckets SET
  add_checksum = (add_checksum + (SELECT IFNULL(SUM(old.hash), 0) FROM ps_oplog_old old
    WHERE old.bucket = ps_buckets.name AND (old.superseded != 0 OR old.op != 3))) & 0xffffffff,
  op_checksum = (op_checksum - (SELECT IFNULL(SUM(old.hash), 0) FROM ps_oplog_old old
    WHERE old.bucket = ps_buckets.name AND (old.superseded != 0 OR old.op != 3))) & 0xffffffff;
DROP TABLE ps_buckets_old;
DROP TABLE ps_oplog_old;
"
);

const V7_UP: &str = "\
CREATE TABLE ps_sync_state (
  priority INTEGER NOT NULL,
  last_synced_at TEXT NOT NULL
) STRICT;
INSERT INTO ps_sync_state(priority, last_synced_at)
  SELECT 2147483647, value FROM ps_kv WHERE key = 'last_synced_at';
";

const V8_UP: &str = "\
ALTER TABLE ps_sync_state RENAME TO ps_sync_state_old;
CREATE TABLE ps_sync_state (
  priority INTEGER NOT NULL PRIMARY KEY,
  last_synced_at TEXT NOT NULL
) STRICT;
INSERT INTO ps_sync_state(priority, last_synced_at)
  SELECT priority, MAX(last_synced_at) FROM ps_sync_state_old GROUP BY priority;
DROP TABLE ps_sync_state_old;
";

const V9_UP: &str = "\
ALTER TABLE ps_buckets ADD COLUMN count_at_last INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ps_buckets ADD COLUMN count_since_last INTEGER NOT NULL DEFAULT 0;
";

const V11_UP: &str = "\
CREATE TABLE ps_stream_subscriptions (
  id INTEGER NOT NULL PRIMARY KEY,
  stream_name TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT FALSE,
  is_default INTEGER NOT NULL DEFAULT FALSE,
  local_priority INTEGER,
  local_params TEXT NOT NULL DEFAULT 'null',
  ttl INTEGER,
  expires_at INTEGER,
  last_synced_at INTEGER,
  UNIQUE (stream_name, local_params)
) STRICT;
";

const V12_UP: &str = "\
ALTER TABLE ps_buckets ADD COLUMN downloaded_size INTEGER NOT NULL DEFAULT 0;
";

const V13_UP: &str = "\
UPDATE ps_stream_subscriptions SET
  expires_at = expires_at * 1000000,
  last_synced_at = last_synced_at * 1000000;
ALTER TABLE ps_sync_state RENAME TO ps_sync_state_old;
CREATE TABLE ps_sync_state (
  priority INTEGER NOT NULL PRIMARY KEY,
  last_synced_at INTEGER NOT NULL
) STRICT;
INSERT INTO ps_sync_state(priority, last_synced_at)
  SELECT priority, unixepoch(last_synced_at) * 1000000 FROM ps_sync_state_old;
DROP TABLE ps_sync_state_old;
";

const V14_UP: &str = "\
DELETE FROM ps_kv WHERE key IN
  ('last_applied_checkpoint_request_id', 'last_seen_checkpoint_request_id', 'target_checkpoint_request_id');
INSERT INTO ps_kv(key, value)
  SELECT 'last_applied_checkpoint_request_id', last_applied_op FROM ps_buckets
  WHERE name = '$local' AND last_applied_op > 0;
INSERT INTO ps_kv(key, value)
  SELECT 'last_seen_checkpoint_request_id', last_op FROM ps_buckets
  WHERE name = '$local' AND last_op > 0;
INSERT INTO ps_kv(key, value)
  SELECT 'target_checkpoint_request_id', target_op FROM ps_buckets
  WHERE name = '$local' AND target_op > 0;
DELETE FROM ps_buckets WHERE name = '$local';
ALTER TABLE ps_buckets DROP COLUMN target_op;
";

pub fn init_fn(call: &Call) -> PsResult<Output> {
    migrate(&call.connection(), LATEST_VERSION)?;
    Ok(Output::Text(String::new()))
}

pub fn test_migration_fn(call: &Call) -> PsResult<Output> {
    migrate(&call.connection(), call.args.int64(0))?;
    Ok(Output::Text(String::new()))
}

#[cfg(test)]
mod tests;
