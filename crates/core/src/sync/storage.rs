//! Bucket storage (docs/protocol.md, "Bucket storage"): applying `data` lines to `ps_oplog`/`ps_buckets`,
//! deleting buckets, progress counters and checksum validation.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{PsError, PsResult};
use crate::sql;
use crate::sync::bulk;
use crate::sync::line::{BucketChecksum, Checksum, DataLine, OpType};

/// How a data line finds the ops its ops supersede.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Supersede {
    /// Probe `ps_oplog_key` for each op and resolve at once.
    Probe,
    /// Bulk mode (`sync::bulk`): append only; `bulk::finish` resolves them later.
    Deferred,
}

/// Applies one `data` line (docs/protocol.md, "Bucket storage"). `raw_size` is the byte length of the line as received.
pub fn apply_data_line(db: &Connection, line: &DataLine, raw_size: usize, mode: Supersede) -> PsResult<()> {
    let sql = "INSERT INTO ps_buckets(name) VALUES(?) ON CONFLICT DO NOTHING";
    sql::execute(db, sql, [&line.bucket])?;
    let sql = "SELECT id, last_applied_op FROM ps_buckets WHERE name = ?";
    let (bucket_id, last_applied_op): (i64, i64) = db
        .prepare_cached(sql)
        .and_then(|mut s| s.query_row([&line.bucket], |r| Ok((r.get(0)?, r.get(1)?))))
        .map_err(|e| PsError::sqlite(Some(sql), e))?;

    // A bucket that was never applied cannot have published rows, so superseded ops need no
    // re-evaluation (initial-sync optimisation).
    let mut empty = last_applied_op == 0;
    let mut add = Checksum::default();
    let mut opsum = Checksum::default();
    let mut last_op = None;

    // The per-op statements, taken from the cache once per line rather than once per op.
    const PROBE: &str =
        "SELECT rowid, hash, row_type IS ?3 AND row_id IS ?4 FROM ps_oplog WHERE bucket = ?1 AND key = ?2";
    const INSERT: &str =
        "INSERT INTO ps_oplog(bucket, op_id, key, row_type, row_id, data, hash) VALUES (?, ?, ?, ?, ?, ?, ?)";
    const UPDATE: &str = "UPDATE ps_oplog SET op_id = ?2, data = ?3, hash = ?4 WHERE rowid = ?1";
    let prepare = |sql: &'static str| db.prepare_cached(sql).map_err(|e| PsError::sqlite(Some(sql), e));
    let (mut probe, mut insert, mut update) = (prepare(PROBE)?, prepare(INSERT)?, prepare(UPDATE)?);
    let mut key = String::new();

    for op in &line.data {
        last_op = Some(op.op_id.0);
        match op.op {
            OpType::PUT | OpType::REMOVE => {
                let has_key = match (&op.object_type, &op.object_id) {
                    (Some(t), Some(id)) => {
                        key.clear();
                        let subkey = op.subkey.as_deref().unwrap_or("null");
                        for part in [t.as_ref(), "/", id.as_ref(), "/", subkey] {
                            key.push_str(part);
                        }
                        true
                    }
                    _ => false,
                };
                let mut superseded = false;
                // A PUT that supersedes an op of the same row rewrites that op's row in place:
                // only the `(bucket, op_id)` index changes, instead of three index deletes and
                // three inserts (the stored contents are the same either way).
                let mut reuse: Option<i64> = None;
                if has_key && mode == Supersede::Deferred {
                    if op.op == OpType::REMOVE {
                        let tombstone = bulk::tombstone_op_id(op.op_id.0);
                        insert
                            .execute(params![
                                bucket_id,
                                tombstone,
                                key,
                                op.object_type,
                                op.object_id,
                                None::<&str>,
                                0
                            ])
                            .map_err(|e| PsError::sqlite(Some(INSERT), e))?;
                    }
                } else if has_key {
                    // Probe first and delete by rowid only on a hit: most ops supersede nothing,
                    // and a plain index probe costs a fraction of DELETE ... RETURNING.
                    let found: Vec<(i64, i64, bool)> = probe
                        .query_map(params![bucket_id, key, op.object_type, op.object_id], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                        })
                        .and_then(|rows| rows.collect())
                        .map_err(|e| PsError::sqlite(Some(PROBE), e))?;
                    for (rowid, hash, same_row) in found {
                        if op.op == OpType::PUT && same_row && reuse.is_none() {
                            reuse = Some(rowid);
                        } else {
                            sql::execute(db, "DELETE FROM ps_oplog WHERE rowid = ?1", [rowid])?;
                        }
                        let hash = Checksum::from_stored(hash);
                        add = add.wrapping_add(hash);
                        opsum = opsum.wrapping_sub(hash);
                        if !empty {
                            superseded = true;
                        }
                    }
                }
                if op.op == OpType::REMOVE {
                    add = add.wrapping_add(op.checksum);
                    if superseded {
                        let sql = "INSERT OR IGNORE INTO ps_updated_rows(row_type, row_id) VALUES(?1, ?2)";
                        sql::execute(db, sql, params![op.object_type, op.object_id])?;
                    }
                } else if let Some(rowid) = reuse {
                    update
                        .execute(params![rowid, op.op_id.0, op.data, op.checksum.as_signed()])
                        .map_err(|e| PsError::sqlite(Some(UPDATE), e))?;
                    opsum = opsum.wrapping_add(op.checksum);
                } else {
                    // Without a key the op is stored with no row identity at all (as observed).
                    let (key, row_type, row_id) = match has_key {
                        true => (Some(key.as_str()), op.object_type.as_deref(), op.object_id.as_deref()),
                        false => (None, None, None),
                    };
                    insert
                        .execute(params![
                            bucket_id,
                            op.op_id.0,
                            key,
                            row_type,
                            row_id,
                            op.data,
                            op.checksum.as_signed()
                        ])
                        .map_err(|e| PsError::sqlite(Some(INSERT), e))?;
                    opsum = opsum.wrapping_add(op.checksum);
                }
            }
            OpType::MOVE => add = add.wrapping_add(op.checksum),
            OpType::CLEAR => {
                let sql = "INSERT OR IGNORE INTO ps_updated_rows(row_type, row_id) SELECT row_type, row_id FROM ps_oplog WHERE bucket = ?1";
                sql::execute(db, sql, [bucket_id])?;
                sql::execute(db, "DELETE FROM ps_oplog WHERE bucket = ?1", [bucket_id])?;
                // The CLEAR op's checksum stands for everything before it.
                let sql = "UPDATE ps_buckets SET last_applied_op = 0, add_checksum = ?1, op_checksum = 0 WHERE id = ?2";
                sql::execute(db, sql, params![op.checksum.as_signed(), bucket_id])?;
                add = Checksum::default();
                opsum = Checksum::default();
                empty = true;
            }
        }
    }

    if let Some(last_op) = last_op {
        let sql = "UPDATE ps_buckets SET last_op = ?2, add_checksum = (add_checksum + ?3) & 0xffffffff, op_checksum = (op_checksum + ?4) & 0xffffffff, count_since_last = count_since_last + ?5, downloaded_size = downloaded_size + ?6 WHERE id = ?1";
        sql::execute(
            db,
            sql,
            params![
                bucket_id,
                last_op,
                add.as_signed(),
                opsum.as_signed(),
                line.data.len() as i64,
                raw_size as i64
            ],
        )?;
    }
    Ok(())
}

/// Deletes a bucket and queues its rows for re-evaluation. Unknown names are ignored.
pub fn delete_bucket(db: &Connection, name: &str) -> PsResult<()> {
    let sql = "DELETE FROM ps_buckets WHERE name = ? RETURNING id";
    let id: Option<i64> = db
        .prepare_cached(sql)
        .and_then(|mut s| s.query_row([name], |r| r.get(0)).optional())
        .map_err(|e| PsError::sqlite(Some(sql), e))?;
    if let Some(id) = id {
        let sql = "INSERT OR IGNORE INTO ps_updated_rows(row_type, row_id) SELECT row_type, row_id FROM ps_oplog WHERE bucket = ?1";
        sql::execute(db, sql, [id])?;
        sql::execute(db, "DELETE FROM ps_oplog WHERE bucket = ?1", [id])?;
    }
    Ok(())
}

/// The positions the next stream request starts from: `(name, last_op)` of every bucket.
pub fn bucket_positions(db: &Connection) -> PsResult<Vec<(String, i64)>> {
    crate::sql::query_all(
        db,
        "SELECT name, last_op FROM ps_buckets WHERE pending_delete = 0 ORDER BY id",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Progress counters of a stored bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketCounters {
    pub id: i64,
    pub at_last: i64,
    pub since_last: i64,
}

/// The progress counters of every stored bucket, by name (read once per checkpoint).
pub fn bucket_counters(db: &Connection) -> PsResult<HashMap<String, BucketCounters>> {
    let sql = "SELECT id, name, count_at_last, count_since_last FROM ps_buckets";
    let mut stmt = db.prepare_cached(sql).map_err(|e| PsError::sqlite(Some(sql), e))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(1)?,
                BucketCounters {
                    id: r.get(0)?,
                    at_last: r.get(2)?,
                    since_last: r.get(3)?,
                },
            ))
        })
        .map_err(|e| PsError::sqlite(Some(sql), e))?;
    rows.collect::<rusqlite::Result<_>>()
        .map_err(|e| PsError::sqlite(Some(sql), e))
}

/// Zeroes the progress counters of one bucket (it shrank, e.g. by compaction).
pub fn reset_counts(db: &Connection, id: i64) -> PsResult<()> {
    sql::execute(
        db,
        "UPDATE ps_buckets SET count_since_last = 0, count_at_last = 0 WHERE id = ?",
        [id],
    )?;
    Ok(())
}

/// A bucket whose local checksum differs from the checkpoint's.
pub struct ChecksumMismatch {
    pub bucket: String,
    pub expected: Checksum,
    pub add: Checksum,
    pub op: Checksum,
}

impl ChecksumMismatch {
    pub fn describe(&self) -> String {
        format!(
            "{} (expected 0x{:08x}, got 0x{:08x} = 0x{:08x} (op) + 0x{:08x} (add))",
            self.bucket,
            self.expected.0,
            self.op.wrapping_add(self.add).0,
            self.op.0,
            self.add.0
        )
    }
}

/// Compares each bucket's expected checksum with `add_checksum + op_checksum` (docs/protocol.md, "Checksums").
pub fn validate_checksums<'a>(
    db: &Connection,
    buckets: impl IntoIterator<Item = &'a BucketChecksum>,
) -> PsResult<Vec<ChecksumMismatch>> {
    let sql = "SELECT add_checksum, op_checksum FROM ps_buckets WHERE name = ?";
    let mut stmt = db.prepare_cached(sql).map_err(|e| PsError::sqlite(Some(sql), e))?;
    let mut failures = Vec::new();
    for bucket in buckets {
        let (add, op): (i64, i64) = stmt
            .query_row([&bucket.bucket], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(|e| PsError::sqlite(Some(sql), e))?
            .unwrap_or((0, 0));
        let (add, op) = (Checksum::from_stored(add), Checksum::from_stored(op));
        if add.wrapping_add(op) != bucket.checksum {
            failures.push(ChecksumMismatch {
                bucket: bucket.bucket.clone(),
                expected: bucket.checksum,
                add,
                op,
            });
        }
    }
    Ok(failures)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::line::{parse_text, SyncLine};
    use crate::testing::open;

    fn data_line(text: &str) -> DataLine<'_> {
        match parse_text(text).unwrap() {
            SyncLine::Data(d) => d,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn initial_line_supersedes_without_queueing_rows() {
        let db = open();
        db.execute_batch("BEGIN; SELECT powersync_init(); COMMIT;").unwrap();
        let text = r#"{"data":{"bucket":"A","data":[{"op_id":"1","op":"PUT","object_type":"items","object_id":"r1","checksum":1,"data":"{}"},{"op_id":"2","op":"REMOVE","object_type":"items","object_id":"r1","checksum":2},{"op_id":"3","op":"MOVE","checksum":4},{"op_id":"4","op":"PUT","object_type":"items","object_id":"r2","subkey":"sk1","checksum":8,"data":"{}"},{"op_id":"5","op":"PUT","object_type":"unknown_tbl","object_id":"u1","checksum":16,"data":"{}"}]}}"#;
        apply_data_line(&db, &data_line(text), text.len(), Supersede::Probe).unwrap();
        let bucket: (i64, i64, i64, i64) = db
            .query_row(
                "SELECT last_op, add_checksum, op_checksum, count_since_last FROM ps_buckets",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(bucket, (5, 7, 24, 5));
        let keys: Vec<String> = {
            let mut s = db.prepare("SELECT key FROM ps_oplog ORDER BY op_id").unwrap();
            let rows = s.query_map([], |r| r.get(0)).unwrap();
            rows.collect::<Result<_, _>>().unwrap()
        };
        assert_eq!(keys, ["items/r2/sk1", "unknown_tbl/u1/null"]);
        let queued: i64 = db
            .query_row("SELECT count(*) FROM ps_updated_rows", [], |r| r.get(0))
            .unwrap();
        assert_eq!(queued, 0);
    }

    #[test]
    fn checksums_wrap_and_mismatches_render_like_the_reference() {
        let db = open();
        db.execute_batch("BEGIN; SELECT powersync_init(); COMMIT;").unwrap();
        let text = r#"{"data":{"bucket":"bad","data":[{"op_id":"1","op":"PUT","object_type":"t","object_id":"a","checksum":3000000000,"data":"{}"},{"op_id":"2","op":"PUT","object_type":"t","object_id":"b","checksum":3000000000,"data":"{}"}]}}"#;
        apply_data_line(&db, &data_line(text), text.len(), Supersede::Probe).unwrap();
        let hash: i64 = db
            .query_row("SELECT hash FROM ps_oplog WHERE op_id = 1", [], |r| r.get(0))
            .unwrap();
        assert_eq!(hash, -1294967296);
        let expected = BucketChecksum {
            bucket: "bad".into(),
            checksum: Checksum(999),
            priority: None,
            count: None,
            subscriptions: vec![],
        };
        let failures = validate_checksums(&db, [&expected]).unwrap();
        assert_eq!(
            failures[0].describe(),
            "bad (expected 0x000003e7, got 0x65a0bc00 = 0x65a0bc00 (op) + 0x00000000 (add))"
        );
        let good = BucketChecksum {
            checksum: Checksum(6_000_000_000u64 as u32),
            ..expected
        };
        assert!(validate_checksums(&db, [&good]).unwrap().is_empty());
    }

    /// `(rowid, op_id, row_type, row_id, key, data, hash)`.
    type OplogRow = (
        i64,
        i64,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        i64,
    );

    fn oplog(db: &Connection) -> Vec<OplogRow> {
        let mut s = db
            .prepare("SELECT rowid, op_id, row_type, row_id, key, data, hash FROM ps_oplog ORDER BY op_id")
            .unwrap();
        let rows = s
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })
            .unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn superseding_put_rewrites_the_old_op_in_place() {
        let db = open();
        db.execute_batch("BEGIN; SELECT powersync_init(); COMMIT;").unwrap();
        let first = r#"{"data":{"bucket":"A","data":[{"op_id":"1","op":"PUT","object_type":"items","object_id":"r1","checksum":1,"data":"{\"v\":1}"},{"op_id":"2","op":"PUT","object_type":"items","object_id":"r2","checksum":2,"data":"{}"}]}}"#;
        apply_data_line(&db, &data_line(first), first.len(), Supersede::Probe).unwrap();
        db.execute("UPDATE ps_buckets SET last_applied_op = last_op", [])
            .unwrap();
        let second = r#"{"data":{"bucket":"A","data":[{"op_id":"3","op":"PUT","object_type":"items","object_id":"r1","checksum":4,"data":"{\"v\":2}"}]}}"#;
        apply_data_line(&db, &data_line(second), second.len(), Supersede::Probe).unwrap();
        let some = |s: &str| Some(s.to_string());
        // Same rowid as op 1: the row was updated, not deleted and inserted again.
        assert_eq!(
            oplog(&db),
            [
                (2, 2, some("items"), some("r2"), some("items/r2/null"), some("{}"), 2),
                (
                    1,
                    3,
                    some("items"),
                    some("r1"),
                    some("items/r1/null"),
                    some("{\"v\":2}"),
                    4
                ),
            ]
        );
        let sums: (i64, i64) = db
            .query_row("SELECT add_checksum, op_checksum FROM ps_buckets", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(sums, (1, 6), "the superseded op's checksum moves to add_checksum");
        // The indexes stay consistent with the table after the in-place update.
        let check: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok");
        let by_opid: i64 = db
            .query_row(
                "SELECT rowid FROM ps_oplog INDEXED BY ps_oplog_opid WHERE bucket = 1 AND op_id = 3",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(by_opid, 1);
    }

    #[test]
    fn superseding_put_with_a_colliding_key_replaces_the_row_identity() {
        // "a/b" + "c" and "a" + "b/c" share the key "a/b/c/null": the new op must carry its own
        // row_type and row_id, so it cannot reuse the old op's row.
        let db = open();
        db.execute_batch("BEGIN; SELECT powersync_init(); COMMIT;").unwrap();
        let first = r#"{"data":{"bucket":"A","data":[{"op_id":"1","op":"PUT","object_type":"a/b","object_id":"c","checksum":1,"data":"{}"},{"op_id":"2","op":"PUT","object_type":"x","object_id":"y","checksum":1,"data":"{}"}]}}"#;
        apply_data_line(&db, &data_line(first), first.len(), Supersede::Probe).unwrap();
        let second = r#"{"data":{"bucket":"A","data":[{"op_id":"3","op":"PUT","object_type":"a","object_id":"b/c","checksum":2,"data":"{}"}]}}"#;
        apply_data_line(&db, &data_line(second), second.len(), Supersede::Probe).unwrap();
        let some = |s: &str| Some(s.to_string());
        assert_eq!(
            oplog(&db),
            [
                (2, 2, some("x"), some("y"), some("x/y/null"), some("{}"), 1),
                (3, 3, some("a"), some("b/c"), some("a/b/c/null"), some("{}"), 2)
            ]
        );
    }
}
