//! What every harness shares: the connection, the app schema, and the invariant checks.

use rusqlite::types::Value;
use rusqlite::Connection;

/// The app schema of the line and session targets: a synced table with typed columns, one with
/// old values and metadata, an insert-only and a local-only table, and a direct table (0.5.4:
/// sync writes its typed columns itself; [`start_with_checkpoint`] passes the schema to `start`).
pub const SCHEMA: &str = r#"{"tables":[
  {"name":"tasks","direct":true,"columns":[{"name":"title","type":"text"},{"name":"n","type":"integer"},{"name":"r","type":"real"}]},
  {"name":"items","columns":[{"name":"v","type":"text"},{"name":"n","type":"integer"}]},
  {"name":"lists","columns":[{"name":"title","type":"text"},{"name":"r","type":"real"}],
   "include_old":true,"include_metadata":true,"ignore_empty_update":true},
  {"name":"logs","columns":[{"name":"msg","type":"text"}],"insert_only":true},
  {"name":"notes","columns":[{"name":"body","type":"text"}],"local_only":true}
]}"#;

/// An in-memory connection with the extension registered and `powersync_init()` run.
pub fn open() -> Connection {
    from_template(false)
}

/// [`open`] with [`SCHEMA`] applied.
pub fn open_with_schema() -> Connection {
    from_template(true)
}

fn build_template(with_schema: bool) -> Vec<u8> {
    let db = Connection::open_in_memory().expect("open in-memory database");
    powersync_core::register_connection(&db).expect("register the extension");
    db.execute_batch("BEGIN; SELECT powersync_init(); COMMIT;")
        .expect("powersync_init on a fresh database");
    if with_schema {
        db.execute_batch("BEGIN").unwrap();
        db.query_row("SELECT powersync_replace_schema(?)", [SCHEMA], |_| Ok(()))
            .expect("the harness schema is valid");
        db.execute_batch("COMMIT").unwrap();
    }
    db.serialize(rusqlite::MAIN_DB)
        .expect("serialize the template")
        .to_vec()
}

thread_local! {
    static TEMPLATES: std::cell::RefCell<[Option<Vec<u8>>; 2]> = const { std::cell::RefCell::new([None, None]) };
}

/// A fresh connection on a copy of a database set up once per process: running the migrations
/// and the schema for every input would cost more than the input itself. The extension's
/// in-memory schema (read only by `powersync_clear`, which no harness calls) is not copied.
fn from_template(with_schema: bool) -> Connection {
    let bytes = TEMPLATES.with(|t| {
        t.borrow_mut()[with_schema as usize]
            .get_or_insert_with(|| build_template(with_schema))
            .clone()
    });
    let mut db = Connection::open_in_memory().expect("open in-memory database");
    powersync_core::register_connection(&db).expect("register the extension");
    let n = bytes.len();
    db.deserialize_read_exact(rusqlite::MAIN_DB, &bytes[..], n, false)
        .expect("load the template");
    db
}

/// SQL errors are fine; a panic caught at the FFI edge is a finding (libFuzzer's panic hook
/// already aborts on the panic itself; this catches it in the regression test, which has none).
pub fn check_error(err: &rusqlite::Error, what: &str) {
    let text = err.to_string();
    assert!(
        !text.contains("Internal PowerSync error. cause: panic"),
        "{what}: a panic was caught inside the extension: {text}"
    );
}

/// Runs `f`, checking its error (if any) with [`check_error`].
pub fn tolerate<T>(result: rusqlite::Result<T>, what: &str) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            check_error(&e, what);
            None
        }
    }
}

/// `PRAGMA integrity_check` must say `ok`.
pub fn check_integrity(db: &Connection) {
    let rows: Vec<String> = {
        let mut stmt = db.prepare("PRAGMA integrity_check").unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    };
    assert_eq!(rows, vec!["ok".to_owned()], "PRAGMA integrity_check");
}

/// Every row of every table (schema objects included), in a stable order: two equal digests mean
/// nothing was written in between.
pub fn digest(db: &Connection) -> Vec<String> {
    let mut out = Vec::new();
    let tables: Vec<String> = {
        let mut stmt = db
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    };
    let mut stmt = db
        .prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
        .unwrap();
    let mut rows = stmt.query([]).unwrap();
    while let Some(row) = rows.next().unwrap() {
        out.push(format!(
            "{:?}",
            (0..4).map(|i| row.get::<_, Value>(i).unwrap()).collect::<Vec<_>>()
        ));
    }
    for table in tables {
        let sql = format!("SELECT * FROM \"{}\"", table.replace('"', "\"\""));
        let mut stmt = db.prepare(&sql).unwrap();
        let n = stmt.column_count();
        let mut lines: Vec<String> = Vec::new();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            let values: Vec<Value> = (0..n).map(|i| row.get::<_, Value>(i).unwrap()).collect();
            lines.push(format!("{table}: {values:?}"));
        }
        lines.sort();
        out.extend(lines);
    }
    out
}

/// One `powersync_control` call inside the caller's open transaction. A failed call must leave
/// no trace in the database (calls are atomic, docs/decisions.md); a caught panic is a finding.
///
/// The harness's own savepoint makes the check cheap: only after a failure is the database
/// compared with itself rolled back to before the call.
pub fn control(db: &Connection, op: &str, payload: Value) -> rusqlite::Result<Value> {
    db.execute_batch("SAVEPOINT fuzz_harness_call").unwrap();
    let result = db.query_row("SELECT powersync_control(?, ?)", rusqlite::params![op, payload], |r| {
        r.get::<_, Value>(0)
    });
    if let Err(e) = &result {
        check_error(e, op);
        assert!(
            !db.is_autocommit(),
            "powersync_control('{op}') ended the caller's transaction: {e}"
        );
        let after = digest(db);
        db.execute_batch("ROLLBACK TO fuzz_harness_call").unwrap();
        let before = digest(db);
        assert!(
            before == after,
            "failed powersync_control('{op}') left writes behind: {e}\nbefore: {before:#?}\nafter: {after:#?}"
        );
    }
    db.execute_batch("RELEASE fuzz_harness_call").unwrap();
    result
}

/// [`control`] in its own transaction, committed whatever the outcome (as an SDK that ignores
/// the error would: the atomicity check makes that safe). After a call that failed with
/// `SQLITE_CORRUPT` ("invalid local data", e.g. a value a direct table's column cannot take),
/// SQLite itself refuses the `COMMIT` ("database disk image is malformed") and rolls the
/// transaction back, with the reference as with us; it held only that call, which left no trace.
pub fn control_tx(db: &Connection, op: &str, payload: Value) -> rusqlite::Result<Value> {
    db.execute_batch("BEGIN").unwrap();
    let result = control(db, op, payload);
    if let Err(commit) = db.execute_batch("COMMIT") {
        let corrupt = |e: &rusqlite::Error| e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseCorrupt);
        assert!(
            result.as_ref().is_err_and(corrupt) && corrupt(&commit),
            "COMMIT after powersync_control('{op}') failed: {commit} (the call: {result:?})"
        );
        // The failed COMMIT has normally rolled the transaction back already.
        if !db.is_autocommit() {
            db.execute_batch("ROLLBACK").unwrap();
        }
    }
    result
}

/// The text of a successful instruction result (empty for NULL / integers).
pub fn text(value: &Value) -> &str {
    match value {
        Value::Text(s) => s,
        _ => "",
    }
}

/// Starts an iteration, reports the connection, and sends a plausible first checkpoint (two
/// buckets at different priorities) and a data line, so that lines fed afterwards meet an
/// iteration that tracks a checkpoint.
pub fn start_with_checkpoint(db: &Connection) {
    let start = format!(r#"{{"parameters":{{}},"schema":{SCHEMA}}}"#);
    control_tx(db, "start", Value::Text(start)).expect("start");
    control_tx(db, "connection", Value::Text("established".into())).expect("connection established");
    control_tx(db, "line_text", Value::Text(FIRST_CHECKPOINT.into())).expect("first checkpoint");
    control_tx(db, "line_text", Value::Text(FIRST_DATA.into())).expect("first data line");
}

/// Checksums: b1 holds ops 1 (cs 1) and 2 (cs 2); b0 holds op 3 (cs 4).
pub const FIRST_CHECKPOINT: &str = r#"{"checkpoint":{"last_op_id":"3","write_checkpoint":null,"buckets":[{"bucket":"b1","checksum":3,"priority":3,"count":2},{"bucket":"b0","checksum":4,"priority":0,"count":1}]}}"#;
pub const FIRST_DATA: &str = r#"{"data":{"bucket":"b1","data":[{"op_id":"1","op":"PUT","object_type":"items","object_id":"i1","checksum":1,"data":"{\"v\":\"a\",\"n\":1}"},{"op_id":"2","op":"PUT","object_type":"lists","object_id":"l1","checksum":2,"data":"{\"title\":\"t\"}"}]}}"#;
