//! Settings (docs/sql-functions.md, "Settings"): names and values checked, stored in `ps_kv`, and the
//! rows with pending local writes kept while `apply_around_pending_uploads` is on.

use rusqlite::Connection;
use serde_json::json;

use crate::sync::test_support::{local_write, open_db, query};

fn set(db: &Connection, name: &str, value: rusqlite::types::Value) -> Result<i64, (i32, String)> {
    db.query_row(
        "SELECT powersync_config_set(?, ?)",
        rusqlite::params![name, value],
        |r| r.get(0),
    )
    .map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, Some(m)) => (f.extended_code, m),
        other => panic!("{other}"),
    })
}

fn get(db: &Connection, name: &str) -> Result<i64, String> {
    db.query_row("SELECT powersync_config_get(?)", [name], |r| r.get(0))
        .map_err(|e| e.to_string())
}

const AROUND: &str = "apply_around_pending_uploads";

#[test]
fn a_setting_is_off_by_default_and_persists_once_set() {
    let db = open_db();
    let before = query(&db, "SELECT key, value FROM ps_kv ORDER BY key");
    assert_eq!(get(&db, AROUND), Ok(0));
    assert_eq!(set(&db, AROUND, 1.into()), Ok(1));
    assert_eq!(get(&db, AROUND), Ok(1));
    assert_eq!(
        query(
            &db,
            "SELECT value FROM ps_kv WHERE key = 'powersync_config.apply_around_pending_uploads'"
        ),
        json!([[1]])
    );
    // Setting it again is harmless; turning it off leaves ps_kv as the reference has it.
    assert_eq!(set(&db, AROUND, 1.into()), Ok(1));
    assert_eq!(set(&db, AROUND, 0.into()), Ok(0));
    assert_eq!(get(&db, AROUND), Ok(0));
    assert_eq!(query(&db, "SELECT key, value FROM ps_kv ORDER BY key"), before);
    assert_eq!(
        query(
            &db,
            "SELECT name FROM sqlite_master WHERE name = 'ps_pending_rows_from_crud'"
        ),
        json!([])
    );
}

#[test]
fn unknown_names_and_values_other_than_0_or_1_are_argument_errors() {
    let db = open_db();
    let err = set(&db, "apply_around", 1.into()).unwrap_err();
    assert_eq!(
        err,
        (
            3091,
            "powersync_config_set: invalid argument: unknown setting 'apply_around' (known: apply_around_pending_uploads). cause: unknown"
                .into()
        )
    );
    assert!(get(&db, "nope").unwrap_err().contains("unknown setting 'nope'"));
    for (value, shown) in [
        (rusqlite::types::Value::Integer(2), "2"),
        (rusqlite::types::Value::Text("1".into()), "'1'"),
        (rusqlite::types::Value::Null, "NULL"),
        (rusqlite::types::Value::Real(1.0), "1.0"),
    ] {
        let (code, message) = set(&db, AROUND, value).unwrap_err();
        assert_eq!(code, 3091);
        assert_eq!(
            message,
            format!("powersync_config_set: invalid argument: apply_around_pending_uploads takes 0 or 1, not {shown}. cause: unknown")
        );
    }
    assert_eq!(get(&db, AROUND), Ok(0));
}

#[test]
fn local_writes_are_held_while_on_and_seeded_from_before() {
    let db = open_db();
    local_write(&db, "before");
    // Uploaded already: no longer in ps_crud, but not covered by a write checkpoint yet.
    db.execute_batch("DELETE FROM ps_crud").unwrap();
    local_write(&db, "queued");
    set(&db, AROUND, 1.into()).unwrap();
    local_write(&db, "after");
    // Data that is not a row (powersync_crud_ stores what it is given) names nothing.
    db.execute_batch("INSERT INTO ps_crud(tx_id, data) VALUES (9, 'not json'), (9, '{\"op\":\"PUT\"}')")
        .unwrap();
    let held = "SELECT row_type, row_id FROM ps_pending_rows ORDER BY row_id";
    assert_eq!(
        query(&db, held),
        json!([["items", "after"], ["items", "before"], ["items", "queued"]])
    );
    assert_eq!(super::held_row_count(&db).unwrap(), 3);
    // Cleared with the database; the setting itself stays.
    db.execute_batch("BEGIN; SELECT powersync_clear(0); COMMIT").unwrap();
    assert_eq!(query(&db, held), json!([]));
    assert_eq!(get(&db, AROUND), Ok(1));
    set(&db, AROUND, 0.into()).unwrap();
    local_write(&db, "off");
    assert_eq!(query(&db, held), json!([]));
    assert_eq!(super::held_row_count(&db).unwrap(), 0);
}

#[test]
fn with_the_gate_open_nothing_uploaded_is_held_when_turned_on() {
    let db = open_db();
    // A row the service removed waits for re-evaluation, but no local write is pending.
    db.execute_batch("INSERT INTO ps_updated_rows VALUES ('items', 'removed')")
        .unwrap();
    set(&db, AROUND, 1.into()).unwrap();
    assert_eq!(query(&db, "SELECT * FROM ps_pending_rows"), json!([]));
}

#[test]
fn setting_needs_no_transaction_and_is_refused_in_triggers() {
    let db = open_db();
    assert!(db.is_autocommit());
    set(&db, AROUND, 1.into()).unwrap();
    db.execute_batch("CREATE VIEW v AS SELECT powersync_config_set('apply_around_pending_uploads', 0) AS x")
        .unwrap();
    let err = db.query_row("SELECT x FROM v", [], |r| r.get::<_, i64>(0)).unwrap_err();
    assert!(err.to_string().contains("unsafe use of powersync_config_set"), "{err}");
    assert_eq!(get(&db, AROUND), Ok(1));
}
