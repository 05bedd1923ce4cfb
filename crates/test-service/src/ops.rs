//! Changes to the service's data: the public [`ServerOp`], and the JSON forms in which uploads,
//! the admin API and seed files carry them (decoded here, at the edge).

use serde::Deserialize;
use serde_json::{Map, Value};

/// One change to a table row, applied to the service's data (and turned into bucket ops).
#[derive(Debug, Clone, PartialEq)]
pub enum ServerOp {
    /// Replace the row (create it if missing) with exactly these columns.
    Put {
        table: String,
        id: String,
        data: Map<String, Value>,
    },
    /// Merge these columns into the row (create it if missing); `null` values clear a column.
    Patch {
        table: String,
        id: String,
        data: Map<String, Value>,
    },
    /// Delete the row (nothing happens if it does not exist).
    Delete { table: String, id: String },
}

impl ServerOp {
    pub fn table(&self) -> &str {
        match self {
            ServerOp::Put { table, .. } | ServerOp::Patch { table, .. } | ServerOp::Delete { table, .. } => table,
        }
    }

    pub fn id(&self) -> &str {
        match self {
            ServerOp::Put { id, .. } | ServerOp::Patch { id, .. } | ServerOp::Delete { id, .. } => id,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OpError {
    #[error("entry {index}: \"type\" (the table name) must be a non-empty string")]
    MissingTable { index: usize },
    #[error("entry {index}: \"id\" must be a non-empty string")]
    MissingId { index: usize },
    #[error("entry {index}: {op} needs \"data\" to be an object")]
    MissingData { index: usize, op: &'static str },
    #[error("seed: table {table:?}, row {index}: {reason}")]
    SeedRow {
        table: String,
        index: usize,
        reason: String,
    },
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpKind {
    #[serde(rename = "PUT")]
    Put,
    #[serde(rename = "PATCH")]
    Patch,
    #[serde(rename = "DELETE")]
    Delete,
}

/// An op as the admin API and the upload endpoint receive it. Upload entries also carry
/// `op_id`, `tx_id`, `old` and `metadata`: unknown keys, so serde skips them.
#[derive(Deserialize, Debug)]
pub(crate) struct WireOp {
    pub op: OpKind,
    #[serde(rename = "type")]
    pub table: String,
    pub id: String,
    #[serde(default)]
    pub data: Option<Map<String, Value>>,
}

/// Validates wire ops and converts them. PUT without `data` is an error (a replacement needs the
/// new row); PATCH without `data` is an empty merge.
pub(crate) fn from_wire(ops: Vec<WireOp>) -> Result<Vec<ServerOp>, OpError> {
    ops.into_iter()
        .enumerate()
        .map(|(index, w)| {
            if w.table.is_empty() {
                return Err(OpError::MissingTable { index });
            }
            if w.id.is_empty() {
                return Err(OpError::MissingId { index });
            }
            Ok(match w.op {
                OpKind::Put => ServerOp::Put {
                    table: w.table,
                    id: w.id,
                    data: w.data.ok_or(OpError::MissingData { index, op: "PUT" })?,
                },
                OpKind::Patch => ServerOp::Patch {
                    table: w.table,
                    id: w.id,
                    data: w.data.unwrap_or_default(),
                },
                OpKind::Delete => ServerOp::Delete {
                    table: w.table,
                    id: w.id,
                },
            })
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFile {
    rows: std::collections::BTreeMap<String, Vec<Map<String, Value>>>,
}

/// A seed file, `{"rows": {"table": [{"id": "...", "col": ...}, ...]}}`, as PUT ops (tables in
/// name order, rows in file order). `id` may be a string or an integer.
pub(crate) fn from_seed_json(json: &str) -> Result<Vec<ServerOp>, SeedError> {
    let seed: SeedFile = serde_json::from_str(json)?;
    let mut ops = Vec::new();
    for (table, rows) in seed.rows {
        if table.is_empty() {
            return Err(SeedError::Op(OpError::SeedRow {
                table,
                index: 0,
                reason: "empty table name".into(),
            }));
        }
        for (index, mut row) in rows.into_iter().enumerate() {
            let id = match row.remove("id") {
                Some(Value::String(s)) if !s.is_empty() => s,
                Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
                other => {
                    let reason = match other {
                        None => "has no \"id\"".to_owned(),
                        Some(v) => format!("\"id\" must be a non-empty string or an integer, not {v}"),
                    };
                    return Err(SeedError::Op(OpError::SeedRow {
                        table: table.clone(),
                        index,
                        reason,
                    }));
                }
            };
            ops.push(ServerOp::Put {
                table: table.clone(),
                id,
                data: row,
            });
        }
    }
    Ok(ops)
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("seed is not valid JSON of the form {{\"rows\": {{\"table\": [{{\"id\": ...}}]}}}}: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Op(#[from] OpError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wire(v: Value) -> Vec<WireOp> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn wire_ops_convert_and_validate() {
        let ops = from_wire(wire(json!([
            {"op": "PUT", "type": "todos", "id": "t1", "data": {"a": 1}, "op_id": 1, "tx_id": 1},
            {"op": "PATCH", "type": "todos", "id": "t1", "data": {"a": null}, "old": {"a": 1}},
            {"op": "DELETE", "type": "todos", "id": "t1", "metadata": "m"}
        ])))
        .unwrap();
        assert_eq!(ops.len(), 3);
        assert!(matches!(&ops[0], ServerOp::Put { data, .. } if data["a"] == json!(1)));
        assert!(matches!(&ops[1], ServerOp::Patch { data, .. } if data["a"].is_null()));
        assert_eq!(
            ops[2],
            ServerOp::Delete {
                table: "todos".into(),
                id: "t1".into()
            }
        );

        assert_eq!(
            from_wire(wire(json!([{"op": "PUT", "type": "t", "id": "x"}]))).unwrap_err(),
            OpError::MissingData { index: 0, op: "PUT" }
        );
        assert_eq!(
            from_wire(wire(json!([{"op": "DELETE", "type": "", "id": "x"}]))).unwrap_err(),
            OpError::MissingTable { index: 0 }
        );
        assert!(serde_json::from_value::<Vec<WireOp>>(json!([{"op": "MOVE", "type": "t", "id": "x"}])).is_err());
    }

    #[test]
    fn seed_rows_become_puts() {
        let ops =
            from_seed_json(r#"{"rows": {"todos": [{"id": "a", "x": 1}, {"id": 2}], "lists": [{"id": "l"}]}}"#).unwrap();
        assert_eq!(ops.len(), 3);
        assert_eq!(ops[0].table(), "lists");
        assert_eq!(ops[2].id(), "2");
        let err = from_seed_json(r#"{"rows": {"todos": [{"x": 1}]}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no \"id\""), "{err}");
        assert!(from_seed_json(r#"{"todos": []}"#).is_err());
    }
}
