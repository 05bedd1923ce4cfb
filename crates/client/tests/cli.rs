//! The `powersync-client` binary: flags, messages and exit codes.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::*;
use powersync_test_service::{Fault, TestService};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_powersync-client");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("POWERSYNC_TOKEN")
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("schema.json"), SCHEMA).unwrap();
        Fixture { dir }
    }
    fn db(&self) -> String {
        self.dir.path().join("cli.db").display().to_string()
    }
    fn schema(&self) -> String {
        self.dir.path().join("schema.json").display().to_string()
    }
    fn sync(&self, endpoint: &str, extra: &[&str]) -> Output {
        let (db, schema) = (self.db(), self.schema());
        let mut args = vec![
            "sync",
            "--db",
            &db,
            "--schema",
            &schema,
            "--endpoint",
            endpoint,
            "--retry-delay-ms",
            "100",
        ];
        args.extend_from_slice(extra);
        run(&args)
    }
}

fn unused_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

#[test]
fn help_on_every_command() {
    for cmd in [
        vec!["--help"],
        vec!["sync", "--help"],
        vec!["status", "--help"],
        vec!["crud", "--help"],
        vec!["query", "--help"],
        vec!["doctor", "--help"],
    ] {
        let o = run(&cmd);
        assert!(o.status.success(), "{cmd:?}");
        let (out, _) = text(&o);
        assert!(out.contains("Usage"), "{cmd:?}: {out}");
        assert!(out.contains("Exit codes"), "{cmd:?}: {out}");
    }
    let (out, _) = text(&run(&["sync", "--help"]));
    assert!(
        out.contains("\"batch\"") && out.contains("Authorization: Token") && out.contains("--apply-around-pending"),
        "{out}"
    );
}

#[test]
fn bad_flags_exit_2() {
    let o = run(&["sync", "--db", "x.db"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["bogus"]);
    assert_eq!(o.status.code(), Some(2));
    let f = Fixture::new();
    // No token source at all.
    let o = f.sync("http://127.0.0.1:1", &["--once"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("no token"), "{}", text(&o).1);
    let o = f.sync("ftp://x", &["--token", "t"]);
    assert_eq!(o.status.code(), Some(2));
    let o = f.sync("http://x", &["--token", "t", "--stream", "s={bad json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("not valid JSON"));
}

#[test]
fn unreachable_service_exit_3() {
    let f = Fixture::new();
    let o = f.sync(&unused_url(), &["--token", "secret-token-value", "--once"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("could not reach the PowerSync service"), "{err}");
    assert!(!err.contains("secret-token-value"), "{err}");
}

#[test]
fn bad_credentials_exit_4_without_leaking_the_token() {
    let svc = service();
    let f = Fixture::new();
    // Debug logging on: the token must not show up in any log line either.
    let o = f.sync(&svc.url(), &["--token", "not.a.valid-jwt", "--once", "-vv"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(4), "{err}");
    assert!(err.contains("401"), "{err}");
    assert!(!err.contains("not.a.valid-jwt"), "{err}");
}

fn local_write(f: &Fixture) {
    // Create the database with the schema, then queue one local write.
    let db = powersync_client::PowerSyncDatabase::open(Path::new(&f.db()), SCHEMA).unwrap();
    drop(db);
    let o = run(&[
        "query",
        "--db",
        &f.db(),
        "INSERT INTO todos(id, description, owner_id) VALUES ('c1', 'from cli', 'alice')",
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
}

#[test]
fn status_names_each_table_kind() {
    let f = Fixture::new();
    let schema = r#"{"tables": [
      {"name": "lists", "columns": [{"name": "name", "type": "text"}], "direct": true},
      {"name": "drafts", "columns": [{"name": "body", "type": "text"}], "direct": true, "local_only": true},
      {"name": "todos", "columns": [{"name": "description", "type": "text"}]},
      {"name": "notes", "columns": [{"name": "body", "type": "text"}], "local_only": true}]}"#;
    drop(powersync_client::PowerSyncDatabase::open(Path::new(&f.db()), schema).unwrap());
    for statement in [
        "CREATE TABLE users(id TEXT PRIMARY KEY, name TEXT)",
        r#"SELECT powersync_create_raw_table_crud_trigger('{"name":"users","table_name":"users"}', 'users_insert', 'INSERT')"#,
    ] {
        let o = run(&["query", "--db", &f.db(), statement]);
        assert!(o.status.success(), "{:?}", text(&o));
    }
    let (out, _) = text(&run(&["status", "--db", &f.db()]));
    assert!(
        out.contains("tables:\n  drafts: direct, local-only\n  lists: direct\n  notes: JSON view, local-only\n  todos: JSON view\n  users: raw\n"),
        "{out}"
    );
    let (out, _) = text(&run(&["status", "--db", &f.db(), "--json"]));
    let st: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(st["tables"][1], json!({"name": "lists", "kind": "direct"}));
}

#[test]
fn rejecting_backend_exit_5_and_write_kept() {
    let svc = service();
    let f = Fixture::new();
    local_write(&f);
    svc.inject(Fault::RespondStatus {
        path_prefix: "/upload".into(),
        status: 400,
        times: 1000,
    });
    let token = svc.token("alice", Duration::from_secs(600));
    let o = f.sync(
        &svc.url(),
        &["--token", &token, "--upload-url", &svc.upload_url(), "--once"],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(5), "{err}");
    assert!(err.contains("rejected the upload (HTTP 400)"), "{err}");
    // The write is still queued.
    let (out, _) = text(&run(&["crud", "--db", &f.db()]));
    assert!(out.contains("PUT todos/c1"), "{out}");
}

/// A service with list `l1` ("groceries"), a database with one local write, and a
/// `--token-command` for alice.
fn a_list_and_a_local_write() -> (TestService, Fixture, String) {
    let svc = service();
    svc.apply(vec![put("lists", "l1", json!({"name": "groceries"}))])
        .unwrap();
    let f = Fixture::new();
    local_write(&f);
    let cmd = format!("echo {}", svc.token("alice", Duration::from_secs(600)));
    (svc, f, cmd)
}

#[test]
fn once_syncs_uploads_and_inspection_commands_show_it() {
    let (svc, f, cmd) = a_list_and_a_local_write();
    let o = f.sync(
        &svc.url(),
        &["--token-command", &cmd, "--upload-url", &svc.upload_url(), "--once"],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("synced"), "{out}");
    assert_eq!(svc.rows("todos").len(), 1, "uploaded in the /upload format");
    let upload = svc.stats().last_upload.unwrap();
    assert_eq!(upload["batch"][0]["op"], "PUT");
    assert_eq!(upload["batch"][0]["type"], "todos");

    let (out, _) = text(&run(&["query", "--db", &f.db(), "SELECT name FROM lists"]));
    assert_eq!(out, "name\ngroceries\n");
    let (out, _) = text(&run(&[
        "query",
        "--db",
        &f.db(),
        "SELECT id, description FROM todos",
        "--json",
    ]));
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows, json!([{"id": "c1", "description": "from cli"}]));

    let (out, _) = text(&run(&["status", "--db", &f.db()]));
    assert!(
        out.contains("global[]") && out.contains("user_todos[\"alice\"]"),
        "{out}"
    );
    assert!(out.contains("pending uploads: 0"), "{out}");
    assert!(out.contains("nothing is held back"), "{out}");
    let (out, _) = text(&run(&["status", "--db", &f.db(), "--json"]));
    let st: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(st["has_synced"], true);
    assert_eq!(st["buckets"].as_array().unwrap().len(), 2);

    let (out, _) = text(&run(&["crud", "--db", &f.db()]));
    assert_eq!(out.trim(), "no pending uploads");

    // Synced before: --once still waits for the service's current checkpoint in this run.
    svc.apply(vec![put("lists", "l2", json!({"name": "second"}))]).unwrap();
    let o = f.sync(&svc.url(), &["--token-command", &cmd, "--once"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let (out, _) = text(&run(&["query", "--db", &f.db(), "SELECT count(*) AS n FROM lists"]));
    assert_eq!(out, "n\n2\n");
}

/// Issue 21: `--apply-around-pending` turns the database's setting on (and it stays on).
#[test]
fn apply_around_pending_turns_the_setting_on() {
    let (svc, f, cmd) = a_list_and_a_local_write();
    let query = |sql: &str| text(&run(&["query", "--db", &f.db(), sql])).0;
    let setting = "SELECT powersync_config_get('apply_around_pending_uploads') AS around";
    assert_eq!(query(setting), "around\n0\n");
    let o = f.sync(
        &svc.url(),
        &[
            "--token-command",
            &cmd,
            "--upload-url",
            &svc.upload_url(),
            "--once",
            "--apply-around-pending",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert_eq!(query(setting), "around\n1\n");
    assert_eq!(query("SELECT name FROM lists"), "name\ngroceries\n");
    assert_eq!(svc.rows("todos").len(), 1);
}

#[test]
fn pending_status_and_crud_output() {
    let f = Fixture::new();
    local_write(&f);
    let (out, _) = text(&run(&["status", "--db", &f.db()]));
    assert!(
        out.contains("1 local write(s) in 1 transaction(s) wait for upload"),
        "{out}"
    );
    // doctor: the same source, all of it, without changing the file.
    let before = std::fs::read(f.db()).unwrap();
    let (doctor, _) = text(&run(&["doctor", "--db", &f.db()]));
    assert!(doctor.contains("lists (direct) stored in lists"), "{doctor}");
    assert!(
        doctor.contains("upload queue:      1 op(s) in 1 transaction(s)"),
        "{doctor}"
    );
    assert!(doctor.contains("write checkpoint:  target after upload"), "{doctor}");
    assert!(
        doctor.contains("  - 1 local write(s) in 1 transaction(s) wait for upload"),
        "{doctor}"
    );
    let (doctor, _) = text(&run(&["doctor", "--db", &f.db(), "--json"]));
    let d: serde_json::Value = serde_json::from_str(&doctor).unwrap();
    assert_eq!(d["internal_version"], 14);
    assert_eq!(d["uploads"]["queue"][0]["tables"], "todos");
    assert_eq!(std::fs::read(f.db()).unwrap(), before, "doctor changed the database");
    assert!(
        out.contains("tables:\n  items: JSON view\n  lists: direct\n  todos: JSON view\n"),
        "{out}"
    );
    let (out, _) = text(&run(&["crud", "--db", &f.db(), "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["transactions"][0]["entries"][0]["id"], "c1");
    assert_eq!(v["transactions"][0]["entries"][0]["data"]["description"], "from cli");
    let o = run(&["status", "--db", "/nonexistent/x.db"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("no such database file"));
    let o = run(&["query", "--db", &f.db(), "SELECT nope FROM nothing"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.starts_with("error: query failed"), "{}", text(&o).1);
}

#[test]
fn without_once_stays_connected_until_interrupted() {
    let svc = service();
    svc.apply(vec![put("lists", "l1", json!({"name": "a"}))]).unwrap();
    let f = Fixture::new();
    let token = svc.token("alice", Duration::from_secs(600));
    let (db, schema, url) = (f.db(), f.schema(), svc.url());
    let child = Command::new(BIN)
        .args([
            "sync",
            "--db",
            &db,
            "--schema",
            &schema,
            "--endpoint",
            &url,
            "--token",
            &token,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while svc.stats().active_streams == 0 {
        assert!(start.elapsed() < Duration::from_secs(15), "never connected");
        std::thread::sleep(Duration::from_millis(25));
    }
    // Live change while the CLI runs.
    svc.apply(vec![put("lists", "l2", json!({"name": "b"}))]).unwrap();
    loop {
        let (out, _) = text(&run(&["query", "--db", &db, "SELECT count(*) AS n FROM lists"]));
        if out == "n\n2\n" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "live change not synced: {out}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert!(text(&o).1.contains("disconnecting"));
}

#[test]
fn trace_logging_never_shows_the_token() {
    let svc = service();
    svc.apply(vec![put("lists", "l1", json!({"name": "a"}))]).unwrap();
    let f = Fixture::new();
    local_write(&f);
    let token = svc.token("alice", Duration::from_secs(600));
    let (db, schema, url, upload) = (f.db(), f.schema(), svc.url(), svc.upload_url());
    let o = Command::new(BIN)
        .args([
            "sync",
            "--db",
            &db,
            "--schema",
            &schema,
            "--endpoint",
            &url,
            "--token",
            &token,
            "--upload-url",
            &upload,
            "--once",
        ])
        .env("RUST_LOG", "trace")
        .env_remove("POWERSYNC_TOKEN")
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    // Trace logging of the HTTP stack did run.
    assert!(err.contains("TRACE") && err.contains("connection is ready"), "{err}");
    assert!(!err.contains(&token) && !out.contains(&token), "{err}");
    // Nor any part of it that would identify it (the signature).
    let signature = token.rsplit('.').next().unwrap();
    assert!(!err.contains(signature), "{err}");
}

/// Starts `sync` without `--once` in the background (stdout and stderr piped).
fn spawn_sync(f: &Fixture, endpoint: &str, extra: &[&str]) -> std::process::Child {
    let (db, schema) = (f.db(), f.schema());
    Command::new(BIN)
        .args(["sync", "--db", &db, "--schema", &schema, "--endpoint", endpoint])
        .args(["--retry-delay-ms", "100"])
        .args(extra)
        .env_remove("POWERSYNC_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn signal(child: &std::process::Child, sig: &str) {
    assert!(Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success());
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(20), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn a_second_sync_of_the_same_file_exits_7_or_waits_with_wait_lock() {
    let svc = service();
    let f = Fixture::new();
    let token = svc.token("alice", Duration::from_secs(600));
    let first = spawn_sync(&f, &svc.url(), &["--token", &token]);
    wait_until("the first sync connected", || svc.stats().active_streams == 1);

    let o = f.sync(&svc.url(), &["--token", &token, "--once"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(7), "{err}");
    assert!(
        err.contains("another sync is running") && err.contains("cli.db.sync-lock"),
        "{err}"
    );
    assert!(err.contains("--wait-lock"), "{err}");
    // Readers are not blocked by the lock.
    let o = run(&["status", "--db", &f.db()]);
    assert!(o.status.success(), "{:?}", text(&o));

    let (db, schema, url) = (f.db(), f.schema(), svc.url());
    let second = Command::new(BIN)
        .args([
            "sync",
            "--db",
            &db,
            "--schema",
            &schema,
            "--endpoint",
            &url,
            "--token",
            &token,
        ])
        .args(["--once", "--wait-lock", "--retry-delay-ms", "100"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // It waits (never a second stream) until the first one ends.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(svc.stats().active_streams, 1);
    // SIGTERM after the first sync had completed: a clean disconnect, exit 0.
    signal(&first, "-TERM");
    let o = first.wait_with_output().unwrap();
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("SIGTERM: disconnecting"), "{err}");
    assert!(!err.contains("before the sync completed"), "{err}");
    let o = second.wait_with_output().unwrap();
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("waiting for it to end (--wait-lock)"), "{err}");
}

#[test]
fn signals_before_the_sync_completed_exit_130_and_143() {
    use std::io::{BufRead, Read};
    for (sig, code, name) in [("-INT", 130, "SIGINT"), ("-TERM", 143, "SIGTERM")] {
        let f = Fixture::new();
        // Nothing listens there: the sync keeps retrying and never completes.
        let mut child = spawn_sync(&f, &unused_url(), &["--token", "tok-secret"]);
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut seen = String::new();
        // The first failed attempt is reported once the handlers are installed.
        while !seen.contains("could not reach") {
            assert!(stderr.read_line(&mut seen).unwrap() > 0, "{seen}");
        }
        signal(&child, sig);
        stderr.read_to_string(&mut seen).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(code), "{seen}");
        assert!(seen.contains(&format!("{name} before the sync completed")), "{seen}");
    }
}

#[test]
fn exit_codes_follow_the_failure() {
    let svc = service();
    let token = svc.token("alice", Duration::from_secs(600));

    // A service answering 5xx is retried (--retries), then 3.
    svc.inject(Fault::RespondStatus {
        path_prefix: "/sync/stream".into(),
        status: 503,
        times: 1000,
    });
    let f = Fixture::new();
    let o = f.sync(&svc.url(), &["--token", &token, "--once", "--retries", "2"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("HTTP 503") && err.contains("gave up after 2 retries"),
        "{err}"
    );
    svc.clear_faults();

    // An upload backend answering 5xx: retried, then 6; the write stays queued.
    let f = Fixture::new();
    local_write(&f);
    svc.inject(Fault::RespondStatus {
        path_prefix: "/upload".into(),
        status: 503,
        times: 1000,
    });
    // `sync --once` with an upload backend and a bound on the retries.
    let upload_once = |f: &Fixture, upload_url: &str, retries: &str| {
        f.sync(
            &svc.url(),
            &[
                "--token",
                &token,
                "--upload-url",
                upload_url,
                "--once",
                "--retries",
                retries,
            ],
        )
    };
    let o = upload_once(&f, &svc.upload_url(), "1");
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(6), "{err}");
    assert!(
        err.contains("upload backend failed (HTTP 503)") && err.contains("gave up after 1 retries"),
        "{err}"
    );
    let (out, _) = text(&run(&["crud", "--db", &f.db()]));
    assert!(out.contains("PUT todos/c1"), "{out}");
    svc.clear_faults();

    // An unreachable upload backend is temporary too: 6, not 3.
    let o = upload_once(&f, &unused_url(), "0");
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(6), "{err}");
    assert!(err.contains("could not reach the upload backend"), "{err}");

    // A 5xx that goes away within the retries: success.
    svc.inject(Fault::RespondStatus {
        path_prefix: "/upload".into(),
        status: 500,
        times: 1,
    });
    let o = upload_once(&f, &svc.upload_url(), "3");
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert_eq!(svc.rows("todos").len(), 1);
}

/// Runs `status` (text and JSON) and `crud` on `db`; the file must be byte-for-byte the same
/// afterwards. Returns the stderr of the text `status`, and its exit code.
fn inspect_changes_nothing(db: &Path) -> (Option<i32>, String) {
    let before = std::fs::read(db).unwrap();
    let d = db.display().to_string();
    let o = run(&["status", "--db", &d]);
    let result = (o.status.code(), text(&o).1);
    run(&["status", "--db", &d, "--json"]);
    run(&["crud", "--db", &d]);
    run(&["query", "--db", &d, "SELECT count(*) FROM sqlite_master"]);
    assert!(std::fs::read(db).unwrap() == before, "{d} was changed");
    result
}

#[test]
fn inspection_never_writes() {
    let dir = tempfile::tempdir().unwrap();

    // A plain SQLite file: reported as such, not turned into a PowerSync database.
    let plain = dir.path().join("plain.db");
    let c = rusqlite::Connection::open(&plain).unwrap();
    c.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);").unwrap();
    drop(c);
    let (code, err) = inspect_changes_nothing(&plain);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("plain.db is not a PowerSync database"), "{err}");

    // An older internal version: reported, not migrated.
    let old = dir.path().join("v10.db");
    let db = powersync_client::PowerSyncDatabase::open(&old, SCHEMA).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(db.write_transaction(|tx| tx.query_row("SELECT powersync_test_migration(10)", [], |_| Ok(()))))
        .unwrap();
    drop(db);
    let (code, err) = inspect_changes_nothing(&old);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("internal version 10, this client reads version 14 (older"),
        "{err}"
    );

    // A current database, read-only on disk (the file and its directory): works, unchanged.
    let ro_dir = dir.path().join("ro");
    std::fs::create_dir(&ro_dir).unwrap();
    let f = Fixture {
        dir: tempfile::tempdir_in(&ro_dir).unwrap(),
    };
    local_write(&f);
    let db = std::path::PathBuf::from(f.db());
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(f.dir.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    let (code, err) = inspect_changes_nothing(&db);
    let (out, _) = text(&run(&["status", "--db", &f.db()]));
    let (crud, _) = text(&run(&["crud", "--db", &f.db()]));
    std::fs::set_permissions(f.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("pending uploads: 1 change(s)"), "{out}");
    assert!(crud.contains("PUT todos/c1"), "{crud}");
    // SQLite's WAL index may appear next to the file where the directory is writable (it is
    // for root), but the log never holds anything: nothing was written.
    let wal = dir_entry(f.dir.path(), "cli.db-wal");
    assert!(wal.as_ref().is_none_or(|w| w.len() == 0), "{wal:?}");
}

fn dir_entry(dir: &Path, name: &str) -> Option<std::fs::Metadata> {
    std::fs::metadata(dir.join(name)).ok()
}

fn first_tx_id(f: &Fixture) -> i64 {
    let (out, _) = text(&run(&["crud", "--db", &f.db(), "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["transactions"][0]["tx_id"].as_i64().unwrap()
}

#[test]
fn rejected_uploads_can_be_parked_retried_and_discarded() {
    let svc = service();
    let token = svc.token("alice", Duration::from_secs(600));
    let f = Fixture::new();
    local_write(&f);
    let tx = first_tx_id(&f);
    svc.inject(Fault::RejectUploads {
        table: "todos".into(),
        id: "c1".into(),
        status: 422,
        duration: Duration::from_secs(120),
    });
    let upload = svc.upload_url();
    // Default: the rejection ends --once with 5, and crud shows the transaction's last error.
    let o = f.sync(&svc.url(), &["--token", &token, "--upload-url", &upload, "--once"]);
    assert_eq!(o.status.code(), Some(5), "{:?}", text(&o));
    let (out, _) = text(&run(&["crud", "--db", &f.db()]));
    assert!(
        out.contains(&format!("transaction {tx} (1 change(s))"))
            && out.contains("1 rejection(s)")
            && out.contains("HTTP 422"),
        "{out}"
    );

    // --on-reject park: parked after 2 rejections; the sync completes without it and the
    // local row converges to the server's version (the server never had it: gone).
    let o = f.sync(
        &svc.url(),
        &[
            "--token",
            &token,
            "--upload-url",
            &upload,
            "--once",
            "--on-reject",
            "park",
            "--park-after",
            "2",
        ],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!("parked transaction {tx} after 2 rejection(s)")),
        "{err}"
    );
    assert!(svc.rows("todos").is_empty(), "a parked write never reaches the server");
    let (out, _) = text(&run(&["query", "--db", &f.db(), "SELECT count(*) AS n FROM todos"]));
    assert_eq!(out, "n\n0\n");
    let (out, _) = text(&run(&["crud", "--db", &f.db()]));
    assert!(
        out.contains("no pending uploads") && out.contains(&format!("parked transaction {tx} (1 change(s)")),
        "{out}"
    );
    let (out, _) = text(&run(&["status", "--db", &f.db()]));
    assert!(out.contains("parked uploads: 1 transaction(s)"), "{out}");

    // --retry puts it back; once the backend takes it, it is uploaded.
    let o = run(&["crud", "--db", &f.db(), "--retry", &tx.to_string()]);
    assert!(o.status.success(), "{:?}", text(&o));
    let (out, _) = text(&run(&["crud", "--db", &f.db()]));
    assert!(out.contains("PUT todos/c1") && !out.contains("parked"), "{out}");
    svc.clear_faults();
    let o = f.sync(&svc.url(), &["--token", &token, "--upload-url", &upload, "--once"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert_eq!(svc.rows("todos").len(), 1);

    // --discard drops a queued transaction; an unknown one is an error.
    let o = run(&[
        "query",
        "--db",
        &f.db(),
        "INSERT INTO todos(id, description, owner_id) VALUES ('c2', 'x', 'alice')",
    ]);
    assert!(o.status.success());
    let tx2 = first_tx_id(&f);
    let o = run(&["crud", "--db", &f.db(), "--discard", &tx2.to_string()]);
    assert!(o.status.success(), "{:?}", text(&o));
    let (out, _) = text(&run(&["crud", "--db", &f.db()]));
    assert_eq!(out.trim(), "no pending uploads");
    let o = run(&["crud", "--db", &f.db(), "--discard", "999"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("no transaction 999"), "{:?}", text(&o));
    let o = run(&["crud", "--db", &f.db(), "--park", "1", "--retry", "1"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn environment_variables_quiet_and_schema_errors() {
    let svc = service();
    svc.apply(vec![put("lists", "l1", json!({"name": "a"}))]).unwrap();
    let f = Fixture::new();
    let token = svc.token("alice", Duration::from_secs(600));
    let o = Command::new(BIN)
        .args(["sync", "--once", "-q", "--token", &token])
        .env("POWERSYNC_DB", f.db())
        .env("POWERSYNC_SCHEMA", f.schema())
        .env("POWERSYNC_ENDPOINT", svc.url())
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(err, "", "-q: nothing on stderr");
    assert!(out.contains("synced"), "{out}");
    let o = Command::new(BIN)
        .args(["status", "--json"])
        .env("POWERSYNC_DB", f.db())
        .output()
        .unwrap();
    let st: serde_json::Value = serde_json::from_str(&text(&o).0).unwrap();
    // No internal sentinel (i32::MAX for the complete sync) in the output.
    assert!(!text(&o).0.contains("2147483647"), "{}", text(&o).0);
    assert!(
        st["priorities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["priority"] == "full"),
        "{st}"
    );

    // A malformed schema names the file and the position, and no database is left behind.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"tables\": [\n  {\"name\": \"x\",}\n]}").unwrap();
    let db = dir.path().join("new.db");
    let sync_with_bad_schema = || {
        run(&[
            "sync",
            "--db",
            &db.display().to_string(),
            "--schema",
            &bad.display().to_string(),
            "--endpoint",
            "http://127.0.0.1:1",
            "--token",
            "tok",
            "--once",
        ])
    };
    let o = sync_with_bad_schema();
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("bad.json is not valid JSON: line 2, column"), "{err}");
    assert!(!db.exists());
    // Valid JSON that the extension refuses: no database file either.
    std::fs::write(&bad, r#"{"tables": 5}"#).unwrap();
    let o = sync_with_bad_schema();
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("bad.json"), "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("bad.json")], "{left:?}");
}

#[test]
fn json_events_and_completions() {
    let svc = service();
    svc.apply(vec![put("lists", "l1", json!({"name": "a"}))]).unwrap();
    let f = Fixture::new();
    local_write(&f);
    let token = svc.token("alice", Duration::from_secs(600));
    let o = f.sync(
        &svc.url(),
        &["--token", &token, "--upload-url", &svc.upload_url(), "--once", "--json"],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect();
    let of = |t: &str| events.iter().filter(|e| e["type"] == t).collect::<Vec<_>>();
    assert!(of("status").iter().any(|e| e["connected"] == true), "{out}");
    assert!(of("progress").iter().any(|e| e["total"].as_i64() >= Some(1)), "{out}");
    assert_eq!(of("upload")[0]["changes"], 1, "{out}");
    assert_eq!(events.last().unwrap()["state"], "done", "{out}");
    assert!(!err.contains("downloaded"), "no human progress with --json: {err}");

    // An error is an event too, with the exit code.
    let o = f.sync(
        &unused_url(),
        &["--token", &token, "--once", "--json", "--retries", "0"],
    );
    assert_eq!(o.status.code(), Some(3));
    let (out, _) = text(&o);
    let last: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "error");
    assert_eq!(last["exit_code"], 3);

    for shell in ["bash", "zsh", "fish"] {
        let o = run(&["completions", shell]);
        assert!(o.status.success(), "{shell}");
        let (out, _) = text(&o);
        assert!(
            out.contains("powersync-client") && out.contains("wait-lock"),
            "{shell}: {out}"
        );
    }
    assert_eq!(run(&["completions", "tcsh"]).status.code(), Some(2));
}

#[test]
fn an_unknown_stream_is_an_error_and_not_kept() {
    let svc = service();
    let f = Fixture::new();
    let token = svc.token("alice", Duration::from_secs(600));
    let o = f.sync(
        &svc.url(),
        &[
            "--token",
            &token,
            "--once",
            "--stream",
            "nope",
            "--stream",
            r#"list_todos={"list_id":"L1"}"#,
        ],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--stream nope: the service could not resolve it: unknown stream"),
        "{err}"
    );
    let (out, _) = text(&run(&["status", "--db", &f.db(), "--json"]));
    let st: serde_json::Value = serde_json::from_str(&out).unwrap();
    let streams = st["streams"].as_array().unwrap();
    assert!(
        streams
            .iter()
            .all(|s| s["name"] != "nope" || s["has_explicit_subscription"] == false),
        "{st}"
    );
    // The known one stays subscribed.
    assert!(
        streams
            .iter()
            .any(|s| s["name"] == "list_todos" && s["has_explicit_subscription"] == true),
        "{st}"
    );
    // And the next run does not ask for it again.
    let o = f.sync(&svc.url(), &["--token", &token, "--once"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let req = svc.stats().last_stream_request.unwrap();
    assert!(!req.to_string().contains("nope"), "{req}");
}

#[test]
fn a_write_by_the_query_command_is_uploaded_by_a_running_sync() {
    let svc = service();
    let f = Fixture::new();
    drop(powersync_client::PowerSyncDatabase::open(Path::new(&f.db()), SCHEMA).unwrap());
    let token = svc.token("alice", Duration::from_secs(600));
    let upload = svc.upload_url();
    let child = spawn_sync(&f, &svc.url(), &["--token", &token, "--upload-url", &upload]);
    wait_until("connected", || svc.stats().active_streams == 1);
    let o = run(&[
        "query",
        "--db",
        &f.db(),
        "INSERT INTO todos(id, description, owner_id) VALUES ('q1', 'from query', 'alice')",
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
    wait_until("the other process's write uploaded", || {
        svc.rows("todos").iter().any(|(id, _)| id == "q1")
    });
    wait_until("and the queue empty", || {
        text(&run(&["crud", "--db", &f.db()])).0.trim() == "no pending uploads"
    });
    signal(&child, "-INT");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
}
