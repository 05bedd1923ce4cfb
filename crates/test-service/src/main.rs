//! `powersync-test-service`: run the test service, or print a token for it.
//!
//! Exit codes: 0 success; 1 the service failed (cannot bind, database error); 2 bad command line;
//! 3 a rules or seed file could not be read or is invalid.

use clap::{Args, Parser, Subcommand};
use powersync_test_service::{ServiceConfig, ServiceError, TestService, DEFAULT_AUDIENCE, DEFAULT_KID, DEFAULT_SECRET};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const EXIT_FAILURE: u8 = 1;
const EXIT_BAD_FILE: u8 = 3;

#[derive(Parser)]
#[command(
    name = "powersync-test-service",
    version,
    about = "A small, protocol-faithful PowerSync service backed by SQLite, for tests and demos",
    after_help = "Exit codes: 0 success, 1 service failure, 2 bad command line, 3 invalid rules or seed file."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the PowerSync endpoints, the /upload backend endpoint and the /admin API.
    Serve(ServeArgs),
    /// Print a valid HS256 JWT for a user (for `powersync-client sync --token-command ...`).
    Token(TokenArgs),
}

#[derive(Args)]
struct KeyArgs {
    /// HS256 secret used to sign and check tokens.
    #[arg(long, env = "POWERSYNC_TEST_SECRET", default_value = DEFAULT_SECRET)]
    secret: String,
    /// Key id (JWT header `kid`) the service accepts.
    #[arg(long, default_value = DEFAULT_KID)]
    kid: String,
    /// Audience (JWT claim `aud`) the service requires.
    #[arg(long, default_value = DEFAULT_AUDIENCE)]
    audience: String,
}

#[derive(Args)]
struct ServeArgs {
    /// Rules file (JSON): buckets and sync streams.
    #[arg(long, value_name = "FILE")]
    rules: PathBuf,
    /// SQLite file for the service's data (created if missing). Default: in memory.
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Address to listen on. Port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Seed file (JSON `{"rows": {"table": [{"id": ..., ...}]}}`), applied when the database is empty.
    #[arg(long, value_name = "FILE")]
    seed: Option<PathBuf>,
    /// Seconds between `token_expires_in` keepalive lines on connected streams.
    #[arg(long, value_name = "SECS", default_value_t = 20)]
    keepalive: u64,
    #[command(flatten)]
    key: KeyArgs,
}

#[derive(Args)]
struct TokenArgs {
    /// User id (JWT `sub`).
    #[arg(long)]
    sub: String,
    /// Lifetime of the token in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    expires_in: u64,
    #[command(flatten)]
    key: KeyArgs,
}

fn with_key(config: ServiceConfig, key: KeyArgs) -> ServiceConfig {
    config
        .with_jwt_secret(key.secret)
        .with_jwt_kid(key.kid)
        .with_jwt_audience(key.audience)
}

fn file_error(e: &ServiceError) -> bool {
    matches!(e, ServiceError::InFile { .. } | ServiceError::ReadFile { .. })
}

fn serve(args: ServeArgs) -> Result<(), (u8, String)> {
    let bad_file = |e: ServiceError| (if file_error(&e) { EXIT_BAD_FILE } else { EXIT_FAILURE }, e.to_string());
    let mut config = ServiceConfig::from_rules_file(&args.rules).map_err(bad_file)?;
    if let Some(seed) = &args.seed {
        config = config.with_seed_file(seed).map_err(bad_file)?;
    }
    if let Some(db) = args.db {
        config = config.with_db_path(db);
    }
    let config = with_key(config, args.key)
        .with_listen(args.listen)
        .with_keepalive_interval(Duration::from_secs(args.keepalive.max(1)));
    let service = TestService::start(config).map_err(|e| (EXIT_FAILURE, e.to_string()))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", service.url())
        .and_then(|_| stdout.flush())
        .map_err(|e| (EXIT_FAILURE, format!("cannot write to stdout: {e}")))?;
    drop(stdout);
    wait_for_signal().map_err(|e| (EXIT_FAILURE, format!("cannot wait for a signal: {e}")))?;
    service.shutdown();
    Ok(())
}

/// Ctrl-C or SIGTERM ends the service cleanly (exit code 0).
fn wait_for_signal() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        #[cfg(unix)]
        {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r,
                _ = term.recv() => Ok(()),
            }
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c().await
    })
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Token(args) => {
            let config = with_key(ServiceConfig::default(), args.key);
            println!("{}", config.token(&args.sub, Duration::from_secs(args.expires_in)));
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, message)) => {
            eprintln!("powersync-test-service: {message}");
            ExitCode::from(code)
        }
    }
}
