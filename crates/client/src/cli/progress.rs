//! Showing sync progress: a live bar on a terminal, plain log lines otherwise.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use powersync_client::SyncStatus;

pub(crate) struct ProgressView {
    /// `-q`: show nothing.
    quiet: bool,
    bar: Option<ProgressBar>,
    last_line: String,
    last_progress_line: Option<Instant>,
    /// When this run first saw download progress, and the largest `(downloaded, total)` seen.
    download: Option<(Instant, i64, i64)>,
    rate: RecentRate,
}

/// How far back the shown rate looks: a rate over the whole session would hide a stall or a
/// speed-up behind the average.
const RATE_WINDOW: Duration = Duration::from_secs(5);

/// Rows per second over the last [`RATE_WINDOW`], from `(when, rows so far)` samples.
#[derive(Default)]
pub(crate) struct RecentRate {
    samples: VecDeque<(Instant, i64)>,
}

impl RecentRate {
    pub(crate) fn record(&mut self, at: Instant, rows: i64) {
        self.samples.push_back((at, rows));
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| at.duration_since(*t) > RATE_WINDOW)
        {
            self.samples.pop_front();
        }
    }

    /// `None` until the window spans a measurable time.
    pub(crate) fn per_second(&self) -> Option<f64> {
        let ((t0, r0), (t1, r1)) = (self.samples.front()?, self.samples.back()?);
        let secs = t1.duration_since(*t0).as_secs_f64();
        (secs >= 0.2).then(|| (r1 - r0) as f64 / secs)
    }
}

/// The phase of a download: rows are "applied" once all of the checkpoint's are downloaded
/// and before the extension reports the sync complete (a large checkpoint takes a while).
pub(crate) fn phase(downloaded: i64, total: i64) -> &'static str {
    if total > 0 && downloaded >= total {
        "applying"
    } else {
        "downloading"
    }
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
    pub(crate) fn new(quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
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
            quiet,
            bar,
            last_line: String::new(),
            last_progress_line: None,
            download: None,
            rate: RecentRate::default(),
        }
    }

    pub(crate) fn update(&mut self, s: &SyncStatus) {
        if self.quiet {
            return;
        }
        let line = state_line(s);
        let progress = s.download_progress();
        if let Some(p) = &progress {
            let started = self.download.map_or_else(Instant::now, |(t, _, _)| t);
            let (done, total) = self.download.map_or((0, 0), |(_, d, t)| (d, t));
            self.download = Some((started, done.max(p.downloaded), total.max(p.total)));
            self.rate.record(Instant::now(), p.downloaded);
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
                    bar.set_message(format!("{}{prio}", phase(p.downloaded, p.total)));
                    if let Some(rate) = self.rate.per_second() {
                        bar.set_prefix(format!(", {rate:.0} rows/s"));
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
                    let rate = self
                        .rate
                        .per_second()
                        .map(|r| format!(", {r:.0} rows/s"))
                        .unwrap_or_default();
                    eprintln!(
                        "{}: {}/{} rows{prio}{rate}",
                        phase(p.downloaded, p.total),
                        p.downloaded,
                        p.total
                    );
                    self.last_progress_line = Some(Instant::now());
                }
            }
        }
        self.last_line = line;
    }

    /// Clears the bar and leaves one line on what was downloaded (the bar itself is gone by
    /// then, and a fast sync would otherwise leave no trace of it).
    pub(crate) fn finish(&self) {
        if self.quiet {
            return;
        }
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
    fn the_rate_covers_only_the_recent_window() {
        let mut r = RecentRate::default();
        let t0 = Instant::now();
        r.record(t0, 0);
        assert_eq!(r.per_second(), None);
        // Fast at first, then 100 rows/s for longer than the window.
        r.record(t0 + Duration::from_secs(1), 100_000);
        for s in 2..=10 {
            r.record(t0 + Duration::from_secs(s), 100_000 + (s as i64 - 1) * 100);
        }
        assert_eq!(r.per_second(), Some(100.0));
    }

    #[test]
    fn applying_once_everything_is_downloaded() {
        assert_eq!(phase(5, 10), "downloading");
        assert_eq!(phase(10, 10), "applying");
        assert_eq!(phase(0, 0), "downloading");
    }

    #[test]
    fn state_line_shows_a_checkpoint_waiting_for_uploads() {
        let mut s = SyncStatus::default();
        s.connected = true;
        s.waiting_for_uploads = true;
        assert_eq!(state_line(&s), "connected, waiting for uploads");
    }
}
