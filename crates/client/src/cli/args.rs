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
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Apply a schema, connect to a PowerSync service, download and upload changes.
    #[command(after_help = SYNC_HELP)]
    Sync(SyncArgs),
    /// Show the sync state stored in a database: last sync, priorities, buckets, pending uploads
    /// and why a checkpoint is held back.
    #[command(after_help = EXIT_CODES_HELP)]
    Status(InspectArgs),
    /// List the pending upload transactions.
    #[command(after_help = EXIT_CODES_HELP)]
    Crud(InspectArgs),
    /// Run one SQL statement with the PowerSync extension loaded.
    #[command(after_help = EXIT_CODES_HELP)]
    Query(QueryArgs),
}

const SYNC_HELP: &str = "\
Token sources, first found wins: --token, --token-command (run with `sh -c`, its trimmed stdout
is the token; run again on every refresh), the POWERSYNC_TOKEN environment variable.

Uploads: pending local writes are POSTed to --upload-url as JSON batches
  {\"client_id\": \"<uuid>\", \"batch\": [{\"op_id\": 1, \"tx_id\": 1, \"op\": \"PUT\"|\"PATCH\"|\"DELETE\",
   \"type\": \"<table>\", \"id\": \"<row id>\", \"data\": {..}, \"old\": {..}, \"metadata\": \"..\"}]}
with `Authorization: Token <jwt>`. A 2xx answer completes the batch; anything else is shown with
the response body and retried with backoff. A queued write is never dropped.

Exit codes:
  0  success (--once: the first complete sync of this run, with all uploads confirmed)
  1  other failure (bad database, schema, token command failed, writes queued without --upload-url, ...)
  2  bad command-line flags
  3  the PowerSync service (or, with --once, the upload backend) is unreachable
  4  the service rejected the credentials (HTTP 401)
  5  the backend rejected an upload (with --once)";

#[derive(clap::Args, Debug)]
pub(crate) struct SyncArgs {
    /// The SQLite database file (created when missing).
    #[arg(long, value_name = "PATH")]
    pub db: PathBuf,
    /// The schema, JSON as for powersync_replace_schema.
    #[arg(long, value_name = "FILE")]
    pub schema: PathBuf,
    /// The PowerSync service URL, e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL")]
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
    /// Delay before reconnecting or retrying an upload, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub retry_delay_ms: u64,
}

#[derive(clap::Args, Debug)]
pub(crate) struct InspectArgs {
    /// The SQLite database file (must exist).
    #[arg(long, value_name = "PATH")]
    pub db: PathBuf,
    /// Machine-readable JSON output.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct QueryArgs {
    /// The SQLite database file (must exist).
    #[arg(long, value_name = "PATH")]
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
    pub schema_json: String,
    pub endpoint: String,
    pub token: TokenSource,
    pub upload_url: Option<String>,
    pub streams: Vec<(String, Option<serde_json::Value>)>,
    pub once: bool,
    pub retry_delay: Duration,
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
        let schema_json = std::fs::read_to_string(&self.schema)
            .map_err(|e| CliError::Other(format!("cannot read the schema {}: {e}", self.schema.display())))?;
        let streams = self
            .streams
            .iter()
            .map(|s| parse_stream(s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SyncConfig {
            db: self.db,
            schema_json,
            endpoint,
            token,
            upload_url: self.upload_url,
            streams,
            once: self.once,
            retry_delay: Duration::from_millis(self.retry_delay_ms),
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
