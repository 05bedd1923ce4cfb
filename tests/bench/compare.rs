//! `make bench`: our cdylib side by side with the reference build (and the raw-SQLite limit) on
//! the same workloads. Every run is its own process (this binary re-executed with `--child`) on a
//! fresh database file, so peak RSS and database size belong to one run; the builds alternate
//! within each repetition. Prints a table; nothing here is a test.
//!
//! The reference is the 0.5.4 build, the drop-in target (`tools/reference/setup054.sh`, not run
//! by `make bench`); without it the JSON-table workloads fall back to 0.5.3 from the npm package
//! (`tools/reference/setup.sh`, run by `make bench`) and the direct-table workloads (`direct-*`)
//! show our numbers and the raw limit only. After the table, the initial-sync scale curve
//! (`sync-<rows>-json`, UUID ids, and its sequential-id row) is printed again per row.

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
                  `direct` for the direct-table ones; `curve` for the initial-sync scale curve:
                  sync-<10000|100000|300000>-json, sync-100000-json-seq, 1M with --large)
  --list          print the workload ids and exit
  --help          this text

environment: POWERSYNC_EXTENSION overrides our build (default target/release/libpowersync.so).
             PS_BENCH_SMAPS=FILE: each run copies its /proc/self/smaps to FILE before its
             database closes (resident memory per mapping; use with --child for one run).
             PS_BENCH_SQL=SQL: run after the database's pragmas in every run (experiments,
             e.g. 'PRAGMA temp_store=MEMORY').
Reference: 0.5.4 (.cache/reference054/, tools/reference/setup054.sh), the drop-in target; if it
is missing, 0.5.3 (npm, .cache/reference/) for the JSON-table workloads and none for direct-*
(0.5.3 has no direct tables). Every database: WAL, synchronous=NORMAL, cache_size=-50000; rows
have UUIDv4 ids (deterministic, random order) except in sync-100000-json-seq (r00000001, ...).
Rates are rows (or ops) per second; speedup = our rate / reference rate (above 1: we are faster);
raw = our rate as a fraction of inserting the same rows into a plain table with one statement;
for direct-writes, as a fraction of its floor: the SQLite work that the reference's trigger text
makes any build do, run by plain triggers without an extension (a lower bound on the time).";

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
    let mut sizes = vec![10_000, 100_000, 300_000];
    if large {
        sizes.push(1_000_000);
    }
    let mut all = vec![];
    for rows in sizes {
        for format in [Format::Json, Format::Bson] {
            // The 300k size is on the curve only (JSON).
            if rows != 300_000 || format == Format::Json {
                all.push(Workload::InitialSync {
                    rows,
                    format,
                    seq: false,
                });
            }
        }
    }
    all.push(Workload::InitialSync {
        rows: 100_000,
        format: Format::Json,
        seq: true,
    });
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
        selected.retain(|w| {
            options
                .only
                .iter()
                .any(|o| w.id().contains(o.as_str()) || (o == "curve" && w.in_curve()))
        });
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
    // The reference of a workload: 0.5.4 (the drop-in target), else 0.5.3 where it can run it.
    let reference_of = |w: &Workload| -> Option<(&Path, &'static str)> {
        if ref054.exists() {
            Some((&ref054, "0.5.4"))
        } else if !w.is_direct() && ref053.exists() {
            Some((&ref053, "0.5.3"))
        } else {
            None
        }
    };
    if ref054.exists() {
        println!("ref = 0.5.4 ({})", ref054.display());
    } else {
        println!("(0.5.4 reference build not installed: run tools/reference/setup054.sh to compare against it)");
        if selected.iter().any(|w| !w.is_direct()) {
            if ref053.exists() {
                println!("ref = 0.5.3 ({}) for the JSON-table workloads", ref053.display());
            } else {
                println!("(0.5.3 reference not installed: run tools/reference/setup.sh)");
            }
        }
    }

    println!(
        "{:<20} {:<9} {:>9} {:>9} {:>8} {:>6} {:>9} {:>9} {:>8} {:>8}",
        "workload", "phase", "ours/s", "ref/s", "speedup", "raw", "ours MB", "ref MB", "ours DB", "ref DB"
    );
    let mut curve: Vec<CurveRow> = vec![];
    let mut curve_ref = None;
    for workload in selected {
        let reference = reference_of(&workload);
        let mut builds = vec![("ours", ours.display().to_string())];
        if let Some((path, _)) = reference {
            builds.push(("ref", path.display().to_string()));
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
        // A floor runs the workload's own phases; the plain insert has one, "total".
        let floor = workload.has_floor();
        let raw_phase = |name: &str| median(reports.last().unwrap().iter().map(|r| phase(r, name)).collect());
        let raw_secs = || raw_phase("total");
        let peak = |b: usize| median(reports[b].iter().map(|r| r.peak_kb as f64).collect()) / 1024.0;
        let size = |b: usize| median(reports[b].iter().map(|r| r.db_bytes as f64).collect()) / 1_048_576.0;
        let has_ref = builds.len() == 3;
        for (index, (name, units)) in workload.phases().into_iter().enumerate() {
            let ours = median(reports[0].iter().map(|r| phase(r, name)).collect());
            let reference = has_ref.then(|| median(reports[1].iter().map(|r| phase(r, name)).collect()));
            let first = index == 0;
            println!(
                "{:<20} {:<9} {:>9} {:>9} {:>8} {:>5.0}% {:>9} {:>9} {:>8} {:>8}",
                if first { workload.id() } else { String::new() },
                name,
                rate(units, ours),
                reference.map_or(String::new(), |r| rate(units, r)),
                reference.map_or(String::new(), |r| format!("{:.2}x", r / ours)),
                if floor {
                    100.0 * raw_phase(name) / ours
                } else {
                    100.0 * (units as f64 / ours) / (workload.raw_rows() as f64 / raw_secs())
                },
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
                "{:<20} {:<9} {:>9} {:>9} {:>8}  ({lines} data lines)",
                "",
                "per line",
                format!("{:.0}us", 1e6 * ours / lines as f64),
                reference.map_or(String::new(), |r| format!("{:.0}us", 1e6 * r / lines as f64)),
                reference.map_or(String::new(), |r| format!("{:.2}x", r / ours)),
            );
        }
        if floor {
            let phases = workload.phases();
            let rates: Vec<String> = phases
                .iter()
                .map(|(name, units)| format!("{name} {}", rate(*units, raw_phase(name))))
                .collect();
            println!(
                "{:<20} {:<9} floor (the trigger text's own SQLite work, no extension): {}/s, peak {:.1} MB",
                "",
                "",
                rates.join(", "),
                peak(builds.len() - 1)
            );
            if has_ref {
                let ceilings: Vec<String> = phases
                    .iter()
                    .map(|(name, _)| {
                        let reference = median(reports[1].iter().map(|r| phase(r, name)).collect());
                        format!("{name} {:.2}x", reference / raw_phase(name))
                    })
                    .collect();
                println!(
                    "{:<20} {:<9} so no build with the same trigger text can pass: {} the reference",
                    "",
                    "",
                    ceilings.join(", ")
                );
            }
        } else {
            println!(
                "{:<20} {:<9} raw limit {} rows/s, peak {:.1} MB",
                "",
                "",
                rate(workload.raw_rows(), raw_secs()),
                peak(builds.len() - 1)
            );
        }
        if workload.in_curve() {
            let rows = workload.raw_rows() as f64;
            let point = |b: usize| CurvePoint {
                us_per_row: 1e6 * median(reports[b].iter().map(|r| phase(r, "total")).collect()) / rows,
                peak_mb: peak(b),
                wal_mb: median(reports[b].iter().map(|r| r.wal_bytes as f64).collect()) / 1_048_576.0,
                db_mb: size(b),
            };
            curve_ref = reference.map(|(_, which)| which);
            curve.push(CurveRow {
                workload,
                ours: point(0),
                reference: has_ref.then(|| point(1)),
            });
        }
    }
    if !curve.is_empty() {
        print_curve(&curve, curve_ref);
    }
}

/// One build's point of the scale curve (medians).
struct CurvePoint {
    /// `start` to `checkpoint_complete`, per row.
    us_per_row: f64,
    peak_mb: f64,
    /// The largest `-wal` file seen during the sync.
    wal_mb: f64,
    db_mb: f64,
}

struct CurveRow {
    workload: Workload,
    ours: CurvePoint,
    reference: Option<CurvePoint>,
}

/// The initial-sync scale curve: per-row cost, peak RSS, largest WAL and database size per size,
/// then the growth of the per-row cost from the smallest to the largest UUID size and the cost of
/// UUID over sequential ids.
fn print_curve(curve: &[CurveRow], reference: Option<&str>) {
    println!();
    println!(
        "initial-sync scale curve: JSON lines of 1,000 ops, one transaction each; WAL, \
         synchronous=NORMAL, cache_size=-50000; ref = {}",
        reference.unwrap_or("none")
    );
    println!(
        "us/row: start to checkpoint_complete per row; MB: peak RSS; WAL: the largest -wal file seen \
         during the sync (MB); DB: the final database size (MB)"
    );
    println!(
        "{:<20} {:>5} {:>11} {:>11} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "workload",
        "ids",
        "ours us/row",
        "ref us/row",
        "speedup",
        "ours MB",
        "ref MB",
        "ours WAL",
        "ref WAL",
        "ours DB",
        "ref DB"
    );
    let opt = |v: Option<f64>, digits: usize| v.map_or(String::new(), |v| format!("{v:.digits$}"));
    for row in curve {
        let r = row.reference.as_ref();
        let seq = matches!(row.workload, Workload::InitialSync { seq: true, .. });
        println!(
            "{:<20} {:>5} {:>11.2} {:>11} {:>8} {:>8.1} {:>8} {:>8.1} {:>8} {:>8.1} {:>8}",
            row.workload.id(),
            if seq { "seq" } else { "uuid" },
            row.ours.us_per_row,
            opt(r.map(|p| p.us_per_row), 2),
            r.map_or(String::new(), |p| format!("{:.2}x", p.us_per_row / row.ours.us_per_row)),
            row.ours.peak_mb,
            opt(r.map(|p| p.peak_mb), 1),
            row.ours.wal_mb,
            opt(r.map(|p| p.wal_mb), 1),
            row.ours.db_mb,
            opt(r.map(|p| p.db_mb), 1),
        );
    }
    let uuid: Vec<&CurveRow> = curve
        .iter()
        .filter(|r| matches!(r.workload, Workload::InitialSync { seq: false, .. }))
        .collect();
    let rows = |r: &CurveRow| r.workload.raw_rows();
    let (Some(small), Some(large)) = (uuid.iter().min_by_key(|r| rows(r)), uuid.iter().max_by_key(|r| rows(r))) else {
        return;
    };
    if rows(small) < rows(large) {
        let growth = |a: Option<&CurvePoint>, b: Option<&CurvePoint>| match (a, b) {
            (Some(a), Some(b)) => format!("{:.2}x", b.us_per_row / a.us_per_row),
            _ => "-".to_string(),
        };
        println!(
            "per-row cost growth {} -> {} rows: ours {}, ref {}",
            rows(small),
            rows(large),
            growth(Some(&small.ours), Some(&large.ours)),
            growth(small.reference.as_ref(), large.reference.as_ref()),
        );
    }
    for seq in curve
        .iter()
        .filter(|r| matches!(r.workload, Workload::InitialSync { seq: true, .. }))
    {
        if let Some(same) = uuid.iter().find(|u| rows(u) == rows(seq)) {
            let gap = |s: Option<&CurvePoint>, u: Option<&CurvePoint>| match (s, u) {
                (Some(s), Some(u)) => format!("{:.2}x", u.us_per_row / s.us_per_row),
                _ => "-".to_string(),
            };
            println!(
                "UUID over sequential ids at {} rows (per-row cost): ours {}, ref {}",
                rows(seq),
                gap(Some(&seq.ours), Some(&same.ours)),
                gap(seq.reference.as_ref(), same.reference.as_ref()),
            );
        }
    }
}
