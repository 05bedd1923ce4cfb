//! The service's data in SQLite: table rows, the op log every bucket is built from, and write
//! checkpoints per (user, client). Op ids are one global increasing sequence, as in the real
//! service; ops are never compacted.

use crate::checksum::{op_checksum, wrap_sum};
use crate::ops::ServerOp;
use crate::rules::Rules;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error while {context}: {source}")]
    Sqlite {
        context: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("stored row {table}/{id} is not a JSON object: {reason}")]
    CorruptRow { table: String, id: String, reason: String },
}

trait Context<T> {
    fn context(self, context: &'static str) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, rusqlite::Error> {
    fn context(self, context: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Sqlite { context, source })
    }
}

/// One op as stored and as sent in a `data` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OplogRow {
    pub op_id: i64,
    pub op: String,
    pub object_type: String,
    pub object_id: String,
    pub data: Option<String>,
    pub checksum: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct BucketState {
    pub checksum: u32,
    pub count: i64,
}

/// A table row: its id and its columns (without `id`).
pub(crate) type Row = (String, Map<String, Value>);

pub(crate) struct Store {
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS rows(
  tbl TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (tbl, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS oplog(
  op_id INTEGER PRIMARY KEY, bucket TEXT NOT NULL, op TEXT NOT NULL, object_type TEXT NOT NULL,
  object_id TEXT NOT NULL, data TEXT, checksum INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS oplog_by_bucket ON oplog(bucket, op_id);
CREATE TABLE IF NOT EXISTS write_checkpoints(
  user_id TEXT NOT NULL, client_id TEXT NOT NULL, checkpoint INTEGER NOT NULL,
  PRIMARY KEY (user_id, client_id)) WITHOUT ROWID;
";

impl Store {
    /// `None` keeps everything in memory for the life of the service.
    pub(crate) fn open(path: Option<&Path>) -> Result<Store, StoreError> {
        let conn = match path {
            Some(p) => Connection::open(p),
            None => Connection::open_in_memory(),
        }
        .context("opening the database")?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
            .or_else(|_| conn.execute_batch("PRAGMA synchronous = NORMAL;"))
            .context("configuring the database")?;
        conn.execute_batch(SCHEMA).context("creating the schema")?;
        Ok(Store { conn })
    }

    pub(crate) fn is_empty(&self) -> Result<bool, StoreError> {
        let rows: i64 = self
            .conn
            .query_row(
                "SELECT (SELECT count(*) FROM rows) + (SELECT count(*) FROM oplog)",
                [],
                |r| r.get(0),
            )
            .context("counting rows")?;
        Ok(rows == 0)
    }

    /// Applies all ops in one transaction: either every change and its bucket ops are stored, or
    /// none. Returns the number of bucket ops written.
    pub(crate) fn apply(&mut self, rules: &Rules, ops: &[ServerOp]) -> Result<usize, StoreError> {
        let tx = self.conn.transaction().context("starting a write")?;
        let mut written = 0;
        for op in ops {
            let table = op.table();
            let id = op.id();
            let old = read_row(&tx, table, id)?;
            let new = match op {
                ServerOp::Put { data, .. } => Some(without_id(data)),
                ServerOp::Patch { data, .. } => {
                    let mut merged = old.clone().unwrap_or_default();
                    merged.extend(without_id(data));
                    Some(merged)
                }
                ServerOp::Delete { .. } => None,
            };
            match &new {
                Some(row) => {
                    tx.execute(
                        "INSERT INTO rows(tbl, id, data) VALUES (?1, ?2, ?3)
                         ON CONFLICT(tbl, id) DO UPDATE SET data = excluded.data",
                        params![table, id, Value::Object(row.clone()).to_string()],
                    )
                    .context("writing a row")?;
                }
                None => {
                    tx.execute("DELETE FROM rows WHERE tbl = ?1 AND id = ?2", params![table, id])
                        .context("deleting a row")?;
                }
            }
            let old_buckets = old
                .as_ref()
                .map(|r| rules.buckets_for_row(table, r))
                .unwrap_or_default();
            let new_buckets = new
                .as_ref()
                .map(|r| rules.buckets_for_row(table, r))
                .unwrap_or_default();
            let new_text = new.as_ref().map(|r| Value::Object(r.clone()).to_string());
            for bucket in &new_buckets {
                insert_op(&tx, bucket, "PUT", table, id, new_text.as_deref())?;
                written += 1;
            }
            for bucket in old_buckets.iter().filter(|b| !new_buckets.contains(b)) {
                insert_op(&tx, bucket, "REMOVE", table, id, None)?;
                written += 1;
            }
        }
        tx.commit().context("committing a write")?;
        Ok(written)
    }

    pub(crate) fn rows(&self, table: &str) -> Result<Vec<Row>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, data FROM rows WHERE tbl = ?1 ORDER BY id")
            .context("reading rows")?;
        let raw = stmt
            .query_map([table], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .context("reading rows")?
            .collect::<Result<Vec<_>, _>>()
            .context("reading rows")?;
        raw.into_iter()
            .map(|(id, text)| Ok((id.clone(), parse_row(table, &id, &text)?)))
            .collect()
    }

    pub(crate) fn last_op_id(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT coalesce(max(op_id), 0) FROM oplog", [], |r| r.get(0))
            .context("reading the last op id")
    }

    /// Checksum and op count of each bucket, counting ops up to `up_to` (buckets without ops are 0/0).
    pub(crate) fn bucket_states(&self, ids: &[&str], up_to: i64) -> Result<HashMap<String, BucketState>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT coalesce(sum(checksum), 0), count(*) FROM oplog WHERE bucket = ?1 AND op_id <= ?2")
            .context("summing bucket checksums")?;
        let mut out = HashMap::new();
        for id in ids {
            let (sum, count): (i64, i64) = stmt
                .query_row(params![id, up_to], |r| Ok((r.get(0)?, r.get(1)?)))
                .context("summing bucket checksums")?;
            out.insert(
                (*id).to_owned(),
                BucketState {
                    checksum: wrap_sum(sum),
                    count,
                },
            );
        }
        Ok(out)
    }

    /// Ops of `bucket` with `after < op_id <= up_to`, oldest first, at most `limit`.
    pub(crate) fn ops_after(
        &self,
        bucket: &str,
        after: i64,
        up_to: i64,
        limit: usize,
    ) -> Result<Vec<OplogRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT op_id, op, object_type, object_id, data, checksum FROM oplog
                 WHERE bucket = ?1 AND op_id > ?2 AND op_id <= ?3 ORDER BY op_id LIMIT ?4",
            )
            .context("reading bucket ops")?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![bucket, after, up_to, limit], |r| {
                Ok(OplogRow {
                    op_id: r.get(0)?,
                    op: r.get(1)?,
                    object_type: r.get(2)?,
                    object_id: r.get(3)?,
                    data: r.get(4)?,
                    checksum: wrap_sum(r.get(5)?),
                })
            })
            .context("reading bucket ops")?
            .collect::<Result<Vec<_>, _>>()
            .context("reading bucket ops")?;
        Ok(rows)
    }

    pub(crate) fn write_checkpoint(&self, user: &str, client_id: &str) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT checkpoint FROM write_checkpoints WHERE user_id = ?1 AND client_id = ?2",
                params![user, client_id],
                |r| r.get(0),
            )
            .optional()
            .context("reading a write checkpoint")
    }

    /// Legacy write checkpoint: one more than the last one of this user and client.
    pub(crate) fn create_write_checkpoint(&mut self, user: &str, client_id: &str) -> Result<i64, StoreError> {
        self.conn
            .query_row(
                "INSERT INTO write_checkpoints(user_id, client_id, checkpoint) VALUES (?1, ?2, 1)
                 ON CONFLICT(user_id, client_id) DO UPDATE SET checkpoint = checkpoint + 1
                 RETURNING checkpoint",
                params![user, client_id],
                |r| r.get(0),
            )
            .context("creating a write checkpoint")
    }

    /// Checkpoint request: the accepted id is the larger of the posted one and the known one.
    pub(crate) fn request_checkpoint(&mut self, user: &str, client_id: &str, posted: i64) -> Result<i64, StoreError> {
        self.conn
            .query_row(
                "INSERT INTO write_checkpoints(user_id, client_id, checkpoint) VALUES (?1, ?2, ?3)
                 ON CONFLICT(user_id, client_id) DO UPDATE SET checkpoint = max(checkpoint, excluded.checkpoint)
                 RETURNING checkpoint",
                params![user, client_id, posted],
                |r| r.get(0),
            )
            .context("storing a checkpoint request")
    }
}

fn without_id(data: &Map<String, Value>) -> Map<String, Value> {
    let mut data = data.clone();
    data.remove("id");
    data
}

fn parse_row(table: &str, id: &str, text: &str) -> Result<Map<String, Value>, StoreError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(StoreError::CorruptRow {
            table: table.into(),
            id: id.into(),
            reason: format!("found {other}"),
        }),
        Err(e) => Err(StoreError::CorruptRow {
            table: table.into(),
            id: id.into(),
            reason: e.to_string(),
        }),
    }
}

fn read_row(conn: &Connection, table: &str, id: &str) -> Result<Option<Map<String, Value>>, StoreError> {
    let text: Option<String> = conn
        .query_row(
            "SELECT data FROM rows WHERE tbl = ?1 AND id = ?2",
            params![table, id],
            |r| r.get(0),
        )
        .optional()
        .context("reading a row")?;
    text.map(|t| parse_row(table, id, &t)).transpose()
}

fn insert_op(
    conn: &Connection,
    bucket: &str,
    op: &str,
    table: &str,
    id: &str,
    data: Option<&str>,
) -> Result<(), StoreError> {
    let op_id: i64 = conn
        .query_row("SELECT coalesce(max(op_id), 0) + 1 FROM oplog", [], |r| r.get(0))
        .context("allocating an op id")?;
    let checksum = op_checksum(op_id, op, table, id, data);
    conn.execute(
        "INSERT INTO oplog(op_id, bucket, op, object_type, object_id, data, checksum) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![op_id, bucket, op, table, id, data, i64::from(checksum)],
    )
    .context("writing an op")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> Rules {
        Rules::from_json(
            r#"{"buckets": [{"name": "g", "tables": ["lists"]},
                {"name": "u", "per_user": true, "tables": [{"table": "todos", "owner_column": "owner"}]}]}"#,
        )
        .unwrap()
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn put_patch_delete_write_rows_and_ops() {
        let rules = rules();
        let mut store = Store::open(None).unwrap();
        assert!(store.is_empty().unwrap());
        let n = store
            .apply(
                &rules,
                &[
                    ServerOp::Put {
                        table: "todos".into(),
                        id: "t1".into(),
                        data: obj(json!({"owner": "a", "x": 1})),
                    },
                    ServerOp::Patch {
                        table: "todos".into(),
                        id: "t1".into(),
                        data: obj(json!({"x": 2, "id": "ignored"})),
                    },
                ],
            )
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            store.rows("todos").unwrap(),
            vec![("t1".to_owned(), obj(json!({"owner": "a", "x": 2})))]
        );

        // Moving the row to another owner: PUT into the new bucket, REMOVE from the old one.
        store
            .apply(
                &rules,
                &[ServerOp::Patch {
                    table: "todos".into(),
                    id: "t1".into(),
                    data: obj(json!({"owner": "b"})),
                }],
            )
            .unwrap();
        let a = store.ops_after(r#"u["a"]"#, 0, i64::MAX, 100).unwrap();
        assert_eq!(
            a.iter().map(|o| o.op.as_str()).collect::<Vec<_>>(),
            vec!["PUT", "PUT", "REMOVE"]
        );
        assert_eq!(a[2].data, None);
        let b = store.ops_after(r#"u["b"]"#, 0, i64::MAX, 100).unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].op_id, 3);
        assert_eq!(b[0].data.as_deref(), Some(r#"{"owner":"b","x":2}"#));

        store
            .apply(
                &rules,
                &[ServerOp::Delete {
                    table: "todos".into(),
                    id: "t1".into(),
                }],
            )
            .unwrap();
        assert!(store.rows("todos").unwrap().is_empty());
        assert_eq!(store.last_op_id().unwrap(), 5);
        // Deleting a missing row is a no-op.
        assert_eq!(
            store
                .apply(
                    &rules,
                    &[ServerOp::Delete {
                        table: "todos".into(),
                        id: "zz".into()
                    }]
                )
                .unwrap(),
            0
        );
    }

    #[test]
    fn bucket_state_is_the_wrapping_sum_of_op_checksums() {
        let rules = rules();
        let mut store = Store::open(None).unwrap();
        let puts: Vec<_> = (0..50)
            .map(|i| ServerOp::Put {
                table: "lists".into(),
                id: format!("l{i}"),
                data: obj(json!({"n": i})),
            })
            .collect();
        store.apply(&rules, &puts).unwrap();
        let ops = store.ops_after("g[]", 0, i64::MAX, 1000).unwrap();
        let expected = ops.iter().fold(0u32, |acc, o| acc.wrapping_add(o.checksum));
        let states = store.bucket_states(&["g[]", "missing[]"], i64::MAX).unwrap();
        assert_eq!(
            states["g[]"],
            BucketState {
                checksum: expected,
                count: 50
            }
        );
        assert_eq!(states["missing[]"], BucketState::default());
        let upto_10 = store.bucket_states(&["g[]"], 10).unwrap();
        assert_eq!(upto_10["g[]"].count, 10);
        assert_eq!(store.ops_after("g[]", 45, i64::MAX, 1000).unwrap().len(), 5);
        assert_eq!(store.ops_after("g[]", 0, i64::MAX, 7).unwrap().len(), 7);
    }

    #[test]
    fn a_failing_batch_changes_nothing() {
        let rules = rules();
        let mut store = Store::open(None).unwrap();
        store
            .conn
            .execute("INSERT INTO rows VALUES ('lists', 'bad', 'not json')", [])
            .unwrap();
        let err = store
            .apply(
                &rules,
                &[
                    ServerOp::Put {
                        table: "lists".into(),
                        id: "ok".into(),
                        data: Map::new(),
                    },
                    ServerOp::Patch {
                        table: "lists".into(),
                        id: "bad".into(),
                        data: Map::new(),
                    },
                ],
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::CorruptRow { .. }));
        assert_eq!(store.last_op_id().unwrap(), 0);
    }

    #[test]
    fn write_checkpoints_are_monotonic_per_user_and_client() {
        let mut store = Store::open(None).unwrap();
        assert_eq!(store.write_checkpoint("a", "c").unwrap(), None);
        assert_eq!(store.create_write_checkpoint("a", "c").unwrap(), 1);
        assert_eq!(store.create_write_checkpoint("a", "c").unwrap(), 2);
        assert_eq!(store.create_write_checkpoint("a", "other").unwrap(), 1);
        assert_eq!(store.request_checkpoint("a", "c", 10).unwrap(), 10);
        assert_eq!(store.request_checkpoint("a", "c", 4).unwrap(), 10);
        assert_eq!(store.create_write_checkpoint("a", "c").unwrap(), 11);
        assert_eq!(store.write_checkpoint("a", "c").unwrap(), Some(11));
        assert_eq!(store.write_checkpoint("b", "c").unwrap(), None);
    }
}
