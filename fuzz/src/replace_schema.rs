//! `replace_schema`: the input is a `powersync_replace_schema` JSON document. After a successful
//! call every generated view is written through (insert, update, delete), and a schema whose names
//! are distinct is applied a second time, which must change nothing (docs/schema-sql.md, "Reconciling an existing database": equal
//! SQL text keeps every object).

use std::collections::HashSet;

use rusqlite::Connection;

use super::common;

pub fn run(data: &[u8]) {
    let schema = String::from_utf8_lossy(data).into_owned();
    let db = common::open();
    db.execute_batch("BEGIN").unwrap();
    let applied = common::tolerate(
        db.query_row("SELECT powersync_replace_schema(?)", [&schema], |_| Ok(())),
        "powersync_replace_schema",
    );
    db.execute_batch("COMMIT").unwrap();
    if applied.is_some() {
        if names_are_distinct(&schema) {
            let before = master(&db);
            db.execute_batch("BEGIN").unwrap();
            db.query_row("SELECT powersync_replace_schema(?)", [&schema], |_| Ok(()))
                .expect("a schema that applied once applies again");
            db.execute_batch("COMMIT").unwrap();
            assert_eq!(
                before,
                master(&db),
                "replacing a schema with itself changed sqlite_master"
            );
        }
        write_through_views(&db);
    }
    common::check_integrity(&db);
}

fn master(db: &Connection) -> Vec<(String, String, String, Option<String>)> {
    let mut stmt = db
        .prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

/// Table names, view names and each table's index names are unique (SQLite compares names
/// case-insensitively): with duplicates, later tables legitimately replace earlier ones' objects.
fn names_are_distinct(schema: &str) -> bool {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(schema) else {
        return false;
    };
    let Some(tables) = value.get("tables").and_then(|t| t.as_array()) else {
        return false;
    };
    let mut names = HashSet::new();
    let mut views = HashSet::new();
    for table in tables {
        let Some(name) = table.get("name").and_then(|n| n.as_str()) else {
            return false;
        };
        let view = table.get("view_name").and_then(|n| n.as_str()).unwrap_or(name);
        if !names.insert(name.to_ascii_lowercase()) || !views.insert(view.to_ascii_lowercase()) {
            return false;
        }
        let mut indexes = HashSet::new();
        for index in table.get("indexes").and_then(|i| i.as_array()).into_iter().flatten() {
            let Some(index) = index.get("name").and_then(|n| n.as_str()) else {
                return false;
            };
            if !indexes.insert(index.to_ascii_lowercase()) {
                return false;
            }
        }
    }
    true
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Inserts, updates and deletes a row through every generated view; SQL errors are fine.
fn write_through_views(db: &Connection) {
    let views: Vec<String> = {
        let mut stmt = db
            .prepare("SELECT name FROM sqlite_master WHERE type = 'view' AND sql GLOB '*-- powersync-auto-generated'")
            .unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    };
    for view in views {
        let columns: rusqlite::Result<Vec<String>> = db
            .prepare("SELECT name FROM pragma_table_info(?)")
            .and_then(|mut stmt| stmt.query_map([&view], |r| r.get(0))?.collect());
        let Some(columns) = common::tolerate(columns, "pragma_table_info") else {
            continue;
        };
        let v = quote(&view);
        let others: Vec<&String> = columns.iter().filter(|c| c.as_str() != "id").collect();
        let list: String = others.iter().map(|c| format!(", {}", quote(c))).collect();
        let values: String = (0..others.len()).map(|i| format!(", {}", i + 1)).collect();
        let set: String = others
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{} = '{i}'", quote(c)))
            .collect::<Vec<_>>()
            .join(", ");
        let mut statements = vec![format!("INSERT INTO {v}(id{list}) VALUES ('r1'{values})")];
        if !set.is_empty() {
            statements.push(format!("UPDATE {v} SET {set} WHERE id = 'r1'"));
        }
        statements.push(format!("DELETE FROM {v} WHERE id = 'r1'"));
        db.execute_batch("BEGIN").unwrap();
        for sql in statements {
            common::tolerate(db.execute(&sql, []), &sql);
        }
        db.execute_batch("COMMIT").unwrap();
    }
}
