//! `powersync-client sync`.

use std::sync::Arc;

use futures_util::StreamExt;
use powersync_client::{
    LockWait, OnReject, PowerSyncDatabase, SubscribeOptions, SyncError, SyncOptions, SyncStatus, SyncStreamSubscription,
};

use crate::cli::args::SyncConfig;
use crate::cli::connector::{CliConnector, UploadFailure};
use crate::cli::events::JsonEvents;
use crate::cli::exit::{classify_download, CliError, DownloadFailure};
use crate::cli::progress::ProgressView;
use crate::cli::signals::Signals;

/// Without `--upload-url` this run is download-only: a checkpoint held back by local writes
/// would wait forever, since they are never uploaded.
fn download_only_error(download_only: bool, s: &SyncStatus) -> Option<String> {
    (download_only && s.waiting_for_uploads).then(|| {
        "the service's data is held back by local changes that are never uploaded without --upload-url".to_string()
    })
}

/// What `--once` concludes from the status updates: success, or the failure that decides the
/// exit code. Transient failures (service unreachable/dropped/5xx, upload backend 5xx or
/// unreachable) are counted per side, each new error once, and end the run only after
/// `retries` retries.
pub(crate) struct OnceJudge {
    retries: u32,
    download_failures: u32,
    upload_failures: u32,
    last_download: Option<Arc<SyncError>>,
    last_upload: Option<Arc<SyncError>>,
    download_only: bool,
    /// `--on-reject park`: a rejection is not the end; the library parks the transaction.
    pub(crate) park_rejected: bool,
}

/// Whether `now` is another error than the one counted last (the library stores every failure
/// as a new `Arc`, so a repeated message is still a new failure).
fn is_new(now: &Arc<SyncError>, last: &Option<Arc<SyncError>>) -> bool {
    !last.as_ref().is_some_and(|l| Arc::ptr_eq(l, now))
}

impl OnceJudge {
    pub(crate) fn new(retries: u32, download_only: bool) -> Self {
        OnceJudge {
            retries,
            download_failures: 0,
            upload_failures: 0,
            last_download: None,
            last_upload: None,
            download_only,
            park_rejected: false,
        }
    }

    pub(crate) fn judge(&mut self, s: &SyncStatus) -> Option<Result<(), CliError>> {
        if s.synced_since_connect {
            return Some(Ok(()));
        }
        if let Some(e) = download_only_error(self.download_only, s) {
            return Some(Err(CliError::Other(e)));
        }
        if s.connected {
            self.download_failures = 0;
        }
        if let Some(e) = &s.download_error {
            if is_new(&e.0, &self.last_download) {
                self.last_download = Some(e.0.clone());
                match classify_download(&e.0) {
                    DownloadFailure::Fatal(err) => return Some(Err(err)),
                    DownloadFailure::Transient(msg) => {
                        self.download_failures += 1;
                        if self.download_failures > self.retries {
                            return Some(Err(CliError::Unreachable(self.gave_up(msg))));
                        }
                    }
                }
            }
        }
        match &s.upload_error {
            None if !s.uploading => self.upload_failures = 0,
            None => {}
            Some(e) if is_new(&e.0, &self.last_upload) => {
                self.last_upload = Some(e.0.clone());
                let msg = e.to_string();
                let failure = match &*e.0 {
                    SyncError::Upload(f) => f.downcast_ref::<UploadFailure>(),
                    _ => None,
                };
                match failure {
                    Some(UploadFailure::Rejected { .. }) if self.park_rejected => {}
                    Some(UploadFailure::Rejected { .. }) => return Some(Err(CliError::UploadRejected(msg))),
                    Some(UploadFailure::ServerError { .. } | UploadFailure::Unreachable { .. }) => {
                        self.upload_failures += 1;
                        if self.upload_failures > self.retries {
                            return Some(Err(CliError::UploadFailing(self.gave_up(msg))));
                        }
                    }
                    // A parked transaction is shown; the rest of the queue goes on.
                    _ if matches!(&*e.0, SyncError::Parked { .. }) => {}
                    _ => return Some(Err(CliError::Other(msg))),
                }
            }
            Some(_) => {}
        }
        None
    }

    fn gave_up(&self, msg: String) -> String {
        format!("{msg} (gave up after {} retries, --retries)", self.retries)
    }
}

/// Fails early, before the schema is applied, when another sync holds the lock (`connect`
/// takes it for real; this check only spares the other sync a schema write in the common case).
fn check_lock(cfg: &SyncConfig) -> Result<(), CliError> {
    if !cfg.wait_lock && powersync_client::is_sync_locked(&cfg.db)? {
        return Err(powersync_client::Error::SyncLocked {
            path: powersync_client::lock_path(&cfg.db).display().to_string(),
        }
        .into());
    }
    Ok(())
}

/// `connect`, failing on a held lock, or with `--wait-lock` saying so and then waiting.
async fn connect(
    db: &PowerSyncDatabase,
    connector: Arc<CliConnector>,
    options: SyncOptions,
    wait_lock: bool,
) -> Result<(), CliError> {
    match db.connect(connector.clone(), options.clone()).await {
        Err(powersync_client::Error::SyncLocked { path }) if wait_lock => {
            eprintln!("another sync holds {path}; waiting for it to end (--wait-lock)");
            let options = SyncOptions {
                lock_wait: LockWait::Wait,
                ..options
            };
            db.connect(connector, options).await?;
            eprintln!("got the sync lock");
            Ok(())
        }
        other => Ok(other?),
    }
}

/// Whether rows with local writes still wait for the service (`apply_around_pending_uploads`;
/// never while that setting is off). Read from the database, which the publish that releases
/// them has committed before its status arrives.
async fn rows_held(db: &PowerSyncDatabase) -> bool {
    db.query(
        "SELECT json_extract(powersync_diagnostics(), '$.held_rows') AS n",
        vec![],
    )
    .await
    .ok()
    .and_then(|rows| rows.first().and_then(|r| r.get_i64("n")))
    .is_some_and(|n| n > 0)
}

/// A `--stream` the service could not resolve (e.g. unknown), as a flag error.
fn unknown_stream(db: &PowerSyncDatabase, subscriptions: &[SyncStreamSubscription]) -> Option<(usize, CliError)> {
    let errors = db.stream_errors();
    subscriptions.iter().enumerate().find_map(|(i, sub)| {
        let e = errors
            .iter()
            .find(|e| e.stream == sub.name() && e.parameters.as_deref() == sub.parameters())?;
        let params = sub.parameters().map(|p| format!("={p}")).unwrap_or_default();
        Some((
            i,
            CliError::Usage(format!(
                "--stream {}{params}: the service could not resolve it: {}; the subscription was not kept",
                sub.name(),
                e.message
            )),
        ))
    })
}

fn remove_database_files(db: &std::path::Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(std::path::PathBuf::from(p));
    }
}

pub(crate) async fn run(cfg: SyncConfig, quiet: bool) -> Result<(), CliError> {
    check_lock(&cfg)?;
    let mut signals = Signals::install()?;
    let path = cfg.db.clone();
    let schema = cfg.schema_json.clone();
    let created = !path.exists();
    let opened = tokio::task::spawn_blocking(move || PowerSyncDatabase::open(&path, &schema))
        .await
        .map_err(|e| CliError::Other(e.to_string()))?;
    let db = match opened {
        Ok(db) => db,
        Err(e) => {
            // A schema the extension refused must not leave a half-made database behind.
            if created {
                remove_database_files(&cfg.db);
            }
            return Err(CliError::Other(format!(
                "could not open {} with the schema {}: {e}",
                cfg.db.display(),
                cfg.schema_path.display()
            )));
        }
    };
    let mut subscriptions = Vec::new();
    for (name, params) in &cfg.streams {
        subscriptions.push(db.subscribe(name, params.as_ref(), SubscribeOptions::default()).await?);
    }
    let connector = Arc::new(CliConnector {
        endpoint: cfg.endpoint.clone(),
        token: cfg.token.clone(),
        upload_url: cfg.upload_url.clone(),
        http: reqwest::Client::builder()
            .user_agent(format!("powersync-rust/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::Other(e.to_string()))?,
        json_events: cfg.json,
    });
    let options = SyncOptions {
        retry_delay: cfg.retry_delay,
        on_reject: cfg.on_reject,
        apply_around_pending_uploads: cfg.apply_around_pending,
        ..SyncOptions::default()
    };
    let download_only = cfg.upload_url.is_none();
    let mut reported_download_only = false;
    let mut judge = OnceJudge::new(cfg.retries, download_only);
    judge.park_rejected = cfg.on_reject != OnReject::Retry;
    // --json replaces the human display (and -q only quiets the latter).
    let mut view = ProgressView::new(quiet || cfg.json);
    let mut events = cfg.json.then(JsonEvents::default);
    let mut statuses = db.status_stream();
    // Interruptible, also while connecting or waiting for the lock (--wait-lock).
    tokio::select! {
        r = connect(&db, connector, options, cfg.wait_lock) => r?,
        stop = signals.recv() => {
            eprintln!("{}: disconnecting", stop.name());
            db.disconnect().await;
            return Err(CliError::Interrupted {
                message: format!("{} before the sync completed", stop.name()),
                code: stop.exit_code(),
            });
        }
    }
    let mut completed = false;
    let mut unresolved = None;
    let outcome = loop {
        tokio::select! {
            s = statuses.next() => {
                let Some(s) = s else { break Err(CliError::Other("the sync client stopped".into())) };
                if let Some((i, e)) = unknown_stream(&db, &subscriptions) {
                    unresolved = Some(i);
                    break Err(e);
                }
                completed |= s.synced_since_connect;
                view.update(&s);
                if let Some(ev) = events.as_mut() {
                    ev.update(&s);
                }
                if cfg.once {
                    if let Some(r) = judge.judge(&s) {
                        // Around pending uploads a checkpoint completes while local writes
                        // still wait; --once also waits for them (docs/client.md).
                        if r.is_err() || !rows_held(&db).await {
                            break r;
                        }
                    }
                } else if let Some(e) = download_only_error(download_only, &s) {
                    if !std::mem::replace(&mut reported_download_only, true) {
                        eprintln!("error: {e}");
                    }
                }
            }
            stop = signals.recv() => {
                eprintln!("{}: disconnecting", stop.name());
                break if completed {
                    Ok(())
                } else {
                    Err(CliError::Interrupted {
                        message: format!("{} before the sync completed", stop.name()),
                        code: stop.exit_code(),
                    })
                };
            }
        }
    };
    view.finish();
    // A subscription the service could not resolve is not kept.
    if let Some(sub) = unresolved.map(|i| subscriptions.swap_remove(i)) {
        if let Err(e) = sub.unsubscribe().await {
            eprintln!("warning: could not remove the subscription: {e}");
        }
    }
    db.disconnect().await;
    if outcome.is_ok() {
        let s = db.status();
        let rows = db
            .query("SELECT count(*) AS n FROM ps_oplog", vec![])
            .await
            .ok()
            .and_then(|r| r.first().and_then(|r| r.get_i64("n")))
            .unwrap_or(0);
        match s.last_synced_at_ms() {
            _ if cfg.json => crate::cli::events::emit(serde_json::json!({
                "type": "status", "state": "done", "rows_downloaded": rows,
                "last_synced_at_ms": s.last_synced_at_ms(),
            })),
            Some(ms) => println!(
                "synced: {rows} rows downloaded in total, last complete sync at {}",
                super::inspect::format_ms(Some(ms))
            ),
            None => println!("disconnected"),
        }
    }
    if let (true, Err(e)) = (cfg.json, &outcome) {
        crate::cli::events::emit(serde_json::json!({
            "type": "error", "side": "exit", "message": e.to_string(), "exit_code": e.code(),
        }));
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delayed_checkpoint_is_an_error_only_when_download_only() {
        let mut s = SyncStatus::default();
        s.waiting_for_uploads = true;
        assert!(matches!(
            OnceJudge::new(0, true).judge(&s),
            Some(Err(CliError::Other(_)))
        ));
        assert!(OnceJudge::new(0, false).judge(&s).is_none());
        assert!(OnceJudge::new(0, true).judge(&SyncStatus::default()).is_none());
    }
}
