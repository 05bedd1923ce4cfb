//! The upload queue `ps_crud` as batches and transactions, and completing them (docs/protocol.md, "The client's side").

use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::db::pool::{as_text, Pool};
use crate::error::{Error, Result};

/// `target_checkpoint_request_id` meaning "local writes since the last target".
pub(crate) const MAX_OP_ID: &str = "9223372036854775807";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum UpdateType {
    Put,
    Patch,
    Delete,
}

/// One queued local change. Serialises to the upload format of the README.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrudEntry {
    /// The `ps_crud` row id.
    pub op_id: i64,
    pub tx_id: Option<i64>,
    pub op: UpdateType,
    #[serde(rename = "type")]
    pub table: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
}

#[derive(Deserialize)]
struct StoredCrud {
    op: UpdateType,
    id: String,
    #[serde(rename = "type")]
    table: String,
    #[serde(default)]
    data: Option<Map<String, Value>>,
    #[serde(default)]
    old: Option<Map<String, Value>>,
    #[serde(default)]
    metadata: Option<String>,
}

pub(crate) fn decode_entry(op_id: i64, tx_id: Option<i64>, data: &str) -> Result<CrudEntry> {
    let s: StoredCrud = serde_json::from_str(data).map_err(|e| Error::CrudData {
        id: op_id,
        cause: e.to_string(),
    })?;
    Ok(CrudEntry {
        op_id,
        tx_id,
        op: s.op,
        table: s.table,
        id: s.id,
        data: s.data,
        old: s.old,
        metadata: s.metadata,
    })
}

/// Up to `limit` entries from the front of the queue.
pub struct CrudBatch {
    pub entries: Vec<CrudEntry>,
    /// More entries than `limit` are queued.
    pub has_more: bool,
    pool: Pool,
}

/// The entries of one local transaction.
pub struct CrudTransaction {
    pub tx_id: Option<i64>,
    pub entries: Vec<CrudEntry>,
    pool: Pool,
}

impl CrudBatch {
    /// Removes the batch from the queue; see [`CrudTransaction::complete`].
    pub async fn complete(self, write_checkpoint: Option<String>) -> Result<()> {
        complete(&self.pool, last_id(&self.entries), write_checkpoint).await
    }
}

impl CrudTransaction {
    /// Removes the transaction from the queue. Without `write_checkpoint` the client fetches a
    /// write checkpoint once the queue is empty; with one (created by the application's
    /// backend) it becomes the target when nothing else is queued.
    pub async fn complete(self, write_checkpoint: Option<String>) -> Result<()> {
        complete(&self.pool, last_id(&self.entries), write_checkpoint).await
    }
}

fn last_id(entries: &[CrudEntry]) -> i64 {
    entries.iter().map(|e| e.op_id).max().unwrap_or(0)
}

type RawRow = (i64, Option<i64>, String);

fn read_rows(conn: &Connection, after: i64, limit: i64) -> Result<Vec<RawRow>> {
    let mut stmt = conn.prepare_cached("SELECT id, tx_id, data FROM ps_crud WHERE id > ? ORDER BY id ASC LIMIT ?")?;
    let rows = stmt.query_map([after, limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

pub(crate) async fn get_batch(pool: &Pool, limit: usize) -> Result<Option<CrudBatch>> {
    let limit = limit.max(1);
    let rows = pool.read(move |c| read_rows(c, i64::MIN, limit as i64 + 1)).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let has_more = rows.len() > limit;
    let entries = rows
        .iter()
        .take(limit)
        .map(|(id, tx, d)| decode_entry(*id, *tx, d))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(CrudBatch {
        entries,
        has_more,
        pool: pool.clone(),
    }))
}

/// How many of `rows` (ascending ids) belong to the transaction of the first row: consecutive
/// ids with the same `tx_id`.
pub(crate) fn transaction_len(rows: &[(i64, Option<i64>)]) -> usize {
    let Some(&(first_id, tx)) = rows.first() else { return 0 };
    let mut n = 1;
    let mut prev = first_id;
    for &(id, t) in &rows[1..] {
        if id != prev + 1 || t != tx {
            break;
        }
        n += 1;
        prev = id;
    }
    n
}

/// The transaction that starts at the first row after `after` (`None` = from the start).
pub(crate) async fn transaction_after(pool: &Pool, after: Option<i64>) -> Result<Option<CrudTransaction>> {
    const PAGE: i64 = 500;
    let rows = pool
        .read(move |c| {
            let mut out: Vec<RawRow> = Vec::new();
            let mut cursor = after.unwrap_or(i64::MIN);
            loop {
                let page = read_rows(c, cursor, PAGE)?;
                let full = page.len() as i64 == PAGE;
                out.extend(page);
                let keys: Vec<(i64, Option<i64>)> = out.iter().map(|r| (r.0, r.1)).collect();
                let n = transaction_len(&keys);
                if n < out.len() || !full {
                    out.truncate(n);
                    return Ok(out);
                }
                cursor = out.last().map(|r| r.0).unwrap_or(cursor);
            }
        })
        .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let tx_id = rows[0].1;
    let entries = rows
        .iter()
        .map(|(id, tx, d)| decode_entry(*id, *tx, d))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(CrudTransaction {
        tx_id,
        entries,
        pool: pool.clone(),
    }))
}

async fn complete(pool: &Pool, last_id: i64, write_checkpoint: Option<String>) -> Result<()> {
    pool.write(move |conn| {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM ps_crud WHERE id <= ?", [last_id])?;
        let target = match write_checkpoint {
            None => Some(MAX_OP_ID.to_string()),
            Some(w) => {
                let empty = tx
                    .query_row("SELECT 1 FROM ps_crud LIMIT 1", [], |_| Ok(()))
                    .optional()?
                    .is_none();
                empty.then_some(w)
            }
        };
        if let Some(t) = target {
            tx.query_row(
                "SELECT powersync_control('target_checkpoint_request_id', ?)",
                [t],
                |_| Ok(()),
            )?;
        }
        tx.commit()?;
        Ok(())
    })
    .await
}

/// The id of the first queued row, if any.
pub(crate) fn first_id(conn: &Connection) -> Result<Option<i64>> {
    Ok(conn
        .query_row("SELECT id FROM ps_crud ORDER BY id ASC LIMIT 1", [], |r| r.get(0))
        .optional()?)
}

/// Current `target_checkpoint_request_id` (a read-only call), in the caller's transaction.
pub(crate) fn read_target(conn: &Connection) -> Result<Option<String>> {
    let value = conn.query_row(
        "SELECT powersync_control('target_checkpoint_request_id', NULL)",
        [],
        |r| r.get::<_, rusqlite::types::Value>(0),
    )?;
    Ok(as_text(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = r#"{"tables":[{"name":"items","columns":[{"name":"name","type":"text"}]}]}"#;

    async fn target(pool: &Pool) -> Option<String> {
        pool.write(|c| read_target(&*c.transaction()?)).await.unwrap()
    }

    async fn exec(pool: &Pool, sql: &'static str) {
        pool.write(move |c| Ok(c.execute_batch(sql)?)).await.unwrap();
    }

    #[tokio::test]
    async fn complete_sets_the_target_per_http_md_7() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Pool::open(&dir.path().join("c.db"), Some(SCHEMA), 1, false).unwrap();
        exec(
            &pool,
            "INSERT INTO items(id, name) VALUES ('a', 'x'); INSERT INTO items(id, name) VALUES ('b', 'y');",
        )
        .await;
        exec(
            &pool,
            "BEGIN; SELECT powersync_control('target_checkpoint_request_id', '3'); COMMIT;",
        )
        .await;

        // A custom write checkpoint while rows stay queued: the target is left alone.
        let first = transaction_after(&pool, None).await.unwrap().unwrap();
        assert_eq!(first.entries.len(), 1);
        first.complete(Some("40".into())).await.unwrap();
        assert_eq!(target(&pool).await.as_deref(), Some("3"));

        // The last one with a custom write checkpoint: it becomes the target.
        let batch = get_batch(&pool, 100).await.unwrap().unwrap();
        assert!(!batch.has_more);
        batch.complete(Some("41".into())).await.unwrap();
        assert_eq!(target(&pool).await.as_deref(), Some("41"));
        assert!(get_batch(&pool, 100).await.unwrap().is_none());

        // Without a custom write checkpoint: "fetch one after the upload".
        exec(&pool, "INSERT INTO items(id, name) VALUES ('c', 'z')").await;
        get_batch(&pool, 1)
            .await
            .unwrap()
            .unwrap()
            .complete(None)
            .await
            .unwrap();
        assert_eq!(target(&pool).await.as_deref(), Some(MAX_OP_ID));
    }

    #[test]
    fn transaction_grouping() {
        assert_eq!(transaction_len(&[]), 0);
        assert_eq!(transaction_len(&[(1, Some(1)), (2, Some(1)), (3, Some(2))]), 2);
        // A gap ends the transaction even with the same tx_id.
        assert_eq!(transaction_len(&[(1, Some(1)), (3, Some(1))]), 1);
        assert_eq!(transaction_len(&[(4, Some(3)), (5, Some(3)), (6, Some(3))]), 3);
        assert_eq!(transaction_len(&[(4, None), (5, None), (6, Some(1))]), 2);
    }

    #[test]
    fn entry_decoding_and_upload_format() {
        let e = decode_entry(
            8,
            Some(11),
            r#"{"op":"PUT","id":"m1","type":"meta","data":{"a":"x"},"metadata":"{\"who\":\"me\"}"}"#,
        )
        .unwrap();
        assert_eq!(e.op, UpdateType::Put);
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"op_id":8,"tx_id":11,"op":"PUT","type":"meta","id":"m1","data":{"a":"x"},"metadata":"{\"who\":\"me\"}"}"#
        );
        let d = decode_entry(
            10,
            Some(13),
            r#"{"op":"DELETE","id":"m1","type":"meta","old":{"a":"y"}}"#,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"op_id":10,"tx_id":13,"op":"DELETE","type":"meta","id":"m1","old":{"a":"y"}}"#
        );
        assert!(matches!(
            decode_entry(3, None, "not json"),
            Err(Error::CrudData { id: 3, .. })
        ));
    }
}
