//! `powersync-faults run`: the harness; `powersync-faults schedule`: print a seed's schedule;
//! `powersync-faults worker`: one client process (started by `run`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use powersync_faults::runner::{self, RunConfig};
use powersync_faults::schedule::schedule;
use powersync_faults::worker::{self, WorkerArgs};

#[derive(Parser)]
#[command(
    name = "powersync-faults",
    version,
    about = "Convergence under faults: workload, nemesis and checkers for powersync-client"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the harness once per seed; exit 1 when a checker finds a violation.
    Run {
        /// Seeds to run, in order (comma-separated or repeated).
        #[arg(long = "seed", value_delimiter = ',', default_value = "1")]
        seeds: Vec<u64>,
        /// Number of client processes.
        #[arg(long, default_value_t = 4)]
        clients: usize,
        /// Seconds of workload under faults (per seed).
        #[arg(long, default_value_t = 60)]
        duration: u64,
        /// Seconds the system may take to settle after the faults stop.
        #[arg(long, default_value_t = 30)]
        quiet_timeout: u64,
        /// Directory for databases, histories and logs (one subdirectory per seed).
        #[arg(long, default_value = "target/faults")]
        out: PathBuf,
        /// The powersync-test-service binary (default: next to this one).
        #[arg(long)]
        service_bin: Option<PathBuf>,
        /// Clients sync with apply_around_pending_uploads on, and after the faults the
        /// apply-around probe checks that rows without pending writes reach the server's
        /// version while a row with one waits.
        #[arg(long)]
        apply_around_pending: bool,
    },
    /// Print the fault schedule of a seed (the same seed always gives the same schedule).
    Schedule {
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 4)]
        clients: usize,
        #[arg(long, default_value_t = 60)]
        duration: u64,
    },
    /// One client process (started by `run`; commands on stdin).
    #[command(hide = true)]
    Worker(WorkerArgs),
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("powersync-faults: tokio runtime: {e}");
            return ExitCode::from(3);
        }
    };
    match cli.cmd {
        Cmd::Worker(args) => {
            let client = args.client;
            match rt.block_on(worker::run(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("powersync-faults worker {client}: {e}");
                    ExitCode::from(3)
                }
            }
        }
        Cmd::Schedule {
            seed,
            clients,
            duration,
        } => {
            for s in schedule(seed, clients, Duration::from_secs(duration)) {
                println!("{:>6} ms  {:>5} ms  {}", s.at_ms, s.dur_ms, s.fault);
            }
            ExitCode::SUCCESS
        }
        Cmd::Run {
            seeds,
            clients,
            duration,
            quiet_timeout,
            out,
            service_bin,
            apply_around_pending,
        } => rt.block_on(run_seeds(
            seeds,
            Shape {
                clients,
                duration,
                quiet_timeout,
                apply_around: apply_around_pending,
            },
            out,
            service_bin,
        )),
    }
}

/// What every seed of a `run` shares.
struct Shape {
    clients: usize,
    duration: u64,
    quiet_timeout: u64,
    apply_around: bool,
}

async fn run_seeds(seeds: Vec<u64>, shape: Shape, out: PathBuf, service_bin: Option<PathBuf>) -> ExitCode {
    let Shape {
        clients,
        duration,
        quiet_timeout,
        apply_around,
    } = shape;
    let around_flag = if apply_around { " --apply-around-pending" } else { "" };
    let self_bin = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("powersync-faults: cannot find my own binary: {e}");
            return ExitCode::from(3);
        }
    };
    let service_bin = service_bin.unwrap_or_else(|| self_bin.with_file_name("powersync-test-service"));
    if !service_bin.exists() {
        eprintln!(
            "powersync-faults: {} not found; build it (cargo build --release -p powersync-test-service) or pass --service-bin",
            service_bin.display()
        );
        return ExitCode::from(3);
    }
    let (mut passed, mut failed) = (0, 0);
    for seed in seeds {
        let cfg = RunConfig {
            seed,
            clients: clients.max(1),
            duration: Duration::from_secs(duration),
            out: out.join(format!("seed-{seed}")),
            quiet_timeout: Duration::from_secs(quiet_timeout),
            service_bin: service_bin.clone(),
            self_bin: self_bin.clone(),
            replay: format!(
                "make faults SEED={seed} CLIENTS={clients} DURATION={duration}{}   (or: {} run --seed {seed} --clients {clients} --duration {duration}{around_flag})",
                if apply_around { " AROUND=1" } else { "" },
                self_bin.display()
            ),
            apply_around,
        };
        match runner::run(cfg.clone()).await {
            Err(e) => {
                eprintln!("seed {seed}: the harness could not run: {e}");
                return ExitCode::from(3);
            }
            Ok(o) => {
                let faults: Vec<String> = o.faults.iter().map(|(k, n)| format!("{k} {n}")).collect();
                let quiet = o
                    .quiet_after
                    .map(|d| format!("settled {:.1} s after healing", d.as_secs_f64()))
                    .unwrap_or_else(|| format!("did NOT settle within {quiet_timeout} s"));
                println!(
                    "seed {seed}: {} committed transactions ({} row deletes), {} reads, {} uploads rejected by the backend; faults: {}; {quiet}; {} violation(s)",
                    o.committed_txns,
                    o.deletes,
                    o.reads,
                    o.rejected_uploads,
                    faults.join(", "),
                    o.violations.len()
                );
                println!("seed {seed}: checks (violations of checked):");
                for line in &o.checks {
                    println!("  {line}");
                }
                print_violations(&o.violations);
                if o.violations.is_empty() {
                    passed += 1;
                } else {
                    println!("seed {seed}: FAILED (history in {})", cfg.out.display());
                    failed += 1;
                }
            }
        }
    }
    println!("faults: {passed} passed, {failed} failed");
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The first few violations of each kind in full, the next ones as one line each, then counts.
fn print_violations(found: &[runner::Found]) {
    const FULL: usize = 2;
    const BRIEF: usize = 8;
    let mut per_kind: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for f in found {
        let n = per_kind.entry(f.kind).or_default();
        *n += 1;
        if *n <= FULL {
            println!("{}", f.report);
        } else if *n <= FULL + BRIEF {
            println!("VIOLATION [{}] {}", f.kind, f.summary);
        }
    }
    if !found.is_empty() {
        let counts: Vec<String> = per_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!("violations by kind: {}", counts.join(", "));
    }
}
