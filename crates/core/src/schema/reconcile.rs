//! Bringing an existing database in line with a new schema (spec schema.md §6): data tables,
//! indexes, then views and their triggers. Views whose SQL is unchanged are left alone, so
//! opening a database with the same schema changes nothing (`PRAGMA schema_version` stays).

use std::collections::HashSet;

use rusqlite::Connection;

use crate::error::PsResult;
use crate::objects;
use crate::schema::generate;
use crate::schema::model::Schema;
use crate::sql::{self, quote_identifier};

/// An existing data table: its sync type name and whether it is local-only.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct DataTable {
    name: String,
    local_only: bool,
}

impl DataTable {
    fn from_internal(internal: &str) -> Option<Self> {
        objects::parse_data_table(internal).map(|(name, local_only)| DataTable {
            name: name.to_owned(),
            local_only,
        })
    }

    fn internal(&self) -> String {
        objects::data_table(&self.name, self.local_only)
    }
}

pub fn apply(db: &Connection, schema: &Schema) -> PsResult<()> {
    update_tables(db, schema)?;
    update_indexes(db, schema)?;
    update_views(db, schema)
}

fn update_tables(db: &Connection, schema: &Schema) -> PsResult<()> {
    let existing: Vec<DataTable> = sql::names_matching(db, "table", "ps_data_*")?
        .iter()
        .filter_map(|name| DataTable::from_internal(name))
        .collect();
    let mut to_drop: HashSet<DataTable> = existing.iter().cloned().collect();

    for table in &schema.tables {
        let wanted = DataTable {
            name: table.name.clone(),
            local_only: table.options.local_only,
        };
        if existing.contains(&wanted) {
            to_drop.remove(&wanted);
            continue;
        }
        let internal = quote_identifier(&wanted.internal());
        sql::execute_batch(
            db,
            &format!("CREATE TABLE {internal}(id TEXT PRIMARY KEY NOT NULL, data TEXT)"),
        )?;
        if !wanted.local_only {
            // Rows synced while the type had no table of its own move in.
            sql::execute(
                db,
                &format!("INSERT INTO {internal}(id, data) SELECT id, data FROM ps_untyped WHERE type = ?"),
                [&wanted.name],
            )?;
            sql::execute(db, "DELETE FROM ps_untyped WHERE type = ?", [&wanted.name])?;
        }
    }

    // Deterministic order, so failures and hook notifications do not depend on hashing.
    let mut to_drop: Vec<DataTable> = to_drop.into_iter().collect();
    to_drop.sort_by_key(DataTable::internal);
    for table in to_drop {
        let internal = quote_identifier(&table.internal());
        if !table.local_only {
            // Synced rows are kept (untyped) so that the type can come back without a re-sync.
            sql::execute(
                db,
                &format!("INSERT INTO ps_untyped(type, id, data) SELECT ?, id, data FROM {internal}"),
                [&table.name],
            )?;
        }
        sql::execute_batch(db, &format!("DROP TABLE {internal}"))?;
    }
    Ok(())
}

fn update_indexes(db: &Connection, schema: &Schema) -> PsResult<()> {
    let mut wanted_names = HashSet::new();
    let mut statements = Vec::new();
    for table in &schema.tables {
        for (name, create) in generate::index_sqls(table) {
            let existing = sql::query_optional(
                db,
                "SELECT sql FROM sqlite_master WHERE name = ? AND type = 'index'",
                [&name],
                |row| row.get::<_, Option<String>>(0),
            )?;
            match existing {
                None => statements.push(create),
                Some(sql) if sql.as_deref() != Some(create.as_str()) => {
                    statements.push(format!("DROP INDEX {}", quote_identifier(&name)));
                    statements.push(create);
                }
                Some(_) => {}
            }
            wanted_names.insert(name);
        }
    }
    for name in sql::names_matching(db, "index", "ps_data_*")? {
        if !wanted_names.contains(&name) {
            statements.push(format!("DROP INDEX {}", quote_identifier(&name)));
        }
    }
    for statement in statements {
        sql::execute_batch(db, &statement)?;
    }
    Ok(())
}

/// A PowerSync view as stored: its SQL and its triggers' SQL, grouped as they are compared.
struct StoredView {
    name: String,
    sql: String,
    delete: String,
    insert: String,
    update: String,
}

fn stored_views(db: &Connection) -> PsResult<Vec<StoredView>> {
    let views = crate::objects::marked_views(db)?;
    let mut out = Vec::with_capacity(views.len());
    for (name, sql) in views {
        let triggers = sql::query_all(
            db,
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? AND name GLOB 'ps_view_*' ORDER BY name DESC",
            [&name],
            |row| Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?.unwrap_or_default())),
        )?;
        let pick = |prefix: &str| -> Vec<&str> {
            triggers
                .iter()
                .filter(|(n, _)| n.starts_with(prefix))
                .map(|(_, s)| s.as_str())
                .collect()
        };
        // Delete triggers are joined in descending name order (delete_ before delete2_); the
        // reference does this with an aggregate ORDER BY that needs SQLite 3.44, we do it here.
        let delete = pick("ps_view_delete").join(";\n");
        let insert = pick("ps_view_insert")
            .first()
            .map(|s| s.to_string())
            .unwrap_or_default();
        let update = pick("ps_view_update")
            .first()
            .map(|s| s.to_string())
            .unwrap_or_default();
        out.push(StoredView {
            name,
            sql,
            delete,
            insert,
            update,
        });
    }
    Ok(out)
}

fn update_views(db: &Connection, schema: &Schema) -> PsResult<()> {
    let stored = stored_views(db)?;
    let mut kept = HashSet::new();
    for table in &schema.tables {
        let view_name = table.view_name();
        let view = generate::view_sql(table);
        let triggers = generate::view_triggers(table)?;
        kept.insert(view_name.to_owned());
        let unchanged = stored.iter().any(|s| {
            s.name == view_name
                && s.sql == view
                && s.delete == triggers.delete
                && s.insert == triggers.insert
                && s.update == triggers.update
        });
        if unchanged {
            continue;
        }
        sql::execute_batch(db, &format!("DROP VIEW IF EXISTS {}", quote_identifier(view_name)))?;
        for statement in [&view, &triggers.delete, &triggers.insert, &triggers.update] {
            if !statement.is_empty() {
                sql::execute_batch(db, statement)?;
            }
        }
    }
    for view in stored {
        if !kept.contains(&view.name) {
            sql::execute_batch(db, &format!("DROP VIEW IF EXISTS {}", quote_identifier(&view.name)))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
