//! End-to-end protocol details of docs/protocol.md, "The client's side": credentials lifecycle, checkpoint requests,
//! reconnect rules, `stop` at the end of every iteration, typed errors.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::*;
use futures_util::StreamExt;
use powersync_client::{
    BackendConnector, CheckpointMode, ClearOptions, ConnectorError, Credentials, Error, PowerSyncDatabase,
    SubscribeOptions, SyncError, SyncOptions,
};
use powersync_test_service::{Fault, TestService};
use serde_json::json;

fn requests_mode() -> SyncOptions {
    SyncOptions {
        checkpoint_mode: CheckpointMode::Requests,
        ..fast_options()
    }
}

/// Posts checkpoint requests itself (docs/protocol.md, "The client's side"). While `forward` is off it "accepts" them
/// without telling the service, so they are never applied and must be re-posted.
struct RequestPoster {
    inner: Arc<TestConnector>,
    forward: AtomicBool,
    posted: Mutex<Vec<String>>,
}

#[async_trait]
impl BackendConnector for RequestPoster {
    async fn fetch_credentials(&self) -> Result<Option<Credentials>, ConnectorError> {
        self.inner.fetch_credentials().await
    }
    async fn upload_data(&self, db: &PowerSyncDatabase) -> Result<(), ConnectorError> {
        self.inner.upload_data(db).await
    }
    async fn post_checkpoint_request(
        &self,
        client_id: &str,
        checkpoint_request_id: &str,
    ) -> Option<Result<String, ConnectorError>> {
        assert!(!client_id.is_empty());
        self.posted.lock().unwrap().push(checkpoint_request_id.to_string());
        if self.forward.load(Ordering::SeqCst) {
            None // the client posts to the service's endpoint
        } else {
            Some(Ok(checkpoint_request_id.to_string()))
        }
    }
}

/// A fresh database synced in requests mode with a [`RequestPoster`] that does not forward.
async fn poster_synced() -> (
    Arc<TestService>,
    tempfile::TempDir,
    PowerSyncDatabase,
    Arc<RequestPoster>,
) {
    let svc = Arc::new(service());
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(&dir);
    let poster = Arc::new(RequestPoster {
        inner: TestConnector::new(svc.clone(), "alice"),
        forward: AtomicBool::new(false),
        posted: Mutex::new(Vec::new()),
    });
    db.connect(poster.clone(), requests_mode()).await.unwrap();
    with_timeout("first sync", db.wait_for_first_sync(None)).await.unwrap();
    (svc, dir, db, poster)
}

impl RequestPoster {
    fn times_posted(&self, id: &str) -> usize {
        self.posted.lock().unwrap().iter().filter(|p| *p == id).count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unapplied_checkpoint_requests_are_reposted_through_the_connector() {
    let (svc, _dir, db, poster) = poster_synced().await;
    // Seeding went through the connector's capability, not the service endpoint.
    eventually("seeded through the connector", || async {
        !poster.posted.lock().unwrap().is_empty()
    })
    .await;

    let id = with_timeout("request", db.request_checkpoint()).await.unwrap();
    eventually("re-posted while not applied", || async {
        poster.times_posted(&id) >= 3
    })
    .await;
    assert_eq!(svc.stats().checkpoint_requests, 0, "nothing reached the service yet");

    // Now the re-posts reach the service, which answers with a checkpoint carrying the id.
    poster.forward.store(true, Ordering::SeqCst);
    with_timeout("applied after a re-post", db.wait_for_checkpoint(&id))
        .await
        .unwrap();
    assert!(svc.stats().checkpoint_requests >= 1);
    db.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_checkpoint_fails_with_the_recorded_download_error() {
    let (svc, _dir, db, _poster) = poster_synced().await;
    let id = with_timeout("request", db.request_checkpoint()).await.unwrap();
    let waiter = tokio::spawn({
        let db = db.clone();
        async move { db.wait_for_checkpoint(&id).await }
    });
    svc.inject(Fault::RespondStatus {
        path_prefix: "/sync/stream".into(),
        status: 503,
        times: 1000,
    });
    svc.inject(Fault::DropConnectedStreams);
    let err = with_timeout("waiter fails", waiter).await.unwrap().unwrap_err();
    // The cut stream (a read error) or the 503 of the reconnect, as the typed error.
    assert!(
        matches!(
            err,
            Error::Sync(SyncError::Read(_) | SyncError::Status { status: 503, .. })
        ),
        "{err:?}"
    );
    db.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_write_checkpoint_invalidates_credentials() {
    let c = synced(Arc::new(service()), fast_options()).await;
    let fetches = c.conn.fetches.load(Ordering::SeqCst);
    c.svc.inject(Fault::RespondStatus {
        path_prefix: "/write-checkpoint2.json".into(),
        status: 401,
        times: 1,
    });
    c.db.execute(
        "INSERT INTO todos(id, description, owner_id) VALUES ('w1', 'x', 'alice')",
        vec![],
    )
    .await
    .unwrap();
    eventually("write checkpoint applied after the 401", || async {
        write_checkpoint_applied(&c.db).await
    })
    .await;
    assert!(c.conn.invalidations.load(Ordering::SeqCst) >= 1);
    assert!(
        c.conn.fetches.load(Ordering::SeqCst) > fetches,
        "fresh credentials were fetched for the retry"
    );
    c.db.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_checkpoint_request_invalidates_credentials() {
    let c = synced(Arc::new(service()), requests_mode()).await;
    eventually("seeded", || async { c.svc.stats().checkpoint_requests >= 1 }).await;
    let fetches = c.conn.fetches.load(Ordering::SeqCst);
    c.svc.inject(Fault::RespondStatus {
        path_prefix: "/sync/checkpoint-request".into(),
        status: 401,
        times: 1,
    });
    let err = with_timeout("request", c.db.request_checkpoint()).await.unwrap_err();
    assert!(matches!(err, Error::Sync(SyncError::Unauthorized { .. })), "{err:?}");
    assert_eq!(c.conn.invalidations.load(Ordering::SeqCst), 1);
    let id = with_timeout("request", c.db.request_checkpoint()).await.unwrap();
    assert_eq!(
        c.conn.fetches.load(Ordering::SeqCst),
        fetches + 1,
        "fetched once after the 401"
    );
    with_timeout("applied", c.db.wait_for_checkpoint(&id)).await.unwrap();
    c.db.disconnect().await;
}

/// The first token expires in 2 s and every refresh fails until it has expired, so the
/// stream runs into `token_expires_in: 0` (`FetchCredentials{did_expire:true}`).
struct ExpiringConnector {
    svc: Arc<TestService>,
    first_expires: Mutex<Option<Instant>>,
    fetches: AtomicUsize,
    failed: AtomicUsize,
    invalidations: AtomicUsize,
}

#[async_trait]
impl BackendConnector for ExpiringConnector {
    async fn fetch_credentials(&self) -> Result<Option<Credentials>, ConnectorError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let mut first = self.first_expires.lock().unwrap();
        let ttl = match *first {
            None => {
                *first = Some(Instant::now() + Duration::from_secs(2));
                Duration::from_secs(2)
            }
            Some(t) if Instant::now() < t + Duration::from_millis(500) => {
                self.failed.fetch_add(1, Ordering::SeqCst);
                return Err("identity provider unavailable".into());
            }
            Some(_) => Duration::from_secs(3600),
        };
        Ok(Some(Credentials::new(self.svc.url(), self.svc.token("alice", ttl))))
    }
    fn invalidate_credentials(&self) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
    }
    async fn upload_data(&self, _db: &PowerSyncDatabase) -> Result<(), ConnectorError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_token_ends_the_iteration_and_the_next_one_fetches_fresh_credentials() {
    let svc = Arc::new(service());
    svc.apply(vec![put("lists", "l1", json!({"name": "a"}))]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(&dir);
    let conn = Arc::new(ExpiringConnector {
        svc: svc.clone(),
        first_expires: Mutex::new(None),
        fetches: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        invalidations: AtomicUsize::new(0),
    });
    db.connect(conn.clone(), fast_options()).await.unwrap();
    with_timeout("first sync", db.wait_for_first_sync(None)).await.unwrap();
    eventually("a new stream with fresh credentials", || async {
        svc.stats().stream_requests >= 2 && conn.fetches.load(Ordering::SeqCst) > conn.failed.load(Ordering::SeqCst) + 1
    })
    .await;
    assert!(
        conn.failed.load(Ordering::SeqCst) >= 1,
        "background refreshes failed (only logged)"
    );
    assert!(conn.invalidations.load(Ordering::SeqCst) >= 1);
    // The expired token was dropped before reconnecting, not discovered by a 401.
    assert_eq!(svc.stats().auth_failures, 0);
    svc.apply(vec![put("lists", "l2", json!({"name": "b"}))]).unwrap();
    eventually("still syncing", || async {
        column(&db, "SELECT count(*) FROM lists").await == vec!["2"]
    })
    .await;
    db.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_restart_is_immediate_and_never_shows_disconnected() {
    // A retry delay far beyond the test's timeouts: only an immediate restart passes.
    let opts = SyncOptions {
        retry_delay: Duration::from_secs(120),
        ..fast_options()
    };
    let c = synced(Arc::new(service()), opts).await;
    let s = c.db.status();
    assert!(s.connected && !s.connecting, "connect() returned connected: {s:?}");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut statuses = c.db.status_stream();
    let recorder = tokio::spawn({
        let seen = seen.clone();
        async move {
            while let Some(s) = statuses.next().await {
                seen.lock().unwrap().push((s.connected, s.connecting));
            }
        }
    });
    let before = c.svc.stats().stream_requests;
    // The changed subscription list makes the extension close with hide_disconnect: true.
    c.db.subscribe(
        "list_todos",
        Some(&json!({"list_id": "L1"})),
        SubscribeOptions::default(),
    )
    .await
    .unwrap();
    eventually("restarted at once with the subscription", || async {
        let st = c.svc.stats();
        st.stream_requests > before
            && st
                .last_stream_request
                .is_some_and(|r| r["streams"]["subscriptions"][0]["stream"] == "list_todos")
    })
    .await;
    recorder.abort();
    let seen = seen.lock().unwrap().clone();
    assert!(
        !seen.iter().any(|&(connected, connecting)| !connected && !connecting),
        "{seen:?}"
    );
    c.db.disconnect().await;
}

/// The extension's iteration ends underneath the client (docs/protocol.md, "Commands and events": state is per connection,
/// and `stop` or another `start` on the write connection replaces it): the next event of the
/// running iteration gets `invalid state: No iteration is active`, and docs/protocol.md, "The client's side" says to start
/// again at once. Here the application itself sends `stop` on the write connection, and queues a
/// write in the same transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_iteration_ended_underneath_restarts_at_once_and_keeps_the_queued_write() {
    // A retry delay far beyond the test's timeouts: the error path (record, wait, retry) fails.
    let opts = SyncOptions {
        retry_delay: Duration::from_secs(120),
        ..fast_options()
    };
    let c = synced(Arc::new(service()), opts).await;
    let (svc, db) = (&c.svc, &c.db);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut statuses = db.status_stream();
    let recorder = tokio::spawn({
        let seen = seen.clone();
        async move {
            while let Some(s) = statuses.next().await {
                let error = s.download_error.as_ref().map(|e| e.to_string());
                seen.lock().unwrap().push((s.connected, s.connecting, error));
            }
        }
    });
    let before = svc.stats().stream_requests;

    let stopped = db
        .write_transaction(|tx| {
            let stopped: String = tx.query_row("SELECT powersync_control('stop', NULL)", [], |r| r.get(0))?;
            tx.execute(
                "INSERT INTO todos(id, description, owner_id) VALUES ('q1', 'queued meanwhile', 'alice')",
                [],
            )?;
            Ok(stopped)
        })
        .await
        .unwrap();
    assert!(
        stopped.contains("CloseSyncStream"),
        "an iteration was active: {stopped}"
    );

    eventually("a new stream right after the iteration was ended", || async {
        svc.stats().stream_requests > before
    })
    .await;
    eventually("the queued write uploaded and its write checkpoint applied", || async {
        svc.rows("todos").iter().any(|(id, _)| id == "q1") && write_checkpoint_applied(db).await
    })
    .await;
    // Still syncing: a server change made after the restart arrives.
    svc.apply(vec![put("lists", "after", json!({"name": "after the restart"}))])
        .unwrap();
    eventually("a server change after the restart", || async {
        column(db, "SELECT name FROM lists WHERE id = 'after'").await == vec!["after the restart"]
    })
    .await;
    assert_eq!(
        column(db, "SELECT description FROM todos WHERE id = 'q1'").await,
        vec!["queued meanwhile"]
    );
    recorder.abort();
    let seen = seen.lock().unwrap().clone();
    assert!(
        !seen
            .iter()
            .any(|(connected, connecting, error)| error.is_some() || (!connected && !connecting)),
        "the restart showed an error or a disconnected status: {seen:?}"
    );
    db.disconnect().await;
}

/// A connector with a fixed endpoint and token and nothing to upload.
struct FixedEndpoint(String);

#[async_trait]
impl BackendConnector for FixedEndpoint {
    async fn fetch_credentials(&self) -> Result<Option<Credentials>, ConnectorError> {
        Ok(Some(Credentials::new(self.0.clone(), "tok")))
    }
    async fn upload_data(&self, _db: &PowerSyncDatabase) -> Result<(), ConnectorError> {
        Ok(())
    }
}

/// A fresh database connected to `url`, with a retry delay long enough that the next attempt
/// does not show "connecting" again while the test looks at the first one.
async fn connect_once_to(url: String) -> (tempfile::TempDir, PowerSyncDatabase) {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(&dir);
    let opts = SyncOptions {
        retry_delay: Duration::from_secs(120),
        ..fast_options()
    };
    with_timeout("connect", db.connect(Arc::new(FixedEndpoint(url)), opts))
        .await
        .unwrap();
    (dir, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_returns_with_the_error_when_the_service_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let (_dir, db) = connect_once_to(url).await;
    let s = db.status();
    assert!(!s.connecting && !s.connected);
    assert!(
        matches!(
            s.download_error.as_ref().map(|e| &*e.0),
            Some(SyncError::Unreachable { .. })
        ),
        "{s:?}"
    );
    db.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_response_without_a_body_fails_the_iteration() {
    // A service that answers every request with 200 and an empty body (docs/protocol.md, "The client's side").
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 8192];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ncontent-length: 0\r\n\r\n")
                    .await;
            });
        }
    });
    let (_dir, db) = connect_once_to(url).await;
    // The headers arrive first ("connected"); the empty body then fails the iteration.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut s = db.status();
    while s.download_error.is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        s = db.status();
    }
    assert!(
        matches!(
            s.download_error.as_ref().map(|e| &*e.0),
            Some(SyncError::Response { cause, .. }) if cause.contains("no body")
        ),
        "{s:?}"
    );
    assert!(!s.connected, "{s:?}");
    db.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_iteration_ends_with_stop_even_after_an_error() {
    // `powersync_clear` with the soft flag refuses to run while the extension has an active
    // iteration (docs/sql-functions.md, "Scalar functions"): it only succeeds if `stop` was sent.
    let svc = Arc::new(service());
    svc.apply(vec![put("lists", "l1", json!({"name": "a"}))]).unwrap();
    let soft = ClearOptions {
        clear_local: true,
        soft: true,
    };

    // After disconnect().
    let c = synced(svc.clone(), fast_options()).await;
    c.db.disconnect_and_clear_with(soft).await.unwrap();
    assert!(column(&c.db, "SELECT id FROM lists").await.is_empty());

    // After a failed iteration (the stream is cut after its first line); the long retry delay
    // keeps the next iteration from starting.
    svc.inject(Fault::DropStreamAfterLines(1));
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(&dir);
    let opts = SyncOptions {
        retry_delay: Duration::from_secs(120),
        ..fast_options()
    };
    db.connect(TestConnector::new(svc.clone(), "alice"), opts)
        .await
        .unwrap();
    eventually("the iteration failed", || async {
        db.status().download_error.is_some()
    })
    .await;
    with_timeout("clear", db.disconnect_and_clear_with(soft)).await.unwrap();
}

#[derive(Debug, thiserror::Error)]
#[error("backend is down for maintenance")]
struct Maintenance;

struct DownBackend(Arc<TestConnector>);

#[async_trait]
impl BackendConnector for DownBackend {
    async fn fetch_credentials(&self) -> Result<Option<Credentials>, ConnectorError> {
        self.0.fetch_credentials().await
    }
    async fn upload_data(&self, _db: &PowerSyncDatabase) -> Result<(), ConnectorError> {
        Err(Box::new(Maintenance))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_errors_keep_the_connector_error() {
    let svc = Arc::new(service());
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_pending_write(&dir).await;
    db.connect(Arc::new(DownBackend(TestConnector::new(svc, "alice"))), fast_options())
        .await
        .unwrap();
    let err = with_timeout("upload error", async {
        let mut statuses = db.status_stream();
        loop {
            if let Some(e) = statuses.next().await.unwrap().upload_error {
                return e;
            }
        }
    })
    .await;
    match &*err.0 {
        SyncError::Upload(f) => assert!(f.downcast_ref::<Maintenance>().is_some()),
        other => panic!("{other:?}"),
    }
    assert_eq!(err.to_string(), "upload failed: backend is down for maintenance");
    assert_eq!(column(&db, "SELECT count(*) FROM ps_crud").await, vec!["1"]);
    db.disconnect().await;
}
