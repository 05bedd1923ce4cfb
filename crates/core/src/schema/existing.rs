//! What PowerSync already created in a database: the tables behind schema tables (JSON data
//! tables by their prefix, direct tables by their marker) and the trigger sets of views and
//! direct tables. Shared by schema reconciliation, `powersync_clear` and the version-5 migration,
//! so all three recognise the same objects.

use rusqlite::Connection;

use crate::error::PsResult;
use crate::objects;
use crate::schema::direct;
use crate::sql::{self, SqlWriter};

/// A table holding a schema table's rows.
#[derive(Debug, Clone)]
pub struct ExistingTable {
    /// The schema table's name (the sync `type`).
    pub name: String,
    /// The table's own name: `ps_data__<name>`, `ps_data_local__<name>`, or `<name>` if direct.
    pub storage: String,
    pub local_only: bool,
    /// A direct table's columns (without `id`, in table order); `None` for a JSON table.
    pub direct_columns: Option<Vec<String>>,
}

impl ExistingTable {
    pub fn is_direct(&self) -> bool {
        self.direct_columns.is_some()
    }

    pub fn direct_column_refs(&self) -> Option<Vec<&str>> {
        self.direct_columns
            .as_ref()
            .map(|c| c.iter().map(String::as_str).collect())
    }
}

/// Every JSON and direct table, in `sqlite_master` order. A table that carries the direct marker
/// but has no `id` column is an error, as in the reference.
pub fn tables(db: &Connection) -> PsResult<Vec<ExistingTable>> {
    let listed = sql::query_all(
        db,
        "SELECT name, sql FROM sqlite_master WHERE type = 'table';",
        [],
        |row| Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?)),
    )?;
    let mut out = Vec::new();
    for (name, sql) in listed {
        let Some(sql) = sql else { continue };
        if let Some((public, local_only)) = objects::parse_data_table(&name) {
            out.push(ExistingTable {
                name: public.to_owned(),
                storage: name.clone(),
                local_only,
                direct_columns: None,
            });
        } else if sql.contains(direct::TABLE_MARKER) {
            let columns = crate::schema::raw::table_columns(db, &name)?;
            out.push(ExistingTable {
                name: name.clone(),
                storage: name,
                local_only: sql.contains(direct::LOCAL_ONLY_MARKER),
                direct_columns: Some(columns),
            });
        }
    }
    Ok(out)
}

/// What a trigger set belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerOwner {
    /// A generated view (marker `-- powersync-auto-generated`) and its SQL.
    View { name: String, sql: String },
    /// A direct table (its triggers are on the table itself).
    Direct { table: String },
}

impl TriggerOwner {
    /// The key sets are matched by: the view's name or the direct table's.
    pub fn name(&self) -> &str {
        match self {
            TriggerOwner::View { name, .. } => name,
            TriggerOwner::Direct { table } => table,
        }
    }
}

/// A view's or direct table's `ps_view_*` triggers, each kind's SQL joined with `;\n` in
/// descending trigger-name order (as the reference compares them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerSet {
    pub owner: TriggerOwner,
    pub delete: String,
    pub insert: String,
    pub update: String,
}

impl TriggerSet {
    /// Removes the set: a view (which drops its triggers with it), or a direct table's three
    /// triggers by name.
    pub fn remove(&self, db: &Connection) -> PsResult<()> {
        remove_owner(db, &self.owner)
    }

    /// Replaces whatever has this set's key with this set's view and triggers.
    pub fn create(&self, db: &Connection) -> PsResult<()> {
        remove_owner(db, &self.owner)?;
        if let TriggerOwner::View { sql: view, .. } = &self.owner {
            sql::execute_batch(db, view)?;
        }
        for statement in [&self.delete, &self.insert, &self.update] {
            if !statement.is_empty() {
                sql::execute_batch(db, statement)?;
            }
        }
        Ok(())
    }
}

fn remove_owner(db: &Connection, owner: &TriggerOwner) -> PsResult<()> {
    use crate::schema::crud_trigger::WriteType;
    let mut w = SqlWriter::new();
    match owner {
        TriggerOwner::View { name, .. } => {
            w.raw("DROP VIEW IF EXISTS ").ident(name);
            sql::execute_batch(db, &w.take())
        }
        TriggerOwner::Direct { table } => {
            for write in [WriteType::Insert, WriteType::Update, WriteType::Delete] {
                w.raw("DROP TRIGGER IF EXISTS ")
                    .ident(&direct::trigger_name(table, write));
                sql::execute_batch(db, &w.take())?;
            }
            Ok(())
        }
    }
}

/// The trigger sets of every generated view, then of every direct table in `tables`.
pub fn trigger_sets(db: &Connection, tables: &[ExistingTable]) -> PsResult<Vec<TriggerSet>> {
    let mut owners: Vec<TriggerOwner> = objects::marked_views(db)?
        .into_iter()
        .map(|(name, sql)| TriggerOwner::View { name, sql })
        .collect();
    owners.extend(tables.iter().filter(|t| t.is_direct()).map(|t| TriggerOwner::Direct {
        table: t.storage.clone(),
    }));
    let mut sets = Vec::with_capacity(owners.len());
    for owner in owners {
        let triggers = sql::query_all(
            db,
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? ORDER BY name DESC",
            [owner.name()],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, Option<String>>(1)?.unwrap_or_default(),
                ))
            },
        )?;
        let joined = |prefix: &str| -> String {
            triggers
                .iter()
                .filter(|(n, _)| n.starts_with(prefix))
                .map(|(_, s)| s.as_str())
                .collect::<Vec<_>>()
                .join(";\n")
        };
        sets.push(TriggerSet {
            delete: joined("ps_view_delete"),
            insert: joined("ps_view_insert"),
            update: joined("ps_view_update"),
            owner,
        });
    }
    Ok(sets)
}
