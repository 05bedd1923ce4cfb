//! Checkpoint requests and the write-gate target in `ps_kv` (docs/protocol.md, "Write checkpoints and checkpoint requests").

use rusqlite::Connection;

use crate::error::{PsError, PsResult};
use crate::sql;

// The `ps_kv` keys of checkpoint requests and the local-write gate (docs/protocol.md, "Publishing").
const LAST_REQUESTED: &str = "last_requested_checkpoint_request_id";
const TARGET: &str = "target_checkpoint_request_id";
const LAST_SEEN: &str = "last_seen_checkpoint_request_id";
const LAST_APPLIED: &str = "last_applied_checkpoint_request_id";
/// Ours: what the last `start` did about a stuck gate (docs/internal-storage.md, "`ps_kv` keys").
pub const GATE_HEAL: &str = "healed_write_gate";
/// The target set by a local write: "wait until the service acknowledged everything".
pub const MAX_OP_ID: i64 = i64::MAX;

/// A `ps_kv` value as an integer.
pub fn read(db: &Connection, key: &str) -> PsResult<Option<i64>> {
    Ok(sql::query_optional(
        db,
        "SELECT CAST(value AS INTEGER) FROM ps_kv WHERE key = ?",
        [key],
        |r| r.get::<_, Option<i64>>(0),
    )?
    .flatten())
}

fn write(db: &Connection, key: &str, value: i64) -> PsResult<()> {
    sql::execute(
        db,
        "INSERT OR REPLACE INTO ps_kv(key, value) VALUES (?, ?)",
        rusqlite::params![key, value],
    )?;
    Ok(())
}

/// Closes the local-write gate after a local write: downloaded data may only be applied once
/// the service has acknowledged everything written so far (docs/protocol.md, "Publishing").
pub fn close_write_gate(db: &Connection) -> PsResult<()> {
    write(db, TARGET, MAX_OP_ID)?;
    sql::execute(db, "DELETE FROM ps_kv WHERE key IN (?, ?)", [LAST_SEEN, LAST_APPLIED])?;
    Ok(())
}

/// Whether local writes block publishing: a target the service has not reached yet, or
/// pending uploads.
pub fn write_gate_closed(db: &Connection) -> PsResult<bool> {
    let sql = "SELECT IFNULL((SELECT CAST(value AS INTEGER) FROM ps_kv WHERE key = ?1) > COALESCE((SELECT CAST(value AS INTEGER) FROM ps_kv WHERE key = ?2), 0), 0) OR EXISTS (SELECT 1 FROM ps_crud)";
    db.prepare_cached(sql)
        .and_then(|mut s| s.query_row([TARGET, LAST_SEEN], |r| r.get(0)))
        .map_err(|e| PsError::sqlite(Some(sql), e))
}

/// Records the `write_checkpoint` of a complete checkpoint before the gate check.
pub fn record_seen(db: &Connection, write_checkpoint: i64) -> PsResult<()> {
    write(db, LAST_SEEN, write_checkpoint)
}

/// Records the `write_checkpoint` of a complete checkpoint once it was applied.
pub fn record_applied(db: &Connection, write_checkpoint: i64) -> PsResult<()> {
    write(db, LAST_APPLIED, write_checkpoint)
}

pub fn target(db: &Connection) -> PsResult<Option<i64>> {
    read(db, TARGET)
}

pub fn current(db: &Connection) -> PsResult<Option<i64>> {
    read(db, LAST_REQUESTED)
}

/// The id a `requests`-mode stream starts with: the highest of the last requested id, a
/// concrete target and 1.
pub fn initial_request_id(db: &Connection) -> PsResult<i64> {
    let requested = current(db)?.unwrap_or(0);
    let target = target(db)?.filter(|t| *t > 0 && *t != MAX_OP_ID).unwrap_or(0);
    Ok(requested.max(target).max(1))
}

/// What `start` did about a stuck local-write gate (docs/decisions.md, "Healing a stuck write
/// gate").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateHeal {
    /// Requests mode: the target became this fresh checkpoint request id, which the stream's
    /// `checkpoint_request` carries to the service.
    Requested(i64),
    /// Legacy mode: the core cannot obtain a write checkpoint, so the gate stays closed until the
    /// client fetches one.
    LeftToClient,
}

/// The gate is stuck when a local write closed it (target = max), the upload queue is empty and
/// no write checkpoint was requested for those uploads: nothing in the core will ever lower the
/// target, so every checkpoint waits. This is what a crash between emptying `ps_crud` and storing
/// the write checkpoint leaves behind.
pub fn gate_stuck(db: &Connection) -> PsResult<bool> {
    Ok(target(db)? == Some(MAX_OP_ID)
        && sql::query_optional(db, "SELECT 1 FROM ps_crud LIMIT 1", [], |_| Ok(()))?.is_none())
}

/// Heals a stuck gate when a stream starts (and does nothing otherwise). In requests mode the
/// target becomes one more than any id this client may have posted before: the service only
/// acknowledges that id after the SDK posts it, which happens after this `start`, so after every
/// upload that emptied the queue; a checkpoint that carries it therefore covers all of them.
/// Reusing an older id would be unsafe: the service may have acknowledged it before the uploads.
/// In legacy mode only the client can fetch a write checkpoint, and reopening the gate would
/// apply checkpoints that may not contain the uploaded writes yet, so the gate stays closed.
/// Either way the outcome is recorded for `powersync_diagnostics()`.
pub fn heal_stuck_gate(db: &Connection, requests_mode: bool, now: i64) -> PsResult<Option<GateHeal>> {
    if !gate_stuck(db)? {
        return Ok(None);
    }
    // No fresh id below the sentinel (only after about 9.2e18 requests): nothing the core can ask
    // for, as in legacy mode.
    let fresh = initial_request_id(db)?.checked_add(1).filter(|id| *id < MAX_OP_ID);
    let heal = match fresh {
        Some(id) if requests_mode => {
            write(db, TARGET, id)?;
            GateHeal::Requested(id)
        }
        _ => GateHeal::LeftToClient,
    };
    let record = match heal {
        GateHeal::Requested(id) => {
            serde_json::json!({"at": now, "mode": "requests", "action": "requested", "checkpoint_request_id": id})
        }
        GateHeal::LeftToClient => serde_json::json!({"at": now, "mode": "legacy", "action": "left to the client"}),
    };
    sql::execute(
        db,
        "INSERT OR REPLACE INTO ps_kv(key, value) VALUES (?, ?)",
        rusqlite::params![GATE_HEAL, record.to_string()],
    )?;
    Ok(Some(heal))
}

/// The last recorded [`heal_stuck_gate`] outcome, as stored.
pub fn last_heal(db: &Connection) -> PsResult<Option<String>> {
    // As text whatever its type, so that a value stored by hand cannot fail the diagnostics.
    sql::query_optional(
        db,
        "SELECT CAST(value AS TEXT) FROM ps_kv WHERE key = ?",
        [GATE_HEAL],
        |r| r.get::<_, Option<String>>(0),
    )
    .map(Option::flatten)
}

/// A checkpoint request id as given: an integer or decimal integer string, `None` for anything
/// else (which the commands reject with their own messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdArgument(pub Option<i64>);

/// The argument of `target_checkpoint_request_id`: NULL only reads the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetArgument {
    Read,
    Set(IdArgument),
}

pub fn seed(db: &Connection, id: IdArgument) -> PsResult<i64> {
    let value =
        id.0.ok_or_else(|| PsError::invalid_argument("checkpoint request id must be an integer or integer string"))?;
    if value < 0 {
        return Err(PsError::invalid_argument(
            "checkpoint request id must be a non-negative integer",
        ));
    }
    if value == 0 {
        return Err(PsError::invalid_argument(
            "checkpoint request id must be a positive integer",
        ));
    }
    write(db, LAST_REQUESTED, value)?;
    Ok(value)
}

pub fn next(db: &Connection) -> PsResult<i64> {
    let current = current(db)?.ok_or_else(|| PsError::invalid_state("Checkpoint request state has not been seeded"))?;
    let next = current.saturating_add(1);
    write(db, LAST_REQUESTED, next)?;
    Ok(next)
}

/// Sets (positive), clears (0) or only reads (NULL) the target; returns the previous one.
pub fn set_target(db: &Connection, argument: TargetArgument) -> PsResult<Option<i64>> {
    let previous = target(db)?;
    let TargetArgument::Set(IdArgument(value)) = argument else {
        return Ok(previous);
    };
    let value = value.ok_or_else(|| {
        PsError::invalid_argument("target checkpoint request id must be an integer, integer string, or null")
    })?;
    if value < 0 {
        return Err(PsError::invalid_argument(
            "target checkpoint request id must be a non-negative integer",
        ));
    }
    if value == 0 {
        sql::execute(db, "DELETE FROM ps_kv WHERE key = ?", [TARGET])?;
    } else {
        write(db, TARGET, value)?;
    }
    Ok(previous)
}

#[cfg(test)]
mod tests;
