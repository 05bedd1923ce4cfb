//! Per-database settings of ours (docs/sql-functions.md, "Settings"): `powersync_config_set(name,
//! value)` and `powersync_config_get(name)`, after cr-sqlite's `crsql_config_set`. A setting
//! lives in `ps_kv` under `powersync_config.<name>`; a setting at its default has no key, so a
//! database that never turned one on is exactly the reference's.
//!
//! The one setting, `apply_around_pending_uploads` (docs/protocol.md, "Applying around pending
//! uploads"), also keeps the set of rows with local writes the service has not covered yet:
//! `ps_pending_rows`, filled by a trigger on `ps_crud`. The table is created when the setting is
//! first turned on; the trigger exists only while it is on.

use rusqlite::{ffi, Connection};

use crate::error::{PsError, PsResult};
use crate::function::{Call, Output};
use crate::sql;
use crate::sync::checkpoint_requests;

/// Prefix of the `ps_kv` keys of settings.
const KEY_PREFIX: &str = "powersync_config.";

/// The settings `powersync_config_set` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// Publish checkpoints to every row without a pending local write while uploads wait.
    ApplyAroundPendingUploads,
}

impl Setting {
    const ALL: [Setting; 1] = [Setting::ApplyAroundPendingUploads];

    pub fn name(self) -> &'static str {
        match self {
            Setting::ApplyAroundPendingUploads => "apply_around_pending_uploads",
        }
    }

    fn parse(name: &str) -> PsResult<Setting> {
        Setting::ALL.into_iter().find(|s| s.name() == name).ok_or_else(|| {
            let known: Vec<&str> = Setting::ALL.iter().map(|s| s.name()).collect();
            PsError::invalid_argument(format!("unknown setting '{name}' (known: {})", known.join(", ")))
        })
    }

    fn key(self) -> String {
        format!("{KEY_PREFIX}{}", self.name())
    }
}

/// A `powersync_config_set` call, decoded from its SQL arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetRequest {
    pub setting: Setting,
    pub on: bool,
}

/// What a setting's value argument was, as far as validation cares.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue {
    Integer(i64),
    /// Anything else, described for the error (`'yes'`, `NULL`, `1.5`, a BLOB).
    Other(String),
}

impl SetRequest {
    pub fn new(name: &str, value: RawValue) -> PsResult<SetRequest> {
        let setting = Setting::parse(name)?;
        let on = match value {
            RawValue::Integer(0) => false,
            RawValue::Integer(1) => true,
            RawValue::Integer(n) => return Err(not_a_bool(setting, &n.to_string())),
            RawValue::Other(text) => return Err(not_a_bool(setting, &text)),
        };
        Ok(SetRequest { setting, on })
    }
}

fn not_a_bool(setting: Setting, got: &str) -> PsError {
    PsError::invalid_argument(format!("{} takes 0 or 1, not {got}", setting.name()))
}

/// Whether `setting` is on in this database (off when `ps_kv` has no key for it).
pub fn get(db: &Connection, setting: Setting) -> PsResult<bool> {
    let sql = "SELECT 1 FROM ps_kv WHERE key = ? AND value = 1";
    let found = db
        .prepare_cached(sql)
        .and_then(|mut s| s.exists([setting.key()]))
        .map_err(|e| PsError::sqlite(Some(sql), e))?;
    Ok(found)
}

/// Whether checkpoints are applied around pending uploads (docs/protocol.md, "Applying around
/// pending uploads").
pub fn apply_around_pending(db: &Connection) -> PsResult<bool> {
    get(db, Setting::ApplyAroundPendingUploads)
}

/// Whether the `ps_crud` JSON in `column` names a row: an object with a text `type` and `id`
/// (`powersync_crud_` stores any JSON as given).
fn names_row(column: &str) -> String {
    format!(
        "CASE WHEN json_valid({column}) THEN json_type({column}, '$.type') = 'text' AND json_type({column}, '$.id') = 'text' ELSE 0 END"
    )
}

/// The rows with a local write the service has not covered yet, while applying around pending
/// uploads is on: `ps_pending_rows`, filled by a trigger on every write queued in `ps_crud`.
fn pending_rows_sql() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS ps_pending_rows(row_type TEXT NOT NULL, row_id TEXT NOT NULL, PRIMARY KEY(row_type, row_id)) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS ps_pending_rows_from_crud AFTER INSERT ON ps_crud WHEN {}
BEGIN
  INSERT OR IGNORE INTO ps_pending_rows(row_type, row_id) VALUES (json_extract(NEW.data, '$.type'), json_extract(NEW.data, '$.id'));
END;
INSERT OR IGNORE INTO ps_pending_rows(row_type, row_id) SELECT json_extract(data, '$.type'), json_extract(data, '$.id') FROM ps_crud WHERE {};",
        names_row("NEW.data"),
        names_row("data")
    )
}

/// Sets a setting; its effects and the stored value change together or not at all.
pub fn set(db: &Connection, request: SetRequest) -> PsResult<()> {
    sql::execute(db, "SAVEPOINT powersync_config_set", [])?;
    match apply(db, request) {
        Ok(()) => sql::execute_batch(db, "RELEASE powersync_config_set"),
        Err(e) => {
            // The original error matters more than a failed rollback.
            let _ = sql::execute_batch(db, "ROLLBACK TO powersync_config_set; RELEASE powersync_config_set");
            Err(e)
        }
    }
}

fn apply(db: &Connection, request: SetRequest) -> PsResult<()> {
    let SetRequest {
        setting: Setting::ApplyAroundPendingUploads,
        on,
    } = request;
    let key = request.setting.key();
    if !on {
        // Off: no key, no trigger, no held rows; the table stays (dropping a table is refused
        // while the calling statement runs) but empty, and nothing reads it.
        forget_pending_rows(db)?;
        sql::execute(db, "DELETE FROM ps_kv WHERE key = ?", [&key])?;
        sql::execute_batch(db, "DROP TRIGGER IF EXISTS ps_pending_rows_from_crud")?;
        return Ok(());
    }
    if get(db, request.setting)? {
        return Ok(());
    }
    // Local writes made before the setting was on: queued ones are known by `ps_crud` (the
    // batch's last statement); uploaded ones whose write checkpoint is not applied yet only by
    // `ps_updated_rows`, which also holds rows the service removed. While the gate is closed
    // all of them are held (a removed row then waits like a local one); with the gate open none
    // is pending.
    sql::execute_batch(db, &pending_rows_sql())?;
    if checkpoint_requests::write_gate_closed(db)? {
        sql::execute(
            db,
            "INSERT OR IGNORE INTO ps_pending_rows(row_type, row_id) SELECT row_type, row_id FROM ps_updated_rows WHERE row_type IS NOT NULL AND row_id IS NOT NULL",
            [],
        )?;
    }
    sql::execute(db, "INSERT OR REPLACE INTO ps_kv(key, value) VALUES (?, 1)", [&key])?;
    Ok(())
}

/// Number of rows held at their local version (0 while the setting is off).
pub fn held_row_count(db: &Connection) -> PsResult<i64> {
    if !apply_around_pending(db)? {
        return Ok(0);
    }
    sql::query_optional(db, "SELECT count(*) FROM ps_pending_rows", [], |r| r.get(0)).map(Option::unwrap_or_default)
}

/// Forgets the held rows once the service covered every local write (the local-write gate is
/// open and a complete checkpoint is published), when the database is cleared, and when the
/// setting is turned off (before its key goes, which says the table exists).
pub fn forget_pending_rows(db: &Connection) -> PsResult<()> {
    if apply_around_pending(db)? {
        sql::execute(db, "DELETE FROM ps_pending_rows", [])?;
    }
    Ok(())
}

/// The name argument of both functions.
fn name_argument(call: &Call) -> PsResult<String> {
    call.args
        .text_if_text(0)
        .map(|t| t.into_owned())
        .ok_or_else(|| PsError::invalid_argument("the setting name must be TEXT"))
}

/// `powersync_config_set(name, value)`: returns the value set.
pub fn config_set_fn(call: &Call) -> PsResult<Output> {
    let name = name_argument(call)?;
    let value = match call.args.value_type(1) {
        ffi::SQLITE_INTEGER => RawValue::Integer(call.args.int64(1)),
        ffi::SQLITE_NULL => RawValue::Other("NULL".into()),
        ffi::SQLITE_BLOB => RawValue::Other("a BLOB".into()),
        ffi::SQLITE_TEXT => RawValue::Other(sql::quote_string(&call.args.text(1).unwrap_or_default())),
        _ => RawValue::Other(call.args.text(1).unwrap_or_default()),
    };
    let request = SetRequest::new(&name, value)?;
    set(&call.connection(), request)?;
    Ok(Output::Int(i64::from(request.on)))
}

/// `powersync_config_get(name)`: the current value (0 or 1).
pub fn config_get_fn(call: &Call) -> PsResult<Output> {
    let setting = Setting::parse(&name_argument(call)?)?;
    get(&call.connection(), setting).map(|on| Output::Int(i64::from(on)))
}

#[cfg(test)]
mod tests;
