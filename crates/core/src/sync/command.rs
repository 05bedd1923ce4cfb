//! The FFI edge of `powersync_control`: each call's arguments become one typed [`Command`] here,
//! so the dispatcher and the domain modules never read SQL arguments.
//!
//! Decoding keeps the reference's error order: the checks made here are exactly the ones the
//! reference makes before it looks at the iteration; everything it checks later (line syntax,
//! checkpoint request id ranges) is carried as a typed value and checked by the domain code.

use rusqlite::ffi;
use std::borrow::Cow;

use crate::error::{ErrorKind, PsError, PsResult};
use crate::function::Args;
use crate::sync::checkpoint_requests::{IdArgument, TargetArgument};
use crate::sync::iteration::StartOptions;
use crate::sync::streams::{StreamKey, SubscriptionCommand};

/// One `powersync_control(op, payload)` call.
#[derive(Debug)]
pub enum Command<'a> {
    Start(StartOptions),
    Stop,
    /// A text line, still undecoded (its syntax errors end the iteration, so they are raised there).
    /// Lines borrow the call's argument: decoding borrows from it in turn.
    LineText(Cow<'a, str>),
    LineBinary(&'a [u8]),
    ConnectionEstablished,
    ConnectionEnd,
    CompletedUpload,
    RefreshedToken,
    UpdateSubscriptions(Vec<StreamKey>),
    Subscriptions(SubscriptionCommand),
    SeedCheckpointRequestId(IdArgument),
    NextCheckpointRequestId,
    CurrentCheckpointRequestId,
    TargetCheckpointRequestId(TargetArgument),
}

/// The payload as SQLite converts it to text; NULL counts as empty text (a JSON error).
fn json_payload<T: serde::de::DeserializeOwned>(args: &Args) -> PsResult<T> {
    parse_json(&args.text(1).unwrap_or_default())
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str) -> PsResult<T> {
    serde_json::from_str(text).map_err(|e| PsError::json_argument(&e))
}

/// An integer argument or a decimal integer string; `None` for anything else.
fn integer_argument(args: &Args, i: usize) -> Option<i64> {
    match args.value_type(i) {
        ffi::SQLITE_INTEGER => Some(args.int64(i)),
        ffi::SQLITE_TEXT => args.text(i).and_then(|t| t.parse::<i64>().ok()),
        _ => None,
    }
}

/// The `start` payload: TEXT is JSON, anything else means all defaults.
fn start_options(args: &Args) -> PsResult<StartOptions> {
    if args.value_type(1) != ffi::SQLITE_TEXT {
        return Ok(StartOptions::default());
    }
    let text = args.text(1).unwrap_or_default();
    // serde would fill a struct from an array of defaults; the payload is an object.
    if text.trim_start().starts_with('[') {
        return Err(PsError::new(ErrorKind::InvalidArgument {
            desc: String::new(),
            cause: Some("invalid type: sequence, expected struct StartSyncStream".into()),
        }));
    }
    parse_json(&text)
}

impl<'a> Command<'a> {
    /// Whether the command may write to the database (reads need no savepoint).
    pub fn writes(&self) -> bool {
        !matches!(
            self,
            Command::Stop
                | Command::CurrentCheckpointRequestId
                | Command::TargetCheckpointRequestId(TargetArgument::Read)
        )
    }

    /// Whether the command opens the call's savepoint itself, once it knows what it will write
    /// (sync lines and the publish retry, `sync::atomic`); every other writing command runs
    /// inside it from the start.
    pub fn decides_atomicity(&self) -> bool {
        matches!(
            self,
            Command::LineText(_) | Command::LineBinary(_) | Command::CompletedUpload
        )
    }

    /// Decodes the two arguments of `powersync_control`.
    pub fn decode(args: &'a Args) -> PsResult<Command<'a>> {
        let op = args
            .text_if_text(0)
            .ok_or_else(|| PsError::invalid_argument("First argument must be a string"))?;
        Ok(match &*op {
            "start" => Command::Start(start_options(args)?),
            "stop" => Command::Stop,
            "line_text" => Command::LineText(
                args.text_if_text(1)
                    .ok_or_else(|| PsError::invalid_argument("Second argument must be a string"))?,
            ),
            "line_binary" => {
                if args.value_type(1) != ffi::SQLITE_BLOB {
                    return Err(PsError::invalid_argument("Second argument must be a byte array"));
                }
                Command::LineBinary(args.blob_borrowed(1))
            }
            // Any value whose text is `established` / `end` counts (a BLOB too, as observed).
            "connection" => match args.text(1).as_deref() {
                Some("established") => Command::ConnectionEstablished,
                Some("end") => Command::ConnectionEnd,
                _ => return Err(PsError::invalid_argument("unknown connection event")),
            },
            "completed_upload" => Command::CompletedUpload,
            "refreshed_token" => Command::RefreshedToken,
            "update_subscriptions" => Command::UpdateSubscriptions(json_payload(args)?),
            "subscriptions" => Command::Subscriptions(json_payload(args)?),
            "seed_checkpoint_request_id" => Command::SeedCheckpointRequestId(IdArgument(integer_argument(args, 1))),
            "next_checkpoint_request_id" => Command::NextCheckpointRequestId,
            "current_checkpoint_request_id" => Command::CurrentCheckpointRequestId,
            "target_checkpoint_request_id" => {
                Command::TargetCheckpointRequestId(if args.value_type(1) == ffi::SQLITE_NULL {
                    TargetArgument::Read
                } else {
                    TargetArgument::Set(IdArgument(integer_argument(args, 1)))
                })
            }
            _ => return Err(PsError::invalid_argument("Unknown operation")),
        })
    }
}
