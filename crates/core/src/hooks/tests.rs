//! `powersync_update_hooks` (docs/sql-functions.md, "Scalar functions").

use crate::testing::open;

fn get(db: &rusqlite::Connection) -> String {
    db.query_row("SELECT powersync_update_hooks('get')", [], |r| r.get(0))
        .unwrap()
}

fn installed() -> rusqlite::Connection {
    let db = open();
    db.query_row("SELECT powersync_update_hooks('install')", [], |_| Ok(()))
        .unwrap();
    db.execute_batch("CREATE TABLE t1(x); CREATE TABLE t2(y); CREATE TABLE t0(z);")
        .unwrap();
    db
}

#[test]
fn committed_changes_are_reported_sorted_once() {
    let db = installed();
    assert_eq!(get(&db), "[]");
    db.execute_batch(
        "INSERT INTO t2 VALUES (1); INSERT INTO t1 VALUES (1); INSERT INTO t1 VALUES (2); INSERT INTO t0 VALUES (0);",
    )
    .unwrap();
    assert_eq!(get(&db), r#"["t0","t1","t2"]"#);
    assert_eq!(get(&db), "[]", "get forgets what it reported");
}

#[test]
fn uncommitted_changes_wait_for_the_commit() {
    let db = installed();
    db.execute_batch("BEGIN; INSERT INTO t1 VALUES (1);").unwrap();
    assert_eq!(get(&db), "[]");
    db.execute_batch("COMMIT").unwrap();
    assert_eq!(get(&db), r#"["t1"]"#);
}

#[test]
fn rolled_back_changes_are_dropped() {
    let db = installed();
    db.execute_batch("BEGIN; INSERT INTO t1 VALUES (1); ROLLBACK; INSERT INTO t2 VALUES (1);")
        .unwrap();
    assert_eq!(get(&db), r#"["t2"]"#);
}

#[test]
fn without_install_nothing_is_reported() {
    let db = open();
    db.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        .unwrap();
    assert_eq!(get(&db), "[]");
}

#[test]
fn installing_twice_keeps_one_set_of_hooks() {
    let db = installed();
    db.query_row("SELECT powersync_update_hooks('install')", [], |_| Ok(()))
        .unwrap();
    db.execute_batch("INSERT INTO t1 VALUES (1)").unwrap();
    assert_eq!(get(&db), r#"["t1"]"#);
}

#[test]
fn unknown_operation_is_misuse_without_prefix() {
    let db = open();
    for op in ["'bogus'", "NULL"] {
        let err = db
            .query_row(&format!("SELECT powersync_update_hooks({op})"), [], |_| Ok(()))
            .unwrap_err();
        let rusqlite::Error::SqliteFailure(e, Some(message)) = err else {
            panic!("{err:?}")
        };
        assert_eq!(e.code, rusqlite::ErrorCode::ApiMisuse);
        assert_eq!(message, "Unknown operation");
    }
}
