//! One sync iteration (docs/protocol.md, "The client's side") and the download loop around it (retry and reconnect).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::{checkpoints, is_no_iteration, End, Event, SeedState, SyncShared, Tasks};
use crate::db::pool::ControlPayload;
use crate::error::SyncError;
use crate::framing::{Framer, Line};
use crate::http::SyncStream;
use crate::instructions::{hide_disconnect, Instruction};
use crate::options::CheckpointMode;
use crate::status::{CoreStatus, StatusError};
use crate::subscriptions::active_streams_json;

const EVENT_QUEUE: usize = 64;

fn start_payload(sh: &SyncShared) -> String {
    let o = &sh.options;
    let schema = sh
        .db
        .inner
        .schema
        .as_deref()
        .unwrap_or(r#"{"tables":[],"raw_tables":[]}"#);
    format!(
        r#"{{"parameters":{},"app_metadata":{},"active_streams":{},"include_defaults":{},"checkpoint_mode":"{}","schema":{}}}"#,
        serde_json::Value::Object(o.params.clone()),
        serde_json::Value::Object(o.app_metadata.clone()),
        active_streams_json(&sh.db.inner.active_streams()),
        o.include_defaults,
        o.checkpoint_mode.as_str(),
        schema
    )
}

/// Reads the response body, frames it, and queues the lines. A gap of `idle` without any byte
/// fails the iteration.
/// A response that ends without a single byte fails the iteration (docs/protocol.md, "The client's side").
async fn read_body(mut stream: SyncStream, tx: mpsc::Sender<Event>, idle: Duration) {
    let mut framer = Framer::new(stream.framing);
    let mut received = false;
    loop {
        let failed = match tokio::time::timeout(idle, stream.body.next()).await {
            Err(_) => SyncError::Idle(idle),
            Ok(None) if !received => SyncError::Response {
                path: "/sync/stream".into(),
                cause: "the response has no body".into(),
            },
            Ok(None) => match framer.finish() {
                Ok(last) => {
                    if let Some(l) = last {
                        if tx.send(Event::Line(l)).await.is_err() {
                            return;
                        }
                    }
                    let _ = tx.send(Event::End).await;
                    return;
                }
                Err(e) => e.into(),
            },
            Ok(Some(Err(e))) => e,
            Ok(Some(Ok(chunk))) => {
                received |= !chunk.is_empty();
                match framer.push(&chunk) {
                    Ok(lines) => {
                        for l in lines {
                            if tx.send(Event::Line(l)).await.is_err() {
                                return;
                            }
                        }
                        continue;
                    }
                    Err(e) => e.into(),
                }
            }
        };
        let _ = tx.send(Event::StreamFailed(failed)).await;
        return;
    }
}

/// Handles the instructions of one event; `Some` when the iteration ends.
async fn handle_all(
    sh: &Arc<SyncShared>,
    mut instructions: Vec<Instruction>,
    tx: &mpsc::Sender<Event>,
) -> Result<Option<End>, SyncError> {
    hide_disconnect(&mut instructions);
    for ins in instructions {
        if let Instruction::EstablishSyncStream { .. } = ins {
            return Err(SyncError::Instruction(
                "EstablishSyncStream outside the result of start".into(),
            ));
        }
        if let Some(hide_disconnect) = sh.apply(ins, Some(tx)).await {
            return Ok(Some(End::Close { hide_disconnect }));
        }
    }
    Ok(None)
}

async fn run_iteration(sh: &Arc<SyncShared>) -> Result<End, SyncError> {
    let creds = sh.creds.get().await?;
    let (tx, mut rx) = mpsc::channel::<Event>(EVENT_QUEUE);
    *sh.db.inner.events.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx.clone());

    let mut establish = None;
    for ins in sh.control("start", ControlPayload::Text(start_payload(sh))).await? {
        match ins {
            Instruction::EstablishSyncStream {
                request,
                checkpoint_request,
            } => establish = Some((request, checkpoint_request)),
            other => {
                if let Some(hide_disconnect) = sh.apply(other, Some(&tx)).await {
                    return Ok(End::Close { hide_disconnect });
                }
            }
        }
    }
    let (request, checkpoint_request) =
        establish.ok_or_else(|| SyncError::Instruction("start returned no EstablishSyncStream".into()))?;

    let mut tasks = Tasks::default();
    if let (CheckpointMode::Requests, Some(body)) = (sh.options.checkpoint_mode, checkpoint_request) {
        let (sh2, tx2) = (sh.clone(), tx.clone());
        tasks.spawn(async move {
            let ev = match checkpoints::post(&sh2, body).await {
                Ok(id) => Event::Seeded(id),
                Err(e) => Event::SeedFailed(e),
            };
            let _ = tx2.send(ev).await;
        });
    }

    let stream = match sh.http.open_stream(&creds, request, sh.options.ndjson_only).await {
        Ok(s) => s,
        Err(e) => return Err(e),
    };
    let established = sh
        .control("connection", ControlPayload::Text("established".into()))
        .await?;
    if let Some(end) = handle_all(sh, established, &tx).await? {
        return Ok(end);
    }
    tasks.spawn(read_body(stream, tx.clone(), sh.options.idle_timeout));

    let mut first_line = true;
    loop {
        let Some(ev) = rx.recv().await else {
            return Err(SyncError::Read("event queue closed".into()));
        };
        let is_line = matches!(ev, Event::Line(_));
        let result = match ev {
            Event::Line(Line::Text(t)) => sh.control("line_text", ControlPayload::Text(t)).await,
            Event::Line(Line::Binary(b)) => sh.control("line_binary", ControlPayload::Blob(b)).await,
            Event::End => sh.control("connection", ControlPayload::Text("end".into())).await,
            Event::StreamFailed(e) | Event::SeedFailed(e) => return Err(e),
            Event::CompletedUpload => sh.control("completed_upload", ControlPayload::Null).await,
            Event::RefreshedToken => sh.control("refreshed_token", ControlPayload::Null).await,
            Event::UpdateSubscriptions(list) => sh.control("update_subscriptions", ControlPayload::Text(list)).await,
            Event::Seeded(id) => {
                match sh
                    .control_raw("seed_checkpoint_request_id", ControlPayload::Text(id))
                    .await
                {
                    Err(e) if is_no_iteration(&e) => return Ok(End::Close { hide_disconnect: true }),
                    Err(e) => return Err(e),
                    Ok(_) => {}
                }
                sh.db.inner.seed.send_replace(SeedState::Seeded);
                tasks.spawn(checkpoints::repost_loop(sh.clone()));
                Ok(Vec::new())
            }
        };
        let instructions = match result {
            // The connection was replaced underneath this event: start again at once.
            Err(e) if is_no_iteration(&e) => return Ok(End::Close { hide_disconnect: true }),
            r => r?,
        };
        if is_line && first_line {
            first_line = false;
            sh.upload_trigger.notify_one();
        }
        if let Some(end) = handle_all(sh, instructions, &tx).await? {
            return Ok(end);
        }
    }
}

/// The end of every iteration: no more events, no seeding, and `stop`. Returns the status
/// `stop` reported, for the caller to publish together with the iteration's outcome.
async fn finish_iteration(sh: &Arc<SyncShared>) -> Option<CoreStatus> {
    *sh.db.inner.events.lock().unwrap_or_else(|e| e.into_inner()) = None;
    sh.db.inner.seed.send_if_modified(|s| {
        if *s == SeedState::Seeded {
            *s = SeedState::NotSeeded;
            true
        } else {
            false
        }
    });
    let mut status = None;
    match sh.control("stop", ControlPayload::Null).await {
        Ok(instructions) => {
            for ins in instructions {
                match ins {
                    Instruction::UpdateSyncStatus(core) => status = Some(core),
                    Instruction::LogLine { .. } => {
                        sh.apply(ins, None).await;
                    }
                    _ => {}
                }
            }
        }
        Err(e) => tracing::warn!("powersync_control stop failed: {e}"),
    }
    status
}

pub(crate) async fn download_loop(sh: Arc<SyncShared>) {
    // Consecutive failed iterations; one that got connected starts the count again.
    let mut failures: u32 = 0;
    loop {
        if sh.is_cancelled() {
            break;
        }
        let result = tokio::select! {
            r = run_iteration(&sh) => r,
            _ = sh.cancelled() => Ok(End::Cancelled),
        };
        let stopped = finish_iteration(&sh).await;
        let cancelled = sh.is_cancelled();
        let mut failure = None;
        match result {
            Ok(End::Close { hide_disconnect: true }) if !cancelled => continue,
            Ok(_) => {}
            Err(e) => {
                if sh.db.inner.status.borrow().connected {
                    failures = 0;
                }
                failures += 1;
                if matches!(e, SyncError::Unauthorized { .. }) {
                    sh.creds.invalidate().await;
                }
                if !cancelled {
                    tracing::warn!("sync stream failed: {e}");
                    failure = Some(StatusError(Arc::new(e)));
                }
            }
        }
        if failure.is_none() {
            failures = 0;
        }
        // One update: a listener never sees "not connecting" without the error that caused it.
        sh.db.inner.status.send_modify(|s| {
            if let Some(core) = &stopped {
                s.apply_core(core);
            }
            if failure.is_some() {
                s.download_error = failure;
            }
            s.mark_disconnected();
        });
        if cancelled {
            break;
        }
        sh.sleep_backoff(failures.max(1)).await;
    }
    sh.db.inner.status.send_modify(|s| s.mark_disconnected());
}
