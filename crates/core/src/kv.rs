//! Reads of the `ps_kv` key/value table.

use rusqlite::Connection;

use crate::error::{ErrorKind, PsError, PsResult};
use crate::function::{Call, Output};
use crate::sql;

/// The stable client id written once by migration 3.
pub fn client_id(db: &Connection) -> PsResult<String> {
    sql::query_optional(db, "select value from ps_kv where key = 'client_id'", [], |row| {
        row.get::<_, String>(0)
    })?
    .ok_or_else(|| PsError::new(ErrorKind::MissingClientId))
}

pub fn client_id_fn(call: &Call) -> PsResult<Output> {
    client_id(&call.connection()).map(Output::Text)
}
