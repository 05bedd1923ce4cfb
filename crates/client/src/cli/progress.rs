//! Showing sync progress: a live bar on a terminal, plain log lines otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use powersync_client::SyncStatus;

pub(crate) struct ProgressView {
    bar: Option<ProgressBar>,
    last_line: String,
    last_progress_line: Option<Instant>,
    /// When this run first saw download progress, and the largest `(downloaded, total)` seen.
    download: Option<(Instant, i64, i64)>,
}

fn state_line(s: &SyncStatus) -> String {
    if let Some(e) = &s.download_error {
        return format!("sync error: {e}");
    }
    let conn = if s.connected {
        "connected"
    } else if s.connecting {
        "connecting"
    } else {
        "disconnected"
    };
    let mut line = conn.to_string();
    if s.uploading {
        line.push_str(", uploading");
    }
    if s.waiting_for_uploads {
        line.push_str(", waiting for uploads");
    }
    if let Some(e) = &s.upload_error {
        line.push_str(&format!(", upload error: {e}"));
    }
    if s.synced_since_connect && !s.downloading {
        line.push_str(", in sync");
    }
    line
}

impl ProgressView {
    pub(crate) fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} rows{prefix}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        ProgressView {
            bar,
            last_line: String::new(),
            last_progress_line: None,
            download: None,
        }
    }

    pub(crate) fn update(&mut self, s: &SyncStatus) {
        let line = state_line(s);
        let progress = s.download_progress();
        if let Some(p) = &progress {
            let started = self.download.map_or_else(Instant::now, |(t, _, _)| t);
            let (done, total) = self.download.map_or((0, 0), |(_, d, t)| (d, t));
            self.download = Some((started, done.max(p.downloaded), total.max(p.total)));
        }
        if let Some(bar) = &self.bar {
            match progress {
                Some(p) => {
                    bar.set_length(p.total.max(0) as u64);
                    bar.set_position(p.downloaded.max(0) as u64);
                    let prio = s
                        .downloading_priority()
                        .map(|p| format!(" priority {p}"))
                        .unwrap_or_default();
                    bar.set_message(format!("downloading{prio}"));
                    if let Some((started, done, _)) = self.download {
                        let secs = started.elapsed().as_secs_f64();
                        if secs > 0.2 {
                            bar.set_prefix(format!(", {:.0} rows/s", done as f64 / secs));
                        }
                    }
                }
                None => bar.set_message(line.clone()),
            }
            if line != self.last_line {
                bar.println(&line);
            }
        } else {
            if line != self.last_line {
                eprintln!("{line}");
            }
            if let Some(p) = progress {
                let due = self
                    .last_progress_line
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
                if due || p.downloaded == p.total {
                    let prio = s
                        .downloading_priority()
                        .map(|p| format!(", priority {p}"))
                        .unwrap_or_default();
                    eprintln!("downloading: {}/{} rows{prio}", p.downloaded, p.total);
                    self.last_progress_line = Some(Instant::now());
                }
            }
        }
        self.last_line = line;
    }

    /// Clears the bar and leaves one line on what was downloaded (the bar itself is gone by
    /// then, and a fast sync would otherwise leave no trace of it).
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if let Some((started, done, total)) = self.download {
            let secs = started.elapsed().as_secs_f64();
            let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
            eprintln!("downloaded {done}/{total} rows in {secs:.2} s ({rate:.0} rows/s)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_line_shows_a_checkpoint_waiting_for_uploads() {
        let mut s = SyncStatus::default();
        s.connected = true;
        s.waiting_for_uploads = true;
        assert_eq!(state_line(&s), "connected, waiting for uploads");
    }
}
