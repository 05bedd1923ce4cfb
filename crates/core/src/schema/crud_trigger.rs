//! The `AFTER` triggers that record local writes of a real table in `ps_crud`: raw tables'
//! (`powersync_create_raw_table_crud_trigger`) and direct tables' (docs/direct-tables-design.md). Both
//! follow the same rules, so one generator writes both; the byte-exact text matters because
//! reconciliation compares stored trigger SQL.

use crate::error::{PsError, PsResult};
use crate::schema::generate::{json_fragment, old_values};
use crate::schema::model::TableOptions;
use crate::sql::SqlWriter;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteType {
    Insert,
    Update,
    Delete,
}

impl WriteType {
    pub fn parse(text: &str) -> PsResult<WriteType> {
        match text {
            "INSERT" => Ok(WriteType::Insert),
            "UPDATE" => Ok(WriteType::Update),
            "DELETE" => Ok(WriteType::Delete),
            _ => Err(PsError::invalid_argument(format!("unexpected write type {text}"))),
        }
    }

    fn keyword(self) -> &'static str {
        match self {
            WriteType::Insert => "INSERT",
            WriteType::Update => "UPDATE",
            WriteType::Delete => "DELETE",
        }
    }
}

/// What a trigger is generated for.
pub struct CrudTable<'a> {
    /// The real table the trigger is on.
    pub table: &'a str,
    /// The `type` recorded in `ps_crud`.
    pub type_name: &'a str,
    /// The columns recorded (without `id`), in the order they appear in the JSON.
    pub columns: &'a [&'a str],
    pub options: &'a TableOptions,
    /// Raw tables with `synced_columns`: updates fire only when one of `columns` changed.
    pub only_when_columns_change: bool,
}

const ID_CHECK: &str = "SELECT CASE WHEN (OLD.id != NEW.id) THEN RAISE (ABORT, 'Cannot update id') END;\n";
const INSERT_ONLY_REFUSAL: &str = "SELECT RAISE(ABORT, 'Unexpected update on insert-only table');\nEND";

/// `CREATE TRIGGER "<trigger_name>" AFTER <write> ...`, or `None` where the table records no
/// such writes (local-only tables record no inserts and deletes; their update trigger only
/// refuses id changes).
pub fn sql(table: &CrudTable, trigger_name: &str, write: WriteType) -> PsResult<Option<String>> {
    let options = table.options;
    if options.local_only && write != WriteType::Update {
        return Ok(None);
    }
    let columns = table.columns;
    let mut w = SqlWriter::new();
    w.raw("CREATE TRIGGER ")
        .ident(trigger_name)
        .raw(" AFTER ")
        .raw(write.keyword())
        .raw(" ON ")
        .ident(table.table)
        .raw(" FOR EACH ROW WHEN NOT powersync_in_sync_operation()");
    if write == WriteType::Update && table.only_when_columns_change {
        w.raw(" AND\n(").list(" OR ", columns, |w, c| {
            w.raw("OLD.").ident(c).raw(" IS NOT NEW.").ident(c);
        });
        w.raw(")");
    }
    w.raw(" BEGIN\n");

    if options.local_only {
        w.raw(ID_CHECK).raw("END");
        return Ok(Some(w.finish()));
    }
    if options.insert_only {
        if write == WriteType::Insert {
            w.raw("INSERT INTO powersync_crud_(data) VALUES(json_object('op', 'PUT', 'type', ")
                .string(table.type_name)
                .raw(", 'id', NEW.id, 'data', json(powersync_diff('{}', ")
                .raw(&json_fragment("NEW", columns)?)
                .raw("))));END");
        } else {
            w.raw(INSERT_ONLY_REFUSAL);
        }
        return Ok(Some(w.finish()));
    }

    let old = old_values(options, columns)?;
    match write {
        WriteType::Insert => {
            w.raw("INSERT INTO powersync_crud(op,id,type,data) VALUES ('PUT', NEW.id, ")
                .string(table.type_name)
                .raw(", json(powersync_diff('{}', ")
                .raw(&json_fragment("NEW", columns)?)
                .raw(")));\nEND");
        }
        WriteType::Update => {
            w.raw(ID_CHECK).raw("INSERT INTO powersync_crud(op,id,type,data");
            if old.is_some() {
                w.raw(",old_values");
            }
            w.raw(",options) VALUES ('PATCH', NEW.id, ")
                .string(table.type_name)
                .raw(", json(powersync_diff(")
                .raw(&json_fragment("OLD", columns)?)
                .raw(", ")
                .raw(&json_fragment("NEW", columns)?)
                .raw("))");
            if let Some(old) = &old {
                w.raw(", ").raw(&old.patch);
            }
            w.raw(&format!(", {});\nEND", options.flags()));
        }
        WriteType::Delete => {
            w.raw("INSERT INTO powersync_crud(op,id,type");
            if old.is_some() {
                w.raw(",old_values");
            }
            w.raw(") VALUES ('DELETE', OLD.id, ").string(table.type_name);
            if let Some(old) = &old {
                w.raw(", ").raw(&old.delete);
            }
            w.raw(");\nEND");
        }
    }
    Ok(Some(w.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::model::IncludeOld;

    fn table<'a>(columns: &'a [&'a str], options: &'a TableOptions) -> CrudTable<'a> {
        CrudTable {
            table: "items",
            type_name: "items",
            columns,
            options,
            only_when_columns_change: false,
        }
    }

    #[test]
    fn local_only_tables_record_nothing_and_refuse_id_changes() {
        let options = TableOptions {
            local_only: true,
            insert_only: true,
            ..Default::default()
        };
        let t = table(&["a"], &options);
        assert_eq!(sql(&t, "i", WriteType::Insert).unwrap(), None);
        assert_eq!(sql(&t, "d", WriteType::Delete).unwrap(), None);
        assert_eq!(
            sql(&t, "u", WriteType::Update).unwrap().unwrap(),
            "CREATE TRIGGER \"u\" AFTER UPDATE ON \"items\" FOR EACH ROW WHEN NOT powersync_in_sync_operation() BEGIN\nSELECT CASE WHEN (OLD.id != NEW.id) THEN RAISE (ABORT, 'Cannot update id') END;\nEND"
        );
    }

    #[test]
    fn insert_only_refuses_updates_with_abort() {
        let options = TableOptions {
            insert_only: true,
            ..Default::default()
        };
        let t = table(&["msg"], &options);
        assert_eq!(
            sql(&t, "x", WriteType::Delete).unwrap().unwrap(),
            "CREATE TRIGGER \"x\" AFTER DELETE ON \"items\" FOR EACH ROW WHEN NOT powersync_in_sync_operation() BEGIN\nSELECT RAISE(ABORT, 'Unexpected update on insert-only table');\nEND"
        );
    }

    #[test]
    fn old_values_and_flags_in_patch() {
        let options = TableOptions {
            include_old: Some(IncludeOld::Columns(vec!["a".into()])),
            include_old_only_when_changed: true,
            ignore_empty_update: true,
            include_metadata: true,
            ..Default::default()
        };
        let t = CrudTable {
            table: "m",
            type_name: "m",
            columns: &["a", "b"],
            options: &options,
            only_when_columns_change: false,
        };
        assert_eq!(
            sql(&t, "ps_view_update_m", WriteType::Update).unwrap().unwrap(),
            "CREATE TRIGGER \"ps_view_update_m\" AFTER UPDATE ON \"m\" FOR EACH ROW WHEN NOT powersync_in_sync_operation() BEGIN\nSELECT CASE WHEN (OLD.id != NEW.id) THEN RAISE (ABORT, 'Cannot update id') END;\nINSERT INTO powersync_crud(op,id,type,data,old_values,options) VALUES ('PATCH', NEW.id, 'm', json(powersync_diff(json_object('a', powersync_strip_subtype(OLD.\"a\"), 'b', powersync_strip_subtype(OLD.\"b\")), json_object('a', powersync_strip_subtype(NEW.\"a\"), 'b', powersync_strip_subtype(NEW.\"b\")))), json(powersync_diff(json_object('a', powersync_strip_subtype(NEW.\"a\")), json_object('a', powersync_strip_subtype(OLD.\"a\")))), 28);\nEND"
        );
        assert_eq!(
            sql(&t, "ps_view_delete_m", WriteType::Delete).unwrap().unwrap(),
            "CREATE TRIGGER \"ps_view_delete_m\" AFTER DELETE ON \"m\" FOR EACH ROW WHEN NOT powersync_in_sync_operation() BEGIN\nINSERT INTO powersync_crud(op,id,type,old_values) VALUES ('DELETE', OLD.id, 'm', json_object('a', powersync_strip_subtype(OLD.\"a\")));\nEND"
        );
    }

    #[test]
    fn unknown_write_type() {
        assert_eq!(
            WriteType::parse("MERGE").unwrap_err().to_string(),
            "invalid argument: unexpected write type MERGE. cause: unknown"
        );
    }
}
