//! Setting the write-checkpoint target once the upload queue is empty (docs/protocol.md, "The client's side").

use std::future::Future;

use rusqlite::OptionalExtension;

use crate::crud::{first_id, read_target, MAX_OP_ID};
use crate::db::pool::Pool;
use crate::error::SyncError;

fn crud_sequence(conn: &rusqlite::Connection) -> rusqlite::Result<Option<i64>> {
    conn.query_row("SELECT seq FROM main.sqlite_sequence WHERE name = 'ps_crud'", [], |r| {
        r.get(0)
    })
    .optional()
}

/// Returns true when a new target was stored, i.e. `completed_upload` should be sent.
/// `obtain` gets a checkpoint id from the service (legacy or requests mode).
pub(crate) async fn update_target<F, Fut>(pool: &Pool, obtain: F) -> Result<bool, SyncError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<String, SyncError>>,
{
    // Step 1 in one read transaction, so the target and the sequence belong together.
    let seen = pool
        .write(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Deferred)?;
            if read_target(&tx)?.as_deref() != Some(MAX_OP_ID) {
                // No local writes since the last target, or a concrete target is already set.
                return Ok(None);
            }
            let seq = crud_sequence(&tx)?;
            tx.commit()?;
            Ok(seq)
        })
        .await?;
    let Some(seq) = seen else { return Ok(false) };
    let id = obtain().await?;
    let stored = pool
        .write(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            if first_id(&tx)?.is_some() || crud_sequence(&tx)? != Some(seq) {
                // New local writes arrived meanwhile: they need a newer checkpoint.
                return Ok(false);
            }
            tx.query_row(
                "SELECT powersync_control('target_checkpoint_request_id', ?)",
                [&id],
                |_| Ok(()),
            )?;
            tx.commit()?;
            Ok(true)
        })
        .await?;
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crud::read_target;

    const SCHEMA: &str = r#"{"tables":[{"name":"items","columns":[{"name":"name","type":"text"}]}]}"#;

    fn pool() -> (tempfile::TempDir, Pool) {
        let dir = tempfile::tempdir().unwrap();
        let pool = Pool::open(&dir.path().join("t.db"), Some(SCHEMA), 1, false).unwrap();
        (dir, pool)
    }

    async fn exec(pool: &Pool, sql: &'static str) {
        pool.write(move |c| Ok(c.execute_batch(sql)?)).await.unwrap();
    }

    async fn target(pool: &Pool) -> Option<String> {
        pool.write(|c| read_target(&*c.transaction()?)).await.unwrap()
    }

    #[tokio::test]
    async fn no_local_writes_means_no_request() {
        let (_d, pool) = pool();
        let called = std::cell::Cell::new(false);
        let r = update_target(&pool, || async {
            called.set(true);
            Ok("5".to_string())
        })
        .await
        .unwrap();
        assert!(!r && !called.get());
    }

    #[tokio::test]
    async fn stores_target_after_uploads() {
        let (_d, pool) = pool();
        exec(
            &pool,
            "INSERT INTO items(id, name) VALUES ('a', 'x'); DELETE FROM ps_crud;",
        )
        .await;
        assert_eq!(target(&pool).await.as_deref(), Some(MAX_OP_ID));
        assert!(update_target(&pool, || async { Ok("17".to_string()) }).await.unwrap());
        assert_eq!(target(&pool).await.as_deref(), Some("17"));
        // A concrete target is set now: nothing more to do.
        assert!(!update_target(&pool, || async { Ok("18".to_string()) }).await.unwrap());
    }

    #[tokio::test]
    async fn pending_rows_or_new_writes_block_the_target() {
        let (_d, pool) = pool();
        exec(
            &pool,
            "INSERT INTO items(id, name) VALUES ('a', 'x'); DELETE FROM ps_crud;",
        )
        .await;
        // A write lands while the checkpoint is being fetched, and is uploaded again at once:
        // ps_crud is empty but the sequence moved.
        let p2 = pool.clone();
        let r = update_target(&pool, || async move {
            exec(
                &p2,
                "INSERT INTO items(id, name) VALUES ('b', 'y'); DELETE FROM ps_crud;",
            )
            .await;
            Ok("20".to_string())
        })
        .await
        .unwrap();
        assert!(!r);
        assert_eq!(target(&pool).await.as_deref(), Some(MAX_OP_ID));
        // A row still queued after fetching.
        let p3 = pool.clone();
        let r = update_target(&pool, || async move {
            exec(&p3, "INSERT INTO items(id, name) VALUES ('c', 'z');").await;
            Ok("21".to_string())
        })
        .await
        .unwrap();
        assert!(!r);
        assert_eq!(target(&pool).await.as_deref(), Some(MAX_OP_ID));
    }

    #[tokio::test]
    async fn obtain_errors_propagate() {
        let (_d, pool) = pool();
        exec(
            &pool,
            "INSERT INTO items(id, name) VALUES ('a', 'x'); DELETE FROM ps_crud;",
        )
        .await;
        let r = update_target(&pool, || async { Err(SyncError::Disconnected) }).await;
        assert!(matches!(r, Err(SyncError::Disconnected)));
        assert_eq!(target(&pool).await.as_deref(), Some(MAX_OP_ID));
    }
}
