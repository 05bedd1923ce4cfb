//! The service against our PowerSync core extension itself (crates/core, registered on an
//! in-memory SQLite): the lines it sends must validate and apply, live diffs must apply, and a
//! corrupted checksum must fail validation and heal on the next connection. `lists` is a direct
//! table (synced rows go straight into its columns), `todos` a JSON table. This checks the
//! service's checksums and op semantics with the extension's own arithmetic.

mod common;

use common::*;
use powersync_test_service::{Fault, ServerOp, TestService};
use rusqlite::{types::Value as SqlValue, Connection};
use serde_json::{json, Value};
use std::time::Duration;

const SCHEMA: &str = r#"{"tables": [
  {"name": "lists", "columns": [{"name": "name", "type": "text"}, {"name": "i", "type": "integer"}], "direct": true},
  {"name": "todos", "columns": [{"name": "owner_id", "type": "text"}, {"name": "list_id", "type": "text"},
                                {"name": "description", "type": "text"}]}]}"#;

fn open_db() -> Connection {
    let db = Connection::open_in_memory().unwrap();
    unsafe { powersync_core::register(db.handle()) }.unwrap();
    db.execute_batch("BEGIN").unwrap();
    db.query_row("SELECT powersync_init()", [], |_| Ok(())).unwrap();
    db.query_row("SELECT powersync_replace_schema(?1)", [SCHEMA], |_| Ok(()))
        .unwrap();
    db.execute_batch("COMMIT").unwrap();
    let kind: String = db
        .query_row("SELECT type FROM sqlite_master WHERE name = 'lists'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kind, "table", "lists is a direct table, not a view");
    db
}

/// One `powersync_control` call in its own write transaction, as SDKs make them.
fn control(db: &Connection, op: &str, payload: SqlValue) -> Vec<Value> {
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    let out: Option<String> = db
        .query_row(
            "SELECT powersync_control(?1, ?2)",
            rusqlite::params![op, payload],
            |r| r.get(0),
        )
        .unwrap();
    db.execute_batch("COMMIT").unwrap();
    out.map(|t| serde_json::from_str(&t).unwrap()).unwrap_or_default()
}

fn has(instructions: &[Value], name: &str) -> bool {
    instructions.iter().any(|i| i.get(name).is_some())
}

/// Starts an iteration and opens the stream it asks for.
async fn connect(db: &Connection, svc: &TestService, accept: &str) -> (Lines, Value) {
    // The sync client learns direct tables (`lists`) only from the schema in `start`.
    let start = control(db, "start", SqlValue::Text(format!(r#"{{"schema": {SCHEMA}}}"#)));
    let request = start
        .iter()
        .find_map(|i| i.get("EstablishSyncStream"))
        .expect("a stream request")["request"]
        .clone();
    let resp = open_stream(svc, &svc.token("alice", Duration::from_secs(3600)), &request, accept).await;
    assert_eq!(resp.status(), 200);
    control(db, "connection", SqlValue::Text("established".into()));
    (Lines::new(resp), request)
}

/// Feeds lines until one returns `stop_at` (or CloseSyncStream); returns all instructions.
async fn feed_until(db: &Connection, lines: &mut Lines, stop_at: &str) -> Vec<Value> {
    let mut all = Vec::new();
    loop {
        let frame = lines.next_frame().await.unwrap().expect("stream ended early");
        let out = if lines.is_bson() {
            control(db, "line_binary", SqlValue::Blob(frame))
        } else {
            control(db, "line_text", SqlValue::Text(String::from_utf8(frame).unwrap()))
        };
        let done = has(&out, stop_at) || has(&out, "CloseSyncStream");
        all.extend(out);
        if done {
            return all;
        }
    }
}

fn lists(db: &Connection) -> Vec<(String, Option<String>, Option<i64>)> {
    let mut stmt = db.prepare("SELECT id, name, i FROM lists ORDER BY id").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

async fn full_cycle(accept: &str) {
    let svc = start();
    let mut ops: Vec<ServerOp> = (0..30)
        .map(|i| put("lists", &format!("l{i:02}"), json!({"name": format!("n{i}"), "i": i})))
        .collect();
    ops.push(put(
        "todos",
        "t1",
        json!({"owner_id": "alice", "list_id": "l00", "description": "mine"}),
    ));
    ops.push(put(
        "todos",
        "t2",
        json!({"owner_id": "bob", "description": "not mine"}),
    ));
    svc.apply(ops).unwrap();
    let db = open_db();

    let (mut lines, _) = connect(&db, &svc, accept).await;
    let out = feed_until(&db, &mut lines, "DidCompleteSync").await;
    assert!(!has(&out, "CloseSyncStream"), "{out:?}");
    assert_eq!(lists(&db).len(), 30);
    let todos: Vec<String> = db
        .prepare("SELECT id FROM todos")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(todos, vec!["t1"]);

    // Live: update, delete, and move a todo out of alice's bucket.
    svc.apply(vec![
        ServerOp::Patch {
            table: "lists".into(),
            id: "l01".into(),
            data: obj(json!({"name": "renamed"})),
        },
        ServerOp::Delete {
            table: "lists".into(),
            id: "l02".into(),
        },
        ServerOp::Patch {
            table: "todos".into(),
            id: "t1".into(),
            data: obj(json!({"owner_id": "bob"})),
        },
    ])
    .unwrap();
    let out = feed_until(&db, &mut lines, "DidCompleteSync").await;
    assert!(!has(&out, "CloseSyncStream"), "{out:?}");
    let rows = lists(&db);
    assert_eq!(rows.len(), 29);
    assert!(rows.contains(&("l01".into(), Some("renamed".into()), Some(1))));
    assert_eq!(
        db.query_row("SELECT count(*) FROM todos", [], |r| r.get::<_, i64>(0))
            .unwrap(),
        0
    );
    drop(lines);
    control(&db, "stop", SqlValue::Null);

    // Offline changes, then a reconnect: the request lists bucket positions and only news arrive.
    svc.apply(vec![put("lists", "l99", json!({"name": "new"}))]).unwrap();
    let (mut lines, request) = connect(&db, &svc, accept).await;
    assert!(request["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b["name"] == "global[]" && b["after"] != "0"));
    let out = feed_until(&db, &mut lines, "DidCompleteSync").await;
    assert!(!has(&out, "CloseSyncStream"), "{out:?}");
    assert_eq!(lists(&db).len(), 30);
    drop(lines);
    control(&db, "stop", SqlValue::Null);

    // A corrupted checksum fails validation; the client drops the bucket and gets it again.
    svc.inject(Fault::CorruptChecksum {
        bucket: "global[]".into(),
    });
    let (mut lines, _) = connect(&db, &svc, accept).await;
    let out = feed_until(&db, &mut lines, "DidCompleteSync").await;
    assert!(has(&out, "CloseSyncStream"), "{out:?}");
    let warning = out
        .iter()
        .filter_map(|i| i.get("LogLine"))
        .any(|l| l["line"].as_str().unwrap().contains("Checksums didn't match"));
    assert!(warning, "{out:?}");
    drop(lines);
    control(&db, "stop", SqlValue::Null);
    let (mut lines, request) = connect(&db, &svc, accept).await;
    assert!(
        !request["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["name"] == "global[]"),
        "{request}"
    );
    let out = feed_until(&db, &mut lines, "DidCompleteSync").await;
    assert!(!has(&out, "CloseSyncStream"), "{out:?}");
    assert_eq!(lists(&db).len(), 30);
    assert_eq!(
        lists(&db),
        svc.rows("lists")
            .into_iter()
            .map(|(id, d)| { (id, d["name"].as_str().map(str::to_owned), d["i"].as_i64()) })
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn the_extension_validates_and_applies_ndjson() {
    full_cycle("application/x-ndjson").await;
}

#[tokio::test]
async fn the_extension_validates_and_applies_bson() {
    full_cycle(SDK_ACCEPT).await;
}
