//! Bulk ingest of large downloads (docs/performance.md, "Bulk ingest").
//!
//! With random row ids (UUIDs), every op of a data line lands on a random leaf of `ps_oplog`'s
//! `(row_type, row_id)` and `(bucket, key)` indexes, so each 1,000-op line rewrites thousands of
//! index pages, and more of them the larger the oplog gets. When a checkpoint announces a
//! download that is large against what is stored, those two indexes are dropped: data lines then
//! only append (the table in rowid order, `ps_oplog_opid` at each bucket's right edge), and
//! superseded ops are not probed for. Once the download is complete, or before anything that
//! needs the indexes, [`finish`] builds them again with `CREATE INDEX` (one sorted pass each,
//! with the same text, so `sqlite_master` reads as before) and resolves superseded ops set-based.
//!
//! Bulk mode is a state of the database, not of the connection: it is on exactly while
//! `ps_oplog_opid` exists and `ps_oplog_key` does not. Every transition runs in one
//! `powersync_control` call's transaction, so a crash leaves either state, never half of one, and
//! a later data line goes on appending while the next publish, `start`, `powersync_clear` or down
//! migration finishes it.
//!
//! While it is on, ops go into `ps_oplog` in arrival order (rowids only grow) and:
//! * a keyed `REMOVE` is stored as a *tombstone*: `op_id = -1 - op_id`, no data, hash 0 (its
//!   checksum goes to `add_checksum` at once, as without bulk mode);
//! * a superseded op stays until [`finish`], which keeps, per `(bucket, key)`, only the newest
//!   op, replaying what the per-op path would have done: each op supersedes the one before it,
//!   whose hash moves from `op_checksum` to `add_checksum`, and a tombstone that superseded an op
//!   of an applied bucket queues its row in `ps_updated_rows`.

use std::collections::HashMap;

use rusqlite::{params, Connection};

use crate::error::{PsError, PsResult};
use crate::migrations::{OPLOG_KEY_INDEX, OPLOG_ROW_INDEX};
use crate::sql;
use crate::sync::line::Checksum;

/// Downloads smaller than this many ops take the per-op path: below it, the indexes' random
/// writes cost less than building them again. Fuzzing builds (`--cfg fuzzing`, set by
/// cargo-fuzz) use a handful, so that short inputs reach bulk mode too.
#[cfg(not(fuzzing))]
pub const MIN_OPS: i64 = 20_000;
#[cfg(fuzzing)]
pub const MIN_OPS: i64 = 4;

const ACTIVE: &str = "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'index' AND name = 'ps_oplog_opid') \
     AND NOT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'index' AND name = 'ps_oplog_key')";

/// Whether bulk mode is on (checked for every data line: a cached flag could miss a
/// [`finish`] by another connection, and appending without probes after it would keep
/// superseded ops for good).
pub fn active(db: &Connection) -> PsResult<bool> {
    db.prepare_cached(ACTIVE)
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(|e| PsError::sqlite(Some(ACTIVE), e))
}

/// Turns bulk mode on for a download of `remaining` ops when that is at least [`MIN_OPS`] and
/// at least the number of ops already stored (rebuilding the indexes costs a pass over all of
/// them). Returns whether bulk mode is on afterwards.
pub fn maybe_enter(db: &Connection, remaining: i64) -> PsResult<bool> {
    if remaining < MIN_OPS {
        return active(db);
    }
    if active(db)? {
        return Ok(true);
    }
    let stored: i64 = sql::query_optional(
        db,
        "SELECT ifnull(sum(count_at_last + count_since_last), 0) FROM ps_buckets",
        [],
        |r| r.get(0),
    )?
    .unwrap_or(0);
    if remaining < stored {
        return Ok(false);
    }
    // Stored ops with negative ids (never sent by a real service) would read as tombstones.
    let negative = sql::query_optional(db, NEGATIVE_OP_IDS, [], |_| Ok(()))?.is_some();
    if negative {
        return Ok(false);
    }
    sql::execute_batch(db, "DROP INDEX ps_oplog_row; DROP INDEX ps_oplog_key")?;
    Ok(true)
}

/// One seek per bucket on `(bucket, op_id)`.
const NEGATIVE_OP_IDS: &str =
    "SELECT 1 FROM ps_buckets b CROSS JOIN ps_oplog o ON o.bucket = b.id AND o.op_id < 0 LIMIT 1";

/// The `(bucket, key)` groups that may hold more than their newest op: keys stored more than
/// once (one pass over the rebuilt `(bucket, key)` index), and tombstones (a range of each
/// bucket's `(bucket, op_id)` index).
const GROUPS: [&str; 2] = [
    "SELECT bucket, key FROM ps_oplog WHERE key IS NOT NULL GROUP BY bucket, key HAVING count(*) > 1",
    "SELECT o.bucket, o.key FROM ps_buckets b CROSS JOIN ps_oplog o ON o.bucket = b.id AND o.op_id < 0 WHERE o.key IS NOT NULL",
];

const GROUP_OPS: &str =
    "SELECT rowid, op_id, hash, row_type, row_id FROM ps_oplog WHERE bucket = ?1 AND key = ?2 ORDER BY rowid";

/// Ends bulk mode if it is on: builds `ps_oplog_key`, resolves superseded ops and tombstones,
/// then builds `ps_oplog_row` (after the deletes, so it never holds their entries). Returns
/// whether there was anything to finish.
pub fn finish(db: &Connection) -> PsResult<bool> {
    if !active(db)? {
        return Ok(false);
    }
    build_index(db, OPLOG_KEY_INDEX)?;
    resolve_superseded(db)?;
    // Dropped together, but a database someone edited by hand may still have this one.
    let has_row_index = sql::query_optional(
        db,
        "SELECT 1 FROM sqlite_schema WHERE type = 'index' AND name = 'ps_oplog_row'",
        [],
        |_| Ok(()),
    )?
    .is_some();
    if !has_row_index {
        build_index(db, OPLOG_ROW_INDEX)?;
    }
    Ok(true)
}

/// The page cache, in KiB, while an index is built. SQLite's sorter may hold as much memory as
/// the page cache's limit before it spills sorted runs to a temporary file; with the cache
/// already full from the download, that would add up to the cache size again to the peak memory.
/// Shrinking the cache for the build keeps the peak at the download's.
const INDEX_BUILD_CACHE_KIB: i64 = 8_000;

/// Runs a `CREATE INDEX` with the page cache (and so the sorter's memory) lowered to
/// [`INDEX_BUILD_CACHE_KIB`] if it is larger, restoring the connection's setting afterwards,
/// also when the build fails.
fn build_index(db: &Connection, create: &str) -> PsResult<()> {
    let cache: i64 = sql::query_optional(db, "PRAGMA cache_size", [], |r| r.get(0))?.unwrap_or(0);
    let page_size: i64 = sql::query_optional(db, "PRAGMA page_size", [], |r| r.get(0))?.unwrap_or(4096);
    // A positive setting counts pages, a negative one KiB.
    let kib = if cache < 0 { -cache } else { cache * page_size / 1024 };
    if kib <= INDEX_BUILD_CACHE_KIB {
        return sql::execute_batch(db, create);
    }
    sql::execute_batch(db, &format!("PRAGMA cache_size = -{INDEX_BUILD_CACHE_KIB}"))?;
    let built = sql::execute_batch(db, create);
    let restored = sql::execute_batch(db, &format!("PRAGMA cache_size = {cache}"));
    built.and(restored)
}

/// One op of a `(bucket, key)` group, in arrival order.
struct GroupOp {
    rowid: i64,
    tombstone: bool,
    hash: Checksum,
    row_type: Option<String>,
    row_id: Option<String>,
}

fn resolve_superseded(db: &Connection) -> PsResult<()> {
    // Collected first: deleting from `ps_oplog` under a running scan of it is not defined.
    let mut groups: Vec<(i64, String)> = Vec::new();
    for query in GROUPS {
        groups.extend(sql::query_all(db, query, [], |r| Ok((r.get(0)?, r.get(1)?)))?);
    }
    if groups.is_empty() {
        return Ok(());
    }
    let applied: HashMap<i64, bool> = sql::query_all(db, "SELECT id, last_applied_op > 0 FROM ps_buckets", [], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?
    .into_iter()
    .collect();
    let mut moved: HashMap<i64, Checksum> = HashMap::new();
    let mut select = db
        .prepare_cached(GROUP_OPS)
        .map_err(|e| PsError::sqlite(Some(GROUP_OPS), e))?;
    for (bucket, key) in groups {
        let ops: Vec<GroupOp> = select
            .query_map(params![bucket, key], |r| {
                Ok(GroupOp {
                    rowid: r.get(0)?,
                    tombstone: r.get::<_, i64>(1)? < 0,
                    hash: Checksum::from_stored(r.get(2)?),
                    row_type: r.get(3)?,
                    row_id: r.get(4)?,
                })
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| PsError::sqlite(Some(GROUP_OPS), e))?;
        // A group seen by both queries was resolved the first time: at most one op, no tombstone.
        let applied = applied.get(&bucket).copied().unwrap_or(false);
        let mut live: Option<&GroupOp> = None;
        for op in &ops {
            if let Some(old) = live.take() {
                sql::execute(db, "DELETE FROM ps_oplog WHERE rowid = ?", [old.rowid])?;
                let sum = moved.entry(bucket).or_default();
                *sum = sum.wrapping_add(old.hash);
                if op.tombstone && applied {
                    let sql = "INSERT OR IGNORE INTO ps_updated_rows(row_type, row_id) VALUES(?1, ?2)";
                    sql::execute(db, sql, params![op.row_type, op.row_id])?;
                }
            }
            if op.tombstone {
                sql::execute(db, "DELETE FROM ps_oplog WHERE rowid = ?", [op.rowid])?;
            } else {
                live = Some(op);
            }
        }
    }
    let sql = "UPDATE ps_buckets SET add_checksum = (add_checksum + ?2) & 0xffffffff, op_checksum = (op_checksum - ?2) & 0xffffffff WHERE id = ?1";
    for (bucket, sum) in moved {
        sql::execute(db, sql, params![bucket, sum.as_signed()])?;
    }
    Ok(())
}

/// The `op_id` stored for a tombstone of the `REMOVE` with id `op_id` (never negative itself:
/// data lines with negative op ids take the per-op path).
pub fn tombstone_op_id(op_id: i64) -> i64 {
    -1 - op_id
}

#[cfg(test)]
mod tests;
