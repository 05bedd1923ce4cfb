//! The schema JSON of `powersync_replace_schema` (docs/schema-sql.md, "The JSON").
//!
//! Deserialised with serde so that every error text is serde_json's, as in the reference.
//! Tables use a hand-written visitor: the reference reads their keys as borrowed strings, so a
//! key written with a JSON escape fails with `expected a borrowed string` (docs/schema-sql.md, "The JSON"), and
//! unknown keys of any type are skipped.

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// Option bits shared with the CRUD virtual tables (`options` column).
pub mod flags {
    pub const LOCAL_ONLY: i64 = 1;
    pub const INSERT_ONLY: i64 = 2;
    pub const INCLUDE_METADATA: i64 = 4;
    pub const INCLUDE_OLD_ONLY_WHEN_CHANGED: i64 = 8;
    pub const IGNORE_EMPTY_UPDATE: i64 = 16;
}

#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "UncheckedSchema")]
pub struct Schema {
    pub tables: Vec<Table>,
    pub raw_tables: Vec<RawTable>,
}

/// The schema as parsed, before the checks that need the whole document (docs/direct-tables-design.md): a
/// failed check is reported after parsing, so plain parse errors win, and without a position at
/// the top level but with the enclosing document's position inside a `start` payload.
#[derive(Deserialize)]
struct UncheckedSchema {
    tables: Vec<Table>,
    #[serde(default)]
    raw_tables: Vec<RawTable>,
}

impl TryFrom<UncheckedSchema> for Schema {
    type Error = &'static str;

    fn try_from(schema: UncheckedSchema) -> Result<Self, Self::Error> {
        if schema.tables.iter().any(|t| t.direct && t.view_name.is_some()) {
            return Err("Direct tables can't have custom view names");
        }
        Ok(Schema {
            tables: schema.tables,
            raw_tables: schema.raw_tables,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Index {
    pub name: String,
    pub columns: Vec<IndexColumn>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IndexColumn {
    pub name: String,
    pub ascending: bool,
    #[serde(rename = "type")]
    pub type_name: String,
}

/// Which previous values go into the `old` of PATCH and DELETE entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncludeOld {
    All,
    Columns(Vec<String>),
}

/// The options every table (and raw table) can carry.
#[derive(Debug, Clone, Default)]
pub struct TableOptions {
    pub local_only: bool,
    pub insert_only: bool,
    pub include_metadata: bool,
    pub include_old: Option<IncludeOld>,
    pub include_old_only_when_changed: bool,
    pub ignore_empty_update: bool,
}

impl TableOptions {
    /// The flag bits passed to the CRUD vtabs.
    pub fn flags(&self) -> i64 {
        let mut bits = 0;
        for (on, bit) in [
            (self.local_only, flags::LOCAL_ONLY),
            (self.insert_only, flags::INSERT_ONLY),
            (self.include_metadata, flags::INCLUDE_METADATA),
            (self.include_old_only_when_changed, flags::INCLUDE_OLD_ONLY_WHEN_CHANGED),
            (self.ignore_empty_update, flags::IGNORE_EMPTY_UPDATE),
        ] {
            if on {
                bits |= bit;
            }
        }
        bits
    }
}

const OPTION_KEYS: [&str; 6] = [
    "local_only",
    "insert_only",
    "include_metadata",
    "include_old",
    "include_old_only_when_changed",
    "ignore_empty_update",
];

/// Option values collected while reading a table object and interpreted once it is complete:
/// the reference reads them as a flattened part of the object, so their errors are reported at
/// the object's end (serde_json positions say so), after the table's own fields.
#[derive(Default)]
struct PendingOptions(Vec<(&'static str, serde_json::Value)>);

impl PendingOptions {
    /// Takes an option key's value; returns `false` when `key` is not an option.
    fn read<'de, A: MapAccess<'de>>(&mut self, key: &Key<'de>, map: &mut A) -> Result<bool, A::Error> {
        let Some(option) = OPTION_KEYS.iter().find(|k| **k == key.as_str()) else {
            return Ok(false);
        };
        if let Key::Owned(text) = key {
            // Quirk of the reference: option keys must arrive as borrowed (unescaped) strings.
            return Err(de::Error::invalid_type(de::Unexpected::Str(text), &"a borrowed string"));
        }
        self.0.push((option, map.next_value()?));
        Ok(true)
    }

    fn finish<E: de::Error>(self) -> Result<TableOptions, E> {
        let mut options = TableOptions::default();
        for (key, value) in self.0 {
            let flag = |v: serde_json::Value| bool::deserialize(v).map_err(E::custom);
            match key {
                "local_only" => options.local_only = flag(value)?,
                "insert_only" => options.insert_only = flag(value)?,
                "include_metadata" => options.include_metadata = flag(value)?,
                "include_old_only_when_changed" => options.include_old_only_when_changed = flag(value)?,
                "ignore_empty_update" => options.ignore_empty_update = flag(value)?,
                _ => options.include_old = IncludeOldValue::deserialize(value).map_err(E::custom)?.0,
            }
        }
        Ok(options)
    }
}

/// A map key, remembering whether the parser could lend it (it cannot when it had escapes).
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v.to_owned()))
            }
        }
        deserializer.deserialize_str(V)
    }
}

#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub view_name: Option<String>,
    pub columns: Vec<Column>,
    pub indexes: Vec<Index>,
    pub options: TableOptions,
    /// A direct table (docs/direct-tables-design.md): a real table named `name` instead of JSON behind a view.
    pub direct: bool,
}

impl Table {
    pub fn view_name(&self) -> &str {
        self.view_name.as_deref().unwrap_or(&self.name)
    }

    pub fn internal_name(&self) -> String {
        crate::objects::data_table(&self.name, self.options.local_only)
    }

    /// `insert_only` counts only for synced tables.
    pub fn is_insert_only(&self) -> bool {
        self.options.insert_only && !self.options.local_only
    }
}

impl<'de> Deserialize<'de> for Table {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TableVisitor;

        impl<'de> Visitor<'de> for TableVisitor {
            type Value = Table;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Table, A::Error> {
                let mut name = None;
                let mut view_name = None;
                let mut columns = None;
                let mut indexes = None;
                let mut direct = false;
                let mut options = PendingOptions::default();
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    match key.as_str() {
                        "name" => name = Some(map.next_value()?),
                        "view_name" => view_name = map.next_value()?,
                        "columns" => columns = Some(map.next_value()?),
                        "indexes" => indexes = Some(map.next_value()?),
                        // A field of its own in the reference, read where it stands (unlike
                        // the options, which are checked at the object's end).
                        "direct" => direct = map.next_value()?,
                        _ => {
                            if !options.read(&key, &mut map)? {
                                map.next_value::<IgnoredAny>()?;
                            }
                        }
                    }
                }
                let name = name.ok_or_else(|| de::Error::missing_field("name"))?;
                let columns = columns.ok_or_else(|| de::Error::missing_field("columns"))?;
                Ok(Table {
                    name,
                    view_name,
                    columns,
                    indexes: indexes.unwrap_or_default(),
                    options: options.finish()?,
                    direct,
                })
            }
        }

        deserializer.deserialize_map(TableVisitor)
    }
}

/// `include_old`: `true`, `false`, or a list of column names.
struct IncludeOldValue(Option<IncludeOld>);

impl<'de> Deserialize<'de> for IncludeOldValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;

        impl<'de> Visitor<'de> for V {
            type Value = IncludeOldValue;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of columns, or true")
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<IncludeOldValue, E> {
                Ok(IncludeOldValue(v.then_some(IncludeOld::All)))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<IncludeOldValue, A::Error> {
                let mut columns = Vec::new();
                while let Some(column) = seq.next_element::<String>()? {
                    columns.push(column);
                }
                Ok(IncludeOldValue(Some(IncludeOld::Columns(columns))))
            }
        }

        deserializer.deserialize_any(V)
    }
}

/// A user-managed table the sync client writes with the app's own statements (docs/schema-sql.md, "Raw tables").
#[derive(Debug, Clone)]
pub struct RawTable {
    pub name: String,
    pub table_name: Option<String>,
    pub synced_columns: Option<Vec<String>>,
    pub put: Option<PendingStatement>,
    pub delete: Option<PendingStatement>,
    pub clear: Option<String>,
    pub options: TableOptions,
}

impl<'de> Deserialize<'de> for RawTable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RawTableVisitor;

        impl<'de> Visitor<'de> for RawTableVisitor {
            type Value = RawTable;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a raw table")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawTable, A::Error> {
                let mut name = None;
                let mut table = RawTable {
                    name: String::new(),
                    table_name: None,
                    synced_columns: None,
                    put: None,
                    delete: None,
                    clear: None,
                    options: TableOptions::default(),
                };
                let mut options = PendingOptions::default();
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    match key.as_str() {
                        "name" => name = Some(map.next_value()?),
                        "table_name" => table.table_name = map.next_value()?,
                        "synced_columns" => table.synced_columns = map.next_value()?,
                        "put" => table.put = map.next_value()?,
                        "delete" => table.delete = map.next_value()?,
                        "clear" => table.clear = map.next_value()?,
                        _ => {
                            if !options.read(&key, &mut map)? {
                                map.next_value::<IgnoredAny>()?;
                            }
                        }
                    }
                }
                table.name = name.ok_or_else(|| de::Error::missing_field("name"))?;
                table.options = options.finish()?;
                Ok(table)
            }
        }

        deserializer.deserialize_map(RawTableVisitor)
    }
}

/// A statement with the values to bind, e.g. `{"sql": "...", "params": ["Id", {"Column": "a"}]}`.
#[derive(Debug, Clone, Deserialize)]
pub struct PendingStatement {
    pub sql: String,
    pub params: Vec<StatementParam>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub enum StatementParam {
    Id,
    Column(String),
    Rest,
    /// The op's data text, exactly as stored.
    Row,
}

/// Parses schema JSON, reporting serde's message as an invalid argument.
pub fn parse(json: &str) -> crate::error::PsResult<Schema> {
    serde_json::from_str(json).map_err(|e| crate::error::PsError::json_argument(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        match parse(json) {
            Ok(_) => panic!("{json} parsed"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn validation_messages() {
        assert_eq!(
            err("not json"),
            "invalid argument: . cause: expected ident at line 1 column 2"
        );
        assert_eq!(
            err("{}"),
            "invalid argument: . cause: missing field `tables` at line 1 column 2"
        );
        assert_eq!(
            err(r#"{"tables":{}}"#),
            "invalid argument: . cause: invalid type: map, expected a sequence at line 1 column 10"
        );
        assert_eq!(
            err(r#"{"tables":[{"columns":[]}]}"#),
            "invalid argument: . cause: missing field `name` at line 1 column 25"
        );
        assert_eq!(
            err(r#"{"tables":[{"name":"t"}]}"#),
            "invalid argument: . cause: missing field `columns` at line 1 column 23"
        );
        assert!(err(r#"{"tables":[{"name":"t","columns":[],"include_old":"yes"}]}"#)
            .contains("invalid type: string \"yes\", expected an array of columns, or true"));
        assert!(err(r#"{"tables":[{"name":"t","columns":[],"include_old":null}]}"#)
            .contains("invalid type: null, expected an array of columns, or true"));
        assert!(err(r#"{"tables":[{"name":"t","columns":[],"local_only":1}]}"#)
            .contains("invalid type: integer `1`, expected a boolean"));
        assert!(err(r#"{"tables":[{"name":"t","columns":[],"local_\u006fnly":true}]}"#)
            .contains("invalid type: string \"local_only\", expected a borrowed string"));
        assert!(
            err(r#"{"tables":[],"raw_tables":[{"name":"r","put":{"sql":"x","params":["Bogus"]}}]}"#)
                .contains("unknown variant `Bogus`, expected one of `Id`, `Column`, `Rest`, `Row`")
        );
        assert!(
            err(r#"{"tables":[],"raw_tables":[{"name":"r","put":{"sql":"x"}}]}"#).contains("missing field `params`")
        );
    }

    #[test]
    fn direct_flag_is_a_boolean_read_where_it_stands() {
        let s = parse(r#"{"tables":[{"name":"d","columns":[],"direct":true}]}"#).unwrap();
        assert!(s.tables[0].direct);
        let s = parse(r#"{"tables":[{"name":"d","columns":[]}]}"#).unwrap();
        assert!(!s.tables[0].direct);
        assert_eq!(
            err(r#"{"tables":[{"name":"d","columns":[],"direct":1}]}"#),
            "invalid argument: . cause: invalid type: integer `1`, expected a boolean at line 1 column 46"
        );
        assert!(err(r#"{"tables":[{"name":"d","columns":[],"direct":null}]}"#)
            .contains("invalid type: null, expected a boolean"));
    }

    #[test]
    fn direct_tables_refuse_view_names_after_parsing() {
        assert_eq!(
            err(r#"{"tables":[{"name":"e","view_name":"ev","columns":[],"direct":true}]}"#),
            "invalid argument: . cause: Direct tables can't have custom view names"
        );
        assert_eq!(
            err(r#"{"tables":[{"name":"e","view_name":"e","columns":[],"direct":true}]}"#),
            "invalid argument: . cause: Direct tables can't have custom view names"
        );
        // A parse error later in the document wins over the check.
        assert!(
            err(r#"{"tables":[{"name":"e","view_name":"ev","columns":[],"direct":true}],"raw_tables":1}"#)
                .contains("invalid type: integer")
        );
        let s = parse(r#"{"tables":[{"name":"e","view_name":null,"columns":[],"direct":true}]}"#).unwrap();
        assert!(s.tables[0].direct);
    }

    #[test]
    fn options_and_flags() {
        let s = parse(r#"{"tables":[{"name":"t","columns":[],"include_metadata":true,"include_old":["a"],"include_old_only_when_changed":true,"ignore_empty_update":true,"x":{"y":1}}],"other":1}"#).unwrap();
        let t = &s.tables[0];
        assert_eq!(t.options.flags(), 28);
        assert_eq!(t.options.include_old, Some(IncludeOld::Columns(vec!["a".into()])));
        let s = parse(r#"{"tables":[{"name":"t","view_name":null,"columns":[],"include_old":false}]}"#).unwrap();
        assert_eq!(s.tables[0].view_name(), "t");
        assert_eq!(s.tables[0].options.include_old, None);
    }
}
