//! One database file used by several connections and syncs at once: the per-file sync lock
//! and uploads of writes made by other connections (docs/client.md, "One sync per file").

mod common;

use std::sync::Arc;

use common::*;
use powersync_client::{Error, LockWait, SyncOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sync_of_the_same_file_fails_or_waits_and_readers_are_not_blocked() {
    let svc = Arc::new(service());
    let dir = tempfile::tempdir().unwrap();
    let first = open_db(&dir);
    let second = open_db(&dir);
    first
        .connect(TestConnector::new(svc.clone(), "alice"), fast_options())
        .await
        .unwrap();
    with_timeout("first sync", first.wait_for_first_sync(None))
        .await
        .unwrap();

    // The default: fail at once, naming the lock file.
    let err = second
        .connect(TestConnector::new(svc.clone(), "alice"), fast_options())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SyncLocked { .. }), "{err}");
    assert!(err.to_string().contains("test.db.sync-lock"), "{err}");
    assert!(!second.status().connecting && !second.status().connected);

    // Readers and writers of the file are not blocked by the lock.
    assert_eq!(column(&second, "SELECT count(*) FROM ps_buckets").await.len(), 1);
    second
        .execute(
            "INSERT INTO todos(id, description, owner_id) VALUES ('w1', 'from the second', 'alice')",
            vec![],
        )
        .await
        .unwrap();

    // Waiting: the second sync starts only once the first one disconnected.
    let waiting = {
        let second = second.clone();
        let conn = TestConnector::new(svc.clone(), "alice");
        tokio::spawn(async move {
            let opts = SyncOptions {
                lock_wait: LockWait::Wait,
                ..fast_options()
            };
            second.connect(conn, opts).await
        })
    };
    // The first sync goes on (a live change arrives) while the second one waits.
    svc.apply(vec![put("lists", "l1", serde_json::json!({"name": "live"}))])
        .unwrap();
    eventually("a live change synced by the first sync", || async {
        column(&first, "SELECT name FROM lists").await == vec!["live"]
    })
    .await;
    assert!(!waiting.is_finished(), "the second sync must wait for the lock");
    assert_eq!(svc.stats().active_streams, 1, "never two streams of one file");
    first.disconnect().await;
    with_timeout("second connect", waiting).await.unwrap().unwrap();
    with_timeout("second sync", second.wait_for_first_sync(None))
        .await
        .unwrap();
    // Now the first one is the one locked out.
    let err = first
        .connect(TestConnector::new(svc.clone(), "alice"), fast_options())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SyncLocked { .. }), "{err}");
    second.disconnect().await;
    first
        .connect(TestConnector::new(svc.clone(), "alice"), fast_options())
        .await
        .unwrap();
    first.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_of_another_connection_is_uploaded_in_live_mode() {
    let c = synced(Arc::new(service()), fast_options()).await;
    let (svc, db) = (&c.svc, &c.db);
    let path = db.query("PRAGMA database_list", vec![]).await.unwrap()[0]
        .get_str("file")
        .unwrap()
        .to_string();
    // Another database object on the file has its own connections, as another process would:
    // the syncing client's change notifications never see its commit.
    let other = powersync_client::PowerSyncDatabase::open_existing(&path).unwrap();
    other
        .execute(
            "INSERT INTO todos(id, description, owner_id) VALUES ('x1', 'external', 'alice')",
            vec![],
        )
        .await
        .unwrap();
    drop(other);
    eventually("the external write uploaded", || async {
        svc.rows("todos").iter().any(|(id, _)| id == "x1")
    })
    .await;
    // The download that waited behind it is applied: the server's version comes back.
    eventually("queue empty and write checkpoint applied", || async {
        write_checkpoint_applied(db).await
    })
    .await;
    svc.apply(vec![put(
        "todos",
        "x1",
        serde_json::json!({"description": "server", "owner_id": "alice"}),
    )])
    .unwrap();
    eventually("server version applied", || async {
        column(db, "SELECT description FROM todos WHERE id = 'x1'").await == vec!["server"]
    })
    .await;
    db.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_open_cannot_write_even_where_the_file_permissions_would_allow_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test.db");
    drop(open_db(&dir));
    let db = powersync_client::PowerSyncDatabase::open_read_only(&path).unwrap();
    // Reads work (the extension is registered) ...
    assert_eq!(column(&db, "SELECT count(*) FROM ps_crud").await, vec!["0"]);
    assert_eq!(db.client_id().await.unwrap().len(), 36);
    // ... writes are refused by SQLite itself (SQLITE_OPEN_READ_ONLY), not by file permissions.
    let err = db
        .execute(
            "INSERT INTO todos(id, description, owner_id) VALUES ('r1', 'x', 'alice')",
            vec![],
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("readonly"), "{err}");
    assert!(db.upload_errors().await.unwrap().is_empty());
}
