//! Hostile sizes and names: 1,999 columns (and 2,000), 15 MB values, 10,000 buckets, op ids at the
//! edges of 64 bits, checksums at the edges of 32 bits, names with quotes, brackets, dots,
//! semicolons and non-ASCII letters, and 1,000-character names. Each case asserts the exact
//! result or the exact error.

use libpowersync_tests::reliability::{applied, control, line};
use libpowersync_tests::{exec_all, open_with_extension};
use rusqlite::Connection;
use serde_json::{json, Value};

fn replace_schema(db: &Connection, schema: &Value) -> rusqlite::Result<()> {
    db.execute_batch("BEGIN")?;
    let result = db.query_row("SELECT powersync_replace_schema(?)", [schema.to_string()], |_| Ok(()));
    db.execute_batch(if result.is_ok() { "COMMIT" } else { "ROLLBACK" })?;
    result
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn put(op_id: &str, table: &str, id: &str, checksum: i64, data: &Value) -> Value {
    json!({"op_id": op_id, "op": "PUT", "object_type": table, "object_id": id, "checksum": checksum, "data": data.to_string()})
}

/// The extended code and message of a failed statement.
fn error_of<T: std::fmt::Debug>(result: rusqlite::Result<T>) -> (i32, String) {
    match result {
        Err(rusqlite::Error::SqliteFailure(e, message)) => (e.extended_code, message.unwrap_or_default()),
        other => panic!("expected an SQLite error, got {other:?}"),
    }
}

/// One bucket, one checkpoint: the lines, then whether it was applied.
fn sync_one(db: &Connection, last_op_id: &str, bucket: &str, checksum: Value, ops: Vec<Value>) -> Vec<Value> {
    control(db, "start", None).unwrap();
    line(
        db,
        &json!({"checkpoint": {"last_op_id": last_op_id, "buckets": [{"bucket": bucket, "checksum": checksum}]}}),
    )
    .unwrap();
    line(db, &json!({"data": {"bucket": bucket, "data": ops}})).unwrap();
    line(db, &json!({"checkpoint_complete": {"last_op_id": last_op_id}})).unwrap()
}

#[test]
fn columns_1999_work_and_2000_fail_cleanly() {
    let db = open_with_extension();
    let names: Vec<String> = (0..1999).map(|i| format!("c{i}")).collect();
    let columns: Vec<Value> = names.iter().map(|n| json!({"name": n, "type": "text"})).collect();
    replace_schema(&db, &json!({"tables": [{"name": "wide", "columns": columns}]})).unwrap();

    // A synced row with every column.
    let data: serde_json::Map<String, Value> = names.iter().map(|n| (n.clone(), json!(format!("s{n}")))).collect();
    let done = sync_one(
        &db,
        "1",
        "b",
        json!(1),
        vec![put("1", "wide", "s1", 1, &Value::Object(data))],
    );
    assert!(applied(&done), "{done:?}");
    let last: String = db
        .query_row("SELECT c1998 FROM wide WHERE id = 's1'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(last, "sc1998");

    // A write through the view: every column reaches the row and the upload queue.
    let placeholders = vec!["?"; 1999].join(", ");
    let sql = format!(
        "INSERT INTO wide(id, {}) VALUES ('w1', {placeholders})",
        names.join(", ")
    );
    let values: Vec<String> = (0..1999).map(|i| format!("v{i}")).collect();
    db.execute(&sql, rusqlite::params_from_iter(&values)).unwrap();
    let (first, last): (String, String) = db
        .query_row("SELECT c0, c1998 FROM wide WHERE id = 'w1'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((first.as_str(), last.as_str()), ("v0", "v1998"));
    let crud: String = db.query_row("SELECT data FROM ps_crud", [], |r| r.get(0)).unwrap();
    let crud: Value = serde_json::from_str(&crud).unwrap();
    assert_eq!(crud["data"].as_object().unwrap().len(), 1999);
    assert_eq!(crud["data"]["c1998"], json!("v1998"));

    // 2,000 columns (2,001 with the id) is one too many: a clean error, nothing changed.
    let columns: Vec<Value> = (0..2000)
        .map(|i| json!({"name": format!("c{i}"), "type": "text"}))
        .collect();
    let err = error_of(replace_schema(
        &db,
        &json!({"tables": [{"name": "wider", "columns": columns}]}),
    ));
    assert_eq!(
        err,
        (
            3091,
            "powersync_replace_schema: invalid argument: too many parameters to json_object_fragment. cause: unknown"
                .into()
        )
    );
    let views: i64 = db
        .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'wider'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(views, 0);
}

#[test]
fn values_of_15_mb() {
    let db = open_with_extension();
    replace_schema(
        &db,
        &json!({"tables": [{"name": "items", "columns": [{"name": "v", "type": "text"}]}]}),
    )
    .unwrap();
    let big = "é".repeat(15 * 1024 * 1024 / 2);
    let done = sync_one(
        &db,
        "1",
        "b",
        json!(7),
        vec![put("1", "items", "big", 7, &json!({"v": big}))],
    );
    assert!(applied(&done), "{done:?}");
    let (chars, bytes, same): (i64, i64, bool) = db
        .query_row(
            "SELECT length(v), length(CAST(v AS BLOB)), v = ? FROM items",
            [&big],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((chars, bytes, same), (7_864_320, 15_728_640, true));

    // And a local write of the same size is queued whole.
    let local = format!("{big}x");
    db.execute("INSERT INTO items(id, v) VALUES ('local', ?)", [&local])
        .unwrap();
    let queued: String = db.query_row("SELECT data FROM ps_crud", [], |r| r.get(0)).unwrap();
    let queued: Value = serde_json::from_str(&queued).unwrap();
    assert_eq!(queued["data"]["v"].as_str(), Some(local.as_str()));
}

#[test]
fn ten_thousand_buckets() {
    let db = open_with_extension();
    replace_schema(
        &db,
        &json!({"tables": [{"name": "items", "columns": [{"name": "b", "type": "integer"}]}]}),
    )
    .unwrap();
    let n = 10_000u32;
    let buckets: Vec<Value> = (0..n)
        .map(|b| json!({"bucket": format!("bucket{b}"), "checksum": b, "count": 1}))
        .collect();
    control(&db, "start", None).unwrap();
    line(
        &db,
        &json!({"checkpoint": {"last_op_id": n.to_string(), "buckets": buckets}}),
    )
    .unwrap();
    for b in 0..n {
        let op = put(
            &(b + 1).to_string(),
            "items",
            &format!("i{b}"),
            b as i64,
            &json!({"b": b}),
        );
        line(&db, &json!({"data": {"bucket": format!("bucket{b}"), "data": [op]}})).unwrap();
    }
    let done = line(&db, &json!({"checkpoint_complete": {"last_op_id": n.to_string()}})).unwrap();
    assert!(applied(&done));
    let (rows, sum): (i64, i64) = db
        .query_row("SELECT count(*), sum(b) FROM items", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!((rows, sum), (10_000, (0..10_000).sum()));
    // The next session asks for every bucket from where it stopped.
    let start = control(&db, "start", None).unwrap();
    let request = start.iter().find_map(|i| i.get("EstablishSyncStream")).unwrap();
    let listed = request["request"]["buckets"].as_array().unwrap();
    assert_eq!(listed.len(), 10_000);
    assert_eq!(listed[9_999], json!({"name": "bucket9999", "after": "10000"}));
}

#[test]
fn op_ids_at_the_edges_of_64_bits() {
    let db = open_with_extension();
    replace_schema(
        &db,
        &json!({"tables": [{"name": "items", "columns": [{"name": "v", "type": "text"}]}]}),
    )
    .unwrap();
    let max = i64::MAX.to_string();
    let below = (i64::MAX - 1).to_string();
    let done = sync_one(
        &db,
        &max,
        "e",
        json!(3),
        vec![
            put(&below, "items", "a", 1, &json!({"v": "a"})),
            put(&max, "items", "b", 2, &json!({"v": "b"})),
        ],
    );
    assert!(applied(&done), "{done:?}");
    let bucket: (i64, i64) = db
        .query_row(
            "SELECT last_op, last_applied_op FROM ps_buckets WHERE name = 'e'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(bucket, (i64::MAX, i64::MAX));
    let rows: i64 = db.query_row("SELECT count(*) FROM items", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 2);

    // One past i64::MAX is a protocol error; i64::MIN and 0 are valid op ids.
    for (op_id, ok) in [
        ("9223372036854775808", false),
        ("-9223372036854775808", true),
        ("0", true),
        ("-9223372036854775809", false),
    ] {
        control(&db, "start", None).unwrap();
        let result = line(&db, &json!({"checkpoint": {"last_op_id": op_id, "buckets": []}}));
        if ok {
            result.unwrap_or_else(|e| panic!("{op_id}: {e}"));
        } else {
            let (code, message) = error_of(result);
            assert_eq!(code, 4, "{op_id}");
            assert_eq!(
                message,
                format!(
                    "powersync_control: Sync protocol error: invalid text line. cause: invalid value: string \"{op_id}\", expected a decimal 64-bit integer at line 1 column {}",
                    43 + op_id.len()
                )
            );
        }
    }
}

#[test]
fn checksums_at_the_edges_of_32_bits() {
    let db = open_with_extension();
    replace_schema(
        &db,
        &json!({"tables": [{"name": "items", "columns": [{"name": "v", "type": "text"}]}]}),
    )
    .unwrap();
    // (op checksums, bucket checksum): sums wrap at 2^32, and a checksum may be written signed.
    let cases: [([i64; 2], i64); 5] = [
        ([4294967295, 4294967295], 4294967294),
        ([4294967295, 4294967295], -2),
        ([-2147483648, -2147483648], 0),
        ([2147483647, 1], 2147483648),
        ([2147483647, 1], -2147483648),
    ];
    for (i, (ops, total)) in cases.into_iter().enumerate() {
        let bucket = format!("e{i}");
        let last = format!("{}", i * 2 + 2);
        let done = sync_one(
            &db,
            &last,
            &bucket,
            json!(total),
            vec![
                put(&format!("{}", i * 2 + 1), "items", "a", ops[0], &json!({"v": i})),
                put(&last, "items", "b", ops[1], &json!({"v": i})),
            ],
        );
        assert!(applied(&done), "case {i}: {done:?}");
        let stored: Vec<i64> = db
            .prepare(
                "SELECT hash FROM ps_oplog WHERE bucket = (SELECT id FROM ps_buckets WHERE name = ?) ORDER BY op_id",
            )
            .unwrap()
            .query_map([&bucket], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(stored, ops.map(|c| c as u32 as i32 as i64), "case {i}");
    }
    // A wrong sum fails the checkpoint; out-of-range checksums are protocol errors.
    let done = sync_one(
        &db,
        "100",
        "w",
        json!(4294967295u32),
        vec![put("100", "items", "w", 4294967294, &json!({}))],
    );
    assert!(!applied(&done));
    assert_eq!(
        done[0]["LogLine"]["line"],
        json!("Could not apply checkpoint, Checksums didn't match, failed for: w (expected 0xffffffff, got 0xfffffffe = 0xfffffffe (op) + 0x00000000 (add))")
    );
    for (checksum, column) in [("4294967296", 85), ("-2147483649", 86)] {
        control(&db, "start", None).unwrap();
        let text = format!(
            r#"{{"checkpoint": {{"last_op_id": "2", "buckets": [{{"bucket": "x", "checksum": {checksum}, "count": 1}}]}}}}"#
        );
        let (code, message) = error_of(control(&db, "line_text", Some(&text)));
        assert_eq!(code, 4);
        assert_eq!(
            message,
            format!("powersync_control: Sync protocol error: invalid text line. cause: invalid value: integer `{checksum}`, expected a 32-bit int at line 1 column {column}")
        );
    }
}

#[test]
fn hostile_names() {
    let db = open_with_extension();
    let table = "it\"em's[x].y;z Ärger";
    let column = "co\"l'x[0].y;z ñ";
    let long_table = "t".repeat(1000);
    let long_column = "ç".repeat(1000);
    let index = "i\"x[1].;é";
    replace_schema(
        &db,
        &json!({"tables": [
            {"name": table, "columns": [{"name": column, "type": "text"}, {"name": "a.b", "type": "integer"}],
             "indexes": [{"name": index, "columns": [{"name": "a.b", "ascending": true, "type": "integer"}]}]},
            {"name": long_table, "columns": [{"name": long_column, "type": "text"}]}
        ]}),
    )
    .unwrap();
    let indexes: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ps_data%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(indexes, [format!("ps_data__{table}__{index}")]);

    // Local writes through the views read back and are queued under the exact names.
    db.execute(
        &format!(
            "INSERT INTO {}(id, {}, \"a.b\") VALUES ('a;b', 'v1', 5)",
            ident(table),
            ident(column)
        ),
        [],
    )
    .unwrap();
    db.execute(
        &format!(
            "INSERT INTO {}(id, {}) VALUES ('x', 'v2')",
            ident(&long_table),
            ident(&long_column)
        ),
        [],
    )
    .unwrap();
    let read = |sql: String| -> Vec<(String, Option<String>)> {
        db.prepare(&sql)
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(
        read(format!("SELECT id, {} FROM {}", ident(column), ident(table))),
        [("a;b".into(), Some("v1".into()))]
    );
    assert_eq!(
        read(format!(
            "SELECT id, {} FROM {}",
            ident(&long_column),
            ident(&long_table)
        )),
        [("x".into(), Some("v2".into()))]
    );
    let queued: Vec<Value> = db
        .prepare("SELECT data FROM ps_crud ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|d| serde_json::from_str(&d.unwrap()).unwrap())
        .collect();
    assert_eq!(
        queued[0],
        json!({"op": "PUT", "id": "a;b", "type": table, "data": {column: "v1", "a.b": 5}})
    );
    assert_eq!(
        queued[1],
        json!({"op": "PUT", "id": "x", "type": long_table, "data": {long_column.clone(): "v2"}})
    );

    // Synced rows of both tables through a bucket with such a name.
    let bucket = format!("b\"'[].;ü{}", "x".repeat(1000));
    control(&db, "start", None).unwrap();
    line(&db, &json!({"checkpoint": {"last_op_id": "2", "write_checkpoint": "5", "buckets": [{"bucket": bucket, "checksum": 3}]}})).unwrap();
    line(
        &db,
        &json!({"data": {"bucket": bucket, "data": [
        put("1", table, "s1", 1, &json!({column: "synced", "a.b": 7})),
        put("2", &long_table, "s2", 2, &json!({long_column.clone(): "synced2"}))]}}),
    )
    .unwrap();
    db.execute("DELETE FROM ps_crud", []).unwrap();
    exec_all(
        &db,
        "BEGIN; SELECT powersync_control('target_checkpoint_request_id', '5'); COMMIT",
    )
    .unwrap();
    let done = line(&db, &json!({"checkpoint_complete": {"last_op_id": "2"}})).unwrap();
    assert!(applied(&done), "{done:?}");
    assert_eq!(
        read(format!(
            "SELECT id, {} FROM {} ORDER BY id",
            ident(column),
            ident(table)
        )),
        [("s1".into(), Some("synced".into()))]
    );
    let ab: i64 = db
        .query_row(&format!("SELECT \"a.b\" FROM {}", ident(table)), [], |r| r.get(0))
        .unwrap();
    assert_eq!(ab, 7);
    assert_eq!(
        read(format!(
            "SELECT id, {} FROM {}",
            ident(&long_column),
            ident(&long_table)
        )),
        [("s2".into(), Some("synced2".into()))]
    );
    let stored: String = db.query_row("SELECT name FROM ps_buckets", [], |r| r.get(0)).unwrap();
    assert_eq!(stored, bucket);
}
