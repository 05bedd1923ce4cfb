//! The column-type check (docs/schema-sql.md, "The JSON", our decision D2).
//!
//! The reference pastes a column's `type` unquoted into view and index SQL, so a crafted type
//! can run arbitrary SQL. We accept only strings that cannot change the statement's meaning:
//! `^[A-Za-z_][A-Za-z0-9_]*( [A-Za-z_][A-Za-z0-9_]*)*(\( *[0-9]+ *(, *[0-9]+ *)?\))?$`.

use crate::error::{PsError, PsResult};
use crate::schema::model::Schema;

pub fn is_safe_type(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    let word = |i: &mut usize| -> bool {
        if *i < b.len() && (b[*i].is_ascii_alphabetic() || b[*i] == b'_') {
            *i += 1;
            while *i < b.len() && (b[*i].is_ascii_alphanumeric() || b[*i] == b'_') {
                *i += 1;
            }
            true
        } else {
            false
        }
    };
    let spaces = |i: &mut usize| {
        while *i < b.len() && b[*i] == b' ' {
            *i += 1;
        }
    };
    let digits = |i: &mut usize| -> bool {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };

    if !word(&mut i) {
        return false;
    }
    while i < b.len() && b[i] == b' ' {
        i += 1;
        if !word(&mut i) {
            return false;
        }
    }
    if i == b.len() {
        return true;
    }
    if b[i] != b'(' {
        return false;
    }
    i += 1;
    spaces(&mut i);
    if !digits(&mut i) {
        return false;
    }
    spaces(&mut i);
    if i < b.len() && b[i] == b',' {
        i += 1;
        spaces(&mut i);
        if !digits(&mut i) {
            return false;
        }
        spaces(&mut i);
    }
    i + 1 == b.len() && b[i] == b')'
}

/// Checks every column and index-column type, in schema order; the first failure is reported.
pub fn check_schema_types(schema: &Schema) -> PsResult<()> {
    for table in &schema.tables {
        // A direct table's types never reach SQL (every column is ANY, indexes name columns).
        if table.direct {
            continue;
        }
        for column in &table.columns {
            if !is_safe_type(&column.type_name) {
                return Err(PsError::plain(
                    format!(
                        "invalid column type \"{}\" for column \"{}\" in table \"{}\"",
                        column.type_name, column.name, table.name
                    ),
                    rusqlite::ffi::SQLITE_ERROR,
                )
                .with_function_prefix());
            }
        }
        for index in &table.indexes {
            for column in &index.columns {
                if !is_safe_type(&column.type_name) {
                    return Err(PsError::plain(
                        format!(
                            "invalid column type \"{}\" for column \"{}\" of index \"{}\" in table \"{}\"",
                            column.type_name, column.name, index.name, table.name
                        ),
                        rusqlite::ffi::SQLITE_ERROR,
                    )
                    .with_function_prefix());
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_safe_type;

    #[test]
    fn accepted() {
        for t in [
            "text",
            "TEXT",
            "integer",
            "real",
            "json",
            "unsigned big int",
            "double precision",
            "VARCHAR(10)",
            "numeric(10,2)",
            "DECIMAL( 10 , 2 )",
            "_x1",
        ] {
            assert!(is_safe_type(t), "{t}");
        }
    }

    #[test]
    fn rejected() {
        for t in [
            "",
            "text ",
            " text",
            "a  b",
            "VARCHAR (10)",
            "int(-1)",
            "numeric(1,2,3)",
            "1abc",
            "text);DROP TABLE ps_crud;--",
            "text -- x",
            "\"text\"",
            "text\t",
            "int()",
            "int(1",
            "int(1,)",
            "int(1)x",
            "é",
        ] {
            assert!(!is_safe_type(t), "{t:?}");
        }
    }
}
