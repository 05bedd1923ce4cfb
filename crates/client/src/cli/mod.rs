//! The `powersync-client` command-line program.

pub(crate) mod args;
pub(crate) mod connector;
pub(crate) mod events;
pub(crate) mod exit;
pub(crate) mod inspect;
pub(crate) mod progress;
pub(crate) mod signals;
pub(crate) mod sync_cmd;
pub(crate) mod token;

use args::{Cli, Command};
use exit::CliError;

pub(crate) async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Sync(a) => sync_cmd::run(a.decode()?, cli.quiet).await,
        Command::Status(a) => inspect::status(&a.db, a.json).await,
        Command::Doctor(a) => inspect::doctor(&a.db, a.json).await,
        Command::Crud(a) => match a.action() {
            Some(action) => inspect::crud_action(&a.inspect.db, action).await,
            None => inspect::crud(&a.inspect.db, a.inspect.json).await,
        },
        Command::Query(a) => inspect::query(&a.db, &a.sql, a.json).await,
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "powersync-client", &mut std::io::stdout());
            Ok(())
        }
    }
}
