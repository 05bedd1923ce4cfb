//! The local write path as an app and its SDK see it: open a database, apply a schema, write
//! through the views in several transactions, then read the upload queue the way SDKs do.

use libpowersync_tests::open_path_with_extension;

const SCHEMA: &str = r#"{"tables": [
  {"name": "lists", "columns": [{"name": "name", "type": "text"}, {"name": "owner", "type": "text"}]},
  {"name": "todos", "include_old": ["done"], "columns": [
    {"name": "list_id", "type": "text"}, {"name": "description", "type": "text"},
    {"name": "done", "type": "integer"}, {"name": "weight", "type": "real"}]},
  {"name": "logs", "insert_only": true, "columns": [{"name": "msg", "type": "text"}]},
  {"name": "drafts", "local_only": true, "columns": [{"name": "body", "type": "text"}]}
]}"#;

fn queue(db: &rusqlite::Connection) -> Vec<(i64, i64, String)> {
    let mut stmt = db.prepare("SELECT id, tx_id, data FROM ps_crud ORDER BY id").unwrap();
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

#[test]
fn writes_through_views_fill_the_upload_queue() {
    let dir = std::env::temp_dir().join(format!("ps-upload-queue-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("app.db");
    let _ = std::fs::remove_file(&path);
    let db = open_path_with_extension(path.to_str().unwrap());
    db.execute_batch("BEGIN").unwrap();
    db.query_row("SELECT powersync_replace_schema(?)", [SCHEMA], |r| {
        r.get::<_, String>(0)
    })
    .unwrap();
    db.execute_batch("COMMIT").unwrap();

    // Transaction 1: a list with two todos.
    db.execute_batch(
        "BEGIN;
         INSERT INTO lists(id, name, owner) VALUES ('l1', 'Groceries', 'ann');
         INSERT INTO todos(id, list_id, description, done, weight) VALUES ('t1', 'l1', 'Milk', 0, 1.5);
         INSERT INTO todos(id, list_id, description, done) VALUES ('t2', 'l1', 'Eggs', 0);
         COMMIT;",
    )
    .unwrap();
    // Transaction 2 (autocommit): complete a todo.
    db.execute("UPDATE todos SET done = 1 WHERE id = 't1'", []).unwrap();
    // A rolled-back transaction leaves nothing and its id is reused.
    db.execute_batch("BEGIN; DELETE FROM lists WHERE id = 'l1'; ROLLBACK;")
        .unwrap();
    // Transaction 3: delete a todo, log something (insert-only), edit a local draft.
    db.execute_batch(
        "BEGIN;
         DELETE FROM todos WHERE id = 't2';
         INSERT INTO logs(id, msg) VALUES ('g1', 'deleted eggs');
         INSERT INTO drafts(id, body) VALUES ('d1', 'not uploaded');
         COMMIT;",
    )
    .unwrap();

    assert_eq!(
        queue(&db),
        vec![
            (1, 1, r#"{"op":"PUT","id":"l1","type":"lists","data":{"name":"Groceries","owner":"ann"}}"#.to_owned()),
            (2, 1, r#"{"op":"PUT","id":"t1","type":"todos","data":{"description":"Milk","done":0,"list_id":"l1","weight":1.5}}"#.to_owned()),
            (3, 1, r#"{"op":"PUT","id":"t2","type":"todos","data":{"description":"Eggs","done":0,"list_id":"l1"}}"#.to_owned()),
            (4, 2, r#"{"op":"PATCH","id":"t1","type":"todos","data":{"done":1},"old":{"done":0}}"#.to_owned()),
            (5, 3, r#"{"op":"DELETE","id":"t2","type":"todos","old":{"done":0}}"#.to_owned()),
            (6, 3, r#"{"op":"PUT","type":"logs","id":"g1","data":{"msg":"deleted eggs"}}"#.to_owned()),
        ]
    );

    // The views show the local state; the insert-only table keeps nothing locally.
    let todos: Vec<(String, i64)> = {
        let mut s = db.prepare("SELECT id, done FROM todos ORDER BY id").unwrap();
        let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    };
    assert_eq!(todos, vec![("t1".to_owned(), 1)]);
    let logs: i64 = db.query_row("SELECT count(*) FROM logs", [], |r| r.get(0)).unwrap();
    assert_eq!(logs, 0);
    let draft: String = db.query_row("SELECT body FROM drafts", [], |r| r.get(0)).unwrap();
    assert_eq!(draft, "not uploaded");

    // SDKs delete uploaded entries by id; the queue then holds the rest, ids never reused.
    db.execute("DELETE FROM ps_crud WHERE id <= 4", []).unwrap();
    db.execute("INSERT INTO lists(id, name) VALUES ('l2', 'Later')", [])
        .unwrap();
    let ids: Vec<i64> = queue(&db).into_iter().map(|(id, _, _)| id).collect();
    assert_eq!(ids, vec![5, 6, 7]);

    // Reopening with the same schema changes nothing (views compared by their SQL).
    drop(db);
    let db = open_path_with_extension(path.to_str().unwrap());
    let before: i64 = db.query_row("PRAGMA schema_version", [], |r| r.get(0)).unwrap();
    db.execute_batch("BEGIN").unwrap();
    db.query_row("SELECT powersync_replace_schema(?)", [SCHEMA], |r| {
        r.get::<_, String>(0)
    })
    .unwrap();
    db.execute_batch("COMMIT").unwrap();
    let after: i64 = db.query_row("PRAGMA schema_version", [], |r| r.get(0)).unwrap();
    assert_eq!(before, after);
    drop(db);
    std::fs::remove_dir_all(&dir).unwrap();
}
