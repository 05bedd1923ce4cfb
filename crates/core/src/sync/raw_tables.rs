//! The statements that write synced rows into raw tables (docs/protocol.md, "Publishing"): the app's own, or
//! inferred from the local table.

use std::collections::HashMap;

use rusqlite::Connection;

use crate::error::PsResult;
use crate::schema::model::RawTable;
use crate::schema::raw::discover_columns;
use crate::sync::row_writer::{delete_statement, upsert_statement, TableStatements};

/// Raw tables of the current iteration with their (possibly inferred) statements.
pub struct RawTables {
    tables: HashMap<String, RawTable>,
    statements: HashMap<String, TableStatements>,
    /// `PRAGMA schema_version` the inferred statements were built for.
    schema_version: Option<i64>,
}

impl RawTables {
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    pub fn new(tables: Vec<RawTable>) -> RawTables {
        RawTables {
            tables: tables.into_iter().map(|t| (t.name.clone(), t)).collect(),
            statements: HashMap::new(),
            schema_version: None,
        }
    }

    /// Forgets inferred statements when the database schema changed (a local table may have
    /// gained columns since they were built).
    pub fn refresh(&mut self, db: &Connection) -> PsResult<()> {
        if self.tables.is_empty() {
            return Ok(());
        }
        let version: i64 = crate::sql::query_optional(db, "PRAGMA schema_version", [], |r| r.get(0))?.unwrap_or(0);
        if self.schema_version != Some(version) {
            self.statements.clear();
            self.schema_version = Some(version);
        }
        Ok(())
    }

    /// The put and delete statements of raw table `name` (`None` when it is not one): the
    /// given ones, or inferred from the local table's columns (both built together when the
    /// table structure is read, and kept until the database schema changes).
    pub fn statements(&mut self, db: &Connection, name: &str) -> PsResult<Option<TableStatements>> {
        let Some(table) = self.tables.get(name) else {
            return Ok(None);
        };
        if !self.statements.contains_key(name) {
            let statements = match (&table.put, &table.delete) {
                (Some(put), Some(delete)) => TableStatements {
                    put: put.clone(),
                    delete: delete.clone(),
                },
                _ => {
                    let local = discover_columns(db, table)?;
                    TableStatements {
                        put: table.put.clone().unwrap_or_else(|| {
                            upsert_statement(&local.table_name, local.columns.iter().map(String::as_str))
                        }),
                        delete: table
                            .delete
                            .clone()
                            .unwrap_or_else(|| delete_statement(&local.table_name)),
                    }
                }
            };
            self.statements.insert(name.to_owned(), statements);
        }
        Ok(self.statements.get(name).cloned())
    }
}

#[cfg(test)]
mod tests;
