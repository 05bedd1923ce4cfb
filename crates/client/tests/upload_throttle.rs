//! The upload throttle (docs/protocol.md, "The client's side": after a pass, wait at least `upload_throttle` before the
//! next one; triggers that arrive meanwhile are merged into one pass), checked for its shape in
//! tokio's paused time: the clock only moves when every task waits for a timer (never while
//! SQLite work runs on the blocking pool), so the times below are exact and no test waits for
//! real seconds. The connector is not signed in, so nothing touches the network: the download
//! loop fails once and then waits for its (very long) retry delay, while the upload loop runs.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::{column, open_db};
use powersync_client::{BackendConnector, ConnectorError, Credentials, PowerSyncDatabase, SqlValue, SyncOptions};
use tokio::time::{sleep, sleep_until, Instant};

/// Records each `upload_data` call: when (paused clock) and how many entries it completed.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<(Instant, usize)>>,
}

impl Recorder {
    fn calls(&self) -> Vec<(Instant, usize)> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl BackendConnector for Recorder {
    async fn fetch_credentials(&self) -> Result<Option<Credentials>, ConnectorError> {
        Ok(None)
    }

    async fn upload_data(&self, db: &PowerSyncDatabase) -> Result<(), ConnectorError> {
        let at = Instant::now();
        let mut n = 0;
        while let Some(batch) = db.get_crud_batch(100).await? {
            n += batch.entries.len();
            // A write checkpoint from the backend itself: no service is needed to confirm it.
            batch.complete(Some("1".into())).await?;
        }
        self.calls.lock().unwrap().push((at, n));
        Ok(())
    }
}

async fn insert(db: &PowerSyncDatabase, i: usize) {
    db.execute(
        "INSERT INTO lists(id, name) VALUES (?, 'x')",
        vec![SqlValue::Text(format!("l{i}"))],
    )
    .await
    .unwrap();
}

#[tokio::test(start_paused = true)]
async fn writes_during_the_throttle_merge_into_one_pass_and_passes_are_spaced() {
    let throttle = Duration::from_secs(2);
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(&dir);
    let rec = Arc::new(Recorder::default());
    let opts = SyncOptions {
        upload_throttle: throttle,
        retry_delay: Duration::from_secs(10 * 24 * 3600),
        ..SyncOptions::default()
    };
    db.connect(rec.clone(), opts).await.unwrap();
    assert!(
        db.status().download_error.is_some(),
        "not signed in: the download loop waits"
    );

    // One write: a pass at once.
    let t0 = Instant::now();
    insert(&db, 0).await;
    sleep(Duration::from_millis(10)).await;
    assert_eq!(rec.calls(), vec![(t0, 1)]);

    // A burst of 50 transactions (50 triggers) while the upload loop waits out the throttle.
    for i in 1..=50 {
        insert(&db, i).await;
    }
    sleep_until(t0 + throttle - Duration::from_millis(1)).await;
    assert_eq!(rec.calls().len(), 1, "a pass started before the throttle was over");
    assert_eq!(column(&db, "SELECT count(*) FROM ps_crud").await, vec!["50"]);
    sleep_until(t0 + throttle + Duration::from_millis(10)).await;
    let calls = rec.calls();
    assert_eq!(
        calls.len(),
        2,
        "the burst: one pass right after the throttle: {calls:?}"
    );
    assert_eq!(calls[1].1, 50, "that pass uploaded the whole burst");
    let gap = calls[1].0 - calls[0].0;
    assert!(gap >= throttle && gap <= throttle + Duration::from_millis(5), "{gap:?}");
    // The 50 triggers were merged: no further pass has anything to upload.
    sleep(throttle * 5).await;
    assert_eq!(rec.calls().len(), 2);

    // A steady trickle, one write every 100 ms for 10 throttle periods: passes stay a throttle
    // apart, each takes everything queued meanwhile, nothing is lost.
    let before = rec.calls().len();
    for i in 51..=250 {
        insert(&db, i).await;
        sleep(Duration::from_millis(100)).await;
    }
    sleep(throttle * 2).await;
    let calls = rec.calls();
    let trickle = &calls[before..];
    assert!(
        (10..=11).contains(&trickle.len()),
        "200 writes over 20 s with a 2 s throttle: {} passes: {trickle:?}",
        trickle.len()
    );
    for w in calls.windows(2) {
        assert!(
            w[1].0 - w[0].0 >= throttle,
            "passes closer than the throttle: {calls:?}"
        );
    }
    assert_eq!(calls.iter().map(|c| c.1).sum::<usize>(), 251);
    assert_eq!(column(&db, "SELECT count(*) FROM ps_crud").await, vec!["0"]);
    assert_eq!(column(&db, "SELECT count(*) FROM lists").await, vec!["251"]);
    db.disconnect().await;
}
