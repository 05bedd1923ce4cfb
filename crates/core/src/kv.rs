//! Reads of the `ps_kv` key/value table.

use rusqlite::types::ValueRef;
use rusqlite::Connection;

use crate::error::{ErrorKind, PsError, PsResult};
use crate::function::{Call, Output};
use crate::sql;

/// The stable client id written once by migration 3.
pub fn client_id(db: &Connection) -> PsResult<String> {
    // A value stored with another type still counts, as with sqlite3_column_text (a REAL is
    // formatted by Rust, not SQLite; no SDK stores one).
    sql::query_optional(db, "select value from ps_kv where key = 'client_id'", [], |row| {
        Ok(match row.get_ref(0)? {
            ValueRef::Null => None,
            ValueRef::Integer(i) => Some(i.to_string()),
            ValueRef::Real(f) => Some(f.to_string()),
            ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
        })
    })?
    .flatten()
    .ok_or_else(|| PsError::new(ErrorKind::MissingClientId))
}

pub fn client_id_fn(call: &Call) -> PsResult<Output> {
    client_id(&call.connection()).map(Output::Text)
}
