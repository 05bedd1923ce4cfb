//! The SQL writer every generated statement goes through (identifier and string quoting,
//! separators), and statements whose errors carry their SQL.

use std::fmt;

use rusqlite::{Connection, Params, Row};

use crate::error::{PsError, PsResult};

/// Builds one SQL text. Names and literals from the app's schema only enter through
/// [`SqlWriter::ident`] and [`SqlWriter::string`], so no generator quotes by hand; the rest is
/// fixed SQL pushed with [`SqlWriter::raw`] (or `write!`, for numbers).
#[derive(Default)]
pub struct SqlWriter {
    sql: String,
}

impl SqlWriter {
    pub fn new() -> SqlWriter {
        SqlWriter::default()
    }

    /// Fixed SQL text, written as it is.
    pub fn raw(&mut self, sql: &str) -> &mut SqlWriter {
        self.sql.push_str(sql);
        self
    }

    /// `"name"` with embedded `"` doubled.
    pub fn ident(&mut self, name: &str) -> &mut SqlWriter {
        self.quoted('"', name)
    }

    /// `'text'` with embedded `'` doubled.
    pub fn string(&mut self, text: &str) -> &mut SqlWriter {
        self.quoted('\'', text)
    }

    fn quoted(&mut self, quote: char, text: &str) -> &mut SqlWriter {
        self.sql.reserve(text.len() + 2);
        self.sql.push(quote);
        for c in text.chars() {
            if c == quote {
                self.sql.push(quote);
            }
            self.sql.push(c);
        }
        self.sql.push(quote);
        self
    }

    /// Writes each item with `each`, `separator` between them.
    pub fn list<T>(
        &mut self,
        separator: &str,
        items: impl IntoIterator<Item = T>,
        mut each: impl FnMut(&mut SqlWriter, T),
    ) -> &mut SqlWriter {
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.sql.push_str(separator);
            }
            each(self, item);
        }
        self
    }

    /// The text written so far, leaving the writer empty for the next statement.
    pub fn take(&mut self) -> String {
        std::mem::take(&mut self.sql)
    }

    pub fn finish(self) -> String {
        self.sql
    }
}

impl fmt::Write for SqlWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.sql.push_str(s);
        Ok(())
    }
}

/// `"name"` with embedded `"` doubled.
pub fn quote_identifier(name: &str) -> String {
    let mut w = SqlWriter::new();
    w.ident(name);
    w.finish()
}

/// `'text'` with embedded `'` doubled.
pub fn quote_string(text: &str) -> String {
    let mut w = SqlWriter::new();
    w.string(text);
    w.finish()
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
        assert_eq!(quote_identifier("we\"ird t'x"), "\"we\"\"ird t'x\"");
        assert_eq!(quote_string("we\"ird t'x"), "'we\"ird t''x'");
    }

    #[test]
    fn writer_lists_and_takes() {
        let mut w = SqlWriter::new();
        w.raw("INSERT INTO ")
            .ident("t")
            .raw(" (")
            .list(", ", ["a", "b\""], |w, c| {
                w.ident(c);
            });
        w.raw(") VALUES (").string("x'y").raw(")");
        assert_eq!(w.take(), "INSERT INTO \"t\" (\"a\", \"b\"\"\") VALUES ('x''y')");
        assert_eq!(w.take(), "");
        w.list(",", Vec::<&str>::new(), |w, c| {
            w.ident(c);
        });
        assert_eq!(w.finish(), "");
    }
}
