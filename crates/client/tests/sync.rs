//! End-to-end: the client against the in-process test service on 127.0.0.1.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use powersync_client::{CheckpointMode, SubscribeOptions, SyncOptions};
use powersync_test_service::{Fault, ServerOp};
use serde_json::json;

async fn initial_sync(opts: SyncOptions, framing: &str) {
    let svc = Arc::new(service());
    svc.apply(vec![
        put("lists", "l1", json!({"name": "groceries"})),
        put("lists", "l2", json!({"name": "work"})),
        put("todos", "t1", json!({"description": "milk", "owner_id": "alice"})),
        put("todos", "t2", json!({"description": "not mine", "owner_id": "bob"})),
    ])
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(&dir);
    let conn = TestConnector::new(svc.clone(), "alice");
    db.connect(conn.clone(), opts).await.unwrap();
    with_timeout("first sync", db.wait_for_first_sync(None)).await.unwrap();
    assert_eq!(
        column(&db, "SELECT name FROM lists ORDER BY id").await,
        vec!["groceries", "work"]
    );
    assert_eq!(
        column(&db, "SELECT description FROM todos ORDER BY id").await,
        vec!["milk"]
    );
    let stats = svc.stats();
    assert_eq!(stats.last_stream_framing.as_deref(), Some(framing));
    let req = stats.last_stream_request.unwrap();
    let client_id = column(&db, "SELECT powersync_client_id()").await;
    assert_eq!(req["client_id"], client_id[0]);
    assert_eq!(req["raw_data"], true);
    let status = db.status();
    assert!(status.connected && status.has_synced() && status.synced_since_connect);
    assert!(status.status_for_priority(1).has_synced);

    // Live change while connected, observed through watch.
    let mut watch = db.watch("SELECT name FROM lists ORDER BY id", vec![]);
    let first = watch.next().await.unwrap().unwrap();
    assert_eq!(first.len(), 2);
    svc.apply(vec![put("lists", "l3", json!({"name": "live"}))]).unwrap();
    let rows = with_timeout("watch update", async {
        loop {
            let rows = watch.next().await.unwrap().unwrap();
            if rows.len() == 3 {
                return rows;
            }
        }
    })
    .await;
    assert_eq!(rows[2].get_str("name"), Some("live"));
    db.disconnect().await;
    assert!(!db.status().connected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_sync_bson_and_live_changes() {
    initial_sync(fast_options(), "bson").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_sync_ndjson_and_live_changes() {
    initial_sync(
        SyncOptions {
            ndjson_only: true,
            ..fast_options()
        },
        "ndjson",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_write_checkpoint_then_server_version() {
    let c = synced(Arc::new(service()), fast_options()).await;
    let (svc, db) = (&c.svc, &c.db);
    db.execute(
        "INSERT INTO todos(id, description, owner_id) VALUES ('t9', 'local', 'alice')",
        vec![],
    )
    .await
    .unwrap();
    eventually("upload reached the backend", || async {
        svc.rows("todos").iter().any(|(id, _)| id == "t9")
    })
    .await;
    eventually("queue empty and write checkpoint applied", || async {
        write_checkpoint_applied(db).await
    })
    .await;
    assert!(svc.stats().write_checkpoints >= 1);
    // The server changes the row: the local copy follows.
    svc.apply(vec![ServerOp::Patch {
        table: "todos".into(),
        id: "t9".into(),
        data: obj(json!({"description": "server"})),
    }])
    .unwrap();
    eventually("server version applied", || async {
        column(db, "SELECT description FROM todos WHERE id = 't9'").await == vec!["server"]
    })
    .await;
    db.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_writes_upload_after_reconnect() {
    let svc = Arc::new(service());
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(&dir);
    db.execute(
        "INSERT INTO todos(id, description, owner_id) VALUES ('o1', 'offline', 'alice')",
        vec![],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO todos(id, description, owner_id) VALUES ('o2', 'offline 2', 'alice')",
        vec![],
    )
    .await
    .unwrap();
    assert_eq!(db.crud_transactions().await.unwrap().len(), 2);
    let conn = TestConnector::new(svc.clone(), "alice");
    db.connect(conn.clone(), fast_options()).await.unwrap();
    eventually("offline writes uploaded and synced back", || async {
        svc.rows("todos").len() == 2 && column(&db, "SELECT count(*) FROM ps_oplog").await == vec!["2"]
    })
    .await;
    with_timeout("first sync", db.wait_for_first_sync(None)).await.unwrap();
    assert_eq!(conn.uploads.load(Ordering::SeqCst), 2);
    db.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_stream_resumes_from_last_op() {
    let svc = Arc::new(service());
    svc.apply(
        (0..5)
            .map(|i| put("lists", &format!("l{i}"), json!({"name": format!("n{i}")})))
            .collect(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(&dir);
    db.connect(TestConnector::new(svc.clone(), "alice"), fast_options())
        .await
        .unwrap();
    with_timeout("first sync", db.wait_for_first_sync(None)).await.unwrap();
    let requests_before = svc.stats().stream_requests;
    let last_op = column(&db, "SELECT last_op FROM ps_buckets WHERE name = 'global[]'").await;
    svc.inject(Fault::DropConnectedStreams);
    eventually("reconnected", || async {
        svc.stats().stream_requests > requests_before
    })
    .await;
    let req = svc.stats().last_stream_request.unwrap();
    let bucket = req["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "global[]")
        .cloned()
        .unwrap();
    assert_eq!(bucket["after"], json!(last_op[0]));
    svc.apply(vec![put("lists", "l9", json!({"name": "after drop"}))])
        .unwrap();
    eventually("new data after resume", || async {
        column(&db, "SELECT count(*) FROM lists").await == vec!["6"]
    })
    .await;
    db.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expiry_refreshes_in_background() {
    let svc = Arc::new(service());
    svc.apply(vec![put("lists", "l1", json!({"name": "a"}))]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(&dir);
    let conn = TestConnector::new(svc.clone(), "alice");
    conn.short_tokens.store(1, Ordering::SeqCst); // first token: 20 s → prefetch at once
    db.connect(conn.clone(), fast_options()).await.unwrap();
    with_timeout("first sync", db.wait_for_first_sync(None)).await.unwrap();
    eventually("refreshed token used for a new stream", || async {
        conn.fetches.load(Ordering::SeqCst) >= 2 && svc.stats().stream_requests >= 2
    })
    .await;
    // The reconnect after refreshed_token is immediate and hidden: no download error.
    assert!(db.status().download_error.is_none());
    svc.apply(vec![put("lists", "l2", json!({"name": "b"}))]).unwrap();
    eventually("still syncing", || async {
        column(&db, "SELECT count(*) FROM lists").await == vec!["2"]
    })
    .await;
    db.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_invalidates_and_refetches() {
    let svc = Arc::new(service());
    svc.apply(vec![put("lists", "l1", json!({"name": "a"}))]).unwrap();
    svc.inject(Fault::RespondStatus {
        path_prefix: "/sync/stream".into(),
        status: 401,
        times: 1,
    });
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(&dir);
    let conn = TestConnector::new(svc.clone(), "alice");
    db.connect(conn.clone(), fast_options()).await.unwrap();
    with_timeout("sync after 401", db.wait_for_first_sync(None))
        .await
        .unwrap();
    assert!(
        conn.fetches.load(Ordering::SeqCst) >= 2,
        "credentials were fetched again after the 401"
    );
    // The token never shows up in the recorded error.
    eventually("download error cleared", || async {
        db.status().download_error.is_none()
    })
    .await;
    db.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_checksum_is_repaired() {
    let svc = Arc::new(service());
    svc.apply(vec![
        put("lists", "l1", json!({"name": "a"})),
        put("lists", "l2", json!({"name": "b"})),
    ])
    .unwrap();
    svc.inject(Fault::CorruptChecksum {
        bucket: "global[]".into(),
    });
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(&dir);
    db.connect(TestConnector::new(svc.clone(), "alice"), fast_options())
        .await
        .unwrap();
    with_timeout("sync after checksum failure", db.wait_for_first_sync(None))
        .await
        .unwrap();
    assert!(svc.stats().faults_triggered >= 1);
    assert!(
        svc.stats().stream_requests >= 2,
        "the client reconnected to download again"
    );
    assert_eq!(column(&db, "SELECT name FROM lists ORDER BY id").await, vec!["a", "b"]);
    db.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_request_mode() {
    let svc = Arc::new(service());
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(&dir);
    let opts = SyncOptions {
        checkpoint_mode: CheckpointMode::Requests,
        ..fast_options()
    };
    db.connect(TestConnector::new(svc.clone(), "alice"), opts)
        .await
        .unwrap();
    with_timeout("first sync", db.wait_for_first_sync(None)).await.unwrap();
    eventually("seeded", || async { svc.stats().checkpoint_requests >= 1 }).await;
    db.execute(
        "INSERT INTO todos(id, description, owner_id) VALUES ('r1', 'req', 'alice')",
        vec![],
    )
    .await
    .unwrap();
    eventually("uploaded and applied through a checkpoint request", || async {
        svc.rows("todos").len() == 1 && write_checkpoint_applied(&db).await
    })
    .await;
    assert_eq!(
        svc.stats().write_checkpoints,
        0,
        "requests mode does not use write-checkpoint2.json"
    );
    let id = with_timeout("request", db.request_checkpoint()).await.unwrap();
    with_timeout("wait for checkpoint", db.wait_for_checkpoint(&id))
        .await
        .unwrap();
    db.disconnect().await;
    assert!(db.request_checkpoint().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_mode_requests_write_checkpoint() {
    let c = synced(Arc::new(service()), fast_options()).await;
    let (svc, db) = (&c.svc, &c.db);
    db.execute(
        "INSERT INTO todos(id, description, owner_id) VALUES ('w1', 'x', 'alice')",
        vec![],
    )
    .await
    .unwrap();
    eventually("write checkpoint applied", || async {
        write_checkpoint_applied(db).await
    })
    .await;
    assert_eq!(column(db, "SELECT description FROM todos").await, vec!["x"]);
    assert!(svc.stats().write_checkpoints >= 1);
    assert!(
        db.request_checkpoint().await.is_err(),
        "request_checkpoint needs requests mode"
    );
    db.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_subscription_and_disconnect_and_clear() {
    let svc = Arc::new(service());
    svc.apply(vec![
        put("items", "i1", json!({"list_id": "L1", "title": "one"})),
        put("items", "i2", json!({"list_id": "L2", "title": "two"})),
        put("lists", "l1", json!({"name": "a"})),
    ])
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(&dir);
    db.connect(TestConnector::new(svc.clone(), "alice"), fast_options())
        .await
        .unwrap();
    with_timeout("first sync", db.wait_for_first_sync(None)).await.unwrap();
    assert!(column(&db, "SELECT id FROM items").await.is_empty());
    let sub = db
        .subscribe(
            "list_todos",
            Some(&json!({"list_id": "L1"})),
            SubscribeOptions::default(),
        )
        .await
        .unwrap();
    with_timeout("stream synced", sub.wait_for_first_sync()).await.unwrap();
    eventually("stream rows", || async {
        column(&db, "SELECT title FROM items").await == vec!["one"]
    })
    .await;
    let req = svc.stats().last_stream_request.unwrap();
    assert_eq!(req["streams"]["subscriptions"][0]["stream"], "list_todos");
    let st = db.status();
    let s = st.streams.iter().find(|s| s.name == "list_todos").unwrap();
    assert!(s.active && s.has_explicit_subscription);

    db.disconnect_and_clear().await.unwrap();
    assert!(column(&db, "SELECT id FROM items").await.is_empty());
    assert!(column(&db, "SELECT id FROM lists").await.is_empty());
    assert!(column(&db, "SELECT name FROM ps_buckets").await.is_empty());
    let st = db.status();
    assert!(!st.connected && !st.has_synced());
    // Still usable: a new connection syncs again.
    db.connect(TestConnector::new(svc.clone(), "alice"), fast_options())
        .await
        .unwrap();
    eventually("resynced", || async {
        column(&db, "SELECT name FROM lists").await == vec!["a"]
    })
    .await;
    db.disconnect().await;
    let _ = Duration::ZERO;
}

/// A connector whose upload "succeeds" without completing anything.
struct LazyConnector(Arc<TestConnector>);

#[async_trait::async_trait]
impl powersync_client::BackendConnector for LazyConnector {
    async fn fetch_credentials(
        &self,
    ) -> Result<Option<powersync_client::Credentials>, powersync_client::ConnectorError> {
        self.0.fetch_credentials().await
    }
    async fn upload_data(
        &self,
        _db: &powersync_client::PowerSyncDatabase,
    ) -> Result<(), powersync_client::ConnectorError> {
        self.0.uploads.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncompleted_upload_is_an_upload_error_and_nothing_is_dropped() {
    let svc = Arc::new(service());
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_pending_write(&dir).await;
    let lazy = TestConnector::new(svc.clone(), "alice");
    db.connect(Arc::new(LazyConnector(lazy.clone())), fast_options())
        .await
        .unwrap();
    eventually("upload error recorded", || async {
        db.status()
            .upload_error
            .is_some_and(|e| e.to_string().contains("without completing"))
    })
    .await;
    eventually("upload retried after the retry delay", || async {
        lazy.uploads.load(Ordering::SeqCst) >= 2
    })
    .await;
    assert_eq!(column(&db, "SELECT count(*) FROM ps_crud").await, vec!["1"]);
    // The downloaded data is held back while the write is pending, and the status says so
    // (extension 0.5.4: CheckpointDelayedDueToLocalData).
    assert!(!db.status().synced_since_connect);
    eventually("checkpoint reported as waiting for uploads", || async {
        db.status().waiting_for_uploads
    })
    .await;
    db.disconnect().await;
    assert!(!db.status().waiting_for_uploads);
}

/// Issue 21: with the option, the service's rows arrive while a local write waits for an
/// upload that never completes; the row with the write keeps its local version, and the status
/// counts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_around_pending_uploads_delivers_other_rows_while_a_write_waits() {
    let svc = Arc::new(service());
    svc.apply(vec![
        put("todos", "k1", json!({"description": "server", "owner_id": "alice"})),
        put("todos", "t1", json!({"description": "first", "owner_id": "alice"})),
    ])
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_pending_write(&dir).await;
    let lazy = TestConnector::new(svc.clone(), "alice");
    let options = SyncOptions {
        apply_around_pending_uploads: true,
        ..fast_options()
    };
    db.connect(Arc::new(LazyConnector(lazy.clone())), options)
        .await
        .unwrap();
    eventually("the service's other row applied around the pending write", || async {
        column(&db, "SELECT description FROM todos ORDER BY id").await == vec!["kept", "first"]
    })
    .await;
    eventually("the status counts the held row", || async {
        db.status().held_rows == 1 && db.status().synced_since_connect
    })
    .await;
    svc.apply(vec![put(
        "todos",
        "t2",
        json!({"description": "second", "owner_id": "alice"}),
    )])
    .unwrap();
    eventually("a later change arrives too", || async {
        column(&db, "SELECT description FROM todos ORDER BY id").await == vec!["kept", "first", "second"]
    })
    .await;
    assert_eq!(column(&db, "SELECT count(*) FROM ps_crud").await, vec!["1"]);
    assert_eq!(
        column(&db, "SELECT powersync_config_get('apply_around_pending_uploads')").await,
        vec!["1"]
    );
    db.disconnect().await;
    assert_eq!(db.status().held_rows, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_stream_fails_after_idle_timeout_and_reconnects() {
    let svc = Arc::new(service());
    svc.apply(vec![put("lists", "l1", json!({"name": "a"}))]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(&dir);
    let opts = SyncOptions {
        idle_timeout: Duration::from_millis(400),
        ..fast_options()
    };
    db.connect(TestConnector::new(svc.clone(), "alice"), opts)
        .await
        .unwrap();
    with_timeout("first sync", db.wait_for_first_sync(None)).await.unwrap();
    let mut statuses = db.status_stream();
    svc.inject(Fault::Stall {
        path_prefix: "/sync/stream".into(),
        duration: Duration::from_millis(1500),
    });
    let err = with_timeout("idle error", async {
        loop {
            let s = statuses.next().await.unwrap();
            if let Some(e) = s.download_error {
                return e.to_string();
            }
        }
    })
    .await;
    assert!(err.contains("no data received"), "{err}");
    svc.apply(vec![put("lists", "l2", json!({"name": "b"}))]).unwrap();
    eventually("reconnected after the stall", || async {
        column(&db, "SELECT count(*) FROM lists").await == vec!["2"]
    })
    .await;
    db.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_metadata_must_be_strings_and_is_forwarded() {
    let svc = Arc::new(service());
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(&dir);
    let mut bad = fast_options();
    bad.app_metadata.insert("n".into(), json!(1));
    assert!(matches!(
        db.connect(TestConnector::new(svc.clone(), "alice"), bad).await,
        Err(powersync_client::Error::Options(_))
    ));
    let mut good = fast_options();
    good.app_metadata.insert("app_version".into(), json!("1.2"));
    good.params.insert("team".into(), json!("t1"));
    db.connect(TestConnector::new(svc.clone(), "alice"), good)
        .await
        .unwrap();
    with_timeout("first sync", db.wait_for_first_sync(None)).await.unwrap();
    let req = svc.stats().last_stream_request.unwrap();
    assert_eq!(req["app_metadata"], json!({"app_version": "1.2"}));
    assert_eq!(req["parameters"], json!({"team": "t1"}));
    db.disconnect().await;
}

/// Several reads and writes in one transaction: all or nothing, one upload transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_transaction_commits_or_rolls_back_as_a_whole() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(&dir);
    let n = db
        .write_transaction(|tx| {
            tx.execute("INSERT INTO lists(id, name) VALUES ('a', 'one')", [])?;
            tx.execute("INSERT INTO lists(id, name) VALUES ('b', 'two')", [])?;
            tx.query_row("SELECT count(*) FROM lists", [], |r| r.get::<_, i64>(0))
        })
        .await
        .unwrap();
    assert_eq!(n, 2);
    let txs = db.crud_transactions().await.unwrap();
    assert_eq!(txs.len(), 1);
    assert_eq!(txs[0].entries.len(), 2);
    let failed = db
        .write_transaction(|tx| {
            tx.execute("INSERT INTO lists(id, name) VALUES ('c', 'three')", [])?;
            tx.execute("INSERT INTO no_such_table VALUES (1)", [])
        })
        .await;
    assert!(failed.is_err());
    assert_eq!(column(&db, "SELECT id FROM lists ORDER BY id").await, vec!["a", "b"]);
    assert_eq!(db.crud_transactions().await.unwrap().len(), 1);
}
