//! Query results: rows with their column names, values as SQLite returned them.

use std::sync::Arc;

pub use rusqlite::types::Value as SqlValue;
use rusqlite::Statement;
use serde_json::Value as Json;

/// One result row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<SqlValue>,
}

impl Row {
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    pub fn values(&self) -> &[SqlValue] {
        &self.values
    }

    pub fn get(&self, column: &str) -> Option<&SqlValue> {
        let i = self.columns.iter().position(|c| c == column)?;
        self.values.get(i)
    }

    pub fn get_str(&self, column: &str) -> Option<&str> {
        match self.get(column)? {
            SqlValue::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn get_i64(&self, column: &str) -> Option<i64> {
        match self.get(column)? {
            SqlValue::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The row as a JSON object (blobs become lowercase hex strings).
    pub fn to_json(&self) -> Json {
        let map = self
            .columns
            .iter()
            .zip(&self.values)
            .map(|(c, v)| (c.clone(), value_to_json(v)));
        Json::Object(map.collect())
    }
}

pub(crate) fn value_to_json(v: &SqlValue) -> Json {
    match v {
        SqlValue::Null => Json::Null,
        SqlValue::Integer(i) => Json::from(*i),
        SqlValue::Real(f) => serde_json::Number::from_f64(*f).map(Json::Number).unwrap_or(Json::Null),
        SqlValue::Text(s) => Json::String(s.clone()),
        SqlValue::Blob(b) => Json::String(b.iter().map(|x| format!("{x:02x}")).collect()),
    }
}

/// Runs a prepared statement and collects every row.
pub(crate) fn collect_rows(stmt: &mut Statement<'_>, params: &[SqlValue]) -> rusqlite::Result<Vec<Row>> {
    let columns: Arc<[String]> = stmt.column_names().into_iter().map(String::from).collect();
    let n = columns.len();
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let values = (0..n)
            .map(|i| r.get::<_, SqlValue>(i))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        out.push(Row {
            columns: columns.clone(),
            values,
        });
    }
    Ok(out)
}
