//! `powersync-client sync`.

use std::sync::Arc;

use futures_util::StreamExt;
use powersync_client::{PowerSyncDatabase, SubscribeOptions, SyncError, SyncOptions, SyncStatus};

use crate::cli::args::SyncConfig;
use crate::cli::connector::{CliConnector, UploadFailure};
use crate::cli::exit::{from_sync_error, CliError};
use crate::cli::progress::ProgressView;

/// Without `--upload-url` this run is download-only: a checkpoint held back by local writes
/// would wait forever, since they are never uploaded.
fn download_only_error(download_only: bool, s: &SyncStatus) -> Option<String> {
    (download_only && s.waiting_for_uploads).then(|| {
        "the service's data is held back by local changes that are never uploaded without --upload-url".to_string()
    })
}

/// What `--once` concludes from a status update.
fn once_outcome(s: &SyncStatus, download_only: bool) -> Option<Result<(), CliError>> {
    if s.synced_since_connect {
        return Some(Ok(()));
    }
    if let Some(e) = download_only_error(download_only, s) {
        return Some(Err(CliError::Other(e)));
    }
    if let Some(e) = &s.download_error {
        return Some(Err(from_sync_error(&e.0)));
    }
    if let Some(e) = &s.upload_error {
        let msg = e.to_string();
        let failure = match &*e.0 {
            SyncError::Upload(f) => f.downcast_ref::<UploadFailure>(),
            _ => None,
        };
        return Some(Err(match failure {
            Some(UploadFailure::Rejected { .. }) => CliError::UploadRejected(msg),
            Some(UploadFailure::Unreachable { .. }) => CliError::Unreachable(msg),
            _ => CliError::Other(msg),
        }));
    }
    None
}

pub(crate) async fn run(cfg: SyncConfig) -> Result<(), CliError> {
    let path = cfg.db.clone();
    let schema = cfg.schema_json.clone();
    let db = tokio::task::spawn_blocking(move || PowerSyncDatabase::open(&path, &schema))
        .await
        .map_err(|e| CliError::Other(e.to_string()))??;
    for (name, params) in &cfg.streams {
        db.subscribe(name, params.as_ref(), SubscribeOptions::default()).await?;
    }
    let connector = Arc::new(CliConnector {
        endpoint: cfg.endpoint.clone(),
        token: cfg.token.clone(),
        upload_url: cfg.upload_url.clone(),
        http: reqwest::Client::builder()
            .user_agent(format!("powersync-rust/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::Other(e.to_string()))?,
    });
    let options = SyncOptions {
        retry_delay: cfg.retry_delay,
        ..SyncOptions::default()
    };
    let download_only = cfg.upload_url.is_none();
    let mut reported_download_only = false;
    let mut view = ProgressView::new();
    let mut statuses = db.status_stream();
    db.connect(connector, options).await?;
    let outcome = loop {
        tokio::select! {
            s = statuses.next() => {
                let Some(s) = s else { break Err(CliError::Other("the sync client stopped".into())) };
                view.update(&s);
                if cfg.once {
                    if let Some(r) = once_outcome(&s, download_only) {
                        break r;
                    }
                } else if let Some(e) = download_only_error(download_only, &s) {
                    if !std::mem::replace(&mut reported_download_only, true) {
                        eprintln!("error: {e}");
                    }
                }
            }
            _ = tokio::signal::ctrl_c() => {
                eprintln!("interrupted, disconnecting");
                break if cfg.once { Err(CliError::Other("interrupted before the sync completed".into())) } else { Ok(()) };
            }
        }
    };
    view.finish();
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
            Some(ms) => println!(
                "synced: {rows} rows downloaded in total, last complete sync at {}",
                super::inspect::format_ms(Some(ms))
            ),
            None => println!("disconnected"),
        }
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
        assert!(matches!(once_outcome(&s, true), Some(Err(CliError::Other(_)))));
        assert!(once_outcome(&s, false).is_none());
        assert!(once_outcome(&SyncStatus::default(), true).is_none());
    }
}
