//! Where the CLI gets its JWT: a fixed token or a command run through `sh -c`.

use crate::cli::exit::CliError;

#[derive(Clone)]
pub(crate) enum TokenSource {
    Fixed(String),
    Command(String),
}

impl TokenSource {
    /// The token; the command runs again on every call (i.e. on every refresh).
    pub(crate) async fn token(&self) -> Result<String, CliError> {
        match self {
            TokenSource::Fixed(t) => Ok(t.trim().to_string()),
            TokenSource::Command(cmd) => {
                let out = tokio::process::Command::new("sh")
                    .arg("-c")
                    .arg(cmd)
                    .stdin(std::process::Stdio::null())
                    .output()
                    .await
                    .map_err(|e| CliError::Other(format!("could not run --token-command: {e}")))?;
                if !out.status.success() {
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    return Err(CliError::Other(format!(
                        "--token-command failed ({}): {}",
                        out.status,
                        stderr.trim()
                    )));
                }
                let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if token.is_empty() {
                    return Err(CliError::Other("--token-command printed no token".into()));
                }
                Ok(token)
            }
        }
    }
}
