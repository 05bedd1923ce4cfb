//! A way out for uploads the backend keeps rejecting, without losing anything: each queued
//! transaction's last upload error, and parking (moving a transaction out of `ps_crud` into a
//! table of ours), discarding and retrying (docs/client.md, "Rejected uploads").
//!
//! Both tables belong to the client, not to the extension, and are created on first use:
//! `ps_client_upload_errors` (per transaction id: attempts, permanent rejections, last error)
//! and `ps_client_parked` (the parked `ps_crud` rows, as they were).
//!
//! Why a parked write converges to the server's version: every local write also put its row in
//! `ps_updated_rows`, and the extension only publishes a checkpoint once `ps_crud` is empty and
//! the write-checkpoint target is reached; it then re-applies the rows of `ps_updated_rows` from
//! the oplog (a row the server does not have is deleted). Parking empties the transaction out
//! of `ps_crud` and closes the write gate (target = max), so the upload loop fetches a fresh write
//! checkpoint and the next checkpoint brings the row back to the server's version.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use crate::crud::{decode_entry, CrudEntry, MAX_OP_ID};
use crate::error::{Error, Result};

const CREATE: &str = "
CREATE TABLE IF NOT EXISTS ps_client_upload_errors(
  tx_id INTEGER PRIMARY KEY,
  attempts INTEGER NOT NULL,
  rejections INTEGER NOT NULL,
  last_error TEXT NOT NULL,
  at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ps_client_parked(
  id INTEGER PRIMARY KEY,
  tx_id INTEGER NOT NULL,
  data TEXT NOT NULL,
  parked_at_ms INTEGER NOT NULL,
  reason TEXT NOT NULL);";

/// What [`crate::PowerSyncDatabase::connect`]'s upload loop does with a transaction the
/// connector reports as rejected for good (`BackendConnector::is_rejection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnReject {
    /// Retry forever (with backoff); nothing moves without the application's decision.
    #[default]
    Retry,
    /// Park the transaction after this many rejections (at least 1).
    Park { after: u32 },
}

/// The last upload error recorded for a queued transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadErrorRecord {
    pub tx_id: i64,
    /// Failed upload attempts while this transaction was first in the queue.
    pub attempts: i64,
    /// Of those, rejections for good (the connector's `is_rejection`).
    pub rejections: i64,
    pub last_error: String,
    pub at_ms: i64,
}

/// A parked transaction: its changes as they were queued, and why it was parked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParkedTransaction {
    pub tx_id: i64,
    pub entries: Vec<CrudEntry>,
    pub parked_at_ms: i64,
    pub reason: String,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn has_tables(conn: &Connection) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT count(*) = 2 FROM sqlite_master WHERE type = 'table' AND name IN ('ps_client_upload_errors', 'ps_client_parked')",
        [],
        |r| r.get(0),
    )?)
}

/// Closes the write gate (target = max), as a local write does, so that no checkpoint is
/// published before a fresh write checkpoint was obtained.
fn close_write_gate(conn: &Connection) -> Result<()> {
    conn.query_row(
        "SELECT powersync_control('target_checkpoint_request_id', ?)",
        [MAX_OP_ID],
        |_| Ok(()),
    )?;
    Ok(())
}

/// The transaction id of the first queued change.
pub(crate) fn first_tx(conn: &Connection) -> Result<Option<i64>> {
    Ok(conn
        .query_row("SELECT tx_id FROM ps_crud ORDER BY id LIMIT 1", [], |r| {
            r.get::<_, Option<i64>>(0)
        })
        .optional()?
        .flatten())
}

/// Records a failed upload of the first queued transaction; returns its rejection count.
pub(crate) fn record_failure(conn: &mut Connection, tx_id: i64, error: &str, rejection: bool) -> Result<i64> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(CREATE)?;
    let rejections = tx.query_row(
        "INSERT INTO ps_client_upload_errors(tx_id, attempts, rejections, last_error, at_ms) VALUES (?1, 1, ?2, ?3, ?4)
         ON CONFLICT(tx_id) DO UPDATE SET attempts = attempts + 1, rejections = rejections + excluded.rejections,
           last_error = excluded.last_error, at_ms = excluded.at_ms
         RETURNING rejections",
        rusqlite::params![tx_id, i64::from(rejection), error, now_ms()],
        |r| r.get(0),
    )?;
    tx.commit()?;
    Ok(rejections)
}

/// Forgets the errors of transactions that are no longer queued (uploaded, parked, discarded).
pub(crate) fn forget_settled(conn: &Connection) -> Result<()> {
    if has_tables(conn)? {
        conn.execute(
            "DELETE FROM ps_client_upload_errors WHERE tx_id NOT IN (SELECT tx_id FROM ps_crud WHERE tx_id IS NOT NULL)",
            [],
        )?;
    }
    Ok(())
}

/// Moves the queued transaction `tx_id` to `ps_client_parked`. Returns the number of changes.
pub(crate) fn park(conn: &mut Connection, tx_id: i64, reason: &str) -> Result<usize> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(CREATE)?;
    let moved = tx.execute(
        "INSERT INTO ps_client_parked(id, tx_id, data, parked_at_ms, reason) SELECT id, tx_id, data, ?2, ?3 FROM ps_crud WHERE tx_id = ?1",
        rusqlite::params![tx_id, now_ms(), reason],
    )?;
    if moved == 0 {
        return Err(Error::NoSuchTransaction { tx_id });
    }
    tx.execute("DELETE FROM ps_crud WHERE tx_id = ?", [tx_id])?;
    tx.execute("DELETE FROM ps_client_upload_errors WHERE tx_id = ?", [tx_id])?;
    close_write_gate(&tx)?;
    tx.commit()?;
    Ok(moved)
}

/// Drops the transaction `tx_id`, queued or parked. Returns the number of changes dropped.
pub(crate) fn discard(conn: &mut Connection, tx_id: i64) -> Result<usize> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut n = tx.execute("DELETE FROM ps_crud WHERE tx_id = ?", [tx_id])?;
    if has_tables(&tx)? {
        n += tx.execute("DELETE FROM ps_client_parked WHERE tx_id = ?", [tx_id])?;
        tx.execute("DELETE FROM ps_client_upload_errors WHERE tx_id = ?", [tx_id])?;
    }
    if n == 0 {
        return Err(Error::NoSuchTransaction { tx_id });
    }
    close_write_gate(&tx)?;
    tx.commit()?;
    Ok(n)
}

/// Puts the parked transaction `tx_id` back into `ps_crud` with its original ids, i.e. ahead of
/// every change queued after it. Returns the number of changes.
pub(crate) fn retry(conn: &mut Connection, tx_id: i64) -> Result<usize> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !has_tables(&tx)? {
        return Err(Error::NoSuchTransaction { tx_id });
    }
    let n = tx.execute(
        "INSERT INTO ps_crud(id, tx_id, data) SELECT id, tx_id, data FROM ps_client_parked WHERE tx_id = ? ORDER BY id",
        [tx_id],
    )?;
    if n == 0 {
        return Err(Error::NoSuchTransaction { tx_id });
    }
    tx.execute("DELETE FROM ps_client_parked WHERE tx_id = ?", [tx_id])?;
    close_write_gate(&tx)?;
    tx.commit()?;
    Ok(n)
}

pub(crate) fn upload_errors(conn: &Connection) -> Result<Vec<UploadErrorRecord>> {
    if !has_tables(conn)? {
        return Ok(Vec::new());
    }
    let mut stmt = conn
        .prepare("SELECT tx_id, attempts, rejections, last_error, at_ms FROM ps_client_upload_errors ORDER BY tx_id")?;
    let rows = stmt.query_map([], |r| {
        Ok(UploadErrorRecord {
            tx_id: r.get(0)?,
            attempts: r.get(1)?,
            rejections: r.get(2)?,
            last_error: r.get(3)?,
            at_ms: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

pub(crate) fn parked(conn: &Connection) -> Result<Vec<ParkedTransaction>> {
    if !has_tables(conn)? {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare("SELECT id, tx_id, data, parked_at_ms, reason FROM ps_client_parked ORDER BY id")?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut out: Vec<ParkedTransaction> = Vec::new();
    for (id, tx_id, data, at, reason) in rows {
        let entry = decode_entry(id, Some(tx_id), &data)?;
        match out.last_mut() {
            Some(t) if t.tx_id == tx_id => t.entries.push(entry),
            _ => out.push(ParkedTransaction {
                tx_id,
                entries: vec![entry],
                parked_at_ms: at,
                reason,
            }),
        }
    }
    Ok(out)
}
