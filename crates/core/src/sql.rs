//! SQL text helpers: identifier and string quoting, and statements whose errors carry their SQL.

use rusqlite::{Connection, Params, Row};

use crate::error::{PsError, PsResult};

/// `"name"` with embedded `"` doubled.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'` with embedded `'` doubled.
pub fn quote_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Runs one statement (prepared once per connection handle and cached, since the hot paths
/// run the same statements for every row); a failure is reported as
/// `statement <sql>: internal SQLite call ...`.
pub fn execute(db: &Connection, sql: &str, params: impl Params) -> PsResult<usize> {
    db.prepare_cached(sql)
        .and_then(|mut s| s.execute(params))
        .map_err(|e| PsError::sqlite(Some(sql), e))
}

/// Runs a batch of statements, reporting the batch text on failure.
pub fn execute_batch(db: &Connection, sql: &str) -> PsResult<()> {
    db.execute_batch(sql).map_err(|e| PsError::sqlite(Some(sql), e))
}

/// Collects every row of `sql` through `map`.
pub fn query_all<T>(
    db: &Connection,
    sql: &str,
    params: impl Params,
    mut map: impl FnMut(&Row) -> rusqlite::Result<T>,
) -> PsResult<Vec<T>> {
    let wrap = |e| PsError::sqlite(Some(sql), e);
    let mut stmt = db.prepare(sql).map_err(wrap)?;
    let rows = stmt.query_map(params, |row| map(row)).map_err(wrap)?;
    rows.collect::<rusqlite::Result<Vec<T>>>().map_err(wrap)
}

/// The first row of `sql` through `map`, or `None`.
pub fn query_optional<T>(
    db: &Connection,
    sql: &str,
    params: impl Params,
    map: impl FnOnce(&Row) -> rusqlite::Result<T>,
) -> PsResult<Option<T>> {
    let wrap = |e| PsError::sqlite(Some(sql), e);
    let mut stmt = db.prepare(sql).map_err(wrap)?;
    let mut rows = stmt.query(params).map_err(wrap)?;
    match rows.next().map_err(wrap)? {
        Some(row) => map(row).map(Some).map_err(wrap),
        None => Ok(None),
    }
}

/// Names of the schema objects of `kind` (`table`, `index`, ...) whose name matches `glob`.
pub fn names_matching(db: &Connection, kind: &str, glob: &str) -> PsResult<Vec<String>> {
    query_all(
        db,
        "SELECT name FROM sqlite_master WHERE type = ? AND name GLOB ?",
        [kind, glob],
        |row| row.get::<_, String>(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_string("it's"), "'it''s'");
    }
}
