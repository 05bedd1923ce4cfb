//! One run: the test service (a child process with `--db`), one fault proxy per client, the
//! worker processes, the nemesis executing the seed's schedule, then heal, quiet period,
//! checks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use crate::checker::{self, Inputs};
use crate::history::{self, now_ms, Event, Recorder};
use crate::observer;
use crate::proxy::{Cut, Proxy, Side};
use crate::schedule::{schedule, Fault, Step};
use crate::worker::{Command as WorkerCommand, Reply, WorkerState, LONG_TOKEN_MS};
use crate::workload;

/// Up to this much fixed extra delay per connection, always (also after healing).
const NETWORK_JITTER: Duration = Duration::from_millis(40);

#[derive(Debug, Clone)]
pub struct RunConfig {
    pub seed: u64,
    pub clients: usize,
    pub duration: Duration,
    pub out: PathBuf,
    /// How long the quiet period may take before liveness fails.
    pub quiet_timeout: Duration,
    pub service_bin: PathBuf,
    pub self_bin: PathBuf,
    /// The command that replays this run (printed with every violation).
    pub replay: String,
    /// Workers sync with `apply_around_pending_uploads` on, and the apply-around probe runs
    /// after the faults (docs/reliability.md).
    pub apply_around: bool,
}

/// One violation: its kind, a one-line summary and the full report.
pub struct Found {
    pub kind: &'static str,
    pub summary: String,
    pub report: String,
}

pub struct Outcome {
    pub violations: Vec<Found>,
    /// One line per checker: what it counted and how many violations it found.
    pub checks: Vec<String>,
    pub faults: BTreeMap<&'static str, usize>,
    pub committed_txns: usize,
    /// Rows deleted by committed transactions.
    pub deletes: usize,
    /// Uploads the backend rejected (each one discarded transaction).
    pub rejected_uploads: usize,
    pub reads: usize,
    pub quiet_after: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Setup(String),
}

fn setup<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> RunError + '_ {
    move |e| RunError::Setup(format!("{what}: {e}"))
}

fn signal(child: &Child, sig: i32) {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) on the pid of a child this process spawned and has not reaped yet
        // (tokio reaps only after `wait`), so the pid cannot have been reused.
        unsafe {
            libc::kill(pid as libc::pid_t, sig);
        }
    }
}

fn log_file(path: &Path) -> Result<std::fs::File, RunError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(setup(&path.display().to_string()))
}

struct Service {
    bin: PathBuf,
    rules: PathBuf,
    db: PathBuf,
    log: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Service {
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn start(&mut self) -> Result<(), RunError> {
        let mut last = String::new();
        // The port of a killed service can take a moment to be free again.
        for _ in 0..25 {
            let mut child = Command::new(&self.bin)
                .arg("serve")
                .arg("--rules")
                .arg(&self.rules)
                .arg("--db")
                .arg(&self.db)
                .arg("--listen")
                .arg(format!("127.0.0.1:{}", self.port))
                .arg("--keepalive")
                .arg("1")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(log_file(&self.log)?)
                .kill_on_drop(true)
                .spawn()
                .map_err(setup(&self.bin.display().to_string()))?;
            let stdout = child.stdout.take();
            let mut lines = BufReader::new(stdout.ok_or_else(|| RunError::Setup("no stdout".into()))?).lines();
            match tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await {
                Ok(Ok(Some(l))) if l.starts_with("listening on") => {
                    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
                    self.child = Some(child);
                    return Ok(());
                }
                other => {
                    last = format!("{other:?}");
                    let _ = child.kill().await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        Err(RunError::Setup(format!(
            "the test service did not start (see {}): {last}",
            self.log.display()
        )))
    }

    async fn stop(&mut self, kill: bool) {
        if let Some(mut c) = self.child.take() {
            signal(&c, if kill { libc::SIGKILL } else { libc::SIGTERM });
            if tokio::time::timeout(Duration::from_secs(10), c.wait()).await.is_err() {
                let _ = c.kill().await;
            }
        }
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<serde_json::Value>) -> Result<(), String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        let mut req = http.request(method, format!("{}{}", self.base(), path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send()
            .await
            .and_then(|r| r.error_for_status())
            .map(|_| ())
            .map_err(|e| e.without_url().to_string())
    }
}

struct Worker {
    inc: u32,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    replies: Option<mpsc::UnboundedReceiver<Reply>>,
    paused: bool,
    seq: u64,
}

struct Cluster {
    cfg: RunConfig,
    service: Service,
    proxies: Vec<Proxy>,
    workers: Vec<Worker>,
    nemesis: Recorder,
    faults_log: BTreeMap<&'static str, usize>,
}

impl Cluster {
    async fn spawn_worker(&mut self, i: usize) -> Result<(), RunError> {
        let cfg = &self.cfg;
        let w = &mut self.workers[i];
        let mut child = Command::new(&cfg.self_bin)
            .arg("worker")
            .args(["--client", &i.to_string(), "--inc", &w.inc.to_string()])
            .arg("--db")
            .arg(cfg.out.join(format!("client-{i}.db")))
            .args(["--endpoint", &self.proxies[i].url()])
            .arg("--history")
            .arg(cfg.out.join(format!("history-c{i}.jsonl")))
            .args(["--seed", &cfg.seed.to_string()])
            .args(cfg.apply_around.then_some("--apply-around-pending"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file(&cfg.out.join(format!("worker-{i}.log")))?)
            .kill_on_drop(true)
            .spawn()
            .map_err(setup(&cfg.self_bin.display().to_string()))?;
        let stdout = child.stdout.take().ok_or_else(|| RunError::Setup("no stdout".into()))?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                if let Ok(r) = serde_json::from_str::<Reply>(&l) {
                    let _ = tx.send(r);
                }
            }
        });
        w.stdin = child.stdin.take();
        w.child = Some(child);
        w.replies = Some(rx);
        w.paused = false;
        Ok(())
    }

    /// Sends a command without waiting (a paused worker reads it when it continues).
    async fn send(&mut self, i: usize, make: impl FnOnce(u64) -> WorkerCommand) -> u64 {
        let w = &mut self.workers[i];
        w.seq += 1;
        let cmd = make(w.seq);
        if let Some(stdin) = w.stdin.as_mut() {
            let mut line = serde_json::to_string(&cmd).unwrap_or_default();
            line.push('\n');
            let _ = stdin.write_all(line.as_bytes()).await;
            let _ = stdin.flush().await;
        }
        w.seq
    }

    async fn request(&mut self, i: usize, timeout: Duration, make: impl FnOnce(u64) -> WorkerCommand) -> Option<Reply> {
        let seq = self.send(i, make).await;
        let rx = self.workers[i].replies.as_mut()?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(r)) if r.seq == seq => return Some(r),
                Ok(Some(_)) => continue,
                _ => return None,
            }
        }
    }

    async fn kill_worker(&mut self, i: usize) {
        let w = &mut self.workers[i];
        if let Some(mut c) = w.child.take() {
            signal(&c, libc::SIGKILL);
            let _ = c.wait().await;
        }
        w.stdin = None;
        w.replies = None;
    }

    async fn restart_worker(&mut self, i: usize) -> Result<(), RunError> {
        if self.workers[i].child.is_some() {
            return Ok(());
        }
        self.workers[i].inc += 1;
        self.spawn_worker(i).await
    }

    fn pause(&mut self, i: usize, on: bool) {
        let w = &mut self.workers[i];
        if let Some(c) = &w.child {
            if w.paused != on {
                signal(c, if on { libc::SIGSTOP } else { libc::SIGCONT });
                w.paused = on;
            }
        }
    }

    async fn service_fault(&mut self, body: serde_json::Value) {
        if let Err(e) = self
            .service
            .admin(reqwest::Method::POST, "/admin/faults", Some(body))
            .await
        {
            self.nemesis.record(Event::Note {
                text: format!("service fault not armed: {e}"),
            });
        }
    }

    async fn begin(&mut self, step: &Step) -> Result<(), RunError> {
        self.nemesis.record(Event::Nemesis {
            phase: "start".into(),
            fault: step.fault.to_string(),
        });
        *self.faults_log.entry(step.fault.kind()).or_default() += 1;
        match step.fault {
            Fault::Partition { client } => {
                self.proxies[client].refuse_new(true);
                self.proxies[client].cut(Cut::Reset(Side::Both));
            }
            Fault::Blackhole { client, dir } => self.proxies[client].blackhole(dir),
            Fault::Latency { client, ms, selective } => {
                self.proxies[client].set_latency(Duration::from_millis(ms), selective)
            }
            Fault::Cut { client, reset, side } => {
                self.proxies[client].cut(if reset { Cut::Reset(side) } else { Cut::Close(side) })
            }
            Fault::Kill { client } => self.kill_worker(client).await,
            Fault::Pause { client } => self.pause(client, true),
            Fault::Disconnect { client } => {
                self.send(client, |seq| WorkerCommand::Disconnect { seq }).await;
            }
            Fault::ShortTokens { client } => {
                self.send(client, |seq| WorkerCommand::TokenTtl {
                    seq,
                    ms: 2000 + (step.dur_ms % 3) * 1000,
                    slow_fetch_ms: 2500,
                })
                .await;
            }
            Fault::Upload5xx { times } => {
                self.service_fault(
                    serde_json::json!({"type":"respond_status","path_prefix":"/upload","status":503,"times":times}),
                )
                .await
            }
            Fault::UploadStall => {
                self.service_fault(
                    serde_json::json!({"type":"stall","path_prefix":"/upload","duration_ms": step.dur_ms + 1500}),
                )
                .await
            }
            Fault::UploadReject { table, key, status } => {
                self.service_fault(serde_json::json!({"type": "reject_uploads", "table": table,
                    "id": workload::key(key), "status": status, "duration_ms": step.dur_ms}))
                .await
            }
            Fault::CheckpointStall => {
                self.service_fault(serde_json::json!({"type":"stall","path_prefix":"/write-checkpoint2.json","duration_ms": step.dur_ms}))
                    .await
            }
            Fault::Stream5xx { times } => {
                self.service_fault(
                    serde_json::json!({"type":"respond_status","path_prefix":"/sync/stream","status":503,"times":times}),
                )
                .await
            }
            Fault::DropStreams => self.service_fault(serde_json::json!({"type":"drop_connected_streams"})).await,
            Fault::ServiceRestart { kill } => self.service.stop(kill).await,
        }
        Ok(())
    }

    async fn end(&mut self, step: &Step) -> Result<(), RunError> {
        match step.fault {
            Fault::Partition { client } => self.proxies[client].refuse_new(false),
            Fault::Blackhole { client, .. } => self.proxies[client].clear_blackhole(),
            Fault::Latency { client, .. } => self.proxies[client].set_latency(Duration::ZERO, false),
            Fault::Kill { client } => self.restart_worker(client).await?,
            Fault::Pause { client } => self.pause(client, false),
            Fault::Disconnect { client } => {
                self.send(client, |seq| WorkerCommand::Connect { seq }).await;
            }
            Fault::ShortTokens { client } => {
                self.send(client, |seq| WorkerCommand::TokenTtl {
                    seq,
                    ms: LONG_TOKEN_MS,
                    slow_fetch_ms: 0,
                })
                .await;
            }
            Fault::ServiceRestart { .. } => {
                if self.service.child.is_none() {
                    self.service.start().await?;
                }
            }
            Fault::Cut { .. }
            | Fault::Upload5xx { .. }
            | Fault::UploadStall
            | Fault::UploadReject { .. }
            | Fault::CheckpointStall
            | Fault::Stream5xx { .. }
            | Fault::DropStreams => {}
        }
        self.nemesis.record(Event::Nemesis {
            phase: "end".into(),
            fault: step.fault.to_string(),
        });
        Ok(())
    }

    /// Everything back to normal: every fault ended, service up and unfaulted, workers running,
    /// connected and with long tokens.
    async fn heal(&mut self) -> Result<(), RunError> {
        for p in &self.proxies {
            p.heal();
        }
        if self.service.child.is_none() {
            self.service.start().await?;
        }
        let _ = self.service.admin(reqwest::Method::DELETE, "/admin/faults", None).await;
        for i in 0..self.workers.len() {
            self.pause(i, false);
            self.restart_worker(i).await?;
            self.send(i, |seq| WorkerCommand::TokenTtl {
                seq,
                ms: LONG_TOKEN_MS,
                slow_fetch_ms: 0,
            })
            .await;
            self.send(i, |seq| WorkerCommand::Connect { seq }).await;
        }
        self.nemesis.record(Event::Note {
            text: "healed: no faults from here on".into(),
        });
        Ok(())
    }

    async fn states(&mut self) -> Vec<Option<WorkerState>> {
        let mut out = Vec::new();
        for i in 0..self.workers.len() {
            let r = self
                .request(i, Duration::from_secs(5), |seq| WorkerCommand::State { seq })
                .await;
            out.push(r.and_then(|r| r.state));
        }
        out
    }

    /// Polls every worker's state and the service's rows until all agree twice in a row, or
    /// `timeout` passed.
    async fn settle(&mut self, timeout: Duration) -> Result<Settled, RunError> {
        let quiet_start = Instant::now();
        let mut stable = 0;
        loop {
            let server_rows = observer::server_rows(&self.service.base())
                .await
                .map_err(RunError::Setup)?;
            let states = self.states().await;
            stable = if settled(&states, &server_rows) { stable + 1 } else { 0 };
            if stable >= 2 || quiet_start.elapsed() > timeout {
                return Ok(Settled {
                    states,
                    server_rows,
                    after: (stable >= 2).then(|| quiet_start.elapsed()),
                });
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// The apply-around probe (docs/reliability.md): once everything settled, uploads fail, one
    /// worker writes one row, and the service changes every other row (one is removed). That
    /// worker must show the server's version of every other row while its own write still
    /// waits. Then uploads work again. Returns the rows compared and the violation, if any.
    async fn around_probe(&mut self) -> Result<(usize, Option<checker::Violation>), RunError> {
        let violation = |message: String| checker::Violation {
            kind: checker::AROUND,
            message,
            context: Vec::new(),
        };
        if self.settle(self.cfg.quiet_timeout).await?.after.is_none() {
            let message = format!(
                "the probe could not start: the clients did not settle within {} s after healing",
                self.cfg.quiet_timeout.as_secs()
            );
            return Ok((0, Some(violation(message))));
        }
        let seed = self.cfg.seed as usize;
        let prober = seed % self.workers.len();
        let held = ("items".to_string(), workload::key(seed % workload::KEYS));
        let removed = ("accounts".to_string(), workload::key((seed + 1) % workload::KEYS));
        let value = format!("c{prober}.{}.probe", self.workers[prober].inc);
        self.nemesis.record(Event::Note {
            text: format!(
                "apply-around probe: c{prober} writes {}/{} while uploads fail",
                held.0, held.1
            ),
        });
        self.service_fault(
            serde_json::json!({"type": "respond_status", "path_prefix": "/upload", "status": 503, "times": 1_000_000}),
        )
        .await;
        let (table, id, v) = (held.0.clone(), held.1.clone(), value.clone());
        let wrote = self
            .request(prober, Duration::from_secs(10), |seq| WorkerCommand::ProbeWrite {
                seq,
                table,
                id,
                v,
            })
            .await;
        let mut outcome = (0, None);
        if !wrote.is_some_and(|r| r.ok) {
            outcome.1 = Some(violation(format!("c{prober} did not commit the probe's write")));
        } else {
            let mut ops = Vec::new();
            for t in workload::TABLES {
                for k in 0..workload::KEYS {
                    let row = (t.to_string(), workload::key(k));
                    if row == held {
                        continue;
                    }
                    ops.push(if row == removed {
                        serde_json::json!({"op": "DELETE", "type": t, "id": row.1})
                    } else {
                        serde_json::json!({"op": "PUT", "type": t, "id": row.1, "data": {"v": format!("srv{seed}.{t}.{k}"), "writer": "service"}})
                    });
                }
            }
            self.service
                .admin(
                    reqwest::Method::POST,
                    "/admin/apply",
                    Some(serde_json::json!({ "ops": ops })),
                )
                .await
                .map_err(|e| RunError::Setup(format!("/admin/apply: {e}")))?;
            let start = Instant::now();
            loop {
                let server = observer::server_rows(&self.service.base())
                    .await
                    .map_err(RunError::Setup)?;
                let state = self
                    .request(prober, Duration::from_secs(5), |seq| WorkerCommand::State { seq })
                    .await
                    .and_then(|r| r.state);
                let diffs = match &state {
                    Some(state) => {
                        let (compared, diffs) = checker::around_probe_diffs(state, &server, &held, &value);
                        outcome.0 = compared;
                        diffs
                    }
                    None => vec!["it did not answer for its state".to_string()],
                };
                if diffs.is_empty() {
                    self.nemesis.record(Event::Note {
                        text: format!("apply-around probe passed after {} ms", start.elapsed().as_millis()),
                    });
                    break;
                }
                if start.elapsed() > self.cfg.quiet_timeout {
                    outcome.1 = Some(violation(format!(
                        "c{prober} did not show the server's version of the rows without pending writes within {} s while its write to {}/{} waited: {}",
                        self.cfg.quiet_timeout.as_secs(),
                        held.0,
                        held.1,
                        diffs.join("; ")
                    )));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        let _ = self.service.admin(reqwest::Method::DELETE, "/admin/faults", None).await;
        Ok(outcome)
    }

    async fn shutdown(&mut self) {
        for w in &mut self.workers {
            w.stdin = None; // EOF: the worker disconnects and exits
        }
        for w in &mut self.workers {
            if let Some(mut c) = w.child.take() {
                if tokio::time::timeout(Duration::from_secs(10), c.wait()).await.is_err() {
                    let _ = c.kill().await;
                }
            }
        }
        self.service.stop(false).await;
    }
}

/// The end of a wait for quiet: the last states and rows, and how long settling took (`None`:
/// it did not settle in time).
struct Settled {
    states: Vec<Option<WorkerState>>,
    server_rows: observer::Rows,
    after: Option<Duration>,
}

fn settled(states: &[Option<WorkerState>], server: &observer::Rows) -> bool {
    states.iter().all(|s| {
        s.as_ref().is_some_and(|s| {
            s.pending_uploads == 0
                && s.held_rows == 0
                && s.pending_rows == 0
                && !s.downloading
                && s.connected
                && s.has_synced
                && s.upload_error.is_none()
                && s.download_error.is_none()
                && s.rows == *server
        })
    })
}

fn free_port() -> Result<u16, RunError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(setup("bind 127.0.0.1:0"))?;
    Ok(l.local_addr().map_err(setup("local_addr"))?.port())
}

pub async fn run(cfg: RunConfig) -> Result<Outcome, RunError> {
    let _ = std::fs::remove_dir_all(&cfg.out);
    std::fs::create_dir_all(&cfg.out).map_err(setup(&cfg.out.display().to_string()))?;
    let rules = cfg.out.join("rules.json");
    std::fs::write(&rules, workload::RULES).map_err(setup("rules.json"))?;
    let t0 = now_ms();
    let steps = schedule(cfg.seed, cfg.clients, cfg.duration);
    let mut service = Service {
        bin: cfg.service_bin.clone(),
        rules,
        db: cfg.out.join("service.sqlite"),
        log: cfg.out.join("service.log"),
        port: free_port()?,
        child: None,
    };
    service.start().await?;
    let upstream = std::net::SocketAddr::from(([127, 0, 0, 1], service.port));
    let mut proxies = Vec::new();
    for _ in 0..cfg.clients {
        proxies.push(
            Proxy::with_jitter(upstream, NETWORK_JITTER)
                .await
                .map_err(setup("proxy"))?,
        );
    }
    let nemesis = Recorder::open(&cfg.out.join("nemesis.jsonl"), None, 0).map_err(setup("nemesis.jsonl"))?;
    let mut cl = Cluster {
        cfg: cfg.clone(),
        service,
        proxies,
        workers: (0..cfg.clients)
            .map(|_| Worker {
                inc: 0,
                child: None,
                stdin: None,
                replies: None,
                paused: false,
                seq: 0,
            })
            .collect(),
        nemesis,
        faults_log: BTreeMap::new(),
    };
    for i in 0..cfg.clients {
        cl.spawn_worker(i).await?;
    }
    eprintln!(
        "seed {}: {} clients, {} s of faults ({} scheduled), output in {}",
        cfg.seed,
        cfg.clients,
        cfg.duration.as_secs(),
        steps.len(),
        cfg.out.display()
    );

    // The nemesis: starts and ends in time order (faults overlap).
    let start = Instant::now();
    let mut actions: Vec<(u64, bool, usize)> = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        actions.push((s.at_ms, true, i));
        actions.push((s.at_ms + s.dur_ms, false, i));
    }
    actions.sort();
    let end_ms = cfg.duration.as_millis() as u64;
    let mut ended = vec![false; steps.len()];
    for (at, is_start, i) in actions {
        if at > end_ms {
            break;
        }
        let due = start + Duration::from_millis(at);
        tokio::time::sleep_until(due.into()).await;
        if is_start {
            cl.begin(&steps[i]).await?;
        } else {
            cl.end(&steps[i]).await?;
            ended[i] = true;
        }
    }
    tokio::time::sleep_until((start + cfg.duration).into()).await;
    for (i, s) in steps.iter().enumerate() {
        if !ended[i] && s.at_ms <= end_ms {
            cl.end(s).await?;
        }
    }
    cl.heal().await?;

    // Quiet period: no new writes, then wait until every client settled.
    for i in 0..cfg.clients {
        let r = cl
            .request(i, Duration::from_secs(20), |seq| WorkerCommand::StopWorkload { seq })
            .await;
        if r.is_none() {
            cl.nemesis.record(Event::Note {
                text: format!("c{i} did not confirm the end of its workload"),
            });
        }
    }
    let probe = match cfg.apply_around {
        true => Some(cl.around_probe().await?),
        false => None,
    };
    let Settled {
        states: finals,
        server_rows,
        after: quiet_after,
    } = cl.settle(cfg.quiet_timeout).await?;
    cl.nemesis.record(Event::Note {
        text: match quiet_after {
            Some(d) => format!("quiet after {} ms", d.as_millis()),
            None => format!("not quiet after {} s", cfg.quiet_timeout.as_secs()),
        },
    });
    let token = powersync_test_service::ServiceConfig::from_rules_json(workload::RULES)
        .map_err(setup("rules"))?
        .token(workload::USER, Duration::from_secs(600));
    let server_history = observer::server_history(&cl.service.base(), &token)
        .await
        .map_err(RunError::Setup)?;
    let faults_log = std::mem::take(&mut cl.faults_log);
    cl.shutdown().await;

    let mut entries = Vec::new();
    for i in 0..cfg.clients {
        let p = cfg.out.join(format!("history-c{i}.jsonl"));
        entries.extend(history::read(&p).map_err(setup(&p.display().to_string()))?);
    }
    entries.extend(history::read(&cfg.out.join("nemesis.jsonl")).map_err(setup("nemesis.jsonl"))?);
    entries.sort_by_key(|e| e.t);
    let committed_txns = entries
        .iter()
        .filter(|e| matches!(&e.event, Event::Ok { op, .. } if op == "txn"))
        .count();
    let reads = entries
        .iter()
        .filter(|e| matches!(&e.event, Event::Ok { op, .. } if op == "read"))
        .count();
    let deletes = entries
        .iter()
        .map(|e| match &e.event {
            Event::Ok { writes, .. } => writes.iter().filter(|w| w.delete).count(),
            _ => 0,
        })
        .sum();
    let rejected_uploads = entries
        .iter()
        .filter(|e| matches!(&e.event, Event::Upload { phase, .. } if phase == "rejected"))
        .count();
    let inputs = Inputs {
        entries,
        server_history,
        server_rows,
        finals,
        t0,
    };
    let (mut violations, tallies) = checker::check_counted(&inputs);
    let mut checks: Vec<String> = tallies.iter().map(|t| t.line(&violations)).collect();
    if let Some((rows, found)) = probe {
        violations.extend(found);
        let tally = checker::Tally {
            kind: checker::AROUND,
            checked: rows,
            unit: "rows of the probe (all but one without a pending write, which must reach the server's version while the one with it waits)",
        };
        checks.push(tally.line(&violations));
    }
    let violations = violations
        .iter()
        .map(|v| Found {
            kind: v.kind,
            summary: v.message.clone(),
            report: checker::render(v, &inputs, &cfg.replay),
        })
        .collect();
    Ok(Outcome {
        violations,
        checks,
        faults: faults_log,
        committed_txns,
        deletes,
        rejected_uploads,
        reads,
        quiet_after,
    })
}
