//! Statements that write synced rows into direct tables (real tables named after the schema
//! table, with one column per schema column).
//!
//! The sync client knows direct tables only from the `start` payload's schema: synced tables
//! with `direct: true`. Their statements are built once per iteration; a publish prepares each
//! at most once (through the statement cache).

use std::collections::HashMap;

use crate::schema::model::Table;
use crate::sync::row_writer::{delete_statement, upsert_statement, TableStatements};

/// The direct tables of an iteration, by name.
#[derive(Debug, Default)]
pub struct DirectTables {
    tables: HashMap<String, DirectTable>,
}

/// One synced direct table: its schema table (what `powersync_replace_schema` creates for it,
/// which `sync::atomic` compares with the database) and its statements.
#[derive(Debug)]
pub struct DirectTable {
    pub table: Table,
    pub statements: TableStatements,
}

impl DirectTables {
    /// The synced direct tables of `tables` (local-only ones never receive synced rows).
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    pub fn new(tables: &[Table]) -> DirectTables {
        DirectTables {
            tables: tables
                .iter()
                .filter(|t| t.direct && !t.options.local_only)
                .map(|t| {
                    let direct = DirectTable {
                        table: t.clone(),
                        statements: statements(t),
                    };
                    (t.name.clone(), direct)
                })
                .collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&TableStatements> {
        self.tables.get(name).map(|t| &t.statements)
    }

    pub fn iter(&self) -> impl Iterator<Item = &DirectTable> {
        self.tables.values()
    }
}

/// Put (an upsert over every schema column, in schema order) and delete of direct table `table`.
pub fn statements(table: &Table) -> TableStatements {
    TableStatements {
        put: upsert_statement(&table.name, table.columns.iter().map(|c| c.name.as_str())),
        delete: delete_statement(&table.name),
    }
}

#[cfg(test)]
mod tests;
