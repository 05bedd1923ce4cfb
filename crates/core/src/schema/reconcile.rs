//! Bringing an existing database in line with a new schema (docs/schema-sql.md, "Reconciling an existing database"): data tables,
//! indexes, then views and their triggers. Views whose SQL is unchanged are left alone, so
//! opening a database with the same schema changes nothing (`PRAGMA schema_version` stays).

use std::collections::{BTreeMap, HashSet};

use rusqlite::Connection;

use crate::error::PsResult;
use crate::schema::existing::{self, ExistingTable, TriggerOwner, TriggerSet};
use crate::schema::model::{Schema, Table};
use crate::schema::{direct, generate};
use crate::sql::{self, SqlWriter};
use crate::state::DatabaseState;
use crate::sync::direct_tables;
use crate::sync::row_writer::TableWriter;

/// Brings the database in line with `schema`: tables (with the data moves between JSON and
/// direct storage), indexes, then views and triggers; a direct table that gained columns asks
/// for a resync at the end, which is refused while a sync iteration runs.
pub fn apply(db: &Connection, state: &DatabaseState, schema: &Schema) -> PsResult<()> {
    let tables = existing::tables(db)?;
    let sets = existing::trigger_sets(db, &tables)?;
    let mut sets: BTreeMap<String, TriggerSet> = sets.into_iter().map(|s| (s.owner.name().to_owned(), s)).collect();
    let resync = update_tables(db, schema, &tables, &mut sets)?;
    update_indexes(db, schema)?;
    update_triggers(db, schema, sets)?;
    if resync {
        crate::clear::trigger_resync(db, state)?;
    }
    Ok(())
}

/// An existing table waiting to be dropped at the end; `moved` when its rows went into the
/// table that replaces it (so they are not also kept in `ps_untyped`).
struct Leftover<'a> {
    table: &'a ExistingTable,
    moved: bool,
}

/// Where a new table's first rows come from.
enum Source<'a> {
    /// A synced table starts with the rows synced while its type had no table.
    Untyped,
    /// Local-only tables start empty.
    Nothing,
    /// The JSON or direct table of the same kind it replaces.
    Replaced(&'a ExistingTable),
}

/// Returns whether a resync was requested (a direct table gained columns).
fn update_tables(
    db: &Connection,
    schema: &Schema,
    tables: &[ExistingTable],
    sets: &mut BTreeMap<String, TriggerSet>,
) -> PsResult<bool> {
    // Keyed by the schema name: at most one storage per name is expected, and leftovers are
    // processed in name order.
    let mut leftovers: BTreeMap<&str, Leftover> = tables
        .iter()
        .map(|t| (t.name.as_str(), Leftover { table: t, moved: false }))
        .collect();
    let mut resync = false;

    for table in &schema.tables {
        let local_only = table.options.local_only;
        let mut source = if local_only { Source::Nothing } else { Source::Untyped };
        if let Some(Leftover { table: old, .. }) = leftovers.remove(table.name.as_str()) {
            let same_kind = old.local_only == local_only;
            match (old.is_direct(), table.direct) {
                (false, false) if same_kind => continue,
                (false, false) => {
                    leftovers.insert(
                        &old.name,
                        Leftover {
                            table: old,
                            moved: false,
                        },
                    );
                }
                (true, true) if same_kind => {
                    resync |= migrate_columns(db, old, table, sets)?;
                    continue;
                }
                (true, true) => {
                    // Both have the same name: the old one must go before the new one exists.
                    sets.remove(old.name.as_str());
                    if !old.local_only {
                        move_into_untyped(db, old)?;
                    }
                    drop_table(db, &old.storage)?;
                }
                (old_direct, _) => {
                    // JSON <-> direct: the new table is created below; the old one is dropped at
                    // the end, its rows copied over when both are of the same kind.
                    if same_kind {
                        source = Source::Replaced(old);
                    }
                    leftovers.insert(
                        &old.name,
                        Leftover {
                            table: old,
                            moved: same_kind,
                        },
                    );
                    // A direct table takes the name of the view over the old JSON table.
                    if !old_direct {
                        if let Some(view) = sets.remove(old.name.as_str()) {
                            view.remove(db)?;
                        }
                    }
                }
            }
        }
        create_table(db, table, source)?;
    }

    // Move every leftover's rows first and drop afterwards, so that no drop happens while a
    // move of another table still reads.
    for leftover in leftovers.values() {
        if !leftover.moved && !leftover.table.local_only {
            move_into_untyped(db, leftover.table)?;
        }
    }
    for leftover in leftovers.values() {
        drop_table(db, &leftover.table.storage)?;
    }
    Ok(resync)
}

fn create_table(db: &Connection, table: &Table, source: Source) -> PsResult<()> {
    let mut w = SqlWriter::new();
    if table.direct {
        sql::execute_batch(db, &direct::create_table_sql(table))?;
        let mut writer = TableWriter::new(&table.name, direct_tables::statements(table));
        let rows = match source {
            Source::Nothing => return Ok(()),
            Source::Untyped => sql::query_all(
                db,
                "DELETE FROM ps_untyped WHERE type = ? RETURNING id, data",
                [&table.name],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
            )?,
            Source::Replaced(old) => {
                let select = direct::select_json_rows_sql(&old.storage);
                sql::query_all(db, &select, [], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                })?
            }
        };
        for (id, data) in rows {
            writer.put(db, &id, &data)?;
        }
        return Ok(());
    }

    let storage = table.internal_name();
    w.raw("CREATE TABLE ")
        .ident(&storage)
        .raw("(id TEXT PRIMARY KEY NOT NULL, data TEXT);");
    sql::execute_batch(db, &w.take())?;
    match source {
        Source::Nothing => {}
        Source::Untyped => {
            w.raw("INSERT INTO ")
                .ident(&storage)
                .raw(" (id, data) SELECT id, data FROM ps_untyped WHERE type = ?");
            sql::execute(db, &w.take(), [&table.name])?;
            sql::execute(db, "DELETE FROM ps_untyped WHERE type = ?", [&table.name])?;
        }
        Source::Replaced(old) => {
            let columns = old.direct_column_refs().unwrap_or_default();
            let copy = direct::copy_into_json_sql(&storage, &old.storage, &columns)?;
            sql::execute_batch(db, &copy)?;
        }
    }
    Ok(())
}

/// Keeps a synced table's rows, untyped, so that its type can come back without a re-sync.
fn move_into_untyped(db: &Connection, table: &ExistingTable) -> PsResult<()> {
    let columns = table.direct_column_refs();
    let statement = direct::copy_into_untyped_sql(&table.storage, columns.as_deref())?;
    sql::execute(db, &statement, [&table.name])?;
    Ok(())
}

fn drop_table(db: &Connection, storage: &str) -> PsResult<()> {
    let mut w = SqlWriter::new();
    w.raw("DROP TABLE ").ident(storage);
    sql::execute_batch(db, &w.finish())
}

/// A direct table kept as direct: columns are matched by exact name (types do not matter, all
/// are ANY). Added columns are added in name order and ask for a resync (their values are in
/// the oplog); dropped columns are dropped. SQLite checks a table's indexes and triggers on
/// ALTER TABLE, so ours are dropped first and recreated by the index and trigger passes.
fn migrate_columns(
    db: &Connection,
    old: &ExistingTable,
    table: &Table,
    sets: &mut BTreeMap<String, TriggerSet>,
) -> PsResult<bool> {
    let old_columns = old.direct_column_refs().unwrap_or_default();
    let mut added: Vec<&str> = table
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .filter(|c| !old_columns.contains(c))
        .collect();
    added.sort_unstable();
    let dropped: Vec<&str> = old_columns
        .iter()
        .copied()
        .filter(|c| !table.columns.iter().any(|n| n.name == *c))
        .collect();
    if added.is_empty() && dropped.is_empty() {
        return Ok(false);
    }

    let indexes = sql::query_all(
        db,
        "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = ?",
        [&table.name],
        |row| Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?)),
    )?;
    let mut w = SqlWriter::new();
    for (name, sql_text) in indexes {
        if sql_text.is_some_and(|s| s.contains(direct::INDEX_MARKER)) {
            w.raw("DROP INDEX ").ident(&name);
            sql::execute_batch(db, &w.take())?;
        }
    }
    if let Some(set) = sets.remove(table.name.as_str()) {
        set.remove(db)?;
    }
    for column in &added {
        sql::execute_batch(db, &direct::add_column_sql(&table.name, column))?;
    }
    for column in &dropped {
        sql::execute_batch(db, &direct::drop_column_sql(&table.name, column))?;
    }
    Ok(!added.is_empty())
}

fn update_indexes(db: &Connection, schema: &Schema) -> PsResult<()> {
    let mut wanted_names = HashSet::new();
    let mut statements = Vec::new();
    let mut w = SqlWriter::new();
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
                    w.raw("DROP INDEX ").ident(&name);
                    statements.push(w.take());
                    statements.push(create);
                }
                Some(_) => {}
            }
            wanted_names.insert(name);
        }
    }
    let ours = sql::query_all(
        db,
        "SELECT name FROM sqlite_master WHERE type = 'index' AND (name GLOB 'ps_data_*' OR sqlite_master.sql GLOB '* ps-managed *')",
        [],
        |row| row.get::<_, String>(0),
    )?;
    for name in ours {
        if !wanted_names.contains(&name) {
            w.raw("DROP INDEX ").ident(&name);
            statements.push(w.take());
        }
    }
    for statement in statements {
        sql::execute_batch(db, &statement)?;
    }
    Ok(())
}

/// The view and triggers a schema table should have.
fn wanted_set(table: &Table) -> PsResult<TriggerSet> {
    if table.direct {
        let triggers = direct::triggers(table)?;
        return Ok(TriggerSet {
            owner: TriggerOwner::Direct {
                table: table.name.clone(),
            },
            delete: triggers.delete,
            insert: triggers.insert,
            update: triggers.update,
        });
    }
    let triggers = generate::view_triggers(table)?;
    Ok(TriggerSet {
        owner: TriggerOwner::View {
            name: table.view_name().to_owned(),
            sql: generate::view_sql(table),
        },
        delete: triggers.delete,
        insert: triggers.insert,
        update: triggers.update,
    })
}

/// Sets whose view and triggers are unchanged are left alone, so applying the same schema twice
/// changes nothing (`PRAGMA schema_version` stays).
fn update_triggers(db: &Connection, schema: &Schema, mut existing: BTreeMap<String, TriggerSet>) -> PsResult<()> {
    for table in &schema.tables {
        let wanted = wanted_set(table)?;
        if existing.remove(table.view_name()).is_some_and(|old| old == wanted) {
            continue;
        }
        wanted.create(db)?;
    }
    for leftover in existing.values() {
        leftover.remove(db)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
