//! Writing synced rows with a put and a delete statement and their parameter sources: the one
//! path for raw tables, direct tables and JSON tables (docs/protocol.md, "Publishing").
//!
//! A [`TableWriter`] lives for one publish and prepares each statement on first use (from the
//! connection's statement cache), so a row costs one bind and one step. Values of `Column`
//! sources are bound by JSON type: integers that fit 64 bits as INTEGER, other numbers as REAL,
//! booleans as 0/1, strings as TEXT, anything else (or a missing key) as NULL.

use rusqlite::types::Null;
use rusqlite::{CachedStatement, Connection};
use serde_json::{Map, Value as Json};

use crate::error::{ErrorKind, PsError, PsResult};
use crate::schema::model::{PendingStatement, StatementParam};
use crate::sql::SqlWriter;
use crate::sync::json_columns::{ColumnSlots, ColumnValue};

/// The put and delete statements of a table that receives synced rows.
#[derive(Debug, Clone)]
pub struct TableStatements {
    pub put: PendingStatement,
    pub delete: PendingStatement,
}

/// `INSERT INTO "<table>" (id, "<c1>", ...) VALUES (?1, ?2, ...) ON CONFLICT (id) DO UPDATE SET
/// "<c1>" = ?2, ...` binding the id and each column's value; with no columns the conflict clause
/// is `DO NOTHING` (an existing row is kept). Used for direct tables and inferred raw-table puts.
pub fn upsert_statement<'a>(table: &str, columns: impl IntoIterator<Item = &'a str>) -> PendingStatement {
    let columns: Vec<&str> = columns.into_iter().collect();
    let placeholders = 2..columns.len() + 2;
    let mut w = SqlWriter::new();
    w.raw("INSERT INTO ")
        .ident(table)
        .raw(" (id")
        .list("", &columns, |w, c| {
            w.raw(", ").ident(c);
        })
        .raw(") VALUES (?1")
        .list("", placeholders.clone(), |w, i| {
            w.raw(&format!(", ?{i}"));
        })
        .raw(") ON CONFLICT (id) ");
    if columns.is_empty() {
        w.raw("DO NOTHING");
    } else {
        w.raw("DO UPDATE SET ")
            .list(", ", columns.iter().zip(placeholders), |w, (c, i)| {
                w.ident(c).raw(&format!(" = ?{i}"));
            });
    }
    let mut params = vec![StatementParam::Id];
    params.extend(columns.iter().map(|c| StatementParam::Column((*c).to_owned())));
    PendingStatement {
        sql: w.finish(),
        params,
    }
}

/// `DELETE FROM "<table>" WHERE id = ?`.
pub fn delete_statement(table: &str) -> PendingStatement {
    let mut w = SqlWriter::new();
    w.raw("DELETE FROM ").ident(table).raw(" WHERE id = ?");
    PendingStatement {
        sql: w.finish(),
        params: vec![StatementParam::Id],
    }
}

/// A statement with its parameter sources, prepared on first use.
struct Slot<'c> {
    definition: PendingStatement,
    prepared: Option<CachedStatement<'c>>,
}

impl<'c> Slot<'c> {
    fn new(definition: PendingStatement) -> Slot<'c> {
        Slot {
            definition,
            prepared: None,
        }
    }

    /// Prepares the statement once and checks that every placeholder has a source.
    fn prepare(&mut self, db: &'c Connection) -> PsResult<(&PendingStatement, &mut CachedStatement<'c>)> {
        if self.prepared.is_none() {
            let sql = &self.definition.sql;
            let stmt = db.prepare_cached(sql).map_err(|e| PsError::sqlite(Some(sql), e))?;
            let expected = stmt.parameter_count();
            if expected != self.definition.params.len() {
                return Err(PsError::invalid_argument(format!(
                    "Statement {sql} has {expected} parameters, but {} values were provided as sources.",
                    self.definition.params.len()
                )));
            }
            self.prepared = Some(stmt);
        }
        Ok((&self.definition, self.prepared.as_mut().expect("prepared above")))
    }
}

/// Writes the synced rows of one row type during one publish.
pub struct TableWriter<'c> {
    /// The row type, as error contexts name it.
    name: String,
    put: Slot<'c>,
    delete: Slot<'c>,
    /// The put's `Column` sources by key, read in one borrowed pass; `None` when the put has a
    /// `Rest` source, which needs the whole object (raw tables only).
    columns: Option<ColumnSlots>,
}

impl<'c> TableWriter<'c> {
    pub fn new(name: &str, statements: TableStatements) -> TableWriter<'c> {
        let params = &statements.put.params;
        let columns = (!params.contains(&StatementParam::Rest)).then(|| {
            ColumnSlots::new(params.iter().map(|p| match p {
                StatementParam::Column(c) => Some(c.as_str()),
                _ => None,
            }))
        });
        TableWriter {
            name: name.to_owned(),
            put: Slot::new(statements.put),
            delete: Slot::new(statements.delete),
            columns,
        }
    }

    /// Inserts or replaces row `id` with the op's data text `data`.
    pub fn put(&mut self, db: &'c Connection, id: &str, data: &str) -> PsResult<()> {
        let (definition, stmt) = self.put.prepare(db)?;
        match &self.columns {
            // Statements binding only the id and the data text never parse it.
            Some(columns) if !columns.any() => bind_unparsed(definition, stmt, id, data)?,
            Some(columns) => {
                let values = columns.read(data)?;
                bind_columns(definition, stmt, id, data, &values)?;
            }
            None => bind_with_rest(definition, stmt, id, data)?,
        }
        stmt.raw_execute().map_err(|e| {
            PsError::sqlite(Some(&definition.sql), e)
                .with_context(format!("replacing into {}, id = {id}, data = {data}", self.name))
        })?;
        Ok(())
    }

    /// Deletes row `id`.
    pub fn delete(&mut self, db: &'c Connection, id: &str) -> PsResult<()> {
        let (definition, stmt) = self.delete.prepare(db)?;
        for (i, param) in definition.params.iter().enumerate() {
            if *param != StatementParam::Id {
                return Err(PsError::invalid_argument(
                    "Raw delete statement parameters must only reference id",
                ));
            }
            stmt.raw_bind_parameter(i + 1, id)
                .map_err(|e| PsError::sqlite(Some(&definition.sql), e))?;
        }
        stmt.raw_execute().map_err(|e| {
            PsError::sqlite(Some(&definition.sql), e).with_context(format!("deleting from {}, id = {id}", self.name))
        })?;
        Ok(())
    }
}

/// Binds a put whose sources are only `Id` and `Row`.
fn bind_unparsed(definition: &PendingStatement, stmt: &mut CachedStatement<'_>, id: &str, data: &str) -> PsResult<()> {
    bind_columns(definition, stmt, id, data, &[])
}

/// Binds a put without a `Rest` source: `values` holds each `Column` source's value by
/// parameter position (from [`ColumnSlots::read`]).
fn bind_columns(
    definition: &PendingStatement,
    stmt: &mut CachedStatement<'_>,
    id: &str,
    data: &str,
    values: &[ColumnValue<'_>],
) -> PsResult<()> {
    for (i, param) in definition.params.iter().enumerate() {
        let index = i + 1;
        match param {
            StatementParam::Id => stmt.raw_bind_parameter(index, id),
            StatementParam::Row => stmt.raw_bind_parameter(index, data),
            // `Rest` never reaches here (such puts bind through `bind_with_rest`).
            StatementParam::Column(_) | StatementParam::Rest => match values.get(i) {
                Some(ColumnValue::Integer(v)) => stmt.raw_bind_parameter(index, *v),
                Some(ColumnValue::Real(v)) => stmt.raw_bind_parameter(index, *v),
                Some(ColumnValue::Text(v)) => stmt.raw_bind_parameter(index, v.as_ref()),
                Some(ColumnValue::Null) | None => stmt.raw_bind_parameter(index, Null),
            },
        }
        .map_err(|e| PsError::sqlite(Some(&definition.sql), e))?;
    }
    Ok(())
}

/// Binds a put with a `Rest` source through the parsed object (raw tables only).
fn bind_with_rest(definition: &PendingStatement, stmt: &mut CachedStatement<'_>, id: &str, data: &str) -> PsResult<()> {
    let object = parse_object(data)?;
    let bind = |e| PsError::sqlite(Some(&definition.sql), e);
    for (i, param) in definition.params.iter().enumerate() {
        let index = i + 1;
        match param {
            StatementParam::Id => stmt.raw_bind_parameter(index, id),
            StatementParam::Row => stmt.raw_bind_parameter(index, data),
            StatementParam::Column(column) => bind_json(stmt, index, object.get(column)),
            StatementParam::Rest => match rest_of(&definition.params, &object) {
                Some(rest) => stmt.raw_bind_parameter(index, rest),
                None => stmt.raw_bind_parameter(index, Null),
            },
        }
        .map_err(bind)?;
    }
    Ok(())
}

/// The op's data as a JSON object. Numbers beyond f64 range fail here ("number out of range").
pub fn parse_object(data: &str) -> PsResult<Map<String, Json>> {
    match serde_json::from_str(data) {
        Ok(Json::Object(object)) => Ok(object),
        Ok(_) => Err(PsError::invalid_argument("expected oplog data to be an object")),
        Err(e) => Err(PsError::new(ErrorKind::InvalidLocalData(e.to_string()))),
    }
}

/// Binds one JSON value by its type (see the module comment).
pub fn bind_json(stmt: &mut CachedStatement<'_>, index: usize, value: Option<&Json>) -> rusqlite::Result<()> {
    match value {
        Some(Json::String(s)) => stmt.raw_bind_parameter(index, s.as_str()),
        Some(Json::Bool(b)) => stmt.raw_bind_parameter(index, *b as i64),
        Some(Json::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => stmt.raw_bind_parameter(index, i),
            (None, Some(f)) => stmt.raw_bind_parameter(index, f),
            (None, None) => stmt.raw_bind_parameter(index, Null),
        },
        _ => stmt.raw_bind_parameter(index, Null),
    }
}

/// The `Rest` object: the keys no other source binds (every `Column`, and `id` when the row id
/// is bound, as observed), re-serialised; `None` when nothing is left.
fn rest_of(params: &[StatementParam], object: &Map<String, Json>) -> Option<String> {
    let bound = |key: &str| {
        params.iter().any(|p| match p {
            StatementParam::Column(c) => c == key,
            StatementParam::Id => key == "id",
            StatementParam::Rest | StatementParam::Row => false,
        })
    };
    let rest: Map<String, Json> = object
        .iter()
        .filter(|(k, _)| !bound(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!rest.is_empty()).then(|| serde_json::to_string(&rest).expect("JSON values always serialise"))
}

#[cfg(test)]
mod tests;
