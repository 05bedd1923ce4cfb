//! Rejected uploads have a way out and nothing is lost: per-transaction upload errors,
//! parking (automatic and by request), discarding and retrying (docs/client.md).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use powersync_client::{Error, OnReject, SyncOptions};
use powersync_test_service::Fault;
use serde_json::json;

fn reject(table: &str, id: &str) -> Fault {
    Fault::RejectUploads {
        table: table.into(),
        id: id.into(),
        status: 422,
        duration: Duration::from_secs(120),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_write_never_reaches_the_server_and_the_row_converges_then_retry_uploads_it() {
    let svc = Arc::new(service());
    svc.apply(vec![put(
        "todos",
        "t1",
        json!({"description": "server", "owner_id": "alice"}),
    )])
    .unwrap();
    let opts = SyncOptions {
        on_reject: OnReject::Park { after: 2 },
        ..fast_options()
    };
    let c = synced(svc.clone(), opts).await;
    let db = &c.db;
    svc.inject(reject("todos", "t1"));
    db.execute("UPDATE todos SET description = 'local' WHERE id = 't1'", vec![])
        .await
        .unwrap();
    db.execute(
        "INSERT INTO todos(id, description, owner_id) VALUES ('t2', 'fine', 'alice')",
        vec![],
    )
    .await
    .unwrap();

    // Parked after two rejections; the write behind it is uploaded.
    eventually("the rejected transaction parked", || async {
        db.parked_transactions().await.unwrap().len() == 1
    })
    .await;
    let parked = db.parked_transactions().await.unwrap().remove(0);
    assert_eq!(parked.entries[0].id, "t1");
    assert!(parked.reason.contains("422"), "{}", parked.reason);
    eventually("the next write uploaded", || async {
        svc.rows("todos").iter().any(|(id, _)| id == "t2")
    })
    .await;
    // The local row comes back to the server's version; the server never saw 'local'.
    eventually("the row converged to the server's version", || async {
        column(db, "SELECT description FROM todos WHERE id = 't1'").await == vec!["server"]
    })
    .await;
    let server = svc.rows("todos");
    let t1 = &server.iter().find(|(id, _)| id == "t1").unwrap().1;
    assert_eq!(t1["description"], "server");
    assert!(svc.stats().uploads_rejected >= 2);
    assert!(
        db.upload_errors().await.unwrap().is_empty(),
        "settled errors are forgotten"
    );
    assert!(db.crud_transactions().await.unwrap().is_empty());

    // Retry once the backend takes it: back in the queue, uploaded, synced back.
    svc.clear_faults();
    let tx = parked.tx_id;
    assert_eq!(db.retry_parked(tx).await.unwrap(), 1);
    assert!(db.parked_transactions().await.unwrap().is_empty());
    eventually("the retried write uploaded", || async {
        svc.rows("todos")
            .iter()
            .any(|(id, v)| id == "t1" && v["description"] == "local")
    })
    .await;
    eventually("and synced back", || async {
        write_checkpoint_applied(db).await
            && column(db, "SELECT description FROM todos WHERE id = 't1'").await == vec!["local"]
    })
    .await;
    assert!(matches!(
        db.retry_parked(tx).await,
        Err(Error::NoSuchTransaction { .. })
    ));
    db.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_a_rejection_is_retried_and_recorded_and_discard_drops_the_write() {
    let svc = Arc::new(service());
    let c = synced(svc.clone(), fast_options()).await;
    let db = &c.db;
    svc.inject(reject("todos", "d1"));
    db.execute(
        "INSERT INTO todos(id, description, owner_id) VALUES ('d1', 'never', 'alice')",
        vec![],
    )
    .await
    .unwrap();
    eventually("rejections recorded", || async {
        db.upload_errors()
            .await
            .unwrap()
            .first()
            .is_some_and(|e| e.rejections >= 3)
    })
    .await;
    let err = db.upload_errors().await.unwrap().remove(0);
    assert!(err.last_error.contains("422"), "{err:?}");
    assert!(
        db.parked_transactions().await.unwrap().is_empty(),
        "default: never parked"
    );
    assert_eq!(db.crud_transactions().await.unwrap().len(), 1, "still queued");

    assert_eq!(db.discard_transaction(err.tx_id).await.unwrap(), 1);
    // The server never had it: the local row is removed at the next checkpoint.
    eventually("the discarded row is gone", || async {
        column(db, "SELECT count(*) FROM todos WHERE id = 'd1'").await == vec!["0"]
    })
    .await;
    assert!(svc.rows("todos").iter().all(|(id, _)| id != "d1"));
    assert!(db.upload_errors().await.unwrap().is_empty());
    db.disconnect().await;
}
