//! Raw tables: discovering their local columns and `powersync_create_raw_table_crud_trigger`
//! (docs/schema-sql.md, "Raw tables").

use rusqlite::Connection;

use crate::error::{PsError, PsResult};
use crate::function::{Call, Output};
use crate::schema::crud_trigger::{self, CrudTable, WriteType};
use crate::schema::model::RawTable;
use crate::sql;

/// The local table of a raw table and its synced columns (without `id`).
pub struct RawTableColumns {
    pub table_name: String,
    pub columns: Vec<String>,
}

/// The columns of local table `table_name` other than `id`, in table order (`pragma_table_info`);
/// a table that does not exist or has no `id` column is an error. Raw and direct tables both
/// read their structure this way.
pub fn table_columns(db: &Connection, table_name: &str) -> PsResult<Vec<String>> {
    let all = sql::query_all(db, "select name from pragma_table_info(?)", [table_name], |row| {
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
    Ok(all.into_iter().filter(|c| c != "id").collect())
}

/// Reads the local table's columns with `pragma_table_info`, filtered by `synced_columns`.
pub fn discover_columns(db: &Connection, table: &RawTable) -> PsResult<RawTableColumns> {
    let table_name = table
        .table_name
        .clone()
        .ok_or_else(|| PsError::invalid_argument(format!("Raw table {} has no local name", table.name)))?;
    let columns = table_columns(db, &table_name)?
        .into_iter()
        .filter(|c| table.synced_columns.as_ref().is_none_or(|synced| synced.contains(c)))
        .collect();
    Ok(RawTableColumns { table_name, columns })
}

/// SQL of an `AFTER <write_type>` trigger forwarding local writes into the CRUD vtabs, `None`
/// where the table records no such writes (local-only inserts and deletes).
pub fn crud_trigger_sql(
    table: &RawTable,
    local: &RawTableColumns,
    trigger_name: &str,
    write_type: &str,
) -> PsResult<Option<String>> {
    let write = WriteType::parse(write_type)?;
    let columns: Vec<&str> = local.columns.iter().map(String::as_str).collect();
    let target = CrudTable {
        table: &local.table_name,
        type_name: &table.name,
        columns: &columns,
        options: &table.options,
        only_when_columns_change: table.synced_columns.is_some(),
    };
    crud_trigger::sql(&target, trigger_name, write)
}

/// `powersync_create_raw_table_crud_trigger(raw_table_json, trigger_name, write_type)`.
pub fn create_crud_trigger_fn(call: &Call) -> PsResult<Output> {
    let json = call.args.text(0).unwrap_or_default();
    let table: RawTable = serde_json::from_str(&json).map_err(|e| PsError::json_argument(&e))?;
    let trigger_name = call.args.text(1).unwrap_or_default();
    let write_type = call.args.text(2).unwrap_or_default();
    let db = call.connection();
    let local = discover_columns(&db, &table)?;
    if let Some(statement) = crud_trigger_sql(&table, &local, &trigger_name, &write_type)? {
        sql::execute_batch(&db, &statement)?;
    }
    Ok(Output::Null)
}
