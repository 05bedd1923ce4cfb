//! Command-line flags (clap derive) and their decoding into typed configuration.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::cli::exit::{CliError, EXIT_CODES_HELP};
use crate::cli::token::TokenSource;

#[derive(Parser, Debug)]
#[command(name = "powersync-client", version, about = "Sync a PowerSync SQLite database from the command line", after_help = EXIT_CODES_HELP)]
pub(crate) struct Cli {
    /// More log output (-v: info, -vv: debug). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Quiet: errors only (no progress, no log warnings).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Apply a schema, connect to a PowerSync service, download and upload changes.
    #[command(after_help = format!("{SYNC_HELP}\n\n{EXIT_CODES_HELP}"))]
    Sync(SyncArgs),
    /// Show the sync state stored in a database: last sync, priorities, buckets, pending uploads
    /// and why a checkpoint is held back.
    #[command(after_help = EXIT_CODES_HELP)]
    Status(InspectArgs),
    /// List the pending upload transactions with their last upload error, and the parked ones;
    /// or park, discard or retry one.
    #[command(after_help = EXIT_CODES_HELP)]
    Crud(CrudArgs),
    /// Explain the state of sync from the database alone: tables and their kinds, buckets, the
    /// upload queue, the write checkpoint, and what holds downloaded data back (read-only; the
    /// extension's powersync_diagnostics(), docs/diagnostics.md).
    #[command(after_help = EXIT_CODES_HELP)]
    Doctor(InspectArgs),
    /// Run one SQL statement with the PowerSync extension loaded.
    #[command(after_help = EXIT_CODES_HELP)]
    Query(QueryArgs),
    /// Print a shell completion script, e.g. `powersync-client completions bash > /etc/bash_completion.d/powersync-client`.
    #[command(after_help = EXIT_CODES_HELP)]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

const SYNC_HELP: &str = "\
Environment: POWERSYNC_DB, POWERSYNC_SCHEMA and POWERSYNC_ENDPOINT stand in for --db, --schema
and --endpoint (flags win); POWERSYNC_DB also for status, crud and query.

Token sources, first found wins: --token, --token-command (run with `sh -c`, its trimmed stdout
is the token; run again on every refresh), the POWERSYNC_TOKEN environment variable.

Uploads: pending local writes are POSTed to --upload-url as JSON batches
  {\"client_id\": \"<uuid>\", \"batch\": [{\"op_id\": 1, \"tx_id\": 1, \"op\": \"PUT\"|\"PATCH\"|\"DELETE\",
   \"type\": \"<table>\", \"id\": \"<row id>\", \"data\": {..}, \"old\": {..}, \"metadata\": \"..\"}]}
with `Authorization: Token <jwt>`. A 2xx answer completes the batch; anything else is shown with
the response body and retried with backoff. A queued write is never dropped: one the backend
keeps rejecting can be parked (--on-reject park, or `crud --park TX`) and retried or discarded
with `crud --retry TX` / `crud --discard TX`.";

#[derive(clap::Args, Debug)]
pub(crate) struct SyncArgs {
    /// The SQLite database file (created when missing).
    #[arg(long, value_name = "PATH", env = "POWERSYNC_DB")]
    pub db: PathBuf,
    /// The schema, JSON as for powersync_replace_schema.
    #[arg(long, value_name = "FILE", env = "POWERSYNC_SCHEMA")]
    pub schema: PathBuf,
    /// The PowerSync service URL, e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL", env = "POWERSYNC_ENDPOINT")]
    pub endpoint: String,
    /// The JWT to authenticate with.
    #[arg(long, value_name = "JWT", conflicts_with = "token_command")]
    pub token: Option<String>,
    /// A shell command that prints a JWT.
    #[arg(long, value_name = "CMD")]
    pub token_command: Option<String>,
    /// Your backend's upload endpoint (receives pending writes as JSON batches).
    #[arg(long, value_name = "URL")]
    pub upload_url: Option<String>,
    /// Subscribe to a sync stream, optionally with JSON parameters (repeatable).
    #[arg(long = "stream", value_name = "NAME[=JSON]")]
    pub streams: Vec<String>,
    /// Exit after the first complete sync of this run (and after pending uploads are confirmed).
    #[arg(long)]
    pub once: bool,
    /// What to do with an upload the backend rejects (HTTP 4xx).
    #[arg(long, value_enum, default_value_t = OnRejectArg::Retry)]
    pub on_reject: OnRejectArg,
    /// One JSON object per line on stdout instead of the progress display: events of type
    /// "status", "progress", "upload" and "error" (see the README).
    #[arg(long)]
    pub json: bool,
    /// With --on-reject park: park a transaction after this many rejections.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub park_after: u32,
    /// With --once: how often an unreachable, dropped or failing (5xx) service, or a
    /// temporarily failing upload, is retried (with backoff) before giving up with code 3 or 6.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retries: u32,
    /// When another sync holds this database's lock, wait for it to end instead of exiting
    /// with code 7.
    #[arg(long)]
    pub wait_lock: bool,
    /// Delay before reconnecting or retrying an upload, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub retry_delay_ms: u64,
    /// Apply checkpoints to every row without a pending local write while uploads wait (rows
    /// with one keep their local version until the service confirms it). Turns on the
    /// database's apply_around_pending_uploads setting, which stays on.
    #[arg(long)]
    pub apply_around_pending: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct InspectArgs {
    /// The SQLite database file (must exist).
    #[arg(long, value_name = "PATH", env = "POWERSYNC_DB")]
    pub db: PathBuf,
    /// Machine-readable JSON output.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct CrudArgs {
    #[command(flatten)]
    pub inspect: InspectArgs,
    /// Move the queued transaction TX out of the upload queue (never uploaded unless retried;
    /// its rows come back to the server's version at the next checkpoint).
    #[arg(long, value_name = "TX", group = "action")]
    pub park: Option<i64>,
    /// Drop the transaction TX (queued or parked) for good.
    #[arg(long, value_name = "TX", group = "action")]
    pub discard: Option<i64>,
    /// Put the parked transaction TX back into the upload queue, ahead of later writes.
    #[arg(long, value_name = "TX", group = "action")]
    pub retry: Option<i64>,
}

/// A change of the upload queue asked for by `crud`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CrudAction {
    Park(i64),
    Discard(i64),
    Retry(i64),
}

impl CrudArgs {
    pub(crate) fn action(&self) -> Option<CrudAction> {
        self.park
            .map(CrudAction::Park)
            .or(self.discard.map(CrudAction::Discard))
            .or(self.retry.map(CrudAction::Retry))
    }
}

/// `sync --on-reject`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnRejectArg {
    /// Retry rejected uploads forever (with backoff); with --once, exit with code 5.
    Retry,
    /// Park a transaction after --park-after rejections and go on with the rest.
    Park,
}

#[derive(clap::Args, Debug)]
pub(crate) struct QueryArgs {
    /// The SQLite database file (must exist).
    #[arg(long, value_name = "PATH", env = "POWERSYNC_DB")]
    pub db: PathBuf,
    /// The SQL statement.
    pub sql: String,
    /// Rows as a JSON array of objects.
    #[arg(long)]
    pub json: bool,
}

/// `sync` flags, decoded.
pub(crate) struct SyncConfig {
    pub db: PathBuf,
    pub schema_path: PathBuf,
    pub schema_json: String,
    pub endpoint: String,
    pub token: TokenSource,
    pub upload_url: Option<String>,
    pub streams: Vec<(String, Option<serde_json::Value>)>,
    pub once: bool,
    pub wait_lock: bool,
    pub retries: u32,
    pub on_reject: powersync_client::OnReject,
    pub json: bool,
    pub retry_delay: Duration,
    pub apply_around_pending: bool,
}

fn parse_stream(s: &str) -> Result<(String, Option<serde_json::Value>), CliError> {
    let (name, params) = match s.split_once('=') {
        Some((n, p)) => {
            let v: serde_json::Value = serde_json::from_str(p)
                .map_err(|e| CliError::Usage(format!("--stream {s}: the parameters are not valid JSON: {e}")))?;
            (n, Some(v))
        }
        None => (s, None),
    };
    if name.is_empty() {
        return Err(CliError::Usage(format!("--stream {s:?}: empty stream name")));
    }
    Ok((name.to_string(), params))
}

/// Reads the schema file and checks that it is JSON, so a typo is reported with the file and
/// position before any database file is created.
fn read_schema(path: &std::path::Path) -> Result<String, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Other(format!("cannot read the schema {}: {e}", path.display())))?;
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&text) {
        return Err(CliError::Other(format!(
            "the schema {} is not valid JSON: line {}, column {}: {e}",
            path.display(),
            e.line(),
            e.column()
        )));
    }
    Ok(text)
}

impl SyncArgs {
    pub(crate) fn decode(self) -> Result<SyncConfig, CliError> {
        let token = match (self.token, self.token_command) {
            (Some(t), None) => TokenSource::Fixed(t),
            (None, Some(c)) => TokenSource::Command(c),
            (Some(_), Some(_)) => return Err(CliError::Usage("--token and --token-command conflict".into())),
            (None, None) => match std::env::var("POWERSYNC_TOKEN") {
                Ok(t) if !t.trim().is_empty() => TokenSource::Fixed(t),
                _ => {
                    return Err(CliError::Usage(
                        "no token: pass --token JWT, --token-command CMD or set POWERSYNC_TOKEN".into(),
                    ))
                }
            },
        };
        let endpoint = self.endpoint.trim_end_matches('/').to_string();
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(CliError::Usage(format!(
                "--endpoint {endpoint:?}: expected an http:// or https:// URL"
            )));
        }
        if let Some(u) = &self.upload_url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(CliError::Usage(format!(
                    "--upload-url {u:?}: expected an http:// or https:// URL"
                )));
            }
        }
        let schema_json = read_schema(&self.schema)?;
        let streams = self
            .streams
            .iter()
            .map(|s| parse_stream(s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SyncConfig {
            db: self.db,
            schema_path: self.schema,
            schema_json,
            endpoint,
            token,
            upload_url: self.upload_url,
            streams,
            once: self.once,
            wait_lock: self.wait_lock,
            retries: self.retries,
            json: self.json,
            on_reject: match self.on_reject {
                OnRejectArg::Retry => powersync_client::OnReject::Retry,
                OnRejectArg::Park => powersync_client::OnReject::Park { after: self.park_after },
            },
            retry_delay: Duration::from_millis(self.retry_delay_ms),
            apply_around_pending: self.apply_around_pending,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_flags() {
        assert_eq!(parse_stream("todos").unwrap(), ("todos".into(), None));
        let (n, p) = parse_stream(r#"todos={"list":"L1"}"#).unwrap();
        assert_eq!(n, "todos");
        assert_eq!(p.unwrap()["list"], "L1");
        assert!(matches!(parse_stream("todos={bad"), Err(CliError::Usage(_))));
        assert!(matches!(parse_stream("=1"), Err(CliError::Usage(_))));
    }

    #[test]
    fn cli_definition_is_valid() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
