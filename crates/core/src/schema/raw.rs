//! Raw tables: discovering their local columns and `powersync_create_raw_table_crud_trigger`
//! (spec schema.md §5.2–§5.3).

use rusqlite::Connection;

use crate::error::{PsError, PsResult};
use crate::function::{Call, Output};
use crate::schema::generate::{json_fragment, old_values};
use crate::schema::model::{RawTable, TableOptions};
use crate::sql::{self, quote_identifier, quote_string};

/// The local table of a raw table and its synced columns (without `id`).
pub struct RawTableColumns {
    pub table_name: String,
    pub columns: Vec<String>,
}

/// Reads the local table's columns with `pragma_table_info`, filtered by `synced_columns`.
pub fn discover_columns(db: &Connection, table: &RawTable) -> PsResult<RawTableColumns> {
    let table_name = table
        .table_name
        .clone()
        .ok_or_else(|| PsError::invalid_argument(format!("Raw table {} has no local name", table.name)))?;
    let all = sql::query_all(db, "select name from pragma_table_info(?)", [&table_name], |row| {
        row.get::<_, String>(0)
    })?;
    if all.is_empty() {
        return Err(PsError::invalid_argument(format!(
            "Could not find {table_name} in local schema."
        )));
    }
    if !all.iter().any(|c| c == "id") {
        return Err(PsError::invalid_argument(format!(
            "Table {table_name} has no id column."
        )));
    }
    let columns = all
        .into_iter()
        .filter(|c| c != "id")
        .filter(|c| table.synced_columns.as_ref().is_none_or(|synced| synced.contains(c)))
        .collect();
    Ok(RawTableColumns { table_name, columns })
}

/// SQL of an `AFTER <write_type>` trigger forwarding local writes into the CRUD vtabs.
pub fn crud_trigger_sql(
    table: &RawTable,
    local: &RawTableColumns,
    trigger_name: &str,
    write_type: &str,
) -> PsResult<String> {
    if !matches!(write_type, "INSERT" | "UPDATE" | "DELETE") {
        return Err(PsError::invalid_argument(format!("unexpected write type {write_type}")));
    }
    let options: &TableOptions = &table.options;
    let columns: Vec<&str> = local.columns.iter().map(String::as_str).collect();
    let type_name = quote_string(&table.name);
    let mut sql = format!(
        "CREATE TRIGGER {} AFTER {write_type} ON {} FOR EACH ROW WHEN NOT powersync_in_sync_operation()",
        quote_identifier(trigger_name),
        quote_identifier(&local.table_name),
    );
    if write_type == "UPDATE" && table.synced_columns.is_some() {
        let changed: Vec<String> = columns
            .iter()
            .map(|c| format!("OLD.{q} IS NOT NEW.{q}", q = quote_identifier(c)))
            .collect();
        sql.push_str(&format!(" AND\n({})", changed.join(" OR ")));
    }
    sql.push_str(" BEGIN\n");

    if options.insert_only {
        if write_type == "INSERT" {
            sql.push_str(&format!(
                "INSERT INTO powersync_crud_(data) VALUES(json_object('op', 'PUT', 'type', {type_name}, 'id', NEW.id, 'data', json(powersync_diff('{{}}', {}))));END",
                json_fragment("NEW", &columns)?
            ));
        } else {
            sql.push_str("SELECT RAISE(FAIL, 'Unexpected update on insert-only table');\nEND");
        }
        return Ok(sql);
    }

    let old = old_values(options, &columns)?;
    match write_type {
        "INSERT" => sql.push_str(&format!(
            "INSERT INTO powersync_crud(op,id,type,data) VALUES ('PUT', NEW.id, {type_name}, json(powersync_diff('{{}}', {})));\nEND",
            json_fragment("NEW", &columns)?
        )),
        "UPDATE" => {
            sql.push_str("SELECT CASE WHEN (OLD.id != NEW.id) THEN RAISE (FAIL, 'Cannot update id') END;\n");
            let diff = format!(
                "json(powersync_diff({}, {}))",
                json_fragment("OLD", &columns)?,
                json_fragment("NEW", &columns)?
            );
            match &old {
                Some(old) => sql.push_str(&format!(
                    "INSERT INTO powersync_crud(op,id,type,data,old_values,options) VALUES ('PATCH', NEW.id, {type_name}, {diff}, {}, {});\nEND",
                    old.patch,
                    options.flags()
                )),
                None => sql.push_str(&format!(
                    "INSERT INTO powersync_crud(op,id,type,data,options) VALUES ('PATCH', NEW.id, {type_name}, {diff}, {});\nEND",
                    options.flags()
                )),
            }
        }
        _ => match &old {
            Some(old) => sql.push_str(&format!(
                "INSERT INTO powersync_crud(op,id,type,old_values) VALUES ('DELETE', OLD.id, {type_name}, {});\nEND",
                old.delete
            )),
            None => sql.push_str(&format!(
                "INSERT INTO powersync_crud(op,id,type) VALUES ('DELETE', OLD.id, {type_name});\nEND"
            )),
        },
    }
    Ok(sql)
}

/// `powersync_create_raw_table_crud_trigger(raw_table_json, trigger_name, write_type)`.
pub fn create_crud_trigger_fn(call: &Call) -> PsResult<Output> {
    let json = call.args.text(0).unwrap_or_default();
    let table: RawTable = serde_json::from_str(&json).map_err(|e| PsError::json_argument(&e))?;
    let trigger_name = call.args.text(1).unwrap_or_default();
    let write_type = call.args.text(2).unwrap_or_default();
    let db = call.connection();
    let local = discover_columns(&db, &table)?;
    let statement = crud_trigger_sql(&table, &local, &trigger_name, &write_type)?;
    sql::execute_batch(&db, &statement)?;
    Ok(Output::Null)
}
