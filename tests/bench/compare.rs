//! `make bench`: our cdylib side by side with the reference build (and the raw-SQLite limit) on
//! the same workloads. Every run is its own process (this binary re-executed with `--child`) on a
//! fresh database file, so peak RSS and database size belong to one run; the builds alternate
//! within each repetition. Prints a table; nothing here is a test.
//!
//! The reference of the JSON-table workloads is 0.5.3 from the npm package
//! (`tools/reference/setup.sh`, run by `make bench`); the direct-table workloads (`direct-*`)
//! compare against the 0.5.4 build (`tools/reference/setup054.sh`, not run by `make bench`).
//! Without a reference only our numbers and the raw limit are shown.

mod lines;
mod workloads;

use std::path::{Path, PathBuf};
use std::process::Command;

use workloads::{Format, Report, Workload};

const HELP: &str = "\
compare: libpowersync vs. the reference extension vs. raw SQLite

usage: make bench [BENCH_ARGS='<options>']
       cargo bench -p libpowersync-tests --bench compare -- [options]

options:
  --reps N        repetitions of every run (default 3); the table shows medians
  --large         also run the initial sync of 1,000,000 rows (JSON and BSON; several minutes)
  --only A,B      only the workloads whose id contains one of these (e.g. sync-100000,views;
                  `direct` for the direct-table ones)
  --list          print the workload ids and exit
  --help          this text

environment: POWERSYNC_EXTENSION overrides our build (default target/release/libpowersync.so).
             PS_BENCH_SMAPS=FILE: each run copies its /proc/self/smaps to FILE before its
             database closes (resident memory per mapping; use with --child for one run).
             PS_BENCH_SQL=SQL: run after the database's pragmas in every run (experiments,
             e.g. 'PRAGMA temp_store=MEMORY').
Reference: 0.5.3 (npm, .cache/reference/) for the JSON-table workloads, 0.5.4
(.cache/reference054/, tools/reference/setup054.sh) for direct-*: 0.5.3 has no direct tables.
Rates are rows (or ops) per second; speedup = our rate / reference rate (above 1: we are faster);
raw = our rate as a fraction of inserting the same rows into a plain table with one statement.";

struct Options {
    reps: usize,
    large: bool,
    only: Vec<String>,
    list: bool,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        reps: 3,
        large: false,
        only: vec![],
        list: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            // cargo bench passes this to every harness-less bench.
            "--bench" => {}
            "--large" => options.large = true,
            "--list" => options.list = true,
            "--reps" => {
                let n = it.next().ok_or("--reps needs a number")?;
                options.reps = n
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or(format!("--reps: not a positive number: {n}"))?;
            }
            "--only" => {
                let list = it.next().ok_or("--only needs a list of workload ids")?;
                options.only = list.split(',').map(str::to_string).collect();
            }
            "--help" | "-h" => {
                println!("{HELP}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other} (see --help)")),
        }
    }
    Ok(options)
}

fn all_workloads(large: bool) -> Vec<Workload> {
    let mut sizes = vec![10_000, 100_000];
    if large {
        sizes.push(1_000_000);
    }
    let mut all = vec![];
    for rows in sizes {
        for format in [Format::Json, Format::Bson] {
            all.push(Workload::InitialSync { rows, format });
        }
    }
    all.push(Workload::Diff { format: Format::Json });
    all.push(Workload::Diff { format: Format::Bson });
    all.push(Workload::Partial { format: Format::Json });
    for buckets in [10, 1000, 10_000] {
        all.push(Workload::Buckets { buckets });
    }
    all.push(Workload::Views);
    for rows in [10_000, 100_000] {
        all.push(Workload::DirectSync { rows });
    }
    all.push(Workload::DirectDiff);
    all.push(Workload::DirectWrites);
    all
}

/// `--child <workload> <extension path or "raw">`: one run, one RESULT line on stdout.
fn child(args: &[String]) {
    let workload = Workload::parse(&args[0]).unwrap_or_else(|| panic!("unknown workload {}", args[0]));
    let extension = (args[1] != "raw").then(|| PathBuf::from(&args[1]));
    let path = std::env::temp_dir().join(format!("powersync-bench-{}.db", std::process::id()));
    let remove = |p: &Path| {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
        }
    };
    remove(&path);
    let report = workloads::run(workload, extension.as_deref(), &path);
    remove(&path);
    println!("{}", report.to_line());
}

fn run_child(workload: Workload, build: &str) -> Report {
    let output = Command::new(std::env::current_exe().expect("own path"))
        .args(["--child", &workload.id(), build])
        .output()
        .expect("run child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        panic!(
            "run {} on {build} failed: {}\n{}",
            workload.id(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    stdout.lines().find_map(Report::parse).expect("a RESULT line")
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn phase(report: &Report, name: &str) -> f64 {
    report
        .phases
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, s)| *s)
        .expect("phase")
}

fn rate(units: u64, secs: f64) -> String {
    let r = units as f64 / secs;
    if r >= 10_000.0 {
        format!("{:.0}k", r / 1000.0)
    } else {
        format!("{r:.0}")
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return child(&args[1..]);
    }
    let options = parse_options(&args).unwrap_or_else(|e| {
        eprintln!("compare: {e}");
        std::process::exit(2);
    });
    let mut selected = all_workloads(options.large || options.only.iter().any(|o| o.contains("1000000")));
    if !options.only.is_empty() {
        selected.retain(|w| options.only.iter().any(|o| w.id().contains(o.as_str())));
    }
    if options.list {
        for w in all_workloads(true) {
            println!("{}", w.id());
        }
        return;
    }

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let ours = std::env::var_os("POWERSYNC_EXTENSION")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/release/libpowersync.so"));
    assert!(ours.exists(), "build the extension first (make build)");
    let ref053 = root.join(".cache/reference/node/package/lib/libpowersync_x64.linux.so");
    let ref054 = root.join(".cache/reference054/libpowersync054.so");
    for (direct, reference, which, setup) in [
        (false, &ref053, "0.5.3", "setup.sh"),
        (true, &ref054, "0.5.4", "setup054.sh"),
    ] {
        if !selected.iter().any(|w| w.is_direct() == direct) {
            continue;
        } else if reference.exists() {
            println!("ref = {which} ({})", reference.display());
        } else {
            println!("({which} reference build not installed: run tools/reference/{setup} to compare)");
        }
    }

    println!(
        "{:<18} {:<9} {:>9} {:>9} {:>8} {:>6} {:>9} {:>9} {:>8} {:>8}",
        "workload", "phase", "ours/s", "ref/s", "speedup", "raw", "ours MB", "ref MB", "ours DB", "ref DB"
    );
    for workload in selected {
        let reference = if workload.is_direct() { &ref054 } else { &ref053 };
        let mut builds = vec![("ours", ours.display().to_string())];
        if reference.exists() {
            builds.push(("ref", reference.display().to_string()));
        }
        builds.push(("raw", "raw".to_string()));
        // reports[build][rep]; the order of the builds rotates with the repetition.
        let mut reports: Vec<Vec<Report>> = builds.iter().map(|_| vec![]).collect();
        for rep in 0..options.reps {
            for i in 0..builds.len() {
                let b = (i + rep) % builds.len();
                reports[b].push(run_child(workload, &builds[b].1));
            }
        }
        let raw_secs = median(reports.last().unwrap().iter().map(|r| phase(r, "total")).collect());
        let raw_rate = workload.raw_rows() as f64 / raw_secs;
        let peak = |b: usize| median(reports[b].iter().map(|r| r.peak_kb as f64).collect()) / 1024.0;
        let size = |b: usize| median(reports[b].iter().map(|r| r.db_bytes as f64).collect()) / 1_048_576.0;
        let has_ref = builds.len() == 3;
        for (index, (name, units)) in workload.phases().into_iter().enumerate() {
            let ours = median(reports[0].iter().map(|r| phase(r, name)).collect());
            let reference = has_ref.then(|| median(reports[1].iter().map(|r| phase(r, name)).collect()));
            let first = index == 0;
            println!(
                "{:<18} {:<9} {:>9} {:>9} {:>8} {:>5.0}% {:>9} {:>9} {:>8} {:>8}",
                if first { workload.id() } else { String::new() },
                name,
                rate(units, ours),
                reference.map_or(String::new(), |r| rate(units, r)),
                reference.map_or(String::new(), |r| format!("{:.2}x", r / ours)),
                100.0 * (units as f64 / ours) / raw_rate,
                if first {
                    format!("{:.1}", peak(0))
                } else {
                    String::new()
                },
                if first && has_ref {
                    format!("{:.1}", peak(1))
                } else {
                    String::new()
                },
                if first {
                    format!("{:.1}", size(0))
                } else {
                    String::new()
                },
                if first && has_ref {
                    format!("{:.1}", size(1))
                } else {
                    String::new()
                },
            );
        }
        if let Some(lines) = workload.data_lines() {
            let ours = median(reports[0].iter().map(|r| phase(r, "ingest")).collect());
            let reference = has_ref.then(|| median(reports[1].iter().map(|r| phase(r, "ingest")).collect()));
            println!(
                "{:<18} {:<9} {:>9} {:>9} {:>8}  ({lines} data lines)",
                "",
                "per line",
                format!("{:.0}us", 1e6 * ours / lines as f64),
                reference.map_or(String::new(), |r| format!("{:.0}us", 1e6 * r / lines as f64)),
                reference.map_or(String::new(), |r| format!("{:.2}x", r / ours)),
            );
        }
        println!(
            "{:<18} {:<9} raw limit {} rows/s, peak {:.1} MB",
            "",
            "",
            rate(workload.raw_rows(), raw_secs),
            peak(builds.len() - 1)
        );
    }
}
