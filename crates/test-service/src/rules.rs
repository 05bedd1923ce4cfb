//! The rules file: which rows land in which buckets, and which buckets a user (JWT `sub`) with a
//! given set of stream subscriptions gets. A deliberately small stand-in for PowerSync's sync
//! rules / sync streams, documented in the crate README.

use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashSet;

/// Priority the real service gives buckets that declare none (docs/protocol.md, "Sync lines").
pub(crate) const DEFAULT_PRIORITY: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("rules are not valid JSON for the rules format: {0}")]
    Json(#[from] serde_json::Error),
    #[error("rules: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    buckets: Vec<BucketFile>,
    #[serde(default)]
    streams: Vec<StreamFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BucketFile {
    name: String,
    #[serde(default)]
    per_user: bool,
    tables: Vec<TableFile>,
    priority: Option<i32>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TableFile {
    Name(String),
    Detailed(TableDetail),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableDetail {
    table: String,
    owner_column: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamFile {
    name: String,
    table: String,
    parameter: Option<String>,
    column: Option<String>,
    owner_column: Option<String>,
    #[serde(default)]
    auto_subscribe: bool,
    priority: Option<i32>,
}

#[derive(Debug, Clone)]
struct TableRef {
    table: String,
    owner_column: Option<String>,
}

#[derive(Debug, Clone)]
struct BucketDef {
    name: String,
    per_user: bool,
    tables: Vec<TableRef>,
    priority: i32,
}

#[derive(Debug, Clone)]
struct StreamDef {
    name: String,
    table: String,
    /// Name of the subscription parameter, and the column it is matched against.
    parameter: Option<(String, String)>,
    owner_column: Option<String>,
    auto_subscribe: bool,
    priority: i32,
}

/// Parsed and validated rules.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rules {
    buckets: Vec<BucketDef>,
    streams: Vec<StreamDef>,
}

/// Why a bucket is in a checkpoint (`subscriptions` in docs/protocol.md, "Sync lines").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// Index into the checkpoint's `streams` list (an auto-subscribed stream).
    Default(usize),
    /// Index into the request's `streams.subscriptions`.
    Sub(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvedBucket {
    pub id: String,
    pub priority: i32,
    /// Empty for rule buckets; stream buckets always have at least one reason.
    pub reasons: Vec<Reason>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamInfo {
    pub name: String,
    pub is_default: bool,
    /// (index into the request's subscriptions, message). Default subscriptions cannot fail here.
    pub errors: Vec<(usize, String)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub buckets: Vec<ResolvedBucket>,
    pub streams: Vec<StreamInfo>,
}

/// One entry of the request's `streams.subscriptions`, already decoded.
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub stream: String,
    pub parameters: Option<Value>,
    pub override_priority: Option<i32>,
}

fn check_priority(what: &str, priority: Option<i32>) -> Result<i32, RulesError> {
    match priority {
        None => Ok(DEFAULT_PRIORITY),
        Some(p @ 0..=3) => Ok(p),
        Some(p) => Err(RulesError::Invalid(format!("{what}: priority {p} is outside 0..=3"))),
    }
}

fn check_name(what: &str, name: &str) -> Result<(), RulesError> {
    if name.is_empty() || name.contains(['[', ']', '"']) {
        return Err(RulesError::Invalid(format!(
            "{what} name {name:?} must be non-empty and contain no brackets or quotes"
        )));
    }
    Ok(())
}

/// The bucket-key form of a column or parameter value: strings as they are, numbers and booleans
/// as their JSON text; anything else (null, missing, objects) puts the row in no such bucket.
fn key_value(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        v @ (Value::Number(_) | Value::Bool(_)) => Some(v.to_string()),
        _ => None,
    }
}

/// Bucket ids look like the real service's: the definition name followed by a JSON array of the
/// parameter values, e.g. `global[]`, `user_todos["alice"]`.
pub(crate) fn bucket_id(name: &str, values: &[String]) -> String {
    let array = serde_json::to_string(values).unwrap_or_else(|_| "[]".to_owned());
    format!("{name}{array}")
}

impl Rules {
    pub(crate) fn from_json(json: &str) -> Result<Rules, RulesError> {
        let file: RulesFile = serde_json::from_str(json)?;
        let mut names = HashSet::new();
        let mut buckets = Vec::new();
        for b in file.buckets {
            let what = format!("bucket {:?}", b.name);
            check_name("bucket", &b.name)?;
            if !names.insert(b.name.clone()) {
                return Err(RulesError::Invalid(format!("{what} is defined twice")));
            }
            if b.tables.is_empty() {
                return Err(RulesError::Invalid(format!("{what} lists no tables")));
            }
            let mut tables = Vec::new();
            for t in b.tables {
                let t = match t {
                    TableFile::Name(table) => TableRef {
                        table,
                        owner_column: None,
                    },
                    TableFile::Detailed(d) => TableRef {
                        table: d.table,
                        owner_column: d.owner_column,
                    },
                };
                if t.table.is_empty() {
                    return Err(RulesError::Invalid(format!("{what} has an empty table name")));
                }
                match (b.per_user, &t.owner_column) {
                    (true, None) => {
                        return Err(RulesError::Invalid(format!(
                            "{what} is per_user, so table {:?} needs an \"owner_column\"",
                            t.table
                        )))
                    }
                    (false, Some(_)) => {
                        return Err(RulesError::Invalid(format!(
                            "{what} is global, but table {:?} has an \"owner_column\" (set \"per_user\": true)",
                            t.table
                        )))
                    }
                    _ => {}
                }
                tables.push(t);
            }
            let priority = check_priority(&what, b.priority)?;
            buckets.push(BucketDef {
                name: b.name,
                per_user: b.per_user,
                tables,
                priority,
            });
        }
        let mut streams = Vec::new();
        for s in file.streams {
            let what = format!("stream {:?}", s.name);
            check_name("stream", &s.name)?;
            if !names.insert(s.name.clone()) {
                return Err(RulesError::Invalid(format!("{what}: the name is already used")));
            }
            if s.table.is_empty() {
                return Err(RulesError::Invalid(format!("{what} has an empty table name")));
            }
            let parameter = match (s.parameter, s.column) {
                (Some(p), column) => {
                    let column = column.unwrap_or_else(|| p.clone());
                    Some((p, column))
                }
                (None, Some(_)) => {
                    return Err(RulesError::Invalid(format!(
                        "{what} has a \"column\" but no \"parameter\""
                    )))
                }
                (None, None) => None,
            };
            if s.auto_subscribe && parameter.is_some() {
                return Err(RulesError::Invalid(format!(
                    "{what} has a parameter, so it cannot be auto_subscribe (a default subscription has no parameters)"
                )));
            }
            let priority = check_priority(&what, s.priority)?;
            streams.push(StreamDef {
                name: s.name,
                table: s.table,
                parameter,
                owner_column: s.owner_column,
                auto_subscribe: s.auto_subscribe,
                priority,
            });
        }
        Ok(Rules { buckets, streams })
    }

    /// Every bucket a row of `table` with these columns belongs to (whoever it is synced to).
    pub(crate) fn buckets_for_row(&self, table: &str, row: &Map<String, Value>) -> Vec<String> {
        let mut out = Vec::new();
        for b in &self.buckets {
            for t in b.tables.iter().filter(|t| t.table == table) {
                let id = match &t.owner_column {
                    None => Some(bucket_id(&b.name, &[])),
                    Some(col) => key_value(row.get(col)).map(|owner| bucket_id(&b.name, &[owner])),
                };
                if let Some(id) = id {
                    if !out.contains(&id) {
                        out.push(id);
                    }
                }
            }
        }
        for s in self.streams.iter().filter(|s| s.table == table) {
            let mut values = Vec::new();
            if let Some(col) = &s.owner_column {
                match key_value(row.get(col)) {
                    Some(v) => values.push(v),
                    None => continue,
                }
            }
            if let Some((_, col)) = &s.parameter {
                match key_value(row.get(col)) {
                    Some(v) => values.push(v),
                    None => continue,
                }
            }
            let id = bucket_id(&s.name, &values);
            if !out.contains(&id) {
                out.push(id);
            }
        }
        out
    }

    /// The buckets and stream descriptions of a checkpoint for user `sub`.
    pub(crate) fn resolve(&self, sub: &str, include_defaults: bool, subscriptions: &[Subscription]) -> Resolved {
        let mut resolved = Resolved::default();
        for b in &self.buckets {
            let values = if b.per_user { vec![sub.to_owned()] } else { vec![] };
            add_bucket(&mut resolved.buckets, bucket_id(&b.name, &values), b.priority, None);
        }
        if include_defaults {
            for s in self.streams.iter().filter(|s| s.auto_subscribe) {
                let index = stream_index(&mut resolved.streams, &s.name, true);
                let values = s.owner_column.iter().map(|_| sub.to_owned()).collect::<Vec<_>>();
                add_bucket(
                    &mut resolved.buckets,
                    bucket_id(&s.name, &values),
                    s.priority,
                    Some(Reason::Default(index)),
                );
            }
        }
        for (i, subscription) in subscriptions.iter().enumerate() {
            let Some(def) = self.streams.iter().find(|s| s.name == subscription.stream) else {
                let index = stream_index(&mut resolved.streams, &subscription.stream, false);
                resolved.streams[index]
                    .errors
                    .push((i, format!("unknown stream {:?}", subscription.stream)));
                continue;
            };
            let index = stream_index(&mut resolved.streams, &def.name, def.auto_subscribe);
            let mut values = Vec::new();
            if def.owner_column.is_some() {
                values.push(sub.to_owned());
            }
            if let Some((param, _)) = &def.parameter {
                let value = match &subscription.parameters {
                    Some(Value::Object(params)) => key_value(params.get(param)),
                    _ => None,
                };
                match value {
                    Some(v) => values.push(v),
                    None => {
                        resolved.streams[index]
                            .errors
                            .push((i, format!("parameter {param:?} (a string or number) is required")));
                        continue;
                    }
                }
            }
            let priority = subscription.override_priority.unwrap_or(def.priority);
            add_bucket(
                &mut resolved.buckets,
                bucket_id(&def.name, &values),
                priority,
                Some(Reason::Sub(i)),
            );
        }
        resolved
    }
}

fn stream_index(streams: &mut Vec<StreamInfo>, name: &str, is_default: bool) -> usize {
    if let Some(i) = streams.iter().position(|s| s.name == name) {
        return i;
    }
    streams.push(StreamInfo {
        name: name.to_owned(),
        is_default,
        errors: Vec::new(),
    });
    streams.len() - 1
}

/// A bucket reached in several ways is listed once, with every reason and the most urgent
/// (lowest) priority.
fn add_bucket(buckets: &mut Vec<ResolvedBucket>, id: String, priority: i32, reason: Option<Reason>) {
    if let Some(existing) = buckets.iter_mut().find(|b| b.id == id) {
        existing.priority = existing.priority.min(priority);
        if let Some(r) = reason {
            if !existing.reasons.contains(&r) {
                existing.reasons.push(r);
            }
        }
        return;
    }
    buckets.push(ResolvedBucket {
        id,
        priority,
        reasons: reason.into_iter().collect(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RULES: &str = r#"{"buckets": [
        {"name": "global", "tables": ["lists"], "priority": 1},
        {"name": "user_todos", "per_user": true, "tables": [{"table": "todos", "owner_column": "owner_id"}]}],
      "streams": [
        {"name": "list_todos", "table": "todos", "parameter": "list_id"},
        {"name": "news", "table": "news", "auto_subscribe": true, "priority": 2}]}"#;

    fn row(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn rows_map_to_bucket_ids() {
        let rules = Rules::from_json(RULES).unwrap();
        assert_eq!(
            rules.buckets_for_row("lists", &row(json!({"name": "x"}))),
            vec!["global[]"]
        );
        assert_eq!(
            rules.buckets_for_row("todos", &row(json!({"owner_id": "alice", "list_id": "L1"}))),
            vec![r#"user_todos["alice"]"#, r#"list_todos["L1"]"#]
        );
        assert_eq!(
            rules.buckets_for_row("todos", &row(json!({"owner_id": null, "list_id": 7}))),
            vec![r#"list_todos["7"]"#]
        );
        assert!(rules.buckets_for_row("other", &row(json!({}))).is_empty());
    }

    #[test]
    fn resolve_lists_rule_buckets_defaults_and_subscriptions() {
        let rules = Rules::from_json(RULES).unwrap();
        let subs = vec![
            Subscription {
                stream: "list_todos".into(),
                parameters: Some(json!({"list_id": "L1"})),
                override_priority: Some(0),
            },
            Subscription {
                stream: "list_todos".into(),
                parameters: None,
                override_priority: None,
            },
            Subscription {
                stream: "nope".into(),
                parameters: None,
                override_priority: None,
            },
        ];
        let r = rules.resolve("alice", true, &subs);
        let ids: Vec<_> = r
            .buckets
            .iter()
            .map(|b| (b.id.as_str(), b.priority, b.reasons.clone()))
            .collect();
        assert_eq!(
            ids,
            vec![
                ("global[]", 1, vec![]),
                (r#"user_todos["alice"]"#, 3, vec![]),
                ("news[]", 2, vec![Reason::Default(0)]),
                (r#"list_todos["L1"]"#, 0, vec![Reason::Sub(0)]),
            ]
        );
        assert_eq!(r.streams.len(), 3);
        assert_eq!(
            r.streams[0],
            StreamInfo {
                name: "news".into(),
                is_default: true,
                errors: vec![]
            }
        );
        assert_eq!(r.streams[1].name, "list_todos");
        assert_eq!(r.streams[1].errors.len(), 1);
        assert_eq!(r.streams[1].errors[0].0, 1);
        assert_eq!(r.streams[2].errors[0].0, 2);

        let without_defaults = rules.resolve("bob", false, &[]);
        assert_eq!(without_defaults.buckets.len(), 2);
        assert!(without_defaults.streams.is_empty());
    }

    #[test]
    fn invalid_rules_are_rejected_with_a_reason() {
        for (json, needle) in [
            (r#"{"buckets": [{"name": "a", "tables": []}]}"#, "no tables"),
            (
                r#"{"buckets": [{"name": "a", "per_user": true, "tables": ["t"]}]}"#,
                "owner_column",
            ),
            (
                r#"{"buckets": [{"name": "a", "tables": [{"table": "t", "owner_column": "o"}]}]}"#,
                "per_user",
            ),
            (
                r#"{"buckets": [{"name": "a", "tables": ["t"], "priority": 4}]}"#,
                "priority",
            ),
            (
                r#"{"buckets": [{"name": "a", "tables": ["t"]}, {"name": "a", "tables": ["u"]}]}"#,
                "twice",
            ),
            (
                r#"{"streams": [{"name": "s", "table": "t", "parameter": "p", "auto_subscribe": true}]}"#,
                "auto_subscribe",
            ),
            (r#"{"bucket": []}"#, "unknown field"),
            (r#"{"buckets": [{"name": "a[", "tables": ["t"]}]}"#, "brackets"),
        ] {
            let err = Rules::from_json(json).unwrap_err().to_string();
            assert!(err.contains(needle), "{json}: {err}");
        }
    }
}
