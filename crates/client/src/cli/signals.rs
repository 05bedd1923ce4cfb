//! SIGINT and SIGTERM: both end `sync` with a clean disconnect; the exit code says which one
//! arrived (128 + signal number) unless the sync had completed.

use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::cli::exit::CliError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    Interrupt,
    Terminate,
}

impl Stop {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Stop::Interrupt => "SIGINT",
            Stop::Terminate => "SIGTERM",
        }
    }

    /// 128 + the signal number, as shells report a process killed by it.
    pub(crate) fn exit_code(self) -> i32 {
        match self {
            Stop::Interrupt => 130,
            Stop::Terminate => 143,
        }
    }
}

pub(crate) struct Signals {
    int: Signal,
    term: Signal,
}

impl Signals {
    /// Installs the handlers (from now on neither signal kills the process).
    pub(crate) fn install() -> Result<Signals, CliError> {
        let install =
            |kind| signal(kind).map_err(|e| CliError::Other(format!("could not install a signal handler: {e}")));
        Ok(Signals {
            int: install(SignalKind::interrupt())?,
            term: install(SignalKind::terminate())?,
        })
    }

    pub(crate) async fn recv(&mut self) -> Stop {
        tokio::select! {
            _ = self.int.recv() => Stop::Interrupt,
            _ = self.term.recv() => Stop::Terminate,
        }
    }
}
