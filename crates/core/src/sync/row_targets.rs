//! Which table receives the synced rows of a row type. First match wins: a raw table of that
//! name from the `start` schema, then a direct table of that name from the `start` schema, then
//! an existing synced JSON table `ps_data__<type>`; rows of any other type go to `ps_untyped`.

use rusqlite::Connection;

use crate::error::PsResult;
use crate::schema::model::Schema;
use crate::schema::model::{PendingStatement, StatementParam};
use crate::sql::{self, SqlWriter};
use crate::sync::direct_tables::DirectTables;
use crate::sync::raw_tables::RawTables;
use crate::sync::row_writer::{delete_statement, TableStatements};

/// The tables an iteration writes synced rows into, from its `start` schema.
pub struct RowTargets {
    raw: RawTables,
    direct: DirectTables,
}

impl RowTargets {
    pub fn new(schema: Option<Schema>) -> RowTargets {
        let (tables, raw_tables) = schema.map(|s| (s.tables, s.raw_tables)).unwrap_or_default();
        RowTargets {
            raw: RawTables::new(raw_tables),
            direct: DirectTables::new(&tables),
        }
    }

    /// Whether rows may go through app statements (raw tables): writes that can fail part-way.
    pub fn has_raw_tables(&self) -> bool {
        !self.raw.is_empty()
    }

    /// The direct tables rows may go into (`sync::atomic` checks what their writes can meet).
    pub fn direct(&self) -> &DirectTables {
        &self.direct
    }

    /// Called once per publish: inferred raw-table statements are rebuilt after a schema change.
    pub fn refresh(&mut self, db: &Connection) -> PsResult<()> {
        self.raw.refresh(db)
    }

    /// The statements that write rows of `row_type`; `None`: they go to `ps_untyped`.
    pub fn statements(&mut self, db: &Connection, row_type: &str) -> PsResult<Option<TableStatements>> {
        if let Some(statements) = self.raw.statements(db, row_type)? {
            return Ok(Some(statements));
        }
        if let Some(statements) = self.direct.get(row_type) {
            return Ok(Some(statements.clone()));
        }
        let internal = crate::objects::data_table(row_type, false);
        let exists = sql::query_optional(
            db,
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
            [&internal],
            |_| Ok(()),
        )?
        .is_some();
        Ok(exists.then(|| json_table_statements(&internal)))
    }
}

/// A JSON table stores the op's data text as it came.
fn json_table_statements(internal: &str) -> TableStatements {
    let mut put = SqlWriter::new();
    put.raw("REPLACE INTO ").ident(internal).raw("(id, data) VALUES (?, ?)");
    TableStatements {
        put: PendingStatement {
            sql: put.finish(),
            params: vec![StatementParam::Id, StatementParam::Row],
        },
        delete: delete_statement(internal),
    }
}

#[cfg(test)]
mod tests;
