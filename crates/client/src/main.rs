//! `powersync-client`: sync, inspect and query a PowerSync database from the command line.

mod cli;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() {
    let args = cli::args::Cli::parse();
    let default_level = match args.verbose {
        _ if args.quiet => "error",
        0 => "error,powersync=warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(cli::run(args));
    // Don't wait for blocking SQLite tasks of a connection that is already shut down.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(e.code());
    }
}
