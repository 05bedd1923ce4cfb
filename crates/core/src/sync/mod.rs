//! The sync client behind `powersync_control` (docs/protocol.md): line decoding (`line`, with the BSON
//! decoder in `bson`), bucket storage and checksums (`storage`), publishing (`sync_local`, with
//! `row_targets` choosing the table, `raw_tables` / `direct_tables` building statements and
//! `row_writer` running them), streams, status, instructions, checkpoint requests and the state machine
//! (`iteration`).

mod atomic;
mod bson;
pub mod bulk;
pub mod checkpoint_requests;
mod command;
pub mod direct_tables;
pub mod instruction;
#[cfg(test)]
mod io_workload;
pub mod iteration;
mod json_columns;
pub mod line;
pub mod raw_tables;
pub mod row_targets;
pub mod row_writer;
pub mod status;
pub mod storage;
pub mod streams;
pub mod sync_local;
#[cfg(test)]
mod temp_files;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod test_vfs;
#[cfg(test)]
mod work_shape;

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

use crate::error::{PsError, PsResult};
use crate::function::{Call, Output};
use crate::sql;
use crate::state::DatabaseState;
use command::Command;
use instruction::to_json;
use iteration::{BulkStep, Iteration, Outcome};
use line::SyncLine;

/// Now in microseconds since the Unix epoch, truncated to whole milliseconds (what the
/// reference's `unixepoch('subsec')` yields, computed here so it works before SQLite 3.42).
pub fn now_micros() -> i64 {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    millis * 1000
}

fn no_iteration() -> PsError {
    PsError::invalid_state("No iteration is active")
}

/// The sync client of a connection: the running iteration and a connection handle whose
/// statement cache keeps the sync statements prepared across calls.
#[derive(Default)]
pub struct SyncClient {
    pub iteration: Option<Iteration>,
    db: Option<Connection>,
}

/// A handle with a statement cache that outlives the call, if the close table is connected:
/// its disconnect drops the handle, finalising the statements before SQLite checks for
/// unfinalised ones at close (docs/sql-functions.md, "Virtual tables").
fn cached_connection(call: &Call) -> Option<Connection> {
    // An error here only means no caching; the call itself reports real problems.
    let _ = sql::execute_batch(&call.connection(), "SELECT 1 FROM powersync_internal_close");
    call.state
        .close_table_connected
        .load(Ordering::Relaxed)
        .then(|| call.connection())
}

pub fn control_fn(call: &Call) -> PsResult<Output> {
    let command = Command::decode(&call.args)?;
    let state = call.state;
    let mut guard = match state.sync.try_lock() {
        Ok(guard) => guard,
        // A panic was caught during an earlier call: its iteration may be half-updated.
        Err(std::sync::TryLockError::Poisoned(poisoned)) => {
            let mut guard = poisoned.into_inner();
            *guard = SyncClient::default();
            guard
        }
        Err(std::sync::TryLockError::WouldBlock) => {
            return Err(PsError::invalid_state("The sync client is already in use"));
        }
    };
    let SyncClient {
        iteration: client,
        db: cached,
    } = &mut *guard;
    if cached.is_none() {
        *cached = cached_connection(call);
    }
    let fresh;
    let db: &Connection = match cached {
        Some(db) => db,
        None => {
            fresh = call.connection();
            &fresh
        }
    };
    let mut savepoint = CallSavepoint::new(db);
    if command.writes() && !command.decides_atomicity() {
        savepoint.begin()?;
    }
    let result = dispatch(client, db, state, command, &mut savepoint);
    savepoint.finish(result.is_ok())?;
    result
}

/// Makes one `powersync_control` call atomic: its writes are kept only if it succeeds. Without
/// it, the work done before an error would stay in the caller's transaction, and a caller that
/// commits anyway would keep a half-applied checkpoint (a deliberate difference from the
/// reference, docs/decisions.md). Data lines and publishes open it only when something other
/// than SQLite itself could fail after their first write (`atomic`): inside the caller's
/// transaction it makes SQLite copy every pre-existing page the call changes into a
/// sub-journal, which spills to a temporary file. Dropped without `finish` (a panic), it rolls
/// back too.
struct CallSavepoint<'a> {
    db: &'a Connection,
    open: bool,
}

impl<'a> CallSavepoint<'a> {
    fn new(db: &'a Connection) -> CallSavepoint<'a> {
        CallSavepoint { db, open: false }
    }

    /// Opens the savepoint; must come before the call's first write.
    fn begin(&mut self) -> PsResult<()> {
        if !self.open {
            sql::execute(self.db, "SAVEPOINT powersync_control_call", [])?;
            self.open = true;
        }
        Ok(())
    }

    fn finish(mut self, keep: bool) -> PsResult<()> {
        if !std::mem::take(&mut self.open) {
            return Ok(());
        }
        if keep {
            sql::execute(self.db, "RELEASE powersync_control_call", []).map(|_| ())
        } else {
            Self::roll_back(self.db)
        }
    }

    fn roll_back(db: &Connection) -> PsResult<()> {
        sql::execute_batch(db, "ROLLBACK TO powersync_control_call; RELEASE powersync_control_call")
    }
}

impl Drop for CallSavepoint<'_> {
    fn drop(&mut self) {
        if self.open {
            // Nothing more can be reported while unwinding; the transaction stays usable.
            let _ = Self::roll_back(self.db);
        }
    }
}

/// Opens the call's savepoint for a sync line unless the line is one of the two hot writers and
/// `atomic` finds nothing that could fail after its first write. Returns the bulk step it decided
/// for a data line, which the line then follows (`Iteration::line_with_bulk_step`), so the schema
/// is looked at once per line.
fn guard_line(
    db: &Connection,
    iteration: &Iteration,
    line: &SyncLine,
    savepoint: &mut CallSavepoint,
) -> PsResult<Option<BulkStep>> {
    let (needed, step) = match line {
        SyncLine::Data(data) => {
            let step = iteration.bulk_step(db, data)?;
            (
                step.finishes() || atomic::data_line_needs_savepoint(db, data)?,
                Some(step),
            )
        }
        SyncLine::CheckpointComplete | SyncLine::PartialCheckpointComplete(_) => (
            bulk::active(db)? || atomic::publish_needs_savepoint(db, iteration.targets())?,
            None,
        ),
        _ => (true, None),
    };
    if needed {
        savepoint.begin()?;
    }
    Ok(step)
}

/// Runs one command against the connection's iteration slot.
fn dispatch(
    client: &mut Option<Iteration>,
    db: &Connection,
    state: &DatabaseState,
    command: Command,
    savepoint: &mut CallSavepoint,
) -> PsResult<Output> {
    // Runs an event on the active iteration. An error keeps the iteration as it was before the
    // event (the iteration's handlers do every fallible step before they change any state), so
    // the SDK can go on or `stop` it normally; the call's savepoint undoes its writes (or, for the
    // hot lines without one, `atomic` made sure nothing but SQLite can fail once they write).
    let on_iteration =
        |client: &mut Option<Iteration>, f: &mut dyn FnMut(&mut Iteration) -> PsResult<Outcome>| -> PsResult<Output> {
            let iteration = client.as_mut().ok_or_else(no_iteration)?;
            let outcome = f(iteration)?;
            if outcome.ended {
                *client = None;
            }
            Ok(Output::Json(to_json(&outcome.instructions)))
        };
    let require_iteration = |client: &Option<Iteration>| if client.is_none() { Err(no_iteration()) } else { Ok(()) };

    match command {
        Command::Start(options) => {
            // The new iteration is prepared first: if that fails, the running one stays active;
            // if it succeeds, the running one is replaced without instructions of its own.
            let (iteration, instructions) = Iteration::start(db, options)?;
            *client = Some(iteration);
            Ok(Output::Json(to_json(&instructions)))
        }
        Command::Stop => match client.take() {
            Some(mut iteration) => Ok(Output::Json(to_json(&iteration.disconnect().instructions))),
            None => Ok(Output::Json(to_json(&[]))),
        },
        Command::LineText(text) => on_iteration(client, &mut |it| {
            let line = line::parse_text(&text)?;
            let step = guard_line(db, it, &line, savepoint)?;
            it.line_with_bulk_step(db, state, line, text.len(), step)
        }),
        Command::LineBinary(bytes) => on_iteration(client, &mut |it| {
            let line = line::parse_binary(bytes)?;
            let step = guard_line(db, it, &line, savepoint)?;
            it.line_with_bulk_step(db, state, line, bytes.len(), step)
        }),
        Command::ConnectionEstablished => on_iteration(client, &mut |it| Ok(it.connection_established())),
        Command::ConnectionEnd => on_iteration(client, &mut |it| Ok(it.disconnect())),
        Command::CompletedUpload => on_iteration(client, &mut |it| {
            if bulk::active(db)? || atomic::publish_needs_savepoint(db, it.targets())? {
                savepoint.begin()?;
            }
            it.completed_upload(db, state)
        }),
        Command::RefreshedToken => on_iteration(client, &mut |it| Ok(it.refreshed_token())),
        Command::UpdateSubscriptions(active) => {
            let mut active = Some(active);
            on_iteration(client, &mut |it| {
                it.update_subscriptions(db, active.take().unwrap_or_default())
            })
        }
        Command::Subscriptions(command) => {
            streams::apply_subscription_command(db, &command, now_micros())?;
            Ok(Output::Null)
        }
        Command::SeedCheckpointRequestId(id) => {
            require_iteration(client)?;
            Ok(Output::Int(checkpoint_requests::seed(db, id)?))
        }
        Command::NextCheckpointRequestId => {
            require_iteration(client)?;
            Ok(Output::Int(checkpoint_requests::next(db)?))
        }
        Command::CurrentCheckpointRequestId => Ok(checkpoint_requests::current(db)?.map_or(Output::Null, Output::Int)),
        Command::TargetCheckpointRequestId(argument) => {
            Ok(checkpoint_requests::set_target(db, argument)?.map_or(Output::Null, Output::Int))
        }
    }
}

pub fn offline_sync_status_fn(call: &Call) -> PsResult<Output> {
    let status = status::offline_status(&call.connection())?;
    Ok(Output::Text(
        serde_json::to_string(&status).expect("status always serialises"),
    ))
}

/// Whether a sync iteration is running on this connection (a call into the sync client that is
/// in progress right now, which is how an app trigger could get here, counts as running).
pub fn iteration_active(state: &crate::state::DatabaseState) -> bool {
    match state.sync.try_lock() {
        Ok(client) => client.iteration.is_some(),
        Err(std::sync::TryLockError::Poisoned(client)) => client.into_inner().iteration.is_some(),
        Err(std::sync::TryLockError::WouldBlock) => true,
    }
}

#[cfg(test)]
mod tests;
