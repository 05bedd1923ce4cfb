//! Runner for the conformance vectors in test-vectors/ (format: test-vectors/README.md).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::Connection;
use serde_json::Value as Json;

pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("POWERSYNC_VECTORS_DIR"))
}

/// Every `*.json` vector below `dir`, sorted by path.
pub fn find_vectors(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("reading {}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// What running a vector did.
#[derive(Debug, PartialEq, Eq)]
pub enum VectorRun {
    Passed,
    /// The vector describes another SQLite version range (its `sqlite` key); the other test
    /// configuration (bundled SQLite or the 3.38 run) covers it.
    NotForThisSqlite(String),
}

/// `"3.45.0"` -> 3045000.
fn version_number(text: &str) -> Result<i64, String> {
    let parts: Vec<i64> = text
        .split('.')
        .map(|p| p.parse::<i64>().map_err(|e| format!("bad version {text:?}: {e}")))
        .collect::<Result<_, _>>()?;
    Ok(parts.first().copied().unwrap_or(0) * 1_000_000
        + parts.get(1).copied().unwrap_or(0) * 1000
        + parts.get(2).copied().unwrap_or(0))
}

/// Runs one vector file on a fresh connection from `open`; `Err` describes the first mismatch.
pub fn run_vector(path: &Path, open: &dyn Fn() -> Connection) -> Result<VectorRun, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("read: {e}"))?;
    let mut vector: Json = serde_json::from_str(&text).map_err(|e| format!("invalid JSON: {e}"))?;
    let ordered: Ordered = serde_json::from_str(&text).map_err(|e| format!("invalid JSON: {e}"))?;
    attach_ordered_json(&mut vector, &ordered);
    let name = vector["name"].as_str().ok_or("missing name")?;
    let expected_name = {
        let stem = path.file_stem().unwrap().to_string_lossy();
        let area = path
            .parent()
            .and_then(|p| p.file_name())
            .map(|a| a.to_string_lossy().into_owned());
        match area {
            Some(area) => format!("{area}/{stem}"),
            None => stem.into_owned(),
        }
    };
    if name != expected_name {
        return Err(format!(
            "name {name:?} does not match its path (expected {expected_name:?})"
        ));
    }
    if vector["description"].as_str().is_none_or(str::is_empty) {
        return Err("missing description".into());
    }
    let steps = vector["steps"].as_array().ok_or("missing steps")?;
    if steps.is_empty() {
        return Err("no steps".into());
    }
    let db = open();
    if let Some(range) = vector.get("sqlite") {
        let linked: i64 = db
            .query_row("select sqlite_version()", [], |r| r.get::<_, String>(0))
            .map_err(|e| e.to_string())
            .and_then(|v| version_number(&v))?;
        if let Some(min) = range.get("min").and_then(Json::as_str) {
            if linked < version_number(min)? {
                return Ok(VectorRun::NotForThisSqlite(format!("needs SQLite >= {min}")));
            }
        }
        if let Some(below) = range.get("below").and_then(Json::as_str) {
            if linked >= version_number(below)? {
                return Ok(VectorRun::NotForThisSqlite(format!("needs SQLite < {below}")));
            }
        }
    }
    let mut captures = HashMap::new();
    for (i, step) in steps.iter().enumerate() {
        run_step(&db, step, &mut captures).map_err(|e| format!("step {i} ({}): {e}", step_label(step)))?;
    }
    Ok(VectorRun::Passed)
}

fn step_label(step: &Json) -> String {
    let sql = step["sql"].as_str().or(step["exec"].as_str()).unwrap_or("?");
    let mut label: String = sql.chars().take(120).collect();
    if sql.len() > label.len() {
        label.push_str("...");
    }
    label
}

type Captures = HashMap<String, SqlValue>;

fn run_step(db: &Connection, step: &Json, captures: &mut Captures) -> Result<(), String> {
    let outcome = if let Some(sql) = step["sql"].as_str() {
        let params = match step.get("params") {
            Some(Json::Array(values)) => values
                .iter()
                .map(|v| to_sql_value(v, captures))
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
            Some(_) => return Err("params must be a list".into()),
        };
        query(db, sql, &params)
    } else if let Some(sql) = step["exec"].as_str() {
        crate::exec_all(db, sql).map(|_| Vec::new())
    } else {
        return Err("a step needs `sql` or `exec`".into());
    };

    match (outcome, step.get("error")) {
        (Ok(rows), None) => match step.get("rows") {
            Some(expected) => compare_rows(expected, &rows, step["unordered"].as_bool() == Some(true), captures),
            None => Ok(()),
        },
        (Ok(rows), Some(_)) => Err(format!("expected an error, got rows {}", show_rows(&rows))),
        (Err(e), None) => Err(format!("unexpected error: {}", show_error(&e))),
        (Err(e), Some(expected)) => compare_error(expected, &e),
    }
}

fn query(db: &Connection, sql: &str, params: &[SqlValue]) -> rusqlite::Result<Vec<Vec<SqlValue>>> {
    let mut stmt = db.prepare(sql)?;
    let columns = stmt.column_count();
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(
            (0..columns)
                .map(|i| row.get_ref(i).map(owned))
                .collect::<Result<_, _>>()?,
        );
    }
    Ok(out)
}

/// The extended code and message of a SQLite failure (also of one raised while preparing).
fn sqlite_error(e: &rusqlite::Error) -> Option<(i32, String)> {
    match e {
        rusqlite::Error::SqliteFailure(code, msg) => Some((code.extended_code, msg.clone().unwrap_or_default())),
        // Only reported this way with rusqlite's modern_sqlite, which `bundled` enables.
        #[cfg(feature = "bundled")]
        rusqlite::Error::SqlInputError { error, msg, .. } => Some((error.extended_code, msg.clone())),
        _ => None,
    }
}

fn show_error(e: &rusqlite::Error) -> String {
    match sqlite_error(e) {
        Some((code, msg)) => format!("code {code} {msg:?}"),
        None => format!("{e}"),
    }
}

fn compare_error(expected: &Json, err: &rusqlite::Error) -> Result<(), String> {
    let Some((code, message)) = sqlite_error(err) else {
        return Err(format!("expected a SQLite error, got {err}"));
    };
    if let Some(want) = expected.get("code").and_then(Json::as_i64) {
        if want != code as i64 {
            return Err(format!("expected error code {want}, got {code} ({message:?})"));
        }
    }
    if let Some(want) = expected.get("message").and_then(Json::as_str) {
        if want != message {
            return Err(format!("expected error message\n    {want:?}\n got {message:?}"));
        }
    }
    if let Some(want) = expected.get("message_prefix").and_then(Json::as_str) {
        if !message.starts_with(want) {
            return Err(format!(
                "expected error message starting with\n    {want:?}\n got {message:?}"
            ));
        }
    }
    Ok(())
}

fn to_sql_value(v: &Json, captures: &Captures) -> Result<SqlValue, String> {
    Ok(match v {
        Json::Null => SqlValue::Null,
        Json::Bool(b) => SqlValue::Integer(*b as i64),
        Json::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None if n.is_u64() => return Err(format!("integer out of range: {n}")),
            None => SqlValue::Real(n.as_f64().unwrap()),
        },
        Json::String(s) => SqlValue::Text(s.clone()),
        Json::Object(o) if o.contains_key("blob") => {
            SqlValue::Blob(decode_hex(o["blob"].as_str().ok_or("blob must be hex text")?)?)
        }
        Json::Object(o) if o.get("$").and_then(Json::as_str) == Some("ref") => {
            let name = o["name"].as_str().ok_or("ref needs a name")?;
            captures
                .get(name)
                .cloned()
                .ok_or_else(|| format!("nothing captured as {name:?}"))?
        }
        other => return Err(format!("not a value: {other}")),
    })
}

fn decode_hex(hex: &str) -> Result<Vec<u8>, String> {
    if !hex.len().is_multiple_of(2) {
        return Err(format!("odd-length hex {hex:?}"));
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|e| format!("bad hex {hex:?}: {e}")))
        .collect()
}

fn show_value(v: &SqlValue) -> String {
    match v {
        SqlValue::Null => "null".into(),
        SqlValue::Integer(i) => i.to_string(),
        SqlValue::Real(f) => format!("{f:?}"),
        SqlValue::Text(t) => format!("{t:?}"),
        SqlValue::Blob(b) => format!(
            "{{\"blob\":\"{}\"}}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        ),
    }
}

fn show_rows(rows: &[Vec<SqlValue>]) -> String {
    let rows: Vec<String> = rows
        .iter()
        .map(|r| format!("[{}]", r.iter().map(show_value).collect::<Vec<_>>().join(", ")))
        .collect();
    format!("[{}]", rows.join(",\n    "))
}

/// Whether `actual` matches the expected JSON value or matcher; records captures.
fn value_matches(expected: &Json, actual: &SqlValue, captures: &mut Captures) -> Result<bool, String> {
    if let Json::Object(o) = expected {
        if let Some(kind) = o.get("$").and_then(Json::as_str) {
            return match kind {
                "any" => Ok(true),
                "uuid4" => Ok(matches!(actual, SqlValue::Text(t) if is_uuid4(t))),
                "regex" => {
                    let pattern = o["pattern"].as_str().ok_or("regex needs a pattern")?;
                    let re = regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| e.to_string())?;
                    Ok(matches!(actual, SqlValue::Text(t) if re.is_match(t)))
                }
                "capture" => {
                    let name = o["as"].as_str().ok_or("capture needs `as`")?;
                    let inner = o.get("match").cloned().unwrap_or(Json::Object(
                        [("$".to_string(), Json::String("any".into()))].into_iter().collect(),
                    ));
                    let ok = value_matches(&inner, actual, captures)?;
                    if ok {
                        captures.insert(name.to_owned(), actual.clone());
                    }
                    Ok(ok)
                }
                "ref" => {
                    let name = o["name"].as_str().ok_or("ref needs a name")?;
                    let captured = captures
                        .get(name)
                        .ok_or_else(|| format!("nothing captured as {name:?}"))?;
                    Ok(captured == actual)
                }
                "json" => {
                    let raw = o
                        .get("__ordered")
                        .and_then(Json::as_str)
                        .ok_or("json matcher without its ordered text")?;
                    json_matcher(raw, actual, captures)
                }
                other => Err(format!("unknown matcher {other:?}")),
            };
        }
    }
    let want = to_sql_value(expected, captures)?;
    Ok(match (&want, actual) {
        // REAL compares by bits so -0.0 and 0.0 stay distinct.
        (SqlValue::Real(a), SqlValue::Real(b)) => a.to_bits() == b.to_bits() || a == b && *a != 0.0,
        _ => want == *actual,
    })
}

fn is_uuid4(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            14 => *c == b'4',
            19 => matches!(c, b'8' | b'9' | b'a' | b'b'),
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        })
}

fn row_matches(expected: &Json, actual: &[SqlValue], captures: &mut Captures) -> Result<bool, String> {
    let expected = expected.as_array().ok_or("each expected row must be a list")?;
    if expected.len() != actual.len() {
        return Ok(false);
    }
    for (e, a) in expected.iter().zip(actual) {
        if !value_matches(e, a, captures)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn compare_rows(
    expected: &Json,
    actual: &[Vec<SqlValue>],
    unordered: bool,
    captures: &mut Captures,
) -> Result<(), String> {
    let expected = expected.as_array().ok_or("rows must be a list")?;
    let mismatch = || {
        format!(
            "rows differ\n expected {}\n actual   {}",
            serde_json::to_string(expected).unwrap(),
            show_rows(actual)
        )
    };
    if expected.len() != actual.len() {
        return Err(mismatch());
    }
    if unordered {
        let mut used = vec![false; actual.len()];
        for e in expected {
            let found = (0..actual.len()).find(|&i| !used[i] && row_matches(e, &actual[i], captures).unwrap_or(false));
            match found {
                Some(i) => used[i] = true,
                None => return Err(mismatch()),
            }
        }
        return Ok(());
    }
    for (e, a) in expected.iter().zip(actual) {
        if !row_matches(e, a, captures)? {
            return Err(mismatch());
        }
    }
    Ok(())
}

/// Converts a borrowed SQLite value (used by other tests that compare rows).
pub fn owned(v: ValueRef<'_>) -> SqlValue {
    match v {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(i) => SqlValue::Integer(i),
        ValueRef::Real(f) => SqlValue::Real(f),
        ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
    }
}

/// JSON with object keys in document order and integers kept apart from floats, for the
/// `json` matcher (serde_json's own map sorts keys in this build).
#[derive(Debug, Clone, PartialEq)]
enum Ordered {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Arr(Vec<Ordered>),
    Obj(Vec<(String, Ordered)>),
}

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_unit<E>(self) -> Result<Ordered, E> {
                Ok(Ordered::Null)
            }
            fn visit_none<E>(self) -> Result<Ordered, E> {
                Ok(Ordered::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Ordered, E> {
                Ok(Ordered::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Ordered, E> {
                Ok(Ordered::Int(v as i128))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Ordered, E> {
                Ok(Ordered::Int(v as i128))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Ordered, E> {
                Ok(Ordered::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Ordered, E> {
                Ok(Ordered::Str(v.to_owned()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(Ordered::Arr(out))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry()? {
                    out.push((k, v));
                }
                Ok(Ordered::Obj(out))
            }
        }
        d.deserialize_any(V)
    }
}

fn json_value_of(v: &Ordered) -> SqlValue {
    match v {
        Ordered::Str(s) => SqlValue::Text(s.clone()),
        Ordered::Int(i) => SqlValue::Integer(*i as i64),
        Ordered::Float(f) => SqlValue::Real(*f),
        Ordered::Null => SqlValue::Null,
        other => SqlValue::Text(format!("{other:?}")),
    }
}

/// Compares actual JSON with an expected value that may hold matchers.
fn json_matches(expected: &Ordered, actual: &Ordered, captures: &mut Captures) -> Result<bool, String> {
    if let Ordered::Obj(pairs) = expected {
        if let Some((_, Ordered::Str(kind))) = pairs.iter().find(|(k, _)| k == "$") {
            return match kind.as_str() {
                "int" => Ok(matches!(actual, Ordered::Int(_))),
                "any" | "uuid4" | "regex" | "capture" | "ref" => {
                    if kind == "capture" {
                        let name = pairs.iter().find(|(k, _)| k == "as").and_then(|(_, v)| match v {
                            Ordered::Str(s) => Some(s.clone()),
                            _ => None,
                        });
                        let inner = pairs.iter().find(|(k, _)| k == "match").map(|(_, v)| v.clone());
                        let ok = match &inner {
                            Some(m) => json_matches(m, actual, captures)?,
                            None => true,
                        };
                        if ok {
                            captures.insert(name.ok_or("capture needs `as`")?, json_value_of(actual));
                        }
                        return Ok(ok);
                    }
                    let as_json = to_plain_json(expected);
                    value_matches(&as_json, &json_value_of(actual), captures)
                }
                other => Err(format!("unknown json matcher {other:?}")),
            };
        }
    }
    Ok(match (expected, actual) {
        (Ordered::Obj(e), Ordered::Obj(a)) => {
            if e.len() != a.len() {
                return Ok(false);
            }
            for ((ek, ev), (ak, av)) in e.iter().zip(a) {
                if ek != ak || !json_matches(ev, av, captures)? {
                    return Ok(false);
                }
            }
            true
        }
        (Ordered::Arr(e), Ordered::Arr(a)) => {
            if e.len() != a.len() {
                return Ok(false);
            }
            for (ev, av) in e.iter().zip(a) {
                if !json_matches(ev, av, captures)? {
                    return Ok(false);
                }
            }
            true
        }
        (e, a) => e == a,
    })
}

fn to_plain_json(v: &Ordered) -> Json {
    match v {
        Ordered::Null => Json::Null,
        Ordered::Bool(b) => Json::Bool(*b),
        Ordered::Int(i) => Json::from(*i as i64),
        Ordered::Float(f) => Json::from(*f),
        Ordered::Str(s) => Json::String(s.clone()),
        Ordered::Arr(a) => Json::Array(a.iter().map(to_plain_json).collect()),
        Ordered::Obj(o) => Json::Object(o.iter().map(|(k, v)| (k.clone(), to_plain_json(v))).collect()),
    }
}

/// The `json` matcher: `expected_raw` is the vector's `value`, re-read in document order.
fn json_matcher(expected_raw: &str, actual: &SqlValue, captures: &mut Captures) -> Result<bool, String> {
    let SqlValue::Text(text) = actual else {
        return Ok(false);
    };
    let Ok(actual) = serde_json::from_str::<Ordered>(text) else {
        return Ok(false);
    };
    let expected: Ordered = serde_json::from_str(expected_raw).map_err(|e| e.to_string())?;
    json_matches(&expected, &actual, captures)
}

/// Stores, inside every `{"$": "json"}` matcher of `plain`, the document-order text of its
/// `value` (the plain tree sorts object keys) under `__ordered`.
fn attach_ordered_json(plain: &mut Json, ordered: &Ordered) {
    match (plain, ordered) {
        (Json::Object(p), Ordered::Obj(o)) => {
            if p.get("$").and_then(Json::as_str) == Some("json") {
                if let Some((_, value)) = o.iter().find(|(k, _)| k == "value") {
                    p.insert("__ordered".into(), Json::String(ordered_to_text(value)));
                }
                return;
            }
            for (k, ov) in o {
                if let Some(pv) = p.get_mut(k) {
                    attach_ordered_json(pv, ov);
                }
            }
        }
        (Json::Array(p), Ordered::Arr(o)) => {
            for (pv, ov) in p.iter_mut().zip(o) {
                attach_ordered_json(pv, ov);
            }
        }
        _ => {}
    }
}

fn ordered_to_text(v: &Ordered) -> String {
    match v {
        Ordered::Null => "null".into(),
        Ordered::Bool(b) => b.to_string(),
        Ordered::Int(i) => i.to_string(),
        Ordered::Float(f) => serde_json::to_string(f).unwrap(),
        Ordered::Str(s) => serde_json::to_string(s).unwrap(),
        Ordered::Arr(a) => format!("[{}]", a.iter().map(ordered_to_text).collect::<Vec<_>>().join(",")),
        Ordered::Obj(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(), ordered_to_text(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}
