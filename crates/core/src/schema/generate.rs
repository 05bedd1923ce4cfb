//! SQL text of the views, triggers and indexes generated for schema tables (spec schema.md §4,
//! observed outputs §7). The text must be byte-identical to the reference's: existing databases
//! are reconciled by comparing stored SQL, so any difference would recreate every view on open.

use crate::error::{PsError, PsResult};
use crate::schema::model::{IncludeOld, Table, TableOptions};
use crate::sql::{quote_identifier, quote_string, SqlWriter};

/// Marker that ends every view PowerSync owns.
pub const VIEW_MARKER: &str = " -- powersync-auto-generated";

/// `json_object()` takes at most this many key/value pairs per call in our generated SQL
/// (the reference's limit, schema.md §2.1).
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
    if quoted {
        quote_string(&format!("$.\"{label}\""))
    } else {
        quote_string(&format!("$.{label}"))
    }
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
fn extract(column: &str, type_name: &str) -> String {
    if legacy_json_labels() && column.contains('"') && (column.contains('.') || column.contains('[')) {
        return format!(
            "CAST((SELECT value FROM json_each(data) WHERE key = {}) as {type_name})",
            quote_string(column)
        );
    }
    format!("CAST(json_extract(data, {}) as {type_name})", json_path(column))
}

/// `json_object('<c>', powersync_strip_subtype(<row>."<c>"), ...)`, split into
/// `powersync_json_merge(json_object(...), ...)` above 50 columns.
pub fn json_fragment(row: &str, columns: &[&str]) -> PsResult<String> {
    if columns.len() > MAX_FRAGMENT_COLUMNS {
        return Err(PsError::invalid_argument("too many parameters to json_object_fragment"));
    }
    let object = |chunk: &[&str]| {
        let pairs: Vec<String> = chunk
            .iter()
            .map(|c| {
                format!(
                    "{}, powersync_strip_subtype({row}.{})",
                    quote_string(c),
                    quote_identifier(c)
                )
            })
            .collect();
        format!("json_object({})", pairs.join(", "))
    };
    if columns.len() <= FRAGMENT_CHUNK {
        return Ok(object(columns));
    }
    let parts: Vec<String> = columns.chunks(FRAGMENT_CHUNK).map(object).collect();
    Ok(format!("powersync_json_merge({})", parts.join(", ")))
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
    let mut names = vec![quote_identifier("id")];
    let mut selects = vec!["id".to_owned()];
    for column in &table.columns {
        names.push(quote_identifier(&column.name));
        selects.push(extract(&column.name, &column.type_name));
    }
    if table.options.include_metadata {
        names.push(quote_identifier("_metadata"));
        names.push(quote_identifier("_deleted"));
        selects.push("NULL".into());
        selects.push("NULL".into());
    }
    format!(
        "CREATE VIEW {}({}) AS SELECT {} FROM {}{VIEW_MARKER}",
        quote_identifier(table.view_name()),
        names.join(", "),
        selects.join(", "),
        quote_identifier(&table.internal_name()),
    )
}

/// The INSTEAD OF triggers of a view. `delete` holds the DELETE trigger and, for synced tables
/// with metadata, the `_deleted` trigger, joined with `;\n` as the reference compares them;
/// insert-only tables have empty `delete` and `update`.
pub struct ViewTriggers {
    pub delete: String,
    pub insert: String,
    pub update: String,
}

pub fn view_triggers(table: &Table) -> PsResult<ViewTriggers> {
    let view = table.view_name();
    let quoted_view = quote_identifier(view);
    let internal = quote_identifier(&table.internal_name());
    let type_name = quote_string(&table.name);
    let columns = column_names(table);
    let new_fragment = json_fragment("NEW", &columns)?;
    let old_fragment = json_fragment("OLD", &columns)?;
    let options = &table.options;
    let local = options.local_only;
    let metadata = options.include_metadata;
    let trigger = |kind: &str| quote_identifier(&format!("ps_view_{kind}_{view}"));
    let id_check = "SELECT CASE WHEN (NEW.id IS NULL) THEN RAISE (FAIL, 'id is required') WHEN (typeof(NEW.id) != 'text') THEN RAISE (FAIL, 'id should be text') END;\n";

    if table.is_insert_only() {
        let insert = format!(
            "CREATE TRIGGER {} INSTEAD OF INSERT ON {quoted_view} FOR EACH ROW BEGIN\n{id_check}INSERT INTO powersync_crud_(data) VALUES(json_object('op', 'PUT', 'type', {type_name}, 'id', NEW.id, 'data', json(powersync_diff('{{}}', {new_fragment}))));END",
            trigger("insert"),
        );
        return Ok(ViewTriggers {
            delete: String::new(),
            insert,
            update: String::new(),
        });
    }

    let old = if local { None } else { old_values(options, &columns)? };
    let when_not_deleted = if metadata {
        " WHEN NEW._deleted IS NOT TRUE "
    } else {
        ""
    };

    let mut insert = format!(
        "CREATE TRIGGER {} INSTEAD OF INSERT ON {quoted_view} FOR EACH ROW BEGIN\n",
        trigger("insert")
    );
    let mut update = format!(
        "CREATE TRIGGER {} INSTEAD OF UPDATE ON {quoted_view} FOR EACH ROW {when_not_deleted}BEGIN\nSELECT CASE WHEN (OLD.id != NEW.id) THEN RAISE (FAIL, 'Cannot update id') END;\nUPDATE {internal} SET data = {new_fragment} WHERE id = NEW.id;\n",
        trigger("update"),
    );
    let mut delete = format!(
        "CREATE TRIGGER {} INSTEAD OF DELETE ON {quoted_view} FOR EACH ROW BEGIN\nDELETE FROM {internal} WHERE id = OLD.id;\n",
        trigger("delete"),
    );

    if local {
        insert.push_str(&format!("INSERT INTO {internal} SELECT NEW.id, {new_fragment};\nEND"));
        update.push_str("END");
        delete.push_str("END");
        return Ok(ViewTriggers { delete, insert, update });
    }

    insert.push_str(id_check);
    insert.push_str(&format!("INSERT INTO {internal} SELECT NEW.id, {new_fragment};\n"));
    let (put_columns, put_values) = if metadata {
        (
            "op,id,type,data,metadata",
            format!("'PUT', NEW.id, {type_name}, json(powersync_diff('{{}}', {new_fragment})), NEW._metadata"),
        )
    } else {
        (
            "op,id,type,data",
            format!("'PUT', NEW.id, {type_name}, json(powersync_diff('{{}}', {new_fragment}))"),
        )
    };
    insert.push_str(&format!(
        "INSERT INTO powersync_crud({put_columns}) VALUES ({put_values});\nEND"
    ));

    let mut patch_columns = String::from("op,id,type,data");
    let mut patch_values =
        format!("'PATCH', NEW.id, {type_name}, json(powersync_diff({old_fragment}, {new_fragment}))");
    if let Some(old) = &old {
        patch_columns.push_str(",old_values");
        patch_values.push_str(&format!(", {}", old.patch));
    }
    if metadata {
        patch_columns.push_str(",metadata");
        patch_values.push_str(", NEW._metadata");
    }
    patch_columns.push_str(",options");
    patch_values.push_str(&format!(", {}", options.flags()));
    update.push_str(&format!(
        "INSERT INTO powersync_crud({patch_columns}) VALUES ({patch_values});\nEND"
    ));

    let (delete_columns, delete_values) = match &old {
        Some(old) => (
            "op,id,type,old_values",
            format!("'DELETE', OLD.id, {type_name}, {}", old.delete),
        ),
        None => ("op,id,type", format!("'DELETE', OLD.id, {type_name}")),
    };
    delete.push_str(&format!(
        "INSERT INTO powersync_crud({delete_columns}) VALUES ({delete_values});\nEND"
    ));

    if metadata {
        let (columns2, values2) = match &old {
            Some(old) => (
                "op,id,type,old_values,metadata",
                format!("'DELETE', OLD.id, {type_name}, {}, NEW._metadata", old.delete),
            ),
            None => (
                "op,id,type,metadata",
                format!("'DELETE', OLD.id, {type_name}, NEW._metadata"),
            ),
        };
        delete.push_str(&format!(
            ";\nCREATE TRIGGER {} INSTEAD OF UPDATE ON {quoted_view} FOR EACH ROW WHEN NEW._deleted IS TRUE BEGIN DELETE FROM {internal} WHERE id = OLD.id; INSERT INTO powersync_crud({columns2}) VALUES ({values2});\nEND",
            trigger("delete2"),
        ));
    }
    Ok(ViewTriggers { delete, insert, update })
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
                    w.raw(&extract(&c.name, &c.type_name));
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
