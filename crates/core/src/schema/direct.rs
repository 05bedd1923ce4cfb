//! SQL of direct tables (docs/direct-tables-design.md): the real table named after the schema table,
//! its indexes, its `AFTER` triggers, column changes and the statements that move rows between
//! a direct table and JSON storage. The text is byte-identical to the reference's, since
//! reconciliation compares stored SQL and SQLite keeps what we execute.

use crate::error::PsResult;
use crate::schema::crud_trigger::{self, CrudTable, WriteType};
use crate::schema::generate::json_fragment;
use crate::schema::model::{Index, Table};
use crate::sql::SqlWriter;

/// What a table's SQL contains when PowerSync manages it as a direct table.
pub const TABLE_MARKER: &str = "/* ps-managed";
/// What a local-only direct table's SQL contains in addition.
pub const LOCAL_ONLY_MARKER: &str = "local-only */";
/// What a direct table's index SQL contains (they cannot be told by a name prefix).
pub const INDEX_MARKER: &str = "/* ps-managed */";

/// `CREATE TABLE "<name>"(id TEXT PRIMARY KEY NOT NULL /* ps-managed */,"<c>" ANY...) STRICT;`
/// (SQLite stores it without the `;`, which only shows in error messages).
pub fn create_table_sql(table: &Table) -> String {
    let mut w = SqlWriter::new();
    w.raw("CREATE TABLE ")
        .ident(&table.name)
        .raw("(id TEXT PRIMARY KEY NOT NULL ")
        .raw(if table.options.local_only {
            "/* ps-managed local-only */"
        } else {
            "/* ps-managed */"
        });
    for column in &table.columns {
        w.raw(",").ident(&column.name).raw(" ANY");
    }
    w.raw(") STRICT;");
    w.finish()
}

/// `CREATE INDEX "<index_name>"/* ps-managed */ ON "<name>"("<c>"[ DESC], ...)`.
pub fn index_sql(table: &Table, index_name: &str, index: &Index) -> String {
    let mut w = SqlWriter::new();
    w.raw("CREATE INDEX ")
        .ident(index_name)
        .raw(INDEX_MARKER)
        .raw(" ON ")
        .ident(&table.name)
        .raw("(")
        .list(", ", &index.columns, |w, c| {
            w.ident(&c.name);
            if !c.ascending {
                w.raw(" DESC");
            }
        })
        .raw(")");
    w.finish()
}

/// `ps_view_<insert|update|delete>_<name>`: the names the reference gives a direct table's
/// triggers (it shares the prefix with JSON views' triggers, which existing databases rely on).
pub fn trigger_name(table: &str, write: WriteType) -> String {
    let kind = match write {
        WriteType::Insert => "insert",
        WriteType::Update => "update",
        WriteType::Delete => "delete",
    };
    format!("ps_view_{kind}_{table}")
}

/// The three triggers' SQL; an empty string where the table has no such trigger.
pub struct Triggers {
    pub delete: String,
    pub insert: String,
    pub update: String,
}

pub fn triggers(table: &Table) -> PsResult<Triggers> {
    let columns: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    let target = CrudTable {
        table: &table.name,
        type_name: &table.name,
        columns: &columns,
        options: &table.options,
        only_when_columns_change: false,
    };
    let one = |write| -> PsResult<String> {
        Ok(crud_trigger::sql(&target, &trigger_name(&table.name, write), write)?.unwrap_or_default())
    };
    Ok(Triggers {
        delete: one(WriteType::Delete)?,
        insert: one(WriteType::Insert)?,
        update: one(WriteType::Update)?,
    })
}

pub fn add_column_sql(table: &str, column: &str) -> String {
    let mut w = SqlWriter::new();
    w.raw("ALTER TABLE ")
        .ident(table)
        .raw(" ADD COLUMN ")
        .ident(column)
        .raw(" ANY");
    w.finish()
}

pub fn drop_column_sql(table: &str, column: &str) -> String {
    let mut w = SqlWriter::new();
    w.raw("ALTER TABLE ").ident(table).raw(" DROP COLUMN ").ident(column);
    w.finish()
}

/// `SELECT id, data FROM "<json table>"`: the rows a JSON table hands to the direct table that
/// replaces it.
pub fn select_json_rows_sql(json_table: &str) -> String {
    let mut w = SqlWriter::new();
    w.raw("SELECT id, data FROM ").ident(json_table);
    w.finish()
}

/// `INSERT INTO "<json table>" SELECT id, json_object(...)FROM "<name>"`: a direct table's rows
/// as JSON objects. The reference writes the row prefix of the object unquoted, which fails for
/// names that are not plain identifiers; we quote it (decision D5, docs/decisions.md).
pub fn copy_into_json_sql(json_table: &str, table: &str, columns: &[&str]) -> PsResult<String> {
    let mut row = SqlWriter::new();
    row.ident(table);
    let mut w = SqlWriter::new();
    w.raw("INSERT INTO ")
        .ident(json_table)
        .raw(" SELECT id, ")
        .raw(&json_fragment(&row.finish(), columns)?)
        .raw("FROM ")
        .ident(table);
    Ok(w.finish())
}

/// `INSERT INTO ps_untyped(type, id, data) SELECT ?, id, <object> FROM "<name>" AS old`, where
/// `<object>` is a direct table's columns as JSON, or `data` for a JSON table.
pub fn copy_into_untyped_sql(table: &str, direct_columns: Option<&[&str]>) -> PsResult<String> {
    let mut w = SqlWriter::new();
    w.raw("INSERT INTO ps_untyped(type, id, data) SELECT ?, id, ");
    match direct_columns {
        Some(columns) => w.raw(&json_fragment("old", columns)?),
        None => w.raw("data"),
    };
    w.raw(" FROM ").ident(table).raw(" AS old");
    Ok(w.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::model::parse;

    fn table(json: &str) -> Table {
        parse(&format!(r#"{{"tables":[{json}]}}"#)).unwrap().tables.remove(0)
    }

    #[test]
    fn table_sql_marks_the_kind() {
        let t = table(
            r#"{"name":"items","columns":[{"name":"title","type":"text"},{"name":"qty","type":"integer"}],"direct":true}"#,
        );
        assert_eq!(
            create_table_sql(&t),
            r#"CREATE TABLE "items"(id TEXT PRIMARY KEY NOT NULL /* ps-managed */,"title" ANY,"qty" ANY) STRICT;"#
        );
        let t = table(r#"{"name":"loc","columns":[{"name":"a","type":"text"}],"local_only":true,"direct":true}"#);
        assert_eq!(
            create_table_sql(&t),
            r#"CREATE TABLE "loc"(id TEXT PRIMARY KEY NOT NULL /* ps-managed local-only */,"a" ANY) STRICT;"#
        );
        let t = table(r#"{"name":"we\"ird t'x","columns":[{"name":"co\"l'x","type":"text"}],"direct":true}"#);
        assert_eq!(
            create_table_sql(&t),
            r#"CREATE TABLE "we""ird t'x"(id TEXT PRIMARY KEY NOT NULL /* ps-managed */,"co""l'x" ANY) STRICT;"#
        );
    }

    #[test]
    fn index_sql_names_columns() {
        let t = table(
            r#"{"name":"items","columns":[],"indexes":[{"name":"by_title","columns":[{"name":"title","ascending":false,"type":"text"},{"name":"qty","ascending":true,"type":"integer"}]}],"direct":true}"#,
        );
        assert_eq!(
            index_sql(&t, "ps_data__items__by_title", &t.indexes[0]),
            r#"CREATE INDEX "ps_data__items__by_title"/* ps-managed */ ON "items"("title" DESC, "qty")"#
        );
    }

    #[test]
    fn data_movement_sql() {
        assert_eq!(
            copy_into_json_sql("ps_data__my t", "my t", &["a", "b"]).unwrap(),
            r#"INSERT INTO "ps_data__my t" SELECT id, json_object('a', powersync_strip_subtype("my t"."a"), 'b', powersync_strip_subtype("my t"."b"))FROM "my t""#
        );
        assert_eq!(
            copy_into_untyped_sql("t", Some(&["a"])).unwrap(),
            r#"INSERT INTO ps_untyped(type, id, data) SELECT ?, id, json_object('a', powersync_strip_subtype(old."a")) FROM "t" AS old"#
        );
        assert_eq!(
            copy_into_untyped_sql("ps_data__t", None).unwrap(),
            r#"INSERT INTO ps_untyped(type, id, data) SELECT ?, id, data FROM "ps_data__t" AS old"#
        );
        assert_eq!(add_column_sql("t", "A"), r#"ALTER TABLE "t" ADD COLUMN "A" ANY"#);
        assert_eq!(drop_column_sql("t", "b"), r#"ALTER TABLE "t" DROP COLUMN "b""#);
    }

    #[test]
    fn local_only_direct_tables_have_only_an_update_trigger() {
        let t = table(
            r#"{"name":"loc","columns":[{"name":"a","type":"text"}],"local_only":true,"insert_only":true,"direct":true}"#,
        );
        let triggers = triggers(&t).unwrap();
        assert_eq!(triggers.insert, "");
        assert_eq!(triggers.delete, "");
        assert!(triggers
            .update
            .starts_with(r#"CREATE TRIGGER "ps_view_update_loc" AFTER UPDATE ON "loc""#));
    }
}
