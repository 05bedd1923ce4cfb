//! `powersync_clear(flags)` and `powersync_trigger_resync(clear_progress)` (docs/sql-functions.md,
//! "Scalar functions"): forgetting downloaded and local data, or re-applying it on the next checkpoint.

use rusqlite::Connection;

use crate::error::{PsError, PsResult};
use crate::function::{Call, Output};
use crate::schema::existing;
use crate::sql::{self, SqlWriter};
use crate::state::DatabaseState;

/// Also clear local-only tables.
pub const CLEAR_LOCAL: i32 = 0x01;
/// Keep downloaded bucket data, so a reconnect with overlapping buckets is cheaper.
pub const SOFT_CLEAR: i32 = 0x02;

fn refuse_while_syncing(state: &DatabaseState) -> PsResult<()> {
    if crate::sync::iteration_active(state) {
        return Err(PsError::invalid_argument(
            "Cannot clear or trigger resync while a sync iteration is active.",
        ));
    }
    Ok(())
}

pub fn clear(db: &Connection, state: &DatabaseState, flags: i32) -> PsResult<()> {
    if flags & SOFT_CLEAR == 0 {
        sql::execute_batch(db, "DELETE FROM ps_oplog; DELETE FROM ps_buckets")?;
    } else {
        refuse_while_syncing(state)?;
        sql::execute_batch(db, "UPDATE ps_buckets SET last_applied_op = 0")?;
    }
    // A bulk download's dropped indexes are built again (over nothing, after a full clear).
    crate::sync::bulk::finish(db)?;
    sql::execute_batch(
        db,
        "DELETE FROM ps_crud; DELETE FROM ps_untyped; DELETE FROM ps_updated_rows; DELETE FROM ps_kv WHERE key != 'client_id' AND key NOT GLOB 'powersync_config.*'; DELETE FROM ps_stream_subscriptions;",
    )?;
    // Settings (ours, `crate::config`) belong to the database like its client id and survive;
    // the rows they held had local writes, which are gone.
    crate::config::forget_pending_rows(db)?;
    sql::execute_batch(
        db,
        "DELETE FROM ps_sync_state; UPDATE ps_stream_subscriptions SET last_synced_at = NULL",
    )?;

    // Direct tables have CRUD triggers on the table itself: deleting is flagged as a sync
    // operation so that they record nothing.
    state.while_syncing(|| clear_tables(db, flags & CLEAR_LOCAL != 0))?;

    if let Some(schema) = state.schema() {
        for raw in &schema.raw_tables {
            if let Some(statement) = &raw.clear {
                // Flagged as a sync operation so that raw-table CRUD triggers do not record it.
                state
                    .while_syncing(|| sql::execute_batch(db, statement))
                    .map_err(|e| e.with_context(format!("Clearing raw table {}", raw.name)))?;
            }
        }
    }
    Ok(())
}

fn clear_tables(db: &Connection, include_local: bool) -> PsResult<()> {
    let mut w = SqlWriter::new();
    for table in existing::tables(db)? {
        if table.local_only && !include_local {
            continue;
        }
        // One row first so that update hooks see the table; the full delete then uses SQLite's
        // truncate optimisation (where the table has no triggers), which reports nothing.
        w.raw("DELETE FROM ")
            .ident(&table.storage)
            .raw(" WHERE rowid IN (SELECT rowid FROM ")
            .ident(&table.storage)
            .raw(" LIMIT 1);\nDELETE FROM ")
            .ident(&table.storage)
            .raw(";");
        sql::execute_batch(db, &w.take())?;
    }
    Ok(())
}

pub fn clear_fn(call: &Call) -> PsResult<Output> {
    clear(&call.connection(), call.state, call.args.int(0))?;
    Ok(Output::Text(String::new()))
}

/// Makes the next checkpoint re-apply every bucket's oplog to the tables (also requested by a
/// schema change that adds columns to a direct table).
pub fn trigger_resync(db: &Connection, state: &DatabaseState) -> PsResult<()> {
    refuse_while_syncing(state)?;
    sql::execute_batch(db, "UPDATE ps_buckets SET last_applied_op = 0")
}

pub fn trigger_resync_fn(call: &Call) -> PsResult<Output> {
    let db = call.connection();
    trigger_resync(&db, call.state)?;
    if call.args.int(0) != 0 {
        sql::execute_batch(
            &db,
            "DELETE FROM ps_sync_state; UPDATE ps_stream_subscriptions SET last_synced_at = NULL",
        )?;
    }
    Ok(Output::Text(String::new()))
}

#[cfg(test)]
mod tests;
