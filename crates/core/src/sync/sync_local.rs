//! Publishing downloaded data into the app's tables (docs/protocol.md, "Publishing"), once a checkpoint's
//! checksums are valid and the local-write gate is open, or, with `apply_around_pending_uploads`
//! on, to every row without a pending local write (docs/protocol.md, "Applying around pending
//! uploads").

use std::collections::{HashMap, HashSet};

use rusqlite::{params, Connection};

use crate::config;
use crate::error::{PsError, PsResult};
use crate::sql;
use crate::state::DatabaseState;
use crate::sync::checkpoint_requests;
use crate::sync::line::{BucketChecksum, Checkpoint, Priority};
use crate::sync::row_targets::RowTargets;
use crate::sync::row_writer::TableWriter;

#[derive(Debug, PartialEq, Eq)]
pub enum SyncLocalResult {
    Applied,
    /// Local changes not yet acknowledged by the service: nothing was published.
    PendingLocalChanges,
    /// The gate was closed and applying around pending uploads is on: every row was published
    /// except the `held_rows` rows with local writes the service has not covered yet
    /// (docs/protocol.md, "Applying around pending uploads").
    AppliedAround {
        held_rows: i64,
    },
}

/// Rows with pending local writes, by row type: publishing skips them (a lookup per row
/// without allocating).
#[derive(Default)]
struct HeldRows(HashMap<String, HashSet<String>>);

impl HeldRows {
    fn load(db: &Connection) -> PsResult<HeldRows> {
        let mut held = HeldRows::default();
        for (row_type, row_id) in sql::query_all(db, "SELECT row_type, row_id FROM ps_pending_rows", [], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })? {
            held.0.entry(row_type).or_default().insert(row_id);
        }
        Ok(held)
    }

    fn contains(&self, row_type: &str, row_id: &str) -> bool {
        self.0.get(row_type).is_some_and(|ids| ids.contains(row_id))
    }

    fn len(&self) -> i64 {
        self.0.values().map(|ids| ids.len() as i64).sum()
    }
}

/// Buckets of `checkpoint` covered by a sync at `priority` (all for a complete sync).
pub fn buckets_in_range(checkpoint: &Checkpoint, priority: Option<Priority>) -> Vec<&BucketChecksum> {
    checkpoint
        .buckets
        .iter()
        .filter(|b| priority.is_none_or(|p| b.priority() <= p))
        .collect()
}

/// A first sync's publish: every row with ops (its newest op's data), then the queued rows
/// without ops.
pub(crate) fn first_sync_plans() -> &'static [&'static str] {
    &[
        "SELECT row_type, row_id, data FROM (SELECT row_type, row_id, data, max(op_id) FROM ps_oplog INDEXED BY ps_oplog_row WHERE op_id > 0 GROUP BY row_type, row_id)",
        "SELECT u.row_type, u.row_id, (SELECT data FROM (SELECT o.data, max(o.op_id) FROM ps_oplog o WHERE o.row_type = u.row_type AND o.row_id = u.row_id)) \
         FROM ps_updated_rows u WHERE NOT EXISTS (SELECT 1 FROM ps_oplog o WHERE o.row_type = u.row_type AND o.row_id = u.row_id AND o.op_id > 0)",
    ]
}

/// Steps 2–9 of docs/protocol.md, "Publishing" (the caller validated checksums). `now` is the sync time in microseconds.
pub fn sync_local(
    db: &Connection,
    state: &DatabaseState,
    checkpoint: &Checkpoint,
    priority: Option<Priority>,
    targets: &mut RowTargets,
    now: i64,
) -> PsResult<SyncLocalResult> {
    // Every publish reads the oplog by row: a bulk download's indexes are built first.
    crate::sync::bulk::finish(db)?;
    let range = buckets_in_range(checkpoint, priority);
    let names: Vec<&str> = range.iter().map(|b| b.bucket.as_str()).collect();
    let names_json = serde_json::to_string(&names).expect("strings always serialise");

    let sql = "UPDATE ps_buckets SET last_op = ?1 WHERE name IN (SELECT value FROM json_each(?2))";
    sql::execute(db, sql, params![checkpoint.last_op_id.0, names_json])?;
    if priority.is_none() {
        if let Some(w) = checkpoint.write_checkpoint {
            checkpoint_requests::record_seen(db, w.0)?;
        }
    }
    // With the gate closed, either nothing is published (the reference) or, when the database
    // applies around pending uploads, everything but the rows with pending local writes.
    let held = if priority != Some(Priority(0)) && checkpoint_requests::write_gate_closed(db)? {
        if !config::apply_around_pending(db)? {
            return Ok(SyncLocalResult::PendingLocalChanges);
        }
        Some(HeldRows::load(db)?)
    } else {
        None
    };

    // Which rows to publish, and the latest op's data for each (NULL: delete the row). On a
    // database with applied data the scan must start from each bucket's unapplied ops (CROSS
    // JOIN fixes the join order), or the planner walks the whole oplog for a small diff. A first
    // sync publishes every row that has ops: one pass over the `(row_type, row_id)` index yields
    // them in the same order as the UNION's sort, with no temporary b-tree and no probe per row;
    // queued rows without ops (only deletes are left for those) follow. The latest op of a row is
    // the one `max(op_id)` picks (SQLite takes bare columns from that row), which needs no sorter
    // per row as `ORDER BY op_id DESC LIMIT 1` does.
    let first_sync = priority.is_none()
        && sql::query_optional(
            db,
            "SELECT 1 FROM ps_buckets WHERE last_applied_op > 0 LIMIT 1",
            [],
            |_| Ok(()),
        )?
        .is_none();
    let plans: &[&str] = match (priority, first_sync) {
        (None, true) => first_sync_plans(),
        (None, false) => &["WITH updated AS (\
                   SELECT o.row_type, o.row_id FROM ps_buckets b CROSS JOIN ps_oplog o ON o.bucket = b.id AND o.op_id > b.last_applied_op \
                   UNION SELECT row_type, row_id FROM ps_updated_rows) \
                 SELECT u.row_type, u.row_id, (SELECT data FROM (SELECT o.data, max(o.op_id) FROM ps_oplog o WHERE o.row_type = u.row_type AND o.row_id = u.row_id)) \
                 FROM updated u"],
        (Some(_), _) => &["WITH range AS (SELECT id, last_applied_op FROM ps_buckets WHERE name IN (SELECT value FROM json_each(?1))), \
                 updated AS (SELECT o.row_type, o.row_id FROM range b CROSS JOIN ps_oplog o ON o.bucket = b.id AND o.op_id > b.last_applied_op GROUP BY o.row_type, o.row_id) \
                 SELECT u.row_type, u.row_id, (SELECT data FROM (SELECT o.data, max(o.op_id) FROM ps_oplog o WHERE o.row_type = u.row_type AND o.row_id = u.row_id AND o.bucket IN (SELECT id FROM range))) \
                 FROM updated u"],
    };

    targets.refresh(db)?;
    // Rows are written as the queries yield them (the tables written are never the ones read),
    // so memory stays flat however many rows a checkpoint publishes.
    state.while_syncing(|| -> PsResult<()> {
        // Per row type: the writer of its raw, direct or JSON table (statements prepared once per
        // publish), or `None` for rows that go to `ps_untyped`.
        let mut writers: HashMap<String, Option<TableWriter>> = HashMap::new();
        for &rows_sql in plans {
            let wrap = |e| PsError::sqlite(Some(rows_sql), e);
            let mut stmt = db.prepare_cached(rows_sql).map_err(wrap)?;
            let mut rows = match priority {
                None => stmt.query([]),
                Some(_) => stmt.query([&names_json]),
            }
            .map_err(wrap)?;
            while let Some(row) = rows.next().map_err(wrap)? {
                let text = |i: usize| -> PsResult<Option<&str>> {
                    row.get_ref(i)
                        .and_then(|v| v.as_str_or_null().map_err(Into::into))
                        .map_err(wrap)
                };
                let (Some(row_type), Some(row_id)) = (text(0)?, text(1)?) else {
                    // The service never sends PUTs without type and id; such rows cannot be published.
                    return Err(PsError::internal(
                        "downloaded operation without object_type or object_id",
                    ));
                };
                if held.as_ref().is_some_and(|h| h.contains(row_type, row_id)) {
                    continue;
                }
                let data = text(2)?;
                if !writers.contains_key(row_type) {
                    let writer = targets
                        .statements(db, row_type)?
                        .map(|statements| TableWriter::new(row_type, statements));
                    writers.insert(row_type.to_string(), writer);
                }
                match (writers.get_mut(row_type).expect("inserted above"), data) {
                    (Some(writer), Some(data)) => writer.put(db, row_id, data)?,
                    (Some(writer), None) => writer.delete(db, row_id)?,
                    (None, Some(data)) => {
                        let sql = "REPLACE INTO ps_untyped(type, id, data) VALUES(?, ?, ?)";
                        sql::execute(db, sql, params![row_type, row_id, data])?;
                    }
                    (None, None) => {
                        sql::execute(
                            db,
                            "DELETE FROM ps_untyped WHERE type = ? AND id = ?",
                            params![row_type, row_id],
                        )?;
                    }
                }
            }
        }
        Ok(())
    })?;

    match priority {
        None => {
            sql::execute(
                db,
                "UPDATE ps_buckets SET last_applied_op = last_op WHERE last_applied_op != last_op",
                [],
            )?;
            sql::execute(db, "DELETE FROM ps_updated_rows", [])?;
        }
        Some(_) => {
            let sql = "UPDATE ps_buckets SET last_applied_op = last_op WHERE last_applied_op != last_op AND name IN (SELECT value FROM json_each(?))";
            sql::execute(db, sql, [&names_json])?;
        }
    }
    if held.is_some() {
        // The buckets' ops are applied now, so the publish that follows the write checkpoint
        // finds the held rows only here and derives them from the oplog again.
        let sql =
            "INSERT OR IGNORE INTO ps_updated_rows(row_type, row_id) SELECT row_type, row_id FROM ps_pending_rows";
        sql::execute(db, sql, [])?;
    } else if priority.is_none() {
        // The gate is open: the service covered every local write.
        config::forget_pending_rows(db)?;
    }
    let code = priority.unwrap_or(Priority::FULL_SYNC).0;
    sql::execute(db, "DELETE FROM ps_sync_state WHERE priority < ?", [code])?;
    sql::execute(
        db,
        "INSERT OR REPLACE INTO ps_sync_state(priority, last_synced_at) VALUES (?, ?)",
        params![code, now],
    )?;

    if priority.is_none() {
        for bucket in &checkpoint.buckets {
            if let Some(count) = bucket.count {
                let sql = "UPDATE ps_buckets SET count_since_last = 0, count_at_last = ?2 WHERE name = ?1";
                sql::execute(db, sql, params![bucket.bucket, count])?;
            }
        }
        // Around pending uploads the write checkpoint is not applied: the held rows still show
        // local versions.
        if let (Some(w), None) = (checkpoint.write_checkpoint, &held) {
            checkpoint_requests::record_applied(db, w.0)?;
        }
    }
    Ok(match held {
        None => SyncLocalResult::Applied,
        Some(held) => SyncLocalResult::AppliedAround { held_rows: held.len() },
    })
}

#[cfg(test)]
mod tests;
