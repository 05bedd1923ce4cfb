//! Writing synced rows into raw tables with the app's statements (spec sync.md §5.1).

use std::collections::HashMap;

use rusqlite::types::Value;
use rusqlite::Connection;
use serde_json::{Map, Value as Json};

use crate::error::{ErrorKind, PsError, PsResult};
use crate::schema::model::{PendingStatement, RawTable, StatementParam};
use crate::schema::raw::discover_columns;
use crate::sql::quote_identifier;

/// Raw tables of the current iteration with their (possibly inferred) statements.
pub struct RawTables {
    tables: HashMap<String, RawTable>,
    statements: HashMap<String, (PendingStatement, PendingStatement)>,
    /// `PRAGMA schema_version` the inferred statements were built for.
    schema_version: Option<i64>,
}

impl RawTables {
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

    pub fn contains(&self, name: &str) -> bool {
        self.tables.contains_key(name)
    }

    fn statements(&mut self, db: &Connection, name: &str) -> PsResult<&(PendingStatement, PendingStatement)> {
        if !self.statements.contains_key(name) {
            let table = &self.tables[name];
            let inferred = match (&table.put, &table.delete) {
                (Some(put), Some(delete)) => (put.clone(), delete.clone()),
                _ => {
                    let local = discover_columns(db, table)?;
                    let quoted = quote_identifier(&local.table_name);
                    let put = table.put.clone().unwrap_or_else(|| infer_put(&quoted, &local.columns));
                    let delete = table.delete.clone().unwrap_or_else(|| PendingStatement {
                        sql: format!("DELETE FROM {quoted} WHERE id = ?"),
                        params: vec![StatementParam::Id],
                    });
                    (put, delete)
                }
            };
            self.statements.insert(name.to_owned(), inferred);
        }
        Ok(&self.statements[name])
    }

    /// Writes (or, with `data == None`, deletes) one row of raw table `name`.
    pub fn write(&mut self, db: &Connection, name: &str, id: &str, data: Option<&str>) -> PsResult<()> {
        let (put, delete) = self.statements(db, name)?.clone();
        match data {
            Some(data) => {
                let object: Json =
                    serde_json::from_str(data).map_err(|e| PsError::new(ErrorKind::InvalidLocalData(e.to_string())))?;
                let Json::Object(object) = object else {
                    return Err(PsError::invalid_argument("expected oplog data to be an object"));
                };
                let values = bind_values(&put, id, &object);
                execute(db, &put, values).map_err(|e| {
                    e.into_error(|| {
                        format!(
                            "replacing into {name}, id = {id}, data = {}",
                            serde_json::to_string(&object).unwrap_or_default()
                        )
                    })
                })
            }
            None => {
                if delete.params.iter().any(|p| *p != StatementParam::Id) {
                    return Err(PsError::invalid_argument(
                        "Raw delete statement parameters must only reference id",
                    ));
                }
                let values = delete.params.iter().map(|_| Value::Text(id.to_owned())).collect();
                execute(db, &delete, values).map_err(|e| e.into_error(|| format!("deleting from {name}, id = {id}")))
            }
        }
    }
}

/// Writes one row given as op data text with `put` (an inferred put over a direct table's
/// columns), as syncing does: the data must be a JSON object, and a failing statement reports
/// the row with the data text as given.
pub(crate) fn put_json_row(db: &Connection, put: &PendingStatement, name: &str, id: &str, data: &str) -> PsResult<()> {
    let object: Json =
        serde_json::from_str(data).map_err(|e| PsError::new(ErrorKind::InvalidLocalData(e.to_string())))?;
    let Json::Object(object) = object else {
        return Err(PsError::invalid_argument("expected oplog data to be an object"));
    };
    let values = bind_values(put, id, &object);
    execute(db, put, values).map_err(|e| e.into_error(|| format!("replacing into {name}, id = {id}, data = {data}")))
}

pub(crate) fn infer_put(quoted_table: &str, columns: &[String]) -> PendingStatement {
    let mut names = vec!["id".to_owned()];
    let mut placeholders = vec!["?1".to_owned()];
    let mut updates = Vec::new();
    let mut params = vec![StatementParam::Id];
    for (i, c) in columns.iter().enumerate() {
        names.push(quote_identifier(c));
        placeholders.push(format!("?{}", i + 2));
        updates.push(format!("{} = ?{}", quote_identifier(c), i + 2));
        params.push(StatementParam::Column(c.clone()));
    }
    let mut sql = format!(
        "INSERT INTO {quoted_table} ({}) VALUES ({})",
        names.join(", "),
        placeholders.join(", ")
    );
    if updates.is_empty() {
        sql.push_str(" ON CONFLICT (id) DO NOTHING");
    } else {
        sql.push_str(&format!(" ON CONFLICT (id) DO UPDATE SET {}", updates.join(", ")));
    }
    PendingStatement { sql, params }
}

fn json_to_sql(value: Option<&Json>) -> Value {
    match value {
        Some(Json::String(s)) => Value::Text(s.clone()),
        Some(Json::Bool(b)) => Value::Integer(*b as i64),
        // Integers that fit 64 bits stay integers (0.5.4); the rest are REAL.
        Some(Json::Number(n)) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Real(n.as_f64().unwrap_or(0.0)),
        },
        _ => Value::Null,
    }
}

fn bind_values(statement: &PendingStatement, id: &str, object: &Map<String, Json>) -> Vec<Value> {
    statement
        .params
        .iter()
        .map(|p| match p {
            StatementParam::Id => Value::Text(id.to_owned()),
            StatementParam::Column(c) => json_to_sql(object.get(c)),
            StatementParam::Rest => {
                // Keys bound elsewhere: every Column, and `id` when the row id is bound (observed).
                let named: Vec<&str> = statement
                    .params
                    .iter()
                    .map(|p| match p {
                        StatementParam::Column(c) => c.as_str(),
                        StatementParam::Id => "id",
                        StatementParam::Rest => "",
                    })
                    .filter(|n| !n.is_empty())
                    .collect();
                let rest: Map<String, Json> = object
                    .iter()
                    .filter(|(k, _)| !named.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if rest.is_empty() {
                    Value::Null
                } else {
                    Value::Text(serde_json::to_string(&rest).unwrap_or_default())
                }
            }
        })
        .collect()
}

/// Where running a raw statement failed: only failures of the statement itself get the row as
/// context (the reference reports preparation and binding errors bare).
enum ExecError {
    Prepare(PsError),
    Run(PsError),
}

impl ExecError {
    fn into_error(self, context: impl FnOnce() -> String) -> PsError {
        match self {
            ExecError::Prepare(e) => e,
            ExecError::Run(e) => e.with_context(context()),
        }
    }
}

fn execute(db: &Connection, statement: &PendingStatement, values: Vec<Value>) -> Result<(), ExecError> {
    let mut stmt = db
        .prepare_cached(&statement.sql)
        .map_err(|e| ExecError::Prepare(PsError::sqlite(Some(&statement.sql), e)))?;
    let expected = stmt.parameter_count();
    if expected != values.len() {
        return Err(ExecError::Prepare(PsError::invalid_argument(format!(
            "Statement {} has {} parameters, but {} values were provided as sources.",
            statement.sql,
            expected,
            values.len()
        ))));
    }
    stmt.execute(rusqlite::params_from_iter(values))
        .map_err(|e| ExecError::Run(PsError::sqlite(Some(&statement.sql), e)))?;
    Ok(())
}

#[cfg(test)]
mod tests;
