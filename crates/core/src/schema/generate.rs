//! SQL text of the views, triggers and indexes generated for schema tables (docs/schema-sql.md,
//! "Generated objects of a JSON table"). The text must be byte-identical to the reference's: existing databases
//! are reconciled by comparing stored SQL, so any difference would recreate every view on open.

use crate::error::{PsError, PsResult};
use crate::schema::model::{IncludeOld, Table, TableOptions};
use crate::sql::SqlWriter;

/// Marker that ends every view PowerSync owns.
pub const VIEW_MARKER: &str = " -- powersync-auto-generated";

/// `json_object()` takes at most this many key/value pairs per call in our generated SQL
/// (the reference's limit, docs/schema-sql.md, "Generated objects of a JSON table").
const MAX_FRAGMENT_COLUMNS: usize = 1999;
/// Pairs per `json_object(...)` before the fragment is split into `powersync_json_merge` parts.
const FRAGMENT_CHUNK: usize = 50;

/// The JSON path literal for a column. Names the reference handles correctly keep its exact
/// text (`'$.<name>'`); names containing `.` or `[`, which that path cannot reach, use a quoted
/// label (`'$."<name>"'`, understood since SQLite 3.38), JSON-escaped when the name holds `"`,
/// `\` or control characters (SQLite 3.45+ unescapes quoted labels).
///
/// SQLite before 3.45 compares path labels with the *escaped* text of JSON keys, so there a name
/// with characters JSON escapes (`"`, `\`, control characters) must be written escaped in the
/// path too, or the view reads NULL. (The reference never runs on those versions.) A quoted
/// label cannot hold `"` there at all; [`extract`] reads such columns another way.
pub fn json_path(column: &str) -> String {
    let quoted = column.contains('.') || column.contains('[');
    let label = if (legacy_json_labels() || quoted) && needs_json_escape(column) {
        let escaped = serde_json::to_string(column).expect("strings always serialise");
        escaped[1..escaped.len() - 1].to_owned()
    } else {
        column.to_owned()
    };
    let path = if quoted {
        format!("$.\"{label}\"")
    } else {
        format!("$.{label}")
    };
    let mut w = SqlWriter::new();
    w.string(&path);
    w.finish()
}

fn needs_json_escape(text: &str) -> bool {
    text.chars().any(|c| c == '"' || c == '\\' || c < ' ')
}

/// Whether this SQLite matches JSON path labels against escaped key text (before 3.45.0).
fn legacy_json_labels() -> bool {
    // SAFETY: a plain library query, valid once the extension API is initialised.
    unsafe { rusqlite::ffi::sqlite3_libversion_number() < 3_045_000 }
}

/// `CAST(json_extract(data, <path>) as <type>)`. Before SQLite 3.45 no path reaches a key that
/// holds `"` and also `.` or `[`, so such a column is read with `json_each` (issue 10: it read
/// NULL); an index on it then fails cleanly, as SQLite allows no subquery in an index.
fn extract(w: &mut SqlWriter, column: &str, type_name: &str) {
    // The type was checked to be a plain type name (D2) before any SQL is generated.
    if legacy_json_labels() && column.contains('"') && (column.contains('.') || column.contains('[')) {
        w.raw("CAST((SELECT value FROM json_each(data) WHERE key = ")
            .string(column)
            .raw(") as ")
            .raw(type_name)
            .raw(")");
    } else {
        w.raw("CAST(json_extract(data, ")
            .raw(&json_path(column))
            .raw(") as ")
            .raw(type_name)
            .raw(")");
    }
}

/// `json_object('<c>', powersync_strip_subtype(<row>."<c>"), ...)`, split into
/// `powersync_json_merge(json_object(...), ...)` above 50 columns.
pub fn json_fragment(row: &str, columns: &[&str]) -> PsResult<String> {
    if columns.len() > MAX_FRAGMENT_COLUMNS {
        return Err(PsError::invalid_argument("too many parameters to json_object_fragment"));
    }
    let object = |w: &mut SqlWriter, chunk: &[&str]| {
        w.raw("json_object(").list(", ", chunk, |w, c| {
            w.string(c)
                .raw(", powersync_strip_subtype(")
                .raw(row)
                .raw(".")
                .ident(c)
                .raw(")");
        });
        w.raw(")");
    };
    let mut w = SqlWriter::new();
    if columns.len() <= FRAGMENT_CHUNK {
        object(&mut w, columns);
    } else {
        w.raw("powersync_json_merge(")
            .list(", ", columns.chunks(FRAGMENT_CHUNK), object)
            .raw(")");
    }
    Ok(w.finish())
}

/// The columns whose previous values go into `old`, in schema order.
pub fn old_columns<'a>(options: &TableOptions, columns: &[&'a str]) -> Option<Vec<&'a str>> {
    match &options.include_old {
        None => None,
        Some(IncludeOld::All) => Some(columns.to_vec()),
        Some(IncludeOld::Columns(wanted)) => Some(
            columns
                .iter()
                .copied()
                .filter(|c| wanted.iter().any(|w| w == c))
                .collect(),
        ),
    }
}

/// The `old_values` expressions for PATCH and DELETE entries, if `include_old` is set.
pub struct OldValues {
    pub patch: String,
    pub delete: String,
}

pub fn old_values(options: &TableOptions, columns: &[&str]) -> PsResult<Option<OldValues>> {
    let Some(old) = old_columns(options, columns) else {
        return Ok(None);
    };
    let delete = json_fragment("OLD", &old)?;
    let patch = if options.include_old_only_when_changed {
        format!(
            "json(powersync_diff({}, {}))",
            json_fragment("NEW", &old)?,
            json_fragment("OLD", &old)?
        )
    } else {
        delete.clone()
    };
    Ok(Some(OldValues { patch, delete }))
}

fn column_names(table: &Table) -> Vec<&str> {
    table.columns.iter().map(|c| c.name.as_str()).collect()
}

/// `CREATE VIEW` for a table.
pub fn view_sql(table: &Table) -> String {
    let mut names = vec!["id"];
    names.extend(table.columns.iter().map(|c| c.name.as_str()));
    if table.options.include_metadata {
        names.extend(["_metadata", "_deleted"]);
    }
    let mut w = SqlWriter::new();
    w.raw("CREATE VIEW ")
        .ident(table.view_name())
        .raw("(")
        .list(", ", names, |w, n| {
            w.ident(n);
        })
        .raw(") AS SELECT id");
    for column in &table.columns {
        w.raw(", ");
        extract(&mut w, &column.name, &column.type_name);
    }
    if table.options.include_metadata {
        w.raw(", NULL, NULL");
    }
    w.raw(" FROM ").ident(&table.internal_name()).raw(VIEW_MARKER);
    w.finish()
}

/// The INSTEAD OF triggers of a view. `delete` holds the DELETE trigger and, for synced tables
/// with metadata, the `_deleted` trigger, joined with `;\n` as the reference compares them;
/// insert-only tables have empty `delete` and `update`.
pub struct ViewTriggers {
    pub delete: String,
    pub insert: String,
    pub update: String,
}

const ID_CHECK: &str = "SELECT CASE WHEN (NEW.id IS NULL) THEN RAISE (FAIL, 'id is required') WHEN (typeof(NEW.id) != 'text') THEN RAISE (FAIL, 'id should be text') END;\n";

pub fn view_triggers(table: &Table) -> PsResult<ViewTriggers> {
    let view = table.view_name();
    let internal = table.internal_name();
    let columns = column_names(table);
    let new_fragment = json_fragment("NEW", &columns)?;
    let old_fragment = json_fragment("OLD", &columns)?;
    let options = &table.options;
    let local = options.local_only;
    let metadata = options.include_metadata;
    // `CREATE TRIGGER "ps_view_<kind>_<view>" INSTEAD OF <write> ON "<view>" FOR EACH ROW `
    let head = |kind: &str, write: &str| {
        let mut w = SqlWriter::new();
        w.raw("CREATE TRIGGER ")
            .ident(&format!("ps_view_{kind}_{view}"))
            .raw(" INSTEAD OF ")
            .raw(write)
            .raw(" ON ")
            .ident(view)
            .raw(" FOR EACH ROW ");
        w
    };

    if table.is_insert_only() {
        let mut insert = head("insert", "INSERT");
        insert
            .raw("BEGIN\n")
            .raw(ID_CHECK)
            .raw("INSERT INTO powersync_crud_(data) VALUES(json_object('op', 'PUT', 'type', ")
            .string(&table.name)
            .raw(", 'id', NEW.id, 'data', json(powersync_diff('{}', ")
            .raw(&new_fragment)
            .raw("))));END");
        return Ok(ViewTriggers {
            delete: String::new(),
            insert: insert.finish(),
            update: String::new(),
        });
    }

    let old = if local { None } else { old_values(options, &columns)? };

    let mut insert = head("insert", "INSERT");
    insert.raw("BEGIN\n");
    let mut update = head("update", "UPDATE");
    if metadata {
        update.raw(" WHEN NEW._deleted IS NOT TRUE ");
    }
    update
        .raw("BEGIN\nSELECT CASE WHEN (OLD.id != NEW.id) THEN RAISE (FAIL, 'Cannot update id') END;\nUPDATE ")
        .ident(&internal)
        .raw(" SET data = ")
        .raw(&new_fragment)
        .raw(" WHERE id = NEW.id;\n");
    let mut delete = head("delete", "DELETE");
    delete
        .raw("BEGIN\nDELETE FROM ")
        .ident(&internal)
        .raw(" WHERE id = OLD.id;\n");

    if local {
        insert
            .raw("INSERT INTO ")
            .ident(&internal)
            .raw(" SELECT NEW.id, ")
            .raw(&new_fragment)
            .raw(";\nEND");
        update.raw("END");
        delete.raw("END");
        return Ok(ViewTriggers {
            delete: delete.finish(),
            insert: insert.finish(),
            update: update.finish(),
        });
    }

    insert
        .raw(ID_CHECK)
        .raw("INSERT INTO ")
        .ident(&internal)
        .raw(" SELECT NEW.id, ")
        .raw(&new_fragment)
        .raw(";\nINSERT INTO powersync_crud(op,id,type,data")
        .raw(if metadata { ",metadata" } else { "" })
        .raw(") VALUES ('PUT', NEW.id, ")
        .string(&table.name)
        .raw(", json(powersync_diff('{}', ")
        .raw(&new_fragment)
        .raw("))")
        .raw(if metadata { ", NEW._metadata" } else { "" })
        .raw(");\nEND");

    update.raw("INSERT INTO powersync_crud(op,id,type,data");
    if old.is_some() {
        update.raw(",old_values");
    }
    if metadata {
        update.raw(",metadata");
    }
    update
        .raw(",options) VALUES ('PATCH', NEW.id, ")
        .string(&table.name)
        .raw(", json(powersync_diff(")
        .raw(&old_fragment)
        .raw(", ")
        .raw(&new_fragment)
        .raw("))");
    if let Some(old) = &old {
        update.raw(", ").raw(&old.patch);
    }
    if metadata {
        update.raw(", NEW._metadata");
    }
    update.raw(&format!(", {});\nEND", options.flags()));

    // `'DELETE', OLD.id, '<type>'[, <old values>]` and the columns they go into.
    let delete_entry = |w: &mut SqlWriter, with_metadata: bool| {
        w.raw("INSERT INTO powersync_crud(op,id,type");
        if old.is_some() {
            w.raw(",old_values");
        }
        if with_metadata {
            w.raw(",metadata");
        }
        w.raw(") VALUES ('DELETE', OLD.id, ").string(&table.name);
        if let Some(old) = &old {
            w.raw(", ").raw(&old.delete);
        }
        if with_metadata {
            w.raw(", NEW._metadata");
        }
        w.raw(");\nEND");
    };
    delete_entry(&mut delete, false);

    if metadata {
        delete
            .raw(";\n")
            .raw(&head("delete2", "UPDATE").finish())
            .raw("WHEN NEW._deleted IS TRUE BEGIN DELETE FROM ")
            .ident(&internal)
            .raw(" WHERE id = OLD.id; ");
        delete_entry(&mut delete, true);
    }
    Ok(ViewTriggers {
        delete: delete.finish(),
        insert: insert.finish(),
        update: update.finish(),
    })
}

/// `(name, CREATE INDEX ...)` for each index of a table. Index names start with the JSON
/// storage's name for direct tables too (`ps_data__<table>__<index>`).
pub fn index_sqls(table: &Table) -> Vec<(String, String)> {
    let internal = table.internal_name();
    table
        .indexes
        .iter()
        .map(|index| {
            let name = format!("{internal}__{}", index.name);
            if table.direct {
                let sql = crate::schema::direct::index_sql(table, &name, index);
                return (name, sql);
            }
            let mut w = SqlWriter::new();
            w.raw("CREATE INDEX ")
                .ident(&name)
                .raw(" ON ")
                .ident(&internal)
                .raw("(")
                .list(", ", &index.columns, |w, c| {
                    extract(w, &c.name, &c.type_name);
                    if !c.ascending {
                        w.raw(" DESC");
                    }
                })
                .raw(")");
            (name, w.finish())
        })
        .collect()
}

#[cfg(test)]
mod tests;
