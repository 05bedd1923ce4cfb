//! Checkpoint requests and the write-gate target in `ps_kv` (spec sync.md §9).

use rusqlite::Connection;

use crate::error::{PsError, PsResult};
use crate::function::Args;
use crate::sql;

const LAST_REQUESTED: &str = "last_requested_checkpoint_request_id";
const TARGET: &str = "target_checkpoint_request_id";
/// The target set by a local write: "wait until the service acknowledged everything".
pub const MAX_OP_ID: i64 = i64::MAX;

fn read(db: &Connection, key: &str) -> PsResult<Option<i64>> {
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

/// An integer argument or a decimal integer string; `None` for anything else.
fn integer_argument(args: &Args, i: usize) -> Option<i64> {
    match args.value_type(i) {
        rusqlite::ffi::SQLITE_INTEGER => Some(args.int64(i)),
        rusqlite::ffi::SQLITE_TEXT => args.text(i).and_then(|t| t.parse::<i64>().ok()),
        _ => None,
    }
}

pub fn seed(db: &Connection, args: &Args) -> PsResult<i64> {
    let value = integer_argument(args, 1)
        .ok_or_else(|| PsError::invalid_argument("checkpoint request id must be an integer or integer string"))?;
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
pub fn set_target(db: &Connection, args: &Args) -> PsResult<Option<i64>> {
    let previous = target(db)?;
    if args.value_type(1) == rusqlite::ffi::SQLITE_NULL {
        return Ok(previous);
    }
    let value = integer_argument(args, 1).ok_or_else(|| {
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
