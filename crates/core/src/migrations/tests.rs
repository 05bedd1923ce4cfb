use crate::testing::{open, schema};

fn migrate_to(db: &rusqlite::Connection, version: i64) -> rusqlite::Result<String> {
    db.execute_batch("BEGIN")?;
    let r = db.query_row("SELECT powersync_test_migration(?)", [version], |r| r.get(0));
    db.execute_batch(if r.is_ok() { "COMMIT" } else { "ROLLBACK" })?;
    r
}

const V14_SCHEMA: &[(&str, &str, Option<&str>)] = &[
    ("table", "ps_buckets", Some("CREATE TABLE ps_buckets(\n  id INTEGER PRIMARY KEY,\n  name TEXT NOT NULL,\n  last_applied_op INTEGER NOT NULL DEFAULT 0,\n  last_op INTEGER NOT NULL DEFAULT 0,\n  add_checksum INTEGER NOT NULL DEFAULT 0,\n  op_checksum INTEGER NOT NULL DEFAULT 0,\n  pending_delete INTEGER NOT NULL DEFAULT 0\n, count_at_last INTEGER NOT NULL DEFAULT 0, count_since_last INTEGER NOT NULL DEFAULT 0, downloaded_size INTEGER NOT NULL DEFAULT 0) STRICT")),
    ("index", "ps_buckets_name", Some("CREATE UNIQUE INDEX ps_buckets_name ON ps_buckets (name)")),
    ("table", "ps_crud", Some("CREATE TABLE ps_crud (id INTEGER PRIMARY KEY AUTOINCREMENT, data TEXT, tx_id INTEGER)")),
    ("table", "ps_kv", Some("CREATE TABLE ps_kv(key TEXT PRIMARY KEY NOT NULL, value BLOB)")),
    ("table", "ps_migration", Some("CREATE TABLE ps_migration(id INTEGER PRIMARY KEY, down_migrations TEXT)")),
    ("table", "ps_oplog", Some("CREATE TABLE ps_oplog(\n  bucket INTEGER NOT NULL,\n  op_id INTEGER NOT NULL,\n  row_type TEXT,\n  row_id TEXT,\n  key TEXT,\n  data TEXT,\n  hash INTEGER NOT NULL) STRICT")),
    ("index", "ps_oplog_key", Some("CREATE INDEX ps_oplog_key ON ps_oplog (bucket, key)")),
    ("index", "ps_oplog_opid", Some("CREATE INDEX ps_oplog_opid ON ps_oplog (bucket, op_id)")),
    ("index", "ps_oplog_row", Some("CREATE INDEX ps_oplog_row ON ps_oplog (row_type, row_id)")),
    ("table", "ps_stream_subscriptions", Some("CREATE TABLE ps_stream_subscriptions (\n  id INTEGER NOT NULL PRIMARY KEY,\n  stream_name TEXT NOT NULL,\n  active INTEGER NOT NULL DEFAULT FALSE,\n  is_default INTEGER NOT NULL DEFAULT FALSE,\n  local_priority INTEGER,\n  local_params TEXT NOT NULL DEFAULT 'null',\n  ttl INTEGER,\n  expires_at INTEGER,\n  last_synced_at INTEGER,\n  UNIQUE (stream_name, local_params)\n) STRICT")),
    ("table", "ps_sync_state", Some("CREATE TABLE ps_sync_state (\n  priority INTEGER NOT NULL PRIMARY KEY,\n  last_synced_at INTEGER NOT NULL\n) STRICT")),
    ("table", "ps_tx", Some("CREATE TABLE ps_tx(id INTEGER PRIMARY KEY NOT NULL, current_tx INTEGER, next_tx INTEGER)")),
    ("table", "ps_untyped", Some("CREATE TABLE ps_untyped(type TEXT NOT NULL, id TEXT NOT NULL, data TEXT, PRIMARY KEY (type, id))")),
    ("table", "ps_updated_rows", Some("CREATE TABLE ps_updated_rows(\n  row_type TEXT,\n  row_id TEXT,\n  PRIMARY KEY(row_type, row_id)) STRICT, WITHOUT ROWID")),
    ("index", "sqlite_autoindex_ps_kv_1", None),
    ("index", "sqlite_autoindex_ps_stream_subscriptions_1", None),
    ("index", "sqlite_autoindex_ps_untyped_1", None),
    ("table", "sqlite_sequence", Some("CREATE TABLE sqlite_sequence(name,seq)")),
];

fn expected_v14() -> Vec<(String, String, Option<String>)> {
    V14_SCHEMA
        .iter()
        .map(|(t, n, s)| (t.to_string(), n.to_string(), s.map(str::to_owned)))
        .collect()
}

#[test]
fn init_creates_version_14_layout() {
    let db = open();
    migrate_to(&db, 14).unwrap();
    assert_eq!(schema(&db), expected_v14());
    let tx: (i64, Option<i64>, i64) = db
        .query_row("SELECT * FROM ps_tx", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap();
    assert_eq!(tx, (1, None, 1));
    let versions: i64 = db
        .query_row("SELECT count(*) FROM ps_migration", [], |r| r.get(0))
        .unwrap();
    assert_eq!(versions, 14);
}

#[test]
fn init_requires_transaction() {
    let db = open();
    let err = db
        .query_row("SELECT powersync_init()", [], |r| r.get::<_, String>(0))
        .unwrap_err();
    let rusqlite::Error::SqliteFailure(e, Some(msg)) = err else {
        panic!("{err:?}")
    };
    assert_eq!(e.extended_code, 21);
    assert_eq!(msg, "powersync_init: This function may only be called in transactions.");
}

#[test]
fn down_to_each_version_and_back_up_restores_layout() {
    let db = open();
    migrate_to(&db, 14).unwrap();
    for version in (1..14).rev() {
        migrate_to(&db, version).unwrap();
        let max: i64 = db
            .query_row("SELECT max(id) FROM ps_migration", [], |r| r.get(0))
            .unwrap();
        assert_eq!(max, version);
    }
    migrate_to(&db, 14).unwrap();
    assert_eq!(schema(&db), expected_v14());
}

#[test]
fn client_id_survives_down_to_version_3_and_back() {
    let db = open();
    migrate_to(&db, 14).unwrap();
    let client_id: String = db.query_row("SELECT powersync_client_id()", [], |r| r.get(0)).unwrap();
    migrate_to(&db, 3).unwrap();
    migrate_to(&db, 14).unwrap();
    let again: String = db.query_row("SELECT powersync_client_id()", [], |r| r.get(0)).unwrap();
    assert_eq!(client_id, again);
}

#[test]
fn down_to_zero_fails() {
    let db = open();
    migrate_to(&db, 1).unwrap();
    let err = migrate_to(&db, 0).unwrap_err();
    let rusqlite::Error::SqliteFailure(e, Some(msg)) = err else {
        panic!("{err:?}")
    };
    assert_eq!(e.extended_code, 4);
    assert_eq!(
        msg,
        "powersync_test_migration: Down migration failed - version not updated from 1"
    );
}

#[test]
fn local_bucket_round_trip_through_version_13() {
    let db = open();
    migrate_to(&db, 14).unwrap();
    db.execute_batch(
        "INSERT INTO ps_kv VALUES ('target_checkpoint_request_id', 9223372036854775807),
         ('last_seen_checkpoint_request_id', 3), ('last_applied_checkpoint_request_id', 2)",
    )
    .unwrap();
    migrate_to(&db, 13).unwrap();
    let row: (String, i64, i64, i64, i64) = db
        .query_row(
            "SELECT name, last_applied_op, last_op, target_op, pending_delete FROM ps_buckets",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(row, ("$local".into(), 2, 3, i64::MAX, 1));
    migrate_to(&db, 14).unwrap();
    let buckets: i64 = db
        .query_row("SELECT count(*) FROM ps_buckets", [], |r| r.get(0))
        .unwrap();
    assert_eq!(buckets, 0);
    let kv: Vec<(String, i64)> = {
        let mut s = db
            .prepare("SELECT key, value FROM ps_kv WHERE key != 'client_id' ORDER BY key")
            .unwrap();
        let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    };
    assert_eq!(
        kv,
        vec![
            ("last_applied_checkpoint_request_id".into(), 2),
            ("last_seen_checkpoint_request_id".into(), 3),
            ("target_checkpoint_request_id".into(), i64::MAX)
        ]
    );
}

#[test]
fn stuck_down_migration_from_newer_version() {
    let db = open();
    migrate_to(&db, 14).unwrap();
    db.execute("INSERT INTO ps_migration VALUES (15, '[{\"sql\":\"SELECT 1\"}]')", [])
        .unwrap();
    db.execute_batch("BEGIN").unwrap();
    let err = db
        .query_row("SELECT powersync_init()", [], |r| r.get::<_, String>(0))
        .unwrap_err();
    db.execute_batch("ROLLBACK").unwrap();
    let rusqlite::Error::SqliteFailure(e, Some(msg)) = err else {
        panic!("{err:?}")
    };
    assert_eq!(e.extended_code, 4);
    assert_eq!(
        msg,
        "powersync_init: Down migration failed - version not updated from 15"
    );
}
